//! A blocking plaintext (h2c) dial, as grpc-go's `DialContext` does it with
//! `WithBlock()` and insecure credentials, and the connection it yields.
//!
//! grpc-go treats every connection failure (refused, unreachable, reset,
//! a failed HTTP/2 handshake) as transient: with `WithBlock` it retries with
//! exponential backoff until the context's deadline, then returns
//! `context.DeadlineExceeded`. The kubelet sets no `FailOnNonTempDialError`,
//! so a port where nothing listens ends in the dial *timeout* text after the
//! whole probe timeout, not in a "connection refused" text. A connection is
//! ready only once the server's HTTP/2 SETTINGS frame has arrived (so a
//! silent or non-HTTP/2 server also ends in the timeout). This module does
//! the same.

use std::collections::hash_map::RandomState;
use std::future::Future;
use std::hash::BuildHasher;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use http::header::{HeaderValue, USER_AGENT};
use http_body_util::BodyExt;
use http_body_util::combinators::MapErr;
use hyper::body::Incoming;
use hyper::client::conn::http2::{self, SendRequest};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpStream;
use tokio::time::{Instant, sleep_until, timeout_at};

use super::preface::PrefaceTap;
use super::transport_error::transport_status;

/// grpc-go's default backoff: 1s base, ×1.6 per retry, ±20 % jitter, 120s cap.
const BASE_DELAY: Duration = Duration::from_secs(1);
const MULTIPLIER: f64 = 1.6;
const JITTER: f64 = 0.2;
const MAX_DELAY: Duration = Duration::from_secs(120);
/// grpc-go's `minConnectTimeout`: the least time one attempt may take.
const MIN_CONNECT_TIMEOUT: Duration = Duration::from_secs(20);
/// How long the closed connection may linger after the probe's deadline to
/// send its GOAWAY before its task is dropped.
const CLOSE_GRACE: Duration = Duration::from_secs(1);
/// Appended to the caller's User-Agent, as grpc-go appends ` grpc-go/<ver>`
/// and tonic's own channel ` tonic/<ver>`.
pub(crate) const USER_AGENT_SUFFIX: &str = "tonic/0.14";

/// Why [`dial`] returned no connection.
#[derive(Debug)]
pub(crate) enum DialError {
    /// The deadline passed first (Go: `context.DeadlineExceeded`).
    Timeout,
    /// A failure no retry can fix, found before connecting.
    Fatal(String),
}

/// An HTTP/2 connection to the probed server, usable as tonic's transport.
pub(crate) struct Connection {
    send: SendRequest<tonic::body::Body>,
    user_agent: HeaderValue,
}

/// Connects to `addr` (`host:port`) like grpc-go's blocking dial: retry with
/// backoff until a connection is up or `deadline` passes.
pub(crate) async fn dial(
    addr: &str,
    deadline: Instant,
    user_agent: &str,
) -> Result<Connection, DialError> {
    let user_agent = HeaderValue::from_str(&format!("{user_agent} {USER_AGENT_SUFFIX}"))
        .map_err(|e| DialError::Fatal(format!("invalid user agent {user_agent:?}: {e}")))?;
    let mut retries = 0u32;
    loop {
        let started = Instant::now();
        if started >= deadline {
            return Err(DialError::Timeout);
        }
        let attempt_end = deadline.min(started + MIN_CONNECT_TIMEOUT);
        match timeout_at(attempt_end, connect(addr, deadline)).await {
            Ok(Ok(send)) => return Ok(Connection { send, user_agent }),
            Ok(Err(e)) => {
                tracing::debug!(addr, error = %e, "grpc probe: connection attempt failed")
            }
            Err(_) => tracing::debug!(addr, "grpc probe: connection attempt timed out"),
        }
        sleep_until(deadline.min(started + backoff(retries))).await;
        retries = retries.saturating_add(1);
    }
}

/// One attempt: TCP connect, the HTTP/2 handshake, then the server's
/// SETTINGS frame. The connection task ends when the [`Connection`] is
/// dropped, or soon after `deadline`.
async fn connect(addr: &str, deadline: Instant) -> Result<SendRequest<tonic::body::Body>, String> {
    let tcp = TcpStream::connect(addr)
        .await
        .map_err(|e| format!("dial tcp {addr}: connect: {}", go_errno_text(&e)))?;
    // Go sets TCP_NODELAY on every TCP connection; failing to is harmless.
    let _ = tcp.set_nodelay(true);
    let (tap, preface) = PrefaceTap::new(tcp);
    let (send, conn) = http2::handshake(TokioExecutor::new(), TokioIo::new(tap))
        .await
        .map_err(|e| format!("http2 handshake with {addr}: {e}"))?;
    tokio::spawn(async move {
        if let Ok(Err(e)) = timeout_at(deadline + CLOSE_GRACE, conn).await {
            tracing::debug!(error = %e, "grpc probe: connection ended with an error");
        }
    });
    match preface.await {
        Ok(true) => Ok(send),
        Ok(false) => Err(format!(
            "error reading server preface from {addr}: not an HTTP/2 SETTINGS frame"
        )),
        Err(_) => Err(format!(
            "connection to {addr} closed before the server preface"
        )),
    }
}

/// grpc-go's `Exponential.Backoff(retries)`: the first retry waits exactly
/// the base delay, later ones grow and get jitter.
fn backoff(retries: u32) -> Duration {
    if retries == 0 {
        return BASE_DELAY;
    }
    let grown = BASE_DELAY.as_secs_f64() * MULTIPLIER.powi(retries.min(64) as i32);
    let capped = grown.min(MAX_DELAY.as_secs_f64());
    let unit = (RandomState::new().hash_one(retries) >> 11) as f64 / (1u64 << 53) as f64;
    Duration::from_secs_f64((capped * (1.0 + JITTER * (unit * 2.0 - 1.0))).max(0.0))
}

/// The text Go gives an OS error: `connection refused`, without Rust's
/// ` (os error 111)` and capital letter.
fn go_errno_text(e: &std::io::Error) -> String {
    let text = e.to_string();
    let Some(code) = e.raw_os_error() else {
        return text;
    };
    let bare = text
        .trim_end_matches(&format!(" (os error {code})"))
        .to_owned();
    let mut chars = bare.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => bare,
    }
}

/// The response body, with transport errors already turned into statuses.
type ResponseBody = MapErr<Incoming, fn(hyper::Error) -> tonic::Status>;

/// Transport errors leave as grpc-go-like statuses (see
/// [`super::transport_error`]), both when sending and while reading.
impl tower_service::Service<http::Request<tonic::body::Body>> for Connection {
    type Response = http::Response<ResponseBody>;
    type Error = tonic::Status;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.send.poll_ready(cx).map_err(transport_status)
    }

    fn call(&mut self, mut req: http::Request<tonic::body::Body>) -> Self::Future {
        req.headers_mut()
            .insert(USER_AGENT, self.user_agent.clone());
        let sent = self.send.send_request(req);
        Box::pin(async move {
            let response = sent.await.map_err(transport_status)?;
            let to_status: fn(hyper::Error) -> tonic::Status = transport_status;
            Ok(response.map(|body| body.map_err(to_status)))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_follows_grpc_go_defaults() {
        assert_eq!(backoff(0), Duration::from_secs(1));
        for retries in 1..4 {
            let want = 1.6f64.powi(retries as i32);
            let got = backoff(retries).as_secs_f64();
            assert!(
                got >= want * 0.8 - 1e-9 && got <= want * 1.2 + 1e-9,
                "{retries}: {got}"
            );
        }
        assert!(backoff(40) <= Duration::from_secs_f64(120.0 * 1.2));
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn os_errors_read_like_go() {
        let e = std::io::Error::from_raw_os_error(111);
        assert_eq!(go_errno_text(&e), "connection refused");
        let e = std::io::Error::other("Custom");
        assert_eq!(go_errno_text(&e), "Custom");
    }
}
