//! Typed query parameters, for both faces of the API: a boolean (`follow`, `stdin`,
//! `watch`, …) or a whole number (`tailLines`, …), each malformed one a [`BadParam`]
//! naming the parameter. Each face maps a `BadParam` onto its own error body.

use std::collections::HashMap;

/// A malformed parameter: its name and what is wrong.
#[derive(Debug)]
pub struct BadParam {
    pub name: &'static str,
    pub message: String,
}

impl BadParam {
    /// Parameter `name` is malformed: `message` says how.
    pub fn new(name: &'static str, message: String) -> BadParam {
        BadParam { name, message }
    }
}

/// A boolean parameter: `true`, `1` or empty (`?follow`) is true; `false`, `0` or
/// absent is false; anything else is refused.
pub fn flag(query: &HashMap<String, String>, name: &'static str) -> Result<bool, BadParam> {
    match query.get(name).map(String::as_str) {
        None | Some("false" | "0") => Ok(false),
        Some("true" | "1" | "") => Ok(true),
        Some(other) => Err(BadParam::new(name, format!("{name} must be true or false, not {other:?}"))),
    }
}

/// A whole-number parameter (0 or more), if present.
pub fn number(query: &HashMap<String, String>, name: &'static str) -> Result<Option<u64>, BadParam> {
    query
        .get(name)
        .map(|v| v.parse::<u64>().map_err(|_| BadParam::new(name, format!("{name} must be a whole number of 0 or more, not {v:?}"))))
        .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn flags_and_numbers_parse_or_name_the_parameter() {
        let q = query(&[("a", "true"), ("b", ""), ("c", "0"), ("d", "yes"), ("n", "12"), ("m", "-1")]);
        assert!(flag(&q, "a").unwrap() && flag(&q, "b").unwrap());
        assert!(!flag(&q, "c").unwrap() && !flag(&q, "absent").unwrap());
        let err = flag(&q, "d").unwrap_err();
        assert_eq!((err.name, err.message.as_str()), ("d", r#"d must be true or false, not "yes""#));
        assert_eq!(number(&q, "n").unwrap(), Some(12));
        assert_eq!(number(&q, "absent").unwrap(), None);
        assert_eq!(number(&q, "m").unwrap_err().name, "m");
    }
}
