//! The container of `scripts/soak`'s pods: a tiny HTTP/1.1 server and a real gRPC
//! health server (tonic-health, `SERVING`) on 127.0.0.1, so that the soak's httpGet and
//! tcpSocket probes and hooks and its grpc probes talk to real servers.
//!
//! ```sh
//! soak_server serve HTTP_PORT GRPC_PORT   # serves until killed
//! soak_server wait PORT [SECONDS]         # exits 0 once PORT accepts (default 10 s), else 1
//! ```
//!
//! Every HTTP request is answered `200 ok` and the connection closed (the prober opens
//! a fresh connection per probe anyway). Built by `scripts/soak` as a cargo example
//! (`cargo build -p hooklet --example soak_server`), with the dev-dependencies' tonic
//! server.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tonic::service::Routes;
use tonic::transport::server::TcpIncoming;
use tonic::transport::Server;
use tonic_health::ServingStatus;

const USAGE: &str = "usage: soak_server serve HTTP_PORT GRPC_PORT | soak_server wait PORT [SECONDS]";

fn port(arg: Option<&String>) -> u16 {
    match arg.map(|a| a.parse::<u16>()) {
        Some(Ok(p)) => p,
        _ => {
            eprintln!("{USAGE}");
            std::process::exit(2)
        }
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("serve") => serve(port(args.get(1)), port(args.get(2))).await,
        Some("wait") => {
            let secs = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(10);
            wait(port(args.get(1)), Duration::from_secs(secs)).await
        }
        _ => {
            eprintln!("{USAGE}");
            std::process::exit(2)
        }
    }
}

/// Serves HTTP on `http` and gRPC health on `grpc` until the process is killed.
async fn serve(http: u16, grpc: u16) -> anyhow::Result<()> {
    let http = TcpListener::bind((Ipv4Addr::LOCALHOST, http)).await?;
    let grpc = TcpListener::bind((Ipv4Addr::LOCALHOST, grpc)).await?;
    let (reporter, service) = tonic_health::server::health_reporter();
    reporter.set_service_status("", ServingStatus::Serving).await;
    println!("serving http on {} and grpc on {}", http.local_addr()?, grpc.local_addr()?);
    let grpc = Server::builder().add_routes(Routes::new(service)).serve_with_incoming(TcpIncoming::from(grpc));
    tokio::select! {
        served = grpc => served?,
        _ = http_loop(http) => {}
    }
    Ok(())
}

async fn http_loop(listener: TcpListener) {
    loop {
        let Ok((stream, _)) = listener.accept().await else { continue };
        tokio::spawn(answer(stream));
    }
}

/// Reads the request head (up to 8 KiB) and answers `200 ok`.
async fn answer(mut stream: TcpStream) {
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 8192 {
        match tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => head.extend_from_slice(&buf[..n]),
            _ => return,
        }
    }
    let reply = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\nConnection: close\r\n\r\nok\n";
    let _ = stream.write_all(reply).await;
    let _ = stream.shutdown().await;
}

/// Exits 0 once 127.0.0.1:`port` accepts a connection, 1 after `limit`.
async fn wait(port: u16, limit: Duration) -> anyhow::Result<()> {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let start = Instant::now();
    while start.elapsed() < limit {
        if TcpStream::connect(addr).await.is_ok() {
            println!("{addr} is up");
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    eprintln!("{addr} did not accept within {limit:?}");
    std::process::exit(1)
}
