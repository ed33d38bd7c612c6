//! Go's `http.Header` semantics (canonical keys, `Add`/`Set`/`Get`/`Del`) and
//! the `httpguts` validity checks the transport applies before writing.

use std::collections::BTreeMap;

/// Go's `textproto.CanonicalMIMEHeaderKey`: `x-foo` → `X-Foo`; keys with a
/// byte that is not a token character are left as they are.
pub(crate) fn canonical_header_key(key: &str) -> String {
    if !key.bytes().all(is_token_byte) {
        return key.to_string();
    }
    let mut upper = true;
    key.bytes()
        .map(|c| {
            let out = if upper {
                c.to_ascii_uppercase()
            } else {
                c.to_ascii_lowercase()
            };
            upper = c == b'-';
            out as char
        })
        .collect()
}

/// RFC 7230 `tchar` (Go's `httpguts.IsTokenRune` for ASCII).
pub(super) fn is_token_byte(c: u8) -> bool {
    c.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&c)
}

/// Go's `httpguts.ValidHeaderFieldValue`: no control bytes except tab.
pub(super) fn valid_header_value(v: &str) -> bool {
    v.bytes().all(|c| c == b'\t' || (c >= 0x20 && c != 0x7f))
}

/// Go's `httpguts.ValidHostHeader`.
pub(super) fn valid_host_header(h: &str) -> bool {
    h.bytes()
        .all(|c| c.is_ascii_alphanumeric() || b"!$%&'()*+,-.:;=[]_~".contains(&c))
}

/// Go's `http.Header`: canonical key → values, written sorted by key.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct GoHeader(BTreeMap<String, Vec<String>>);

impl GoHeader {
    /// `Header.Add`.
    pub fn add(&mut self, key: &str, value: &str) {
        self.0
            .entry(canonical_header_key(key))
            .or_default()
            .push(value.to_string());
    }
    /// `Header.Set`.
    pub fn set(&mut self, key: &str, value: &str) {
        self.0
            .insert(canonical_header_key(key), vec![value.to_string()]);
    }
    /// `Header.Get`: the first value, or "".
    pub fn get(&self, key: &str) -> &str {
        self.0
            .get(&canonical_header_key(key))
            .and_then(|v| v.first())
            .map_or("", String::as_str)
    }
    /// `_, ok := header[key]` with a canonical key.
    pub fn has(&self, key: &str) -> bool {
        self.0.contains_key(&canonical_header_key(key))
    }
    /// Every key (sorted, as Go writes them) with its values.
    pub fn iter(&self) -> impl Iterator<Item = (&String, &Vec<String>)> {
        self.0.iter()
    }
    /// `Header.Values`: all values of `key`.
    #[cfg(test)]
    pub fn values(&self, key: &str) -> &[String] {
        self.0
            .get(&canonical_header_key(key))
            .map_or(&[], Vec::as_slice)
    }
    /// `Header.Del`.
    pub fn del(&mut self, key: &str) {
        self.0.remove(&canonical_header_key(key));
    }
}

/// Go's `textproto.TrimString`.
pub(super) fn trim_value(v: &str) -> &str {
    v.trim_matches(|c| matches!(c, ' ' | '\t' | '\n' | '\r'))
}

/// Drops an IPv6 zone (`[fe80::1%eth0]:80` → `[fe80::1]:80`), like Go's `removeZone`.
pub(super) fn remove_zone(host: &str) -> String {
    if !host.starts_with('[') {
        return host.to_string();
    }
    match (host.rfind(']'), host.rfind('%')) {
        (Some(close), Some(pct)) if pct < close => format!("{}{}", &host[..pct], &host[close..]),
        _ => host.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_keys() {
        assert_eq!(canonical_header_key("x-custom-header"), "X-Custom-Header");
        assert_eq!(canonical_header_key("ACCEPT"), "Accept");
        assert_eq!(canonical_header_key("bad key"), "bad key");
    }
}
