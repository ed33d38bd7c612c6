//! The outgoing HTTP capability, `[capabilities.http]`: `wasi:http` requests to the hosts
//! (and ports) on an allow-list. Every other request is denied with `HTTP-request-denied`
//! before any connection is made, and the denial is reported with the hook's output.
//! Raw sockets stay denied whatever the grant (see [`super`]).
//!
//! ```toml
//! [capabilities.http]
//! allow = ["api.example.com:443", "*.internal.example", "127.0.0.1:8080", "[::1]:8080"]
//! connect-timeout-ms = 5000        # optional, default 5000
//! first-byte-timeout-ms = 30000    # optional, default 30000
//! ```
//!
//! An entry is `HOST` (any port), `HOST:PORT` (that port only), `*.DOMAIN` (any host below
//! `DOMAIN`, not `DOMAIN` itself), with or without `:PORT`; IPv6 addresses in brackets.
//! The request's port is the URL's, else 80 for `http` and 443 for `https`. Hosts match
//! as written in the URL, before DNS: granting a name grants whatever it resolves to.

use std::future::Future;
use std::time::Duration;

use http_body_util::BodyExt as _;
use serde::Deserialize;
use wasmtime::component::Linker;
use wasmtime_wasi_http::{Error, RequestOptions, WasiBody, WasiHttpHooks, WasiHttpView};

/// Connection timeout when the manifest sets none.
const DEFAULT_CONNECT_TIMEOUT_MS: u64 = 5_000;
/// Time to the response head when the manifest sets none.
const DEFAULT_FIRST_BYTE_TIMEOUT_MS: u64 = 30_000;
/// Denials kept per delivery; later ones are counted.
const MAX_DENIALS: usize = 16;

/// `[capabilities.http]`: where the plugin may send HTTP requests.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct HttpGrant {
    /// Allowed hosts: `HOST`, `HOST:PORT`, `*.DOMAIN[:PORT]`, `[IPv6]:PORT`.
    pub allow: Vec<String>,
    /// Longest wait for a connection, in milliseconds (default 5000).
    #[serde(default)]
    pub connect_timeout_ms: Option<u64>,
    /// Longest wait for the response head, and between body chunks, in milliseconds
    /// (default 30000).
    #[serde(default)]
    pub first_byte_timeout_ms: Option<u64>,
}

/// Adds `wasi:http/outgoing-handler` and `wasi:http/types` to `linker`; every request goes
/// through the store's [`HttpPolicy`].
pub(crate) fn add_to_linker<T: WasiHttpView + 'static>(
    linker: &mut Linker<T>,
) -> anyhow::Result<()> {
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(linker).map_err(anyhow::Error::from)
}

/// One allow-list entry.
#[derive(Debug, Clone, PartialEq, Eq)]
struct HostRule {
    /// Lower case, without brackets or a trailing dot; for `*.DOMAIN`, `.DOMAIN`.
    host: String,
    wildcard: bool,
    port: Option<u16>,
}

impl HostRule {
    fn parse(entry: &str) -> Result<HostRule, String> {
        let bad = |why: &str| {
            Err(format!(
                "`capabilities.http.allow` entry {entry:?} {why}; write `HOST`, `HOST:PORT`, \
                 `*.DOMAIN` or `[IPv6]:PORT`, like \"api.example.com:443\""
            ))
        };
        if entry.contains("://") {
            return bad("has a scheme (both http and https are allowed to listed hosts)");
        }
        if entry.contains(['/', '@', '?', '#']) || entry.contains(char::is_whitespace) {
            return bad("is not a host");
        }
        let (host, port) = if let Some(rest) = entry.strip_prefix('[') {
            let Some((host, after)) = rest.split_once(']') else {
                return bad("has no closing `]`");
            };
            match after {
                "" => (host, None),
                _ => match after.strip_prefix(':') {
                    Some(port) => (host, Some(port)),
                    None => return bad("has text after `]`"),
                },
            }
        } else {
            match entry.split_once(':') {
                Some((_, port)) if port.contains(':') => {
                    return bad("looks like an IPv6 address; put it in brackets")
                }
                Some((host, port)) => (host, Some(port)),
                None => (entry, None),
            }
        };
        let port = match port.map(str::parse::<u16>) {
            None => None,
            Some(Ok(port)) if port > 0 => Some(port),
            Some(_) => return bad("has a port that is not a number from 1 to 65535"),
        };
        let host = normalize(host);
        let (host, wildcard) = match host.strip_prefix('*') {
            Some(domain) if domain.len() > 1 && domain.starts_with('.') => {
                (domain.to_owned(), true)
            }
            Some(_) => return bad("has a `*` that is not a leading `*.`"),
            None => (host, false),
        };
        if host.contains('*') {
            return bad("has a `*` that is not a leading `*.`");
        }
        if host.is_empty() {
            return bad("has no host");
        }
        Ok(HostRule {
            host,
            wildcard,
            port,
        })
    }

    fn allows(&self, host: &str, port: u16) -> bool {
        let host_ok = if self.wildcard {
            host.ends_with(&self.host)
        } else {
            host == self.host
        };
        host_ok && self.port.is_none_or(|p| p == port)
    }
}

/// `host` lower-cased, without IPv6 brackets or a trailing dot.
fn normalize(host: &str) -> String {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.trim_end_matches('.').to_ascii_lowercase()
}

/// Checks every entry and timeout of a grant.
pub(super) fn check(grant: &HttpGrant) -> Result<(), String> {
    for entry in &grant.allow {
        HostRule::parse(entry)?;
    }
    for (key, value) in [
        ("connect-timeout-ms", grant.connect_timeout_ms),
        ("first-byte-timeout-ms", grant.first_byte_timeout_ms),
    ] {
        if value == Some(0) {
            return Err(format!(
                "`capabilities.http.{key}` is 0, so no request could succeed; set a positive \
                 number of milliseconds or remove it"
            ));
        }
    }
    Ok(())
}

/// The `wasi:http` policy of one delivery: decides each request against the allow-list,
/// sends the allowed ones with capped timeouts and records the denied ones.
pub(crate) struct HttpPolicy {
    manifest: String,
    rules: Option<Vec<HostRule>>,
    connect_timeout: Duration,
    first_byte_timeout: Duration,
    denials: Vec<String>,
    denied: usize,
}

impl HttpPolicy {
    /// The policy for plugin `plugin` (for messages: its manifest is `PLUGIN.toml`) with
    /// `grant`; without a grant every request is denied.
    pub fn new(plugin: &str, grant: Option<&HttpGrant>) -> Self {
        let ms = |value: Option<u64>, default| Duration::from_millis(value.unwrap_or(default));
        HttpPolicy {
            manifest: format!("{plugin}.toml"),
            rules: grant.map(|g| {
                g.allow
                    .iter()
                    .filter_map(|e| HostRule::parse(e).ok())
                    .collect()
            }),
            connect_timeout: ms(
                grant.and_then(|g| g.connect_timeout_ms),
                DEFAULT_CONNECT_TIMEOUT_MS,
            ),
            first_byte_timeout: ms(
                grant.and_then(|g| g.first_byte_timeout_ms),
                DEFAULT_FIRST_BYTE_TIMEOUT_MS,
            ),
            denials: Vec::new(),
            denied: 0,
        }
    }

    /// Why `request` may not be sent, if it may not.
    fn refusal(&self, request: &http::Request<WasiBody>) -> Option<String> {
        let uri = request.uri();
        let what = format!("denied HTTP {} {uri}", request.method());
        let Some(authority) = uri.authority() else {
            return Some(format!("{what}: the URL has no host"));
        };
        let https = uri.scheme() == Some(&http::uri::Scheme::HTTPS);
        let port = authority.port_u16().unwrap_or(if https { 443 } else { 80 });
        let host = normalize(authority.host());
        let shown = if host.contains(':') {
            format!("[{host}]:{port}")
        } else {
            format!("{host}:{port}")
        };
        match &self.rules {
            None => Some(format!(
                "{what}: HTTP is not granted to this plugin; to allow this host add \
                 `[capabilities.http] allow = [\"{shown}\"]` to {}",
                self.manifest
            )),
            Some(rules) if rules.iter().any(|rule| rule.allows(&host, port)) => None,
            Some(_) => Some(format!(
                "{what}: `{shown}` is not on the plugin's HTTP allow-list \
                 (`capabilities.http.allow` in {}); add it there if the plugin should reach it",
                self.manifest
            )),
        }
    }

    /// The denials of this delivery (up to a cap, then a count), oldest first.
    pub fn take_denials(&mut self) -> Vec<String> {
        let mut denials = std::mem::take(&mut self.denials);
        let more = std::mem::take(&mut self.denied).saturating_sub(denials.len());
        if more > 0 {
            denials.push(format!("… and {more} more HTTP requests denied"));
        }
        denials
    }
}

/// The future types of [`WasiHttpHooks::send_request`].
type IoFuture = Box<dyn Future<Output = Result<(), Error>> + Send>;
type SendFuture =
    Box<dyn Future<Output = Result<(http::Response<WasiBody>, IoFuture), Error>> + Send>;

impl WasiHttpHooks for HttpPolicy {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        _fut: IoFuture,
    ) -> SendFuture {
        if let Some(reason) = self.refusal(&request) {
            tracing::warn!(target: "hooklet::wasm::plugin", "{reason}");
            self.denied += 1;
            if self.denials.len() < MAX_DENIALS {
                self.denials.push(reason);
            }
            return Box::new(async { Err(Error::HttpRequestDenied) });
        }
        // The guest may ask for shorter timeouts, never longer ones.
        let cap =
            |asked: Option<Duration>, limit: Duration| Some(asked.map_or(limit, |a| a.min(limit)));
        let options = options.unwrap_or_default();
        let options = RequestOptions {
            connect_timeout: cap(options.connect_timeout, self.connect_timeout),
            first_byte_timeout: cap(options.first_byte_timeout, self.first_byte_timeout),
            between_bytes_timeout: cap(options.between_bytes_timeout, self.first_byte_timeout),
        };
        Box::new(async move {
            let (response, io) =
                wasmtime_wasi_http::default_send_request(request, Some(options)).await?;
            Ok((
                response.map(|body| body.boxed_unsync()),
                Box::new(io) as IoFuture,
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allows(entry: &str, host: &str, port: u16) -> bool {
        HostRule::parse(entry)
            .unwrap()
            .allows(&normalize(host), port)
    }

    #[test]
    fn entries_match_hosts_and_ports() {
        assert!(allows("api.example.com", "API.example.com.", 8443));
        assert!(allows("api.example.com:443", "api.example.com", 443));
        assert!(!allows("api.example.com:443", "api.example.com", 80));
        assert!(!allows("api.example.com", "evil-api.example.com", 80));
        assert!(allows("*.example.com", "a.b.example.com", 80));
        assert!(!allows("*.example.com", "example.com", 80));
        assert!(!allows("*.example.com", "badexample.com", 80));
        assert!(allows("[::1]:8080", "[::1]", 8080));
        assert!(allows("127.0.0.1:8080", "127.0.0.1", 8080));
        assert!(!allows("127.0.0.1:8080", "127.0.0.2", 8080));
    }

    #[test]
    fn bad_entries_are_refused_saying_how_to_write_them() {
        for (entry, why) in [
            ("https://api.example.com", "has a scheme"),
            ("api.example.com/path", "is not a host"),
            ("api.example.com:http", "not a number"),
            ("api.example.com:0", "not a number"),
            ("::1", "brackets"),
            ("[::1", "closing"),
            ("a.*.com", "leading `*.`"),
            ("*", "leading `*.`"),
            (":80", "no host"),
        ] {
            let err = HostRule::parse(entry).unwrap_err();
            assert!(
                err.contains(why) && err.contains("HOST:PORT"),
                "{entry}: {err}"
            );
        }
        let zero = HttpGrant {
            allow: vec![],
            connect_timeout_ms: Some(0),
            first_byte_timeout_ms: None,
        };
        assert!(check(&zero)
            .unwrap_err()
            .contains("capabilities.http.connect-timeout-ms"));
    }

    fn get(uri: &str) -> http::Request<WasiBody> {
        let body = http_body_util::Empty::new()
            .map_err(|never| match never {})
            .boxed_unsync();
        http::Request::get(uri).body(body).unwrap()
    }

    #[test]
    fn refusals_say_what_was_denied_and_how_to_allow_it() {
        let none = HttpPolicy::new("p", None);
        let reason = none.refusal(&get("http://example.com/x")).unwrap();
        assert!(
            reason.starts_with("denied HTTP GET http://example.com/x: HTTP is not granted"),
            "{reason}"
        );
        assert!(
            reason.contains("allow = [\"example.com:80\"]` to p.toml"),
            "{reason}"
        );

        let grant = HttpGrant {
            allow: vec!["127.0.0.1:8080".into()],
            ..HttpGrant::default()
        };
        let some = HttpPolicy::new("p", Some(&grant));
        assert_eq!(some.refusal(&get("http://127.0.0.1:8080/")), None);
        let reason = some.refusal(&get("https://127.0.0.1/")).unwrap();
        assert!(
            reason.contains("`127.0.0.1:443` is not on the plugin's HTTP allow-list"),
            "{reason}"
        );
    }
}
