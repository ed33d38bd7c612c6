//! The `tcpSocket` probe (`pkg/probe/tcp`): connect within `timeoutSeconds` and close at
//! once; nothing is sent or read. Failures carry Go's dial error text.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use tokio::net::TcpStream;

use crate::hooks::http::gotext::{dial_error, lookup_error_text};

/// Connects to `host:port`; `Ok(())` if the connection was made, else Go's error text
/// (`dial tcp 10.1.2.3:8080: connect: connection refused`, `…: i/o timeout`).
pub(super) async fn probe(host: &str, port: u16, timeout: Duration) -> Result<(), String> {
    let joined = if host.contains(':') { format!("[{host}]:{port}") } else { format!("{host}:{port}") };
    let connect = async {
        let addrs: Vec<SocketAddr> = match host.parse::<IpAddr>() {
            Ok(ip) => vec![SocketAddr::new(ip, port)],
            Err(_) => match tokio::net::lookup_host((host, port)).await {
                Ok(addrs) => addrs.collect(),
                Err(e) => return Err(format!("dial tcp: {}", lookup_error_text(host, &e))),
            },
        };
        let mut first_error = None;
        for addr in &addrs {
            match TcpStream::connect(addr).await {
                Ok(stream) => {
                    drop(stream);
                    return Ok(());
                }
                Err(e) => {
                    first_error.get_or_insert_with(|| dial_error(*addr, &e));
                }
            }
        }
        Err(first_error.unwrap_or_else(|| format!("dial tcp: lookup {host}: no such host")))
    };
    match tokio::time::timeout(timeout, connect).await {
        Ok(result) => result,
        Err(_) => Err(format!("dial tcp {joined}: i/o timeout")),
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
