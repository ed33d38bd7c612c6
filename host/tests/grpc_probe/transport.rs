//! The gRPC probe against raw TCP servers on 127.0.0.1 that misbehave at
//! the HTTP/2 level.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use hooklet::prober::grpc::{probe, GrpcProbeResult};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// An empty SETTINGS frame: a valid server preface.
const SETTINGS: [u8; 9] = [0, 0, 0, 4, 0, 0, 0, 0, 0];
/// RST_STREAM on stream 1 with PROTOCOL_ERROR.
const RST_STREAM_1: [u8; 13] = [0, 0, 4, 3, 0, 0, 0, 0, 1, 0, 0, 0, 1];

/// What the raw server does with each connection.
#[derive(Clone, Copy)]
enum Script {
    /// Write these bytes and hold the connection open.
    Say(&'static [u8]),
    /// Send a preface, read the client's request, then close.
    CloseAfterRequest,
    /// Send a preface, read the client's request, then reset stream 1.
    ResetAfterRequest,
}

async fn raw_server(script: Script) -> SocketAddr {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("local addr");
    tokio::spawn(async move {
        while let Ok((conn, _)) = listener.accept().await {
            tokio::spawn(run(conn, script));
        }
    });
    addr
}

async fn run(mut conn: TcpStream, script: Script) {
    let tail: &[u8] = match script {
        Script::Say(bytes) => {
            let _ = conn.write_all(bytes).await;
            tokio::time::sleep(Duration::from_secs(30)).await;
            return;
        }
        Script::CloseAfterRequest => &[],
        Script::ResetAfterRequest => &RST_STREAM_1,
    };
    let _ = conn.write_all(&SETTINGS).await;
    read_until_idle(&mut conn).await;
    let _ = conn.write_all(tail).await;
    if tail.is_empty() {
        return;
    }
    tokio::time::sleep(Duration::from_secs(30)).await;
}

/// Reads what the client sends until it has been quiet for 100ms.
async fn read_until_idle(conn: &mut TcpStream) {
    let mut buf = [0u8; 4096];
    let idle = Duration::from_millis(100);
    while let Ok(Ok(n)) = tokio::time::timeout(idle, conn.read(&mut buf)).await {
        if n == 0 {
            return;
        }
    }
}

async fn probe_addr(addr: SocketAddr, timeout: Duration) -> GrpcProbeResult {
    probe(
        &addr.ip().to_string(),
        addr.port(),
        "",
        timeout,
        "kube-probe/1.34",
    )
    .await
}

fn unhealthy(output: &str) -> GrpcProbeResult {
    GrpcProbeResult {
        healthy: false,
        output: output.to_owned(),
    }
}

#[tokio::test]
async fn servers_that_are_not_http2_time_out_in_the_dial() {
    // grpc-go waits for the server's SETTINGS frame before the dial is done.
    for reply in [&b""[..], &b"HTTP/1.1 400 Bad Request\r\n\r\n"[..]] {
        let addr = raw_server(Script::Say(reply)).await;
        let got = probe_addr(addr, Duration::from_millis(300)).await;
        let want = format!(
            "timeout: failed to connect service \"{addr}\" within 300ms: context deadline exceeded"
        );
        assert_eq!(got, unhealthy(&want), "reply {reply:?}");
    }
}

#[tokio::test]
async fn connection_closed_during_the_rpc() {
    let addr = raw_server(Script::CloseAfterRequest).await;
    let got = probe_addr(addr, Duration::from_secs(2)).await;
    let want = "error: health rpc probe failed: rpc error: code = Unavailable desc = error reading from server: EOF";
    assert_eq!(got, unhealthy(want));
}

#[tokio::test]
async fn stream_reset_during_the_rpc() {
    let addr = raw_server(Script::ResetAfterRequest).await;
    let got = probe_addr(addr, Duration::from_secs(2)).await;
    let want = "error: health rpc probe failed: rpc error: code = Internal desc = stream terminated by RST_STREAM with error code: PROTOCOL_ERROR";
    assert_eq!(got, unhealthy(want));
}
