//! One gRPC health probe, as the kubelet's `pkg/probe/grpc` does it.
//!
//! Outputs, with `<addr>` the `host:port` (IPv6 hosts in brackets) quoted
//! like Go's `%q`, and `<timeout>` printed like Go's `time.Duration`:
//!
//! | case | output |
//! |---|---|
//! | `SERVING` | `service healthy` (healthy) |
//! | other status | `service unhealthy (responded with "NOT_SERVING")` (`"UNKNOWN"`, `"SERVICE_UNKNOWN"`, or the number for a value outside the enum, as Go's `String()`) |
//! | no connection by the deadline | `timeout: failed to connect service <addr> within <timeout>: context deadline exceeded` |
//! | unusable target | `error: failed to connect service at <addr>: <err>` |
//! | status `Unimplemented` | `error: this server does not implement the grpc health protocol (grpc.health.v1.Health): <status message>` |
//! | deadline during the RPC | `timeout: health rpc did not complete within <timeout>` |
//! | other RPC error | `error: health rpc probe failed: rpc error: code = <Code> desc = <message>` |
//!
//! As in the kubelet (worth knowing):
//! - The dial blocks like grpc-go's `DialContext` with `WithBlock`: refused
//!   or unreachable ports, and servers that never send an HTTP/2 SETTINGS
//!   frame, are retried with grpc-go's backoff (1s, then ×1.6 ±20 %) until
//!   the deadline, so they end in the dial *timeout* text after the whole
//!   timeout, with Go's `<err>` `context deadline exceeded`. The connect
//!   error itself is only logged at debug level (see `dial.rs`). A server
//!   that comes up within the timeout is still reached.
//! - Dial and RPC share one deadline; the RPC sends the remaining time as
//!   `grpc-timeout`.
//!
//! Divergences from the kubelet (Go, grpc-go):
//! - The "other dial error" case cannot happen in Go for an IP host; here it
//!   covers a target or User-Agent that cannot go into an HTTP/2 request,
//!   with hooklet's own `<err>` text.
//! - Transport failures during the RPC are mapped to grpc-go's statuses
//!   (see `transport_error.rs`): a closed connection gives
//!   `rpc error: code = Unavailable desc = error reading from server: EOF`
//!   and a stream reset `rpc error: code = Internal desc = stream terminated
//!   by RST_STREAM with error code: PROTOCOL_ERROR`, as in Go; other I/O
//!   errors carry hyper's text instead of Go's `net` error text.
//! - Statuses sent by the server are passed through, so the `<status
//!   message>` and `desc` parts are the server's: tonic-health says
//!   `service not registered` for an unknown service (grpc-go's server:
//!   `unknown service`), and tonic's router sends `Unimplemented` with an
//!   empty message (grpc-go's server: `unknown service grpc.health.v1.Health`).
//! - The User-Agent is `<user_agent> tonic/0.14` (grpc-go: `<user_agent> grpc-go/<version>`).
//! - No `SO_LINGER` of 1s on the socket (the kubelet's probe dialer sets it
//!   to avoid TIME_WAIT; tokio deprecates it since it blocks on close).

use std::time::Duration;

use http::Uri;
use tokio::time::{Instant, timeout_at};
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};

mod dial;
mod preface;
mod status;
mod transport_error;

use dial::{dial, DialError};
use crate::gostr::{go_duration, go_quote, join_host_port};
use status::go_status_error;

/// What one gRPC probe found: `healthy` is the kubelet's Success, and
/// `output` the probe's message (the text of a `... probe failed:` event).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrpcProbeResult {
    /// True only for a `SERVING` answer.
    pub healthy: bool,
    /// The kubelet's exact output text for this outcome.
    pub output: String,
}

impl GrpcProbeResult {
    fn failure(output: String) -> Self {
        Self {
            healthy: false,
            output,
        }
    }
}

/// One gRPC health probe, as the kubelet's `pkg/probe/grpc` does it.
///
/// Dials `host:port` in plaintext (h2c) with User-Agent `user_agent`
/// (followed by the stack's own suffix), blocking until connected, then calls
/// `grpc.health.v1.Health/Check` with `service`; dial and RPC share one
/// `timeout`. Every failure is an unhealthy result; see the module docs for
/// the texts.
pub async fn probe(
    host: &str,
    port: u16,
    service: &str,
    timeout: Duration,
    user_agent: &str,
) -> GrpcProbeResult {
    let now = Instant::now();
    let deadline = now.checked_add(timeout).unwrap_or(now + FAR_FUTURE);
    let addr = join_host_port(host, port);
    let quoted = go_quote(&addr);
    let origin = match Uri::builder()
        .scheme("http")
        .authority(addr.as_str())
        .path_and_query("/")
        .build()
    {
        Ok(uri) => uri,
        Err(e) => {
            return dial_error(&quoted, &e.to_string());
        }
    };
    let conn = match dial(&addr, deadline, user_agent).await {
        Ok(conn) => conn,
        Err(DialError::Timeout) => {
            return GrpcProbeResult::failure(format!(
                "timeout: failed to connect service {quoted} within {}: context deadline exceeded",
                go_duration(timeout)
            ));
        }
        Err(DialError::Fatal(e)) => {
            return dial_error(&quoted, &e.to_string());
        }
    };
    let mut client = HealthClient::with_origin(conn, origin);
    let mut request = tonic::Request::new(HealthCheckRequest {
        service: service.to_owned(),
    });
    // Go sends the remaining context time as grpc-timeout.
    request.set_timeout(deadline.saturating_duration_since(Instant::now()));
    match timeout_at(deadline, client.check(request)).await {
        Err(_) => rpc_timeout(timeout),
        Ok(Err(status)) => rpc_failure(&status, deadline, timeout),
        Ok(Ok(response)) => serving_result(response.into_inner().status),
    }
}

/// The kubelet's text for a dial error that is not a timeout.
fn dial_error(quoted_addr: &str, err: &str) -> GrpcProbeResult {
    GrpcProbeResult::failure(format!(
        "error: failed to connect service at {quoted_addr}: {err}"
    ))
}

/// Stands in for a deadline too far away for `Instant` (a huge timeout).
const FAR_FUTURE: Duration = Duration::from_secs(100 * 365 * 86_400);

fn rpc_timeout(timeout: Duration) -> GrpcProbeResult {
    GrpcProbeResult::failure(format!(
        "timeout: health rpc did not complete within {}",
        go_duration(timeout)
    ))
}

/// Maps an RPC error status. An error that arrives once the deadline has
/// passed (e.g. a tonic server's own `Cancelled: Timeout expired`) counts as
/// the deadline, as grpc-go reports `DeadlineExceeded` once its context ends.
fn rpc_failure(status: &tonic::Status, deadline: Instant, timeout: Duration) -> GrpcProbeResult {
    match status.code() {
        tonic::Code::Unimplemented => GrpcProbeResult::failure(format!(
            "error: this server does not implement the grpc health protocol (grpc.health.v1.Health): {}",
            status.message()
        )),
        tonic::Code::DeadlineExceeded => rpc_timeout(timeout),
        _ if Instant::now() >= deadline => rpc_timeout(timeout),
        _ => GrpcProbeResult::failure(format!(
            "error: health rpc probe failed: {}",
            go_status_error(status)
        )),
    }
}

/// `SERVING` is healthy; any other value is reported by its proto name, or
/// its number when it is outside the enum (as Go's `String()` does).
fn serving_result(raw: i32) -> GrpcProbeResult {
    match ServingStatus::try_from(raw) {
        Ok(ServingStatus::Serving) => GrpcProbeResult {
            healthy: true,
            output: "service healthy".to_owned(),
        },
        Ok(other) => unhealthy(other.as_str_name()),
        Err(_) => unhealthy(&raw.to_string()),
    }
}

fn unhealthy(name: &str) -> GrpcProbeResult {
    GrpcProbeResult::failure(format!(
        "service unhealthy (responded with {})",
        go_quote(name)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_join_like_go() {
        assert_eq!(join_host_port("10.0.0.1", 80), "10.0.0.1:80");
        assert_eq!(join_host_port("::1", 80), "[::1]:80");
    }

    #[test]
    fn serving_values_map_to_texts() {
        assert!(serving_result(1).healthy);
        assert_eq!(serving_result(1).output, "service healthy");
        let cases = [
            (0, "UNKNOWN"),
            (2, "NOT_SERVING"),
            (3, "SERVICE_UNKNOWN"),
            (7, "7"),
        ];
        for (raw, name) in cases {
            let got = serving_result(raw);
            assert!(!got.healthy);
            assert_eq!(
                got.output,
                format!("service unhealthy (responded with \"{name}\")")
            );
        }
    }

    #[test]
    fn rpc_errors_map_to_texts() {
        let later = Instant::now() + Duration::from_secs(60);
        let one = Duration::from_secs(1);
        let got = rpc_failure(&tonic::Status::unimplemented("nope"), later, one);
        assert_eq!(
            got.output,
            "error: this server does not implement the grpc health protocol (grpc.health.v1.Health): nope"
        );
        let got = rpc_failure(&tonic::Status::deadline_exceeded("x"), later, one);
        assert_eq!(got.output, "timeout: health rpc did not complete within 1s");
        let got = rpc_failure(
            &tonic::Status::cancelled("Timeout expired"),
            Instant::now(),
            one,
        );
        assert_eq!(got.output, "timeout: health rpc did not complete within 1s");
        let got = rpc_failure(&tonic::Status::internal("boom"), later, one);
        assert_eq!(
            got.output,
            "error: health rpc probe failed: rpc error: code = Internal desc = boom"
        );
    }
}
