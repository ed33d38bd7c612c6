//! The `tcpSocket` probe (`pkg/probe/tcp`): connect within `timeoutSeconds` and close at
//! once; nothing is sent or read. Failures carry Go's dial error text.

use std::time::Duration;

use crate::gostr::join_host_port;
use crate::hooks::http::dial_host;

/// Connects to `host:port`; `Ok(())` if the connection was made, else Go's error text
/// (`dial tcp 10.1.2.3:8080: connect: connection refused`, `…: i/o timeout`).
pub(super) async fn probe(host: &str, port: u16, timeout: Duration) -> Result<(), String> {
    let connect = async { dial_host(host, port).await.map(drop) };
    match tokio::time::timeout(timeout, connect).await {
        Ok(result) => result,
        Err(_) => Err(format!("dial tcp {}: i/o timeout", join_host_port(host, port))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn connects_or_says_why_as_go_does() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        assert_eq!(probe("127.0.0.1", port, Duration::from_secs(1)).await, Ok(()));
        drop(listener);
        assert_eq!(
            probe("127.0.0.1", port, Duration::from_secs(1)).await,
            Err(format!("dial tcp 127.0.0.1:{port}: connect: connection refused"))
        );
    }
}
