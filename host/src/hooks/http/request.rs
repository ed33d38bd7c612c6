//! Building the hook request exactly as the kubelet does
//! (`NewRequestForHTTPGetAction`, `newProbeRequest`, `formatURL`) and writing it
//! the way Go's `Request.write` does.

use hyper::header::{HeaderMap, HeaderName, HeaderValue};
use hyper::Uri;

use super::gotext::go_quote;
use crate::gostr::join_host_port;
use super::gourl::GoUrl;
use super::header::{
    is_token_byte, remove_zone, trim_value, valid_header_value, valid_host_header, GoHeader,
};
use crate::spec::model::HttpGetAction;

/// One request as Go's client sees it: URL, header map and `Request.Host`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HookRequest {
    pub url: GoUrl,
    pub header: GoHeader,
    /// `Request.Host`: the `Host` header to send; "" means the URL's host.
    pub host: String,
}

/// The kubelet's `NewRequestForHTTPGetAction` after the port is resolved:
/// `<scheme>://<host>:<port><path>` through `formatURL` and `http.NewRequest`,
/// `httpHeaders` added in order, `User-Agent` and `Accept: */*` defaults, an
/// empty user `Accept` removed, `Request.Host` from the user's `Host` header.
pub(crate) fn new_request(
    action: &HttpGetAction,
    host: &str,
    port: u16,
    user_agent: &str,
) -> Result<HookRequest, String> {
    let scheme = match action.scheme.to_ascii_lowercase() {
        s if s.is_empty() => "http".to_string(),
        s => s,
    };
    // formatURL: a path that does not parse is kept as the literal path.
    let mut url =
        GoUrl::parse(&action.path).unwrap_or_else(|_| GoUrl::with_literal_path(&action.path));
    url.scheme = scheme;
    url.host = join_host_port(host, port);
    // http.NewRequest parses the printed URL again.
    let url = GoUrl::parse(&url.to_go_string())?;

    let mut header = GoHeader::default();
    for h in &action.http_headers {
        header.add(&h.name, &h.value);
    }
    if !header.has("User-Agent") {
        header.set("User-Agent", user_agent);
    }
    if !header.has("Accept") {
        header.set("Accept", "*/*");
    } else if header.get("Accept").is_empty() {
        header.del("Accept");
    }
    let host = header.get("Host").to_string();
    Ok(HookRequest { url, header, host })
}

/// Header keys Go's `Request.write` never copies from the header map.
const EXCLUDED_ON_WRITE: [&str; 5] = [
    "Host",
    "User-Agent",
    "Content-Length",
    "Transfer-Encoding",
    "Trailer",
];

impl HookRequest {
    /// Whether Go's transport adds `Accept-Encoding: gzip` (no user
    /// `Accept-Encoding` or `Range` value).
    pub fn adds_gzip(&self) -> bool {
        self.header.get("Accept-Encoding").is_empty() && self.header.get("Range").is_empty()
    }

    /// The transport's header checks (`net/http: invalid header field …`).
    pub fn validate_headers(&self) -> Result<(), String> {
        for (key, values) in self.header.iter() {
            if key.is_empty() || !key.bytes().all(is_token_byte) {
                return Err(format!(
                    "net/http: invalid header field name {}",
                    go_quote(key)
                ));
            }
            if !values.iter().all(|v| valid_header_value(v)) {
                return Err(format!(
                    "net/http: invalid header field value for {}",
                    go_quote(key)
                ));
            }
        }
        Ok(())
    }

    /// The header block in Go's order: `Host`, `User-Agent`, the map sorted by
    /// key (values trimmed), then `Accept-Encoding: gzip` when the transport adds it
    /// (`compression`: not for the prober's `DisableCompression` transport).
    /// Call [`HookRequest::validate_headers`] first.
    pub fn wire_headers(&self, compression: bool) -> HeaderMap {
        let mut out = HeaderMap::new();
        let host = if self.host.is_empty() {
            self.url.host.as_str()
        } else {
            self.host.as_str()
        };
        let host = if valid_host_header(host) {
            remove_zone(host)
        } else {
            String::new()
        };
        push(&mut out, "Host", &host);
        let user_agent = if self.header.has("User-Agent") {
            trim_value(self.header.get("User-Agent"))
        } else {
            "Go-http-client/1.1"
        };
        if !user_agent.is_empty() {
            push(&mut out, "User-Agent", user_agent);
        }
        for (key, values) in self.header.iter() {
            if EXCLUDED_ON_WRITE.contains(&key.as_str()) {
                continue;
            }
            for value in values {
                push(&mut out, key, trim_value(value));
            }
        }
        if compression && self.adds_gzip() {
            push(&mut out, "Accept-Encoding", "gzip");
        }
        out
    }

    /// The request target (`URL.RequestURI()`) as a [`Uri`]. Bytes Go would
    /// send raw but `http::Uri` refuses (a space in the query, say) are
    /// percent-encoded.
    pub fn wire_target(&self) -> Result<Uri, String> {
        let target = self.url.request_uri();
        if let Ok(uri) = Uri::try_from(target.as_str()) {
            return Ok(uri);
        }
        let mut escaped = Vec::with_capacity(target.len());
        for &c in target.as_bytes() {
            if c <= 0x20 || c == 0x7f || b"\"<>\\^`{|}".contains(&c) {
                escaped.extend_from_slice(format!("%{c:02X}").as_bytes());
            } else {
                escaped.push(c);
            }
        }
        // Only ASCII bytes were replaced, so the text is still UTF-8.
        let escaped = String::from_utf8_lossy(&escaped).into_owned();
        Uri::try_from(escaped.as_str())
            .map_err(|e| format!("net/http: invalid request URI {}: {e}", go_quote(&target)))
    }
}

/// Appends one header; names and values were validated before.
fn push(out: &mut HeaderMap, name: &str, value: &str) {
    if let (Ok(name), Ok(value)) = (
        HeaderName::from_bytes(name.as_bytes()),
        HeaderValue::from_bytes(value.as_bytes()),
    ) {
        out.append(name, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::model::{HttpHeader, IntOrString};

    fn action(path: &str, scheme: &str, headers: &[(&str, &str)]) -> HttpGetAction {
        HttpGetAction {
            path: path.into(),
            port: IntOrString::Int(8080),
            host: None,
            scheme: scheme.into(),
            http_headers: headers
                .iter()
                .map(|(n, v)| HttpHeader {
                    name: (*n).into(),
                    value: (*v).into(),
                })
                .collect(),
            fail_on_http_error: false,
        }
    }

    fn url_of(path: &str, scheme: &str, host: &str) -> Result<String, String> {
        new_request(&action(path, scheme, &[]), host, 8080, "ua").map(|r| r.url.to_go_string())
    }

    #[test]
    fn urls_match_format_url() {
        let ok = |path: &str| url_of(path, "HTTP", "1.2.3.4").unwrap();
        assert_eq!(ok("/"), "http://1.2.3.4:8080/");
        assert_eq!(ok(""), "http://1.2.3.4:8080");
        assert_eq!(ok("foo"), "http://1.2.3.4:8080/foo");
        assert_eq!(ok("/foo"), "http://1.2.3.4:8080/foo");
        assert_eq!(ok("foo?k=v"), "http://1.2.3.4:8080/foo?k=v");
        assert_eq!(ok("foo#frag"), "http://1.2.3.4:8080/foo#frag");
        assert_eq!(ok("/a b"), "http://1.2.3.4:8080/a%20b");
        assert_eq!(ok("/%zz"), "http://1.2.3.4:8080/%25zz");
        assert_eq!(ok("//elsewhere/x"), "http://1.2.3.4:8080/x");
        assert_eq!(ok("a:b"), "http:b");
        assert_eq!(
            url_of("/", "HTTPS", "1.2.3.4").unwrap(),
            "https://1.2.3.4:8080/"
        );
        assert_eq!(url_of("/", "", "1.2.3.4").unwrap(), "http://1.2.3.4:8080/");
        assert_eq!(
            url_of("/", "baz", "1.2.3.4").unwrap(),
            "baz://1.2.3.4:8080/"
        );
        assert_eq!(
            url_of("/", "HTTP", "fd00::1").unwrap(),
            "http://[fd00::1]:8080/"
        );
        assert_eq!(
            url_of("/", "HTTP", "bad host").unwrap_err(),
            r#"parse "http://bad%20host:8080/": invalid URL escape "%20""#
        );
    }

    #[test]
    fn headers_follow_new_probe_request() {
        let r = new_request(
            &action(
                "/",
                "HTTP",
                &[("x-foo", "1"), ("X-Foo", "2"), ("Accept", "")],
            ),
            "h",
            80,
            "kube-lifecycle/1.34",
        )
        .unwrap();
        assert_eq!(r.header.values("X-Foo"), ["1".to_string(), "2".to_string()]);
        assert!(!r.header.has("Accept"));
        assert_eq!(r.header.get("User-Agent"), "kube-lifecycle/1.34");
        assert_eq!(r.host, "");

        let r = new_request(
            &action(
                "/",
                "HTTP",
                &[("user-agent", "mine"), ("host", "from.header")],
            ),
            "h",
            80,
            "ua",
        )
        .unwrap();
        assert_eq!(r.header.get("User-Agent"), "mine");
        assert_eq!(r.header.get("Accept"), "*/*");
        assert_eq!(r.host, "from.header");
    }

    #[test]
    fn wire_headers_in_go_order() {
        let r = new_request(
            &action(
                "/",
                "HTTP",
                &[("X-B", " v "), ("x-a", "1"), ("Content-Length", "5")],
            ),
            "h",
            80,
            "ua",
        )
        .unwrap();
        let wire: Vec<(String, String)> = r
            .wire_headers(true)
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_str().unwrap().to_string()))
            .collect();
        let expect = [
            ("host", "h:80"),
            ("user-agent", "ua"),
            ("accept", "*/*"),
            ("x-a", "1"),
            ("x-b", "v"),
            ("accept-encoding", "gzip"),
        ];
        assert_eq!(
            wire,
            expect
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<Vec<_>>()
        );
    }

    #[test]
    fn invalid_header_values_are_refused() {
        let r = new_request(&action("/", "HTTP", &[("X-Bad", "a\u{1}b")]), "h", 80, "ua").unwrap();
        assert_eq!(
            r.validate_headers().unwrap_err(),
            r#"net/http: invalid header field value for "X-Bad""#
        );
    }

    #[test]
    fn target_escapes_what_uri_refuses() {
        let r = new_request(&action("/p?a b", "HTTP", &[]), "h", 80, "ua").unwrap();
        assert_eq!(r.wire_target().unwrap().to_string(), "/p?a%20b");
    }
}
