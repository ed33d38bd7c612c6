//! Port resolution, as the kubelet's `probe.ResolveContainerPort` does it (spec 1.3).

use super::gotext::go_quote;
use crate::spec::model::{Container, IntOrString};

/// Resolves a hook's port against the same container's named ports (spec 1.3).
///
/// An int is used as is. A string is looked up in `container.ports[].name`
/// (an unnamed port has the name "", as in Go), then parsed with Go's
/// `strconv.Atoi`; when both fail the error is Atoi's, e.g.
/// `strconv.Atoi: parsing "foo": invalid syntax`. The result must satisfy
/// `0 < port < 65536`, otherwise the error is `invalid port number: N`.
pub fn resolve_port(port: &IntOrString, container: &Container) -> Result<u16, String> {
    let number = match port {
        IntOrString::Int(n) => *n,
        IntOrString::String(name) => {
            let named = container
                .ports
                .iter()
                .find(|p| p.name.as_deref().unwrap_or("") == name);
            match named {
                Some(p) => p.container_port,
                None => go_atoi(name)?,
            }
        }
    };
    match u16::try_from(number) {
        Ok(port) if port > 0 => Ok(port),
        _ => Err(format!("invalid port number: {number}")),
    }
}

/// Go's `strconv.Atoi` on a 64-bit platform, with its error texts.
fn go_atoi(s: &str) -> Result<i64, String> {
    let syntax = || format!("strconv.Atoi: parsing {}: invalid syntax", go_quote(s));
    let range = || format!("strconv.Atoi: parsing {}: value out of range", go_quote(s));
    let (negative, digits) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    if digits.is_empty() {
        return Err(syntax());
    }
    let mut value: u64 = 0;
    for c in digits.bytes() {
        if !c.is_ascii_digit() {
            return Err(syntax());
        }
        value = value
            .checked_mul(10)
            .and_then(|v| v.checked_add(u64::from(c - b'0')))
            .ok_or_else(range)?;
    }
    let limit = 1u64 << 63;
    match (negative, value) {
        (false, v) if v >= limit => Err(range()),
        (true, v) if v > limit => Err(range()),
        (true, v) => Ok((v as i64).wrapping_neg()),
        (false, v) => Ok(v as i64),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::model::ContainerPort;

    fn container(ports: &[(Option<&str>, i64)]) -> Container {
        Container {
            name: "c".into(),
            ports: ports
                .iter()
                .map(|(name, port)| ContainerPort {
                    name: name.map(str::to_string),
                    container_port: *port,
                    protocol: None,
                })
                .collect(),
            ..Container::default()
        }
    }

    fn s(v: &str) -> IntOrString {
        IntOrString::String(v.into())
    }

    /// The kubelet's `TestResolvePort` table, plus the edge cases of `ResolveContainerPort`.
    #[test]
    fn resolve_port_table() {
        let named = container(&[(Some("foo"), 80), (Some("quux"), 8080)]);
        let cases: Vec<(IntOrString, &Container, Result<u16, &str>)> = vec![
            (IntOrString::Int(80), &named, Ok(80)),
            (s("quux"), &named, Ok(8080)),
            (s("foo"), &named, Ok(80)),
            (s("8080"), &named, Ok(8080)),
            (s("+443"), &named, Ok(443)),
            (
                s("bar"),
                &named,
                Err(r#"strconv.Atoi: parsing "bar": invalid syntax"#),
            ),
            (
                s(""),
                &named,
                Err(r#"strconv.Atoi: parsing "": invalid syntax"#),
            ),
            (
                s("-"),
                &named,
                Err(r#"strconv.Atoi: parsing "-": invalid syntax"#),
            ),
            (
                s("99999999999999999999"),
                &named,
                Err(r#"strconv.Atoi: parsing "99999999999999999999": value out of range"#),
            ),
            (IntOrString::Int(0), &named, Err("invalid port number: 0")),
            (IntOrString::Int(-1), &named, Err("invalid port number: -1")),
            (
                IntOrString::Int(65536),
                &named,
                Err("invalid port number: 65536"),
            ),
            (IntOrString::Int(65535), &named, Ok(65535)),
            (s("0"), &named, Err("invalid port number: 0")),
            (s("65536"), &named, Err("invalid port number: 65536")),
        ];
        for (port, c, want) in cases {
            assert_eq!(
                resolve_port(&port, c),
                want.map_err(str::to_string),
                "port {port:?}"
            );
        }
    }

    #[test]
    fn names_are_looked_up_in_this_container_only_and_win_over_numbers() {
        let c = container(&[(Some("8080"), 9090)]);
        assert_eq!(resolve_port(&s("8080"), &c), Ok(9090));
        let bad = container(&[(Some("big"), 70000)]);
        assert_eq!(
            resolve_port(&s("big"), &bad),
            Err("invalid port number: 70000".into())
        );
    }

    /// Go compares names with `==`, so "" matches an unnamed port.
    #[test]
    fn empty_string_matches_an_unnamed_port_like_go() {
        assert_eq!(
            resolve_port(&s(""), &container(&[])),
            Err(r#"strconv.Atoi: parsing "": invalid syntax"#.into())
        );
        assert_eq!(resolve_port(&s(""), &container(&[(None, 8080)])), Ok(8080));
    }
}
