//! The gRPC probe (`hooklet::prober::grpc`) against real tonic servers on 127.0.0.1, and
//! against raw TCP servers that misbehave at the HTTP/2 level (`grpc_probe/transport.rs`).

mod common;
#[path = "grpc_probe/transport.rs"]
mod transport;

use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use common::grpc_server::{
    ServingStatus, WireStatus, spawn_health_server, spawn_health_server_on,
    spawn_scripted_health_server, spawn_server_without_health,
};
use hooklet::prober::grpc::{probe, GrpcProbeResult};
use tokio::net::TcpListener;

const UA: &str = "kube-probe/1.34";
const ONE_SECOND: Duration = Duration::from_secs(1);

async fn probe_addr(addr: SocketAddr, service: &str, timeout: Duration) -> GrpcProbeResult {
    probe(&addr.ip().to_string(), addr.port(), service, timeout, UA).await
}

fn unhealthy(output: &str) -> GrpcProbeResult {
    GrpcProbeResult {
        healthy: false,
        output: output.to_owned(),
    }
}

/// A loopback port where nothing listens (bound, then released).
async fn free_port() -> SocketAddr {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .await
        .expect("bind");
    listener.local_addr().expect("local addr")
}

#[tokio::test]
async fn serving_is_healthy() {
    let (addr, _server) = spawn_health_server(ServingStatus::Serving).await;
    let got = probe_addr(addr, "", ONE_SECOND).await;
    assert_eq!(
        got,
        GrpcProbeResult {
            healthy: true,
            output: "service healthy".into()
        }
    );
}

#[tokio::test]
async fn huge_timeout_is_accepted() {
    let (addr, _server) = spawn_health_server(ServingStatus::Serving).await;
    assert!(probe_addr(addr, "", Duration::MAX).await.healthy);
}

#[tokio::test]
async fn not_serving_and_unknown_are_unhealthy_and_flip() {
    let (addr, server) = spawn_health_server(ServingStatus::NotServing).await;
    let got = probe_addr(addr, "", ONE_SECOND).await;
    assert_eq!(
        got,
        unhealthy(r#"service unhealthy (responded with "NOT_SERVING")"#)
    );

    server.set_status(ServingStatus::Unknown).await;
    let got = probe_addr(addr, "", ONE_SECOND).await;
    assert_eq!(
        got,
        unhealthy(r#"service unhealthy (responded with "UNKNOWN")"#)
    );

    server.set_status(ServingStatus::Serving).await;
    assert!(probe_addr(addr, "", ONE_SECOND).await.healthy);
}

#[tokio::test]
async fn named_service_status_is_asked_for() {
    let (addr, mut server) = spawn_health_server(ServingStatus::NotServing).await;
    server
        .set_service_status("shop", ServingStatus::Serving)
        .await;
    assert!(probe_addr(addr, "shop", ONE_SECOND).await.healthy);
    assert!(!probe_addr(addr, "", ONE_SECOND).await.healthy);

    // tonic-health answers an unregistered service with NotFound, like
    // grpc-go's server (whose message is "unknown service").
    server.clear_service_status("shop").await;
    let got = probe_addr(addr, "shop", ONE_SECOND).await;
    let want =
        "error: health rpc probe failed: rpc error: code = NotFound desc = service not registered";
    assert_eq!(got, unhealthy(want));
}

#[tokio::test]
async fn service_unknown_answer_is_unhealthy() {
    let (server, _) =
        spawn_scripted_health_server(WireStatus::ServiceUnknown, Duration::ZERO).await;
    let got = probe_addr(server.addr(), "", ONE_SECOND).await;
    assert_eq!(
        got,
        unhealthy(r#"service unhealthy (responded with "SERVICE_UNKNOWN")"#)
    );
}

#[tokio::test]
async fn nothing_listening_times_out_in_the_dial() {
    let addr = free_port().await;
    let timeout = Duration::from_millis(300);
    let started = Instant::now();
    let got = probe_addr(addr, "", timeout).await;
    let want = format!(
        "timeout: failed to connect service \"{addr}\" within 300ms: context deadline exceeded"
    );
    assert_eq!(got, unhealthy(&want));
    // Blocking dial: refused connections are retried until the deadline.
    let took = started.elapsed();
    assert!(took >= timeout && took < timeout + ONE_SECOND, "{took:?}");
}

#[tokio::test]
async fn dial_waits_for_a_server_that_comes_up_late() {
    let addr = free_port().await;
    let late = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let listener = TcpListener::bind(addr).await.expect("rebind the free port");
        spawn_health_server_on(listener, ServingStatus::Serving).await
    });
    let started = Instant::now();
    let got = probe_addr(addr, "", Duration::from_secs(3)).await;
    assert!(got.healthy, "{got:?}");
    // grpc-go's first retry comes exactly 1s after the first attempt.
    assert!(started.elapsed() >= ONE_SECOND, "{:?}", started.elapsed());
    drop(late.await.expect("late server"));
}

#[tokio::test]
async fn server_without_health_service_is_unimplemented() {
    let server = spawn_server_without_health().await;
    let got = probe_addr(server.addr(), "", ONE_SECOND).await;
    // tonic's fallback sends Unimplemented with an empty message; grpc-go
    // would send "unknown service grpc.health.v1.Health".
    let want =
        "error: this server does not implement the grpc health protocol (grpc.health.v1.Health): ";
    assert_eq!(got, unhealthy(want));
}

#[tokio::test]
async fn slow_check_times_out_in_the_rpc() {
    let (server, seen) =
        spawn_scripted_health_server(WireStatus::Serving, Duration::from_secs(5)).await;
    let started = Instant::now();
    let got = probe_addr(server.addr(), "", Duration::from_millis(1500)).await;
    assert_eq!(
        got,
        unhealthy("timeout: health rpc did not complete within 1.5s")
    );
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(1500) && took < Duration::from_secs(3),
        "{took:?}"
    );
    assert_eq!(
        seen.lock().expect("lock").len(),
        1,
        "the RPC reached the handler"
    );
}

#[tokio::test]
async fn user_agent_starts_with_kube_probe() {
    let (server, seen) = spawn_scripted_health_server(WireStatus::Serving, Duration::ZERO).await;
    assert!(probe_addr(server.addr(), "", ONE_SECOND).await.healthy);
    let seen = seen.lock().expect("lock").clone();
    assert_eq!(seen, vec!["kube-probe/1.34 tonic/0.14".to_owned()]);
    assert!(seen[0].starts_with("kube-probe/1.34 "));
}
