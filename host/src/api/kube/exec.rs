//! `GET|POST /api/v1/namespaces/NS/pods/NAME/exec`: `kubectl exec` over a WebSocket
//! speaking the Kubernetes remote-command protocol ([`remotecommand`]), `v5` or `v4`
//! of `channel.k8s.io`.
//!
//! The request is checked before the upgrade (the command, the streams asked for, the
//! pod and its running container), so each mistake is a plain `Status` answer: kubectl
//! refused an upgrade falls back to SPDY with the same request and prints that same
//! `Status`. A request without a WebSocket upgrade (kubectl 1.29 and older, which speak
//! SPDY only) is a 400 saying so. `tty=true` is refused: neither runtime's exec has a
//! terminal.

use std::collections::HashMap;
use std::sync::Arc;

use hyper::body::Incoming;
use hyper::{header, HeaderMap, Request, Response, StatusCode};

use super::remotecommand::{self, Protocol};
use super::status::KubeError;
use crate::api::body::{self, Body};
use crate::api::query::flag;
use crate::daemon::Daemon;

/// What an exec request asks for.
#[derive(Debug)]
pub struct ExecOptions {
    pub command: Vec<String>,
    pub stdin: bool,
    pub stdout: bool,
    pub stderr: bool,
}

/// The options of an exec request, worded as the apiserver refuses them.
fn options(raw_query: &str, query: &HashMap<String, String>) -> Result<ExecOptions, KubeError> {
    let command = crate::api::routes::query_values(raw_query, "command")?;
    if command.is_empty() {
        return Err(KubeError::bad_request("you must specify at least 1 command (kubectl exec POD -- COMMAND [ARGS…])"));
    }
    if flag(query, "tty")? {
        return Err(KubeError::bad_request(
            "tty is not supported by hooklet's exec (neither runtime gives an exec a terminal): run kubectl exec without -t",
        ));
    }
    let options = ExecOptions { command, stdin: flag(query, "stdin")?, stdout: flag(query, "stdout")?, stderr: flag(query, "stderr")? };
    if !(options.stdin || options.stdout || options.stderr) {
        return Err(KubeError::bad_request("you must specify at least 1 of stdin, stdout, stderr"));
    }
    Ok(options)
}

/// The remote-command protocol of a WebSocket upgrade request, or why it is not one.
fn protocol(headers: &HeaderMap) -> Result<(Protocol, String), KubeError> {
    let has = |name: header::HeaderName, token: &str| {
        headers.get_all(name).iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(',')).any(|t| t.trim().eq_ignore_ascii_case(token))
    };
    if !has(header::UPGRADE, "websocket") || !has(header::CONNECTION, "upgrade") {
        return Err(KubeError::bad_request(
            "Upgrade request required: hooklet serves exec over WebSocket (Upgrade: websocket, Sec-WebSocket-Protocol v5.channel.k8s.io or v4.channel.k8s.io), not SPDY; use kubectl 1.30 or newer",
        ));
    }
    let key = headers
        .get(header::SEC_WEBSOCKET_KEY)
        .and_then(|v| v.to_str().ok())
        .filter(|_| headers.get(header::SEC_WEBSOCKET_VERSION).is_some_and(|v| v == "13"))
        .ok_or_else(|| KubeError::bad_request("a WebSocket upgrade needs Sec-WebSocket-Key and Sec-WebSocket-Version: 13"))?;
    let offered: Vec<&str> = headers
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect();
    let chosen = [Protocol::V5, Protocol::V4].into_iter().find(|p| offered.contains(&p.name())).ok_or_else(|| {
        KubeError::bad_request(format!(
            "none of the offered subprotocols [{}] is served: hooklet speaks v5.channel.k8s.io and v4.channel.k8s.io",
            offered.join(", ")
        ))
    })?;
    Ok((chosen, tokio_tungstenite::tungstenite::handshake::derive_accept_key(key.as_bytes())))
}

/// Serves an exec request: checks it, answers `101 Switching Protocols`, and runs the
/// command over the upgraded connection.
pub fn exec(daemon: &Arc<Daemon>, namespace: &str, name: &str, query: &HashMap<String, String>, mut req: Request<Incoming>) -> Result<Response<Body>, KubeError> {
    let options = options(req.uri().query().unwrap_or(""), query)?;
    let target = daemon.exec_target(namespace, name, query.get("container").map(String::as_str))?;
    let (protocol, accept) = protocol(req.headers())?;
    let upgrade = hyper::upgrade::on(&mut req);
    let (daemon, pod) = (daemon.clone(), name.to_string());
    tokio::spawn(async move {
        match upgrade.await {
            Ok(upgraded) => remotecommand::serve(daemon, target, options, protocol, upgraded).await,
            Err(err) => tracing::debug!(%pod, "exec: the connection was not upgraded: {err}"),
        }
    });
    Ok(Response::builder()
        .status(StatusCode::SWITCHING_PROTOCOLS)
        .header(header::UPGRADE, "websocket")
        .header(header::CONNECTION, "Upgrade")
        .header(header::SEC_WEBSOCKET_ACCEPT, accept)
        .header(header::SEC_WEBSOCKET_PROTOCOL, protocol.name())
        .body(body::empty())
        .expect("a valid response"))
}
