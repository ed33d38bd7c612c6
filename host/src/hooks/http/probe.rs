//! The `httpGet` **probe** on the same request builder and client as the hook
//! (`pkg/probe/http`): 200–399 is healthy, a redirect to another host is a warning
//! (healthy, with a `ProbeWarning` event), anything else fails with
//! `HTTP probe failed with statuscode: N`; transport errors are failures with Go's
//! text; `timeoutSeconds` is the client's timeout.

use std::net::IpAddr;
use std::time::Duration;

use super::gotext::url_error;
use super::{request, resolve_port, HttpHookClient};
use crate::spec::model::{Container, HttpGetAction};

/// What `pkg/probe/http` returns for one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HttpProbeResult {
    /// 2xx: the body is the output.
    Success(String),
    /// A 3xx not followed (another host): healthy, output `Probe terminated redirects, …`.
    Warning(String),
    /// Any other status, or a transport error: the output is the reason.
    Failure(String),
    /// The request could not be built (unresolvable port, no pod IP): the prober's
    /// "errored" case, which is not counted toward a threshold.
    Error(String),
}

/// Runs one httpGet probe for `container` with the client's `timeout`.
pub async fn run_http_probe(
    client: &HttpHookClient,
    action: &HttpGetAction,
    container: &Container,
    pod_ip: Option<IpAddr>,
    timeout: Duration,
) -> HttpProbeResult {
    let host = match (action.host.as_deref().filter(|h| !h.is_empty()), pod_ip) {
        (Some(host), _) => host.to_string(),
        (None, Some(ip)) => ip.to_string(),
        (None, None) => return HttpProbeResult::Error("the pod has no IP address yet".into()),
    };
    let port = match resolve_port(&action.port, container) {
        Ok(port) => port,
        Err(e) => return HttpProbeResult::Error(e),
    };
    let req = match request::new_request(action, &host, port, client.user_agent()) {
        Ok(req) => req,
        Err(e) => return HttpProbeResult::Error(e),
    };
    let url = req.url.to_go_string();
    let outcome = match tokio::time::timeout(timeout, client.execute(&req)).await {
        Ok(outcome) => outcome,
        Err(_) => {
            let why = "context deadline exceeded (Client.Timeout exceeded while awaiting headers)";
            return HttpProbeResult::Failure(url_error(&url, why));
        }
    };
    match (outcome.error, outcome.status) {
        (Some(e), _) => HttpProbeResult::Failure(e),
        (None, Some(status)) if (300..400).contains(&status) || outcome.redirect_not_followed => {
            let body = String::from_utf8_lossy(&outcome.body);
            HttpProbeResult::Warning(format!("Probe terminated redirects, Response body: {body}"))
        }
        (None, Some(status)) if (200..300).contains(&status) => {
            HttpProbeResult::Success(String::from_utf8_lossy(&outcome.body).into_owned())
        }
        (None, Some(status)) => HttpProbeResult::Failure(format!("HTTP probe failed with statuscode: {status}")),
        (None, None) => HttpProbeResult::Failure(url_error(&url, "no response")),
    }
}
