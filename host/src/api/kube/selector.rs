//! `labelSelector` and `fieldSelector` as the apiserver reads them: equality
//! (`=`, `==`, `!=`), and for labels also existence (`key`, `!key`) and sets
//! (`key in (a,b)`, `key notin (a)`). A field a resource does not support is a 400
//! naming it, as the apiserver answers.

use std::collections::BTreeMap;

use super::status::KubeError;

/// One requirement on a value.
#[derive(Debug, Clone, PartialEq)]
enum Requirement {
    Equals(String, String),
    NotEquals(String, String),
    Exists(String),
    NotExists(String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
}

/// A parsed selector: every requirement must hold.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Selector(Vec<Requirement>);

/// Splits at commas outside parentheses.
fn terms(s: &str) -> Vec<&str> {
    let (mut out, mut depth, mut start) = (Vec::new(), 0, 0);
    for (i, ch) in s.char_indices() {
        match ch {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                out.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&s[start..]);
    out.into_iter().map(str::trim).filter(|t| !t.is_empty()).collect()
}

impl Selector {
    /// Parses a `labelSelector`.
    pub fn labels(s: &str) -> Result<Selector, KubeError> {
        let bad = |t: &str| KubeError::bad_request(format!("unable to parse requirement: labelSelector {t:?} is not a valid selector"));
        let mut reqs = Vec::new();
        for term in terms(s) {
            let set = |op: &str| -> Option<(String, Vec<String>)> {
                let (key, rest) = term.split_once(op)?;
                let values = rest.trim().strip_prefix('(')?.strip_suffix(')')?;
                Some((key.trim().to_string(), values.split(',').map(|v| v.trim().to_string()).filter(|v| !v.is_empty()).collect()))
            };
            let req = if let Some((k, v)) = set(" notin ") {
                Requirement::NotIn(k, v)
            } else if let Some((k, v)) = set(" in ") {
                Requirement::In(k, v)
            } else if let Some(req) = equality(term) {
                req
            } else if let Some(key) = term.strip_prefix('!') {
                Requirement::NotExists(key.trim().to_string())
            } else {
                Requirement::Exists(term.to_string())
            };
            if key_of(&req).is_empty() || key_of(&req).contains(char::is_whitespace) {
                return Err(bad(term));
            }
            reqs.push(req);
        }
        Ok(Selector(reqs))
    }

    /// Parses a `fieldSelector` whose fields must be among `supported`.
    pub fn fields(s: &str, resource: &str, supported: &[&str]) -> Result<Selector, KubeError> {
        let mut reqs = Vec::new();
        for term in terms(s) {
            let req = equality(term).ok_or_else(|| KubeError::bad_request(format!("invalid field selector {term:?}: use field=value or field!=value")))?;
            if !supported.contains(&key_of(&req)) {
                return Err(KubeError::bad_request(format!("field label not supported: {} (for {resource}: {})", key_of(&req), supported.join(", "))));
            }
            reqs.push(req);
        }
        Ok(Selector(reqs))
    }

    /// Does an object whose values `get` returns match? (`None`: the key is absent.)
    pub fn matches<'a>(&self, get: impl Fn(&str) -> Option<&'a str>) -> bool {
        self.0.iter().all(|r| match r {
            Requirement::Equals(k, v) => get(k) == Some(v.as_str()),
            Requirement::NotEquals(k, v) => get(k) != Some(v.as_str()),
            Requirement::Exists(k) => get(k).is_some(),
            Requirement::NotExists(k) => get(k).is_none(),
            Requirement::In(k, vs) => get(k).is_some_and(|x| vs.iter().any(|v| v == x)),
            Requirement::NotIn(k, vs) => get(k).is_none_or(|x| !vs.iter().any(|v| v == x)),
        })
    }

    /// Matches a label map.
    pub fn matches_labels(&self, labels: &BTreeMap<String, String>) -> bool {
        self.matches(|k| labels.get(k).map(String::as_str))
    }
}

fn equality(term: &str) -> Option<Requirement> {
    if let Some((k, v)) = term.split_once("!=") {
        return Some(Requirement::NotEquals(k.trim().into(), v.trim().into()));
    }
    let (k, v) = term.split_once("==").or_else(|| term.split_once('='))?;
    Some(Requirement::Equals(k.trim().into(), v.trim().into()))
}

fn key_of(r: &Requirement) -> &str {
    match r {
        Requirement::Equals(k, _)
        | Requirement::NotEquals(k, _)
        | Requirement::Exists(k)
        | Requirement::NotExists(k)
        | Requirement::In(k, _)
        | Requirement::NotIn(k, _) => k,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn label_selectors_follow_the_apiserver() {
        let web = labels(&[("app", "web"), ("tier", "front")]);
        let yes = ["app=web", "app==web", "app", "!db", "tier in (front, back)", "app=web,tier notin (back)", ""];
        let no = ["app=db", "app!=web", "db", "!app", "tier in (back)", "app=web,tier notin (front)"];
        for s in yes {
            assert!(Selector::labels(s).unwrap().matches_labels(&web), "{s}");
        }
        for s in no {
            assert!(!Selector::labels(s).unwrap().matches_labels(&web), "{s}");
        }
        assert!(Selector::labels("a b").is_err());
    }

    #[test]
    fn field_selectors_name_an_unsupported_field() {
        let s = Selector::fields("involvedObject.name=web,involvedObject.uid=u1", "events", &["involvedObject.name", "involvedObject.uid"]).unwrap();
        assert!(s.matches(|k| Some(if k == "involvedObject.name" { "web" } else { "u1" })));
        let err = Selector::fields("spec.bogus=1", "pods", &["metadata.name"]).unwrap_err();
        assert!(err.0.message.contains("field label not supported: spec.bogus"), "{}", err.0.message);
        assert_eq!(err.0.code, 400);
    }
}
