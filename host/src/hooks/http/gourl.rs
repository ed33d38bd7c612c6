//! The part of Go's `net/url` that the kubelet's httpGet path goes through.
//!
//! The kubelet builds the hook URL with `url.Parse(path)` and `URL.String()`,
//! re-parses it in `http.NewRequest`, writes `URL.RequestURI()` on the wire,
//! resolves redirect `Location`s with `URL.Parse(ref)` and compares
//! `URL.Hostname()`s. Error texts quote `URL.String()`. This module reproduces
//! those functions (escaping rules, relative resolution, error texts) so the
//! URLs hooklet requests and prints are the ones the kubelet would. User info
//! (`user:pass@`) is parsed but dropped: the kubelet never builds it and only a
//! `Location` header could carry it.

use super::gotext::go_quote;
use super::urlescape::{escape, escaped_form, unescape, Mode};

/// `:` followed by digits, or empty (Go's `validOptionalPort`).
fn valid_optional_port(port: &str) -> bool {
    port.is_empty() || (port.starts_with(':') && port[1..].bytes().all(|c| c.is_ascii_digit()))
}

/// A URL with Go's field semantics; `path` and `fragment` hold the escaped forms.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GoUrl {
    pub scheme: String,
    pub opaque: String,
    /// `host` or `host:port`, unescaped, IPv6 in brackets.
    pub host: String,
    pub path: String,
    pub force_query: bool,
    pub raw_query: String,
    pub fragment: String,
    omit_host: bool,
}

impl GoUrl {
    /// Go's `url.Parse`; the error is the `*url.Error` text (`parse "<url>": <why>`).
    pub fn parse(raw: &str) -> Result<GoUrl, String> {
        let (before, frag) = match raw.split_once('#') {
            Some((u, f)) => (u, Some(f)),
            None => (raw, None),
        };
        let mut url =
            parse_no_fragment(before).map_err(|e| format!("parse {}: {e}", go_quote(before)))?;
        if let Some(frag) = frag.filter(|f| !f.is_empty()) {
            url.fragment = escaped_form(frag, Mode::Fragment)
                .map_err(|e| format!("parse {}: {e}", go_quote(raw)))?;
        }
        Ok(url)
    }

    /// What `formatURL` does with an unparseable path: keep it as the literal path.
    pub fn with_literal_path(path: &str) -> GoUrl {
        let escaped = if path == "*" {
            "*".to_string()
        } else {
            escape(path.as_bytes(), Mode::Path)
        };
        GoUrl {
            path: escaped,
            ..GoUrl::default()
        }
    }

    /// Go's `URL.String()` (no user info is ever set).
    pub fn to_go_string(&self) -> String {
        let mut out = String::new();
        if !self.scheme.is_empty() {
            out.push_str(&self.scheme);
            out.push(':');
        }
        if !self.opaque.is_empty() {
            out.push_str(&self.opaque);
        } else {
            let has_authority = !self.scheme.is_empty() || !self.host.is_empty();
            if has_authority && !(self.omit_host && self.host.is_empty()) {
                if !self.host.is_empty() || !self.path.is_empty() {
                    out.push_str("//");
                }
                out.push_str(&escape(self.host.as_bytes(), Mode::Host));
            }
            if !self.path.is_empty() && !self.path.starts_with('/') && !self.host.is_empty() {
                out.push('/');
            }
            if out.is_empty() && self.path.split('/').next().unwrap_or("").contains(':') {
                out.push_str("./");
            }
            out.push_str(&self.path);
        }
        if self.force_query || !self.raw_query.is_empty() {
            out.push('?');
            out.push_str(&self.raw_query);
        }
        if !self.fragment.is_empty() {
            out.push('#');
            out.push_str(&self.fragment);
        }
        out
    }

    /// Go's `URL.RequestURI()`: what goes on the request line (never the fragment).
    pub fn request_uri(&self) -> String {
        let mut out = if self.opaque.is_empty() {
            if self.path.is_empty() {
                "/".to_string()
            } else {
                self.path.clone()
            }
        } else if self.opaque.starts_with("//") {
            format!("{}:{}", self.scheme, self.opaque)
        } else {
            self.opaque.clone()
        };
        if self.force_query || !self.raw_query.is_empty() {
            out.push('?');
            out.push_str(&self.raw_query);
        }
        out
    }

    /// Go's `URL.Hostname()`: the host without port and brackets.
    pub fn hostname(&self) -> &str {
        split_host_port(&self.host).0
    }

    /// Go's `URL.Port()`: the port digits, or "".
    pub fn port(&self) -> &str {
        split_host_port(&self.host).1
    }

    /// Go's `URL.Parse(ref)`: `ref` parsed and resolved against `self` (RFC 3986 §5.2).
    pub fn parse_reference(&self, reference: &str) -> Result<GoUrl, String> {
        let r = GoUrl::parse(reference)?;
        let mut url = r.clone();
        if r.scheme.is_empty() {
            url.scheme = self.scheme.clone();
        }
        if !r.scheme.is_empty() || !r.host.is_empty() {
            url.path = resolve_path(&r.path, "");
            return Ok(url);
        }
        if !r.opaque.is_empty() {
            url.host.clear();
            url.path.clear();
            return Ok(url);
        }
        if r.path.is_empty() && !r.force_query && r.raw_query.is_empty() {
            url.raw_query = self.raw_query.clone();
            if r.fragment.is_empty() {
                url.fragment = self.fragment.clone();
            }
        }
        url.host = self.host.clone();
        url.omit_host = self.omit_host;
        url.path = resolve_path(&self.path, &r.path);
        Ok(url)
    }
}

/// Go's `parse(rawURL, viaRequest=false)` for the part before `#`.
fn parse_no_fragment(raw: &str) -> Result<GoUrl, String> {
    if raw.bytes().any(|c| c < 0x20 || c == 0x7f) {
        return Err("net/url: invalid control character in URL".into());
    }
    let mut url = GoUrl::default();
    if raw == "*" {
        url.path = "*".into();
        return Ok(url);
    }
    let (scheme, rest) = get_scheme(raw)?;
    url.scheme = scheme.to_ascii_lowercase();
    let mut rest = rest;
    if rest.ends_with('?') && rest.matches('?').count() == 1 {
        url.force_query = true;
        rest = &rest[..rest.len() - 1];
    } else if let Some((r, q)) = rest.split_once('?') {
        url.raw_query = q.to_string();
        rest = r;
    }
    if !rest.starts_with('/') {
        if !url.scheme.is_empty() {
            url.opaque = rest.to_string();
            return Ok(url);
        }
        if rest.split('/').next().unwrap_or("").contains(':') {
            return Err("first path segment in URL cannot contain colon".into());
        }
    }
    if (!url.scheme.is_empty() || !rest.starts_with("///")) && rest.starts_with("//") {
        let after = &rest[2..];
        let (authority, path) = match after.find('/') {
            Some(i) => (&after[..i], &after[i..]),
            None => (after, ""),
        };
        url.host = parse_authority(authority)?;
        rest = path;
    } else if !url.scheme.is_empty() && rest.starts_with('/') {
        url.omit_host = true;
    }
    url.path = escaped_form(rest, Mode::Path)?;
    Ok(url)
}

/// Go's `getScheme`.
fn get_scheme(raw: &str) -> Result<(&str, &str), String> {
    for (i, c) in raw.bytes().enumerate() {
        match c {
            b'a'..=b'z' | b'A'..=b'Z' => {}
            b'0'..=b'9' | b'+' | b'-' | b'.' if i > 0 => {}
            b':' if i == 0 => return Err("missing protocol scheme".into()),
            b':' => return Ok((&raw[..i], &raw[i + 1..])),
            _ => return Ok(("", raw)),
        }
    }
    Ok(("", raw))
}

/// Go's `parseAuthority` (user info validated loosely, then dropped).
fn parse_authority(authority: &str) -> Result<String, String> {
    let host = match authority.rfind('@') {
        Some(i) => {
            let userinfo = &authority[..i];
            if userinfo
                .bytes()
                .any(|c| !(c.is_ascii_alphanumeric() || b"-._:~!$&'()*+,;=%@".contains(&c)))
            {
                return Err("net/url: invalid userinfo".into());
            }
            &authority[i + 1..]
        }
        None => authority,
    };
    parse_host(host)
}

/// Go's `parseHost`.
fn parse_host(host: &str) -> Result<String, String> {
    if host.starts_with('[') {
        let i = host
            .rfind(']')
            .ok_or_else(|| "missing ']' in host".to_string())?;
        let colon_port = &host[i + 1..];
        if !valid_optional_port(colon_port) {
            return Err(format!("invalid port {} after host", go_quote(colon_port)));
        }
        if let Some(zone) = host[..i].find("%25") {
            let mut out = unescape(&host[..zone], Mode::Host)?;
            out.extend(unescape(&host[zone..i], Mode::Zone)?);
            out.extend(unescape(&host[i..], Mode::Host)?);
            return Ok(String::from_utf8_lossy(&out).into_owned());
        }
    } else if let Some(i) = host.rfind(':') {
        if !valid_optional_port(&host[i..]) {
            return Err(format!("invalid port {} after host", go_quote(&host[i..])));
        }
    }
    Ok(String::from_utf8_lossy(&unescape(host, Mode::Host)?).into_owned())
}

/// Go's `splitHostPort` (used by `Hostname`/`Port`).
fn split_host_port(host_port: &str) -> (&str, &str) {
    let (mut host, mut port) = (host_port, "");
    if let Some(colon) = host_port.rfind(':') {
        if valid_optional_port(&host_port[colon..]) {
            host = &host_port[..colon];
            port = &host_port[colon + 1..];
        }
    }
    if host.len() >= 2 && host.starts_with('[') && host.ends_with(']') {
        host = &host[1..host.len() - 1];
    }
    (host, port)
}

/// Go's `resolvePath`: merge `reference` into `base` and remove dot segments.
fn resolve_path(base: &str, reference: &str) -> String {
    let full = if reference.is_empty() {
        base.to_string()
    } else if !reference.starts_with('/') {
        let i = base.rfind('/').map_or(0, |i| i + 1);
        format!("{}{}", &base[..i], reference)
    } else {
        reference.to_string()
    };
    if full.is_empty() {
        return String::new();
    }
    let mut dst = String::from("/");
    let mut first = true;
    let mut last = "";
    for elem in full.split('/') {
        last = elem;
        match elem {
            "." => first = false,
            ".." => {
                let tail = dst[1..].to_string();
                dst = String::from("/");
                match tail.rfind('/') {
                    Some(index) => dst.push_str(&tail[..index]),
                    None => first = true,
                }
            }
            _ => {
                if !first {
                    dst.push('/');
                }
                dst.push_str(elem);
                first = false;
            }
        }
    }
    if last == "." || last == ".." {
        dst.push('/');
    }
    if dst.len() > 1 && dst.as_bytes()[1] == b'/' {
        dst.remove(0);
    }
    dst
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(raw: &str) -> String {
        GoUrl::parse(raw).unwrap().to_go_string()
    }

    #[test]
    fn parse_and_print_round_trip() {
        assert_eq!(s("http://h:80/a/b?x=1#f"), "http://h:80/a/b?x=1#f");
        assert_eq!(s("/a%2Fb"), "/a%2Fb");
        assert_eq!(s("/a b"), "/a%20b");
        assert_eq!(s("/a[b]"), "/a[b]");
        assert_eq!(s("/ü"), "/%C3%BC");
        assert_eq!(s("foo?"), "foo?");
        assert_eq!(s("#a b"), "#a%20b");
        assert_eq!(s("http:/x"), "http:/x");
    }

    #[test]
    fn parse_errors_match_go() {
        assert_eq!(
            GoUrl::parse("/%zz").unwrap_err(),
            r#"parse "/%zz": invalid URL escape "%zz""#
        );
        assert_eq!(
            GoUrl::parse("1a:b").unwrap_err(),
            r#"parse "1a:b": first path segment in URL cannot contain colon"#
        );
        assert_eq!(
            GoUrl::parse(":x").unwrap_err(),
            r#"parse ":x": missing protocol scheme"#
        );
        assert_eq!(
            GoUrl::parse("http://bad%20host:80/").unwrap_err(),
            r#"parse "http://bad%20host:80/": invalid URL escape "%20""#
        );
        assert_eq!(
            GoUrl::parse("http://h:x/").unwrap_err(),
            r#"parse "http://h:x/": invalid port ":x" after host"#
        );
        assert_eq!(
            GoUrl::parse("/a\nb").unwrap_err(),
            "parse \"/a\\nb\": net/url: invalid control character in URL"
        );
    }

    #[test]
    fn request_uri_drops_fragment() {
        let u = GoUrl::parse("http://h:1/p?q=1#frag").unwrap();
        assert_eq!(u.request_uri(), "/p?q=1");
        assert_eq!(GoUrl::parse("http://h:1").unwrap().request_uri(), "/");
    }

    #[test]
    fn hostname_and_port() {
        let u = GoUrl::parse("https://[::1]:8443/").unwrap();
        assert_eq!((u.hostname(), u.port()), ("::1", "8443"));
        let u = GoUrl::parse("http://example.test/").unwrap();
        assert_eq!((u.hostname(), u.port()), ("example.test", ""));
    }

    #[test]
    fn references_resolve_like_go() {
        let base = GoUrl::parse("http://h:1/a/b?q#f").unwrap();
        let r = |loc: &str| base.parse_reference(loc).unwrap().to_go_string();
        assert_eq!(r("c"), "http://h:1/a/c");
        assert_eq!(r("../c"), "http://h:1/c");
        assert_eq!(r("./"), "http://h:1/a/");
        assert_eq!(r("/x/../y"), "http://h:1/y");
        assert_eq!(r("?z"), "http://h:1/a/b?z");
        assert_eq!(r(""), "http://h:1/a/b?q#f");
        assert_eq!(r("//other:2/x"), "http://other:2/x");
        assert_eq!(r("https://h:3"), "https://h:3");
        assert_eq!(r("https://h:3/a/./b/../c"), "https://h:3/a/c");
    }
}
