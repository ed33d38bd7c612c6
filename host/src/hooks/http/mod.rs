//! The `httpGet` handler, shared by hooks and probes: the hook follows the kubelet's
//! `runHTTPHandler` (spec section 4) to the letter, plus decision D9 (`failOnHttpError`);
//! the probe (`probe.rs`) follows `pkg/probe/http` on the same request and client.
//!
//! | file | concept |
//! |---|---|
//! | `port.rs` | [`resolve_port`]: `probe.ResolveContainerPort` |
//! | `request.rs` | the request: URL, headers, `Host` (`NewRequestForHTTPGetAction`) and how Go writes it |
//! | `header.rs` | Go's `http.Header` semantics and header validity checks |
//! | `gourl.rs`, `urlescape.rs` | the part of Go's `net/url` the kubelet relies on |
//! | `probe.rs` | [`run_http_probe`]: the probe's status rules and timeout |
//! | `client.rs` | [`HttpHookClient`]: dialing, redirects, body discard, error texts |
//! | `tls.rs` | certificate verification skipped, handshake error texts |
//! | `gotext.rs` | Go-style error texts (`Get "<url>": …`, errnos, broken responses) |
//!
//! Errors are the texts the kubelet's `err` would print; the caller wraps them
//! as `HTTP lifecycle hook (<path>) for Container "<c>" in Pod "<pod>" failed - error: <err>`.

mod client;
pub(crate) mod gotext;
/// Go's `net/url` as the kubelet's httpGet path uses it. Public only for the fuzz
/// targets (`fuzz/`, FUZZING.md); not a stable API.
#[doc(hidden)]
pub mod gourl;
mod header;
mod port;
mod probe;
mod request;
mod tls;
mod urlescape;

#[cfg(test)]
mod tests_redirect;
#[cfg(test)]
mod tests_request;
#[cfg(test)]
mod tests_transport;
#[cfg(test)]
mod testserver;

use std::net::IpAddr;

pub use client::HttpHookClient;
pub(crate) use client::dial_host;
pub use port::resolve_port;
pub use probe::{run_http_probe, HttpProbeResult};

use crate::spec::model::{Container, HttpGetAction};
use crate::gostr::go_quote;

/// The outcome of one httpGet hook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpHookReport {
    /// Ok = success under kubelet rules: any HTTP response, unless
    /// `fail_on_http_error` is set and the final status is not 2xx/3xx (D9).
    /// Err = the error text as the kubelet would print it (Go `*url.Error`
    /// style, e.g. `Get "http://127.0.0.1:1/x": dial tcp 127.0.0.1:1: connect: connection refused`).
    pub result: Result<(), String>,
    /// The final response's status line if any (e.g. `HTTP/1.1 404 Not Found`), for the hook output (D4).
    pub status_line: Option<String>,
    /// `Some("host:port")` when the HTTPS→HTTP fallback happened and succeeded:
    /// the caller emits the `LifecycleHTTPFallback` event.
    pub fallback: Option<String>,
    /// The URL requested first, as Go prints it (empty when no request was built).
    pub url: String,
}

impl HttpHookReport {
    fn failed(url: String, error: String) -> Self {
        HttpHookReport {
            result: Err(error),
            status_line: None,
            fallback: None,
            url,
        }
    }
}

/// The D9 failure text for a final status outside 2xx/3xx (modelled on the
/// kubelet prober's `HTTP probe failed with statuscode: N`), with the start of the
/// response body when there is one (a `hooklet gateway` puts the plugin's reason there).
fn status_error(status: u16, body: &[u8]) -> String {
    let mut error = format!("HTTP request failed with statuscode: {status}");
    let body = String::from_utf8_lossy(body);
    let body = body.trim_end();
    if !body.is_empty() {
        let body = crate::hooks::message::truncate(body, crate::hooks::message::MESSAGE_OUTPUT_LIMIT);
        error.push_str(&format!(", body: {}", go_quote(&body)));
    }
    error
}

/// Runs one httpGet hook for `container`. `pod_ip` is the default host.
///
/// Cancellation is dropping the future: there is no internal timeout (the
/// kubelet has none); the caller enforces deadlines.
pub async fn run_http_get(
    client: &HttpHookClient,
    action: &HttpGetAction,
    container: &Container,
    pod_ip: Option<IpAddr>,
) -> HttpHookReport {
    let host = match (action.host.as_deref().filter(|h| !h.is_empty()), pod_ip) {
        (Some(host), _) => host.to_string(),
        (None, Some(ip)) => ip.to_string(),
        (None, None) => {
            return HttpHookReport::failed(
                String::new(),
                "failed to find networking container: the pod has no IP address".into(),
            )
        }
    };
    let port = match resolve_port(&action.port, container) {
        Ok(port) => port,
        Err(e) => return HttpHookReport::failed(String::new(), e),
    };
    let req = match request::new_request(action, &host, port, client.user_agent()) {
        Ok(req) => req,
        Err(e) => return HttpHookReport::failed(String::new(), e),
    };
    let url = req.url.to_go_string();
    let mut outcome = client.execute(&req).await;
    let mut fallback = None;
    if outcome.scheme_mismatch {
        tracing::debug!(host = %req.url.host, "HTTPS request to lifecycle hook got HTTP response, retrying with HTTP");
        let mut retry = req.clone();
        retry.url.scheme = "http".into();
        retry.header.del("Authorization");
        let second = client.execute(&retry).await;
        if second.error.is_none() {
            fallback = Some(req.url.host.clone());
            outcome = second;
        }
    }
    let result = match (outcome.error, outcome.status) {
        (Some(e), _) => Err(e),
        (None, Some(status)) if action.fail_on_http_error && !(200..400).contains(&status) => {
            Err(status_error(status, &outcome.body))
        }
        (None, _) => Ok(()),
    };
    tracing::debug!(url = %url, status = ?outcome.status_line, ok = result.is_ok(), "httpGet hook finished");
    HttpHookReport {
        result,
        status_line: outcome.status_line,
        fallback,
        url,
    }
}
