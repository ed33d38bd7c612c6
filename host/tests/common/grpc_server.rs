//! Real tonic gRPC servers on 127.0.0.1 (plaintext h2c, ephemeral port) for
//! tests of the gRPC probe.
//!
//! - [`spawn_health_server`]: tonic-health's own server, whose status a test
//!   can flip through [`HealthHandle`].
//! - [`spawn_scripted_health_server`]: a health service that waits before it
//!   answers and records the User-Agents it sees.
//! - [`spawn_server_without_health`]: a gRPC server with no services at all.
//!
//! Each server runs until its [`TestServer`] (or [`HealthHandle`]) is dropped.
//! The functions panic if 127.0.0.1 cannot be bound: they are test helpers.

use std::net::{Ipv4Addr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tonic::codegen::tokio_stream::Stream;
use tonic::service::Routes;
use tonic::transport::Server;
use tonic::transport::server::TcpIncoming;
use tonic::{Request, Response, Status};
use tonic_health::pb::health_server::{Health, HealthServer};
use tonic_health::pb::{HealthCheckRequest, HealthCheckResponse};
use tonic_health::server::HealthReporter;

pub use tonic_health::ServingStatus;
/// The wire enum, which unlike [`ServingStatus`] has `ServiceUnknown`.
pub use tonic_health::pb::health_check_response::ServingStatus as WireStatus;

/// A running gRPC server; dropping it shuts the server down.
#[derive(Debug)]
pub struct TestServer {
    addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
}

impl TestServer {
    /// Where the server listens (127.0.0.1, an ephemeral port).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// Serves `routes` with tonic's server on 127.0.0.1 at an ephemeral port.
pub async fn serve(routes: Routes) -> TestServer {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .await
        .expect("bind 127.0.0.1:0 for a test gRPC server");
    serve_listener(listener, routes)
}

/// Serves `routes` with tonic's server on `listener` (e.g. a port a test
/// chose before the server was up).
pub fn serve_listener(listener: TcpListener, routes: Routes) -> TestServer {
    let addr = listener
        .local_addr()
        .expect("local address of a bound listener");
    let (tx, rx) = oneshot::channel::<()>();
    tokio::spawn(async move {
        let stop = async {
            let _ = rx.await;
        };
        let served = Server::builder()
            .add_routes(routes)
            .serve_with_incoming_shutdown(TcpIncoming::from(listener), stop)
            .await;
        if let Err(e) = served {
            tracing::warn!(error = %e, "test gRPC server failed");
        }
    });
    TestServer {
        addr,
        shutdown: Some(tx),
    }
}

/// Flips what a server from [`spawn_health_server`] reports. Dropping it
/// stops the server.
#[derive(Debug)]
pub struct HealthHandle {
    reporter: HealthReporter,
    server: TestServer,
}

impl HealthHandle {
    /// Where the server listens.
    pub fn addr(&self) -> SocketAddr {
        self.server.addr()
    }

    /// Sets the status of the empty service name `""`, which a probe
    /// without `grpc.service` asks for.
    pub async fn set_status(&self, status: ServingStatus) {
        self.set_service_status("", status).await;
    }

    /// Sets the status of `service`, registering it if it was unknown.
    pub async fn set_service_status(&self, service: &str, status: ServingStatus) {
        self.reporter.set_service_status(service, status).await;
    }

    /// Forgets `service`: Check then fails with `NotFound`.
    pub async fn clear_service_status(&mut self, service: &str) {
        self.reporter.clear_service_status(service).await;
    }
}

/// Starts tonic-health's server with `status` for the service `""`.
pub async fn spawn_health_server(status: ServingStatus) -> (SocketAddr, HealthHandle) {
    let (reporter, routes) = health_routes(status).await;
    let server = serve(routes).await;
    let addr = server.addr();
    (addr, HealthHandle { reporter, server })
}

/// Like [`spawn_health_server`], on `listener`.
pub async fn spawn_health_server_on(listener: TcpListener, status: ServingStatus) -> HealthHandle {
    let (reporter, routes) = health_routes(status).await;
    HealthHandle {
        reporter,
        server: serve_listener(listener, routes),
    }
}

async fn health_routes(status: ServingStatus) -> (HealthReporter, Routes) {
    let (reporter, service) = tonic_health::server::health_reporter();
    reporter.set_service_status("", status).await;
    (reporter, Routes::new(service))
}

/// Starts a gRPC server that registers no service: every call gets tonic's
/// `Unimplemented` answer.
pub async fn spawn_server_without_health() -> TestServer {
    serve(Routes::default()).await
}

/// User-Agent headers seen by a scripted server, in arrival order.
pub type SeenUserAgents = Arc<Mutex<Vec<String>>>;

/// A health service that sleeps `delay`, then answers `status` to every
/// Check, recording each request's User-Agent. Watch is unimplemented.
#[derive(Debug, Clone)]
struct ScriptedHealth {
    status: WireStatus,
    delay: Duration,
    seen: SeenUserAgents,
}

#[tonic::async_trait]
impl Health for ScriptedHealth {
    async fn check(
        &self,
        request: Request<HealthCheckRequest>,
    ) -> Result<Response<HealthCheckResponse>, Status> {
        let agent = request
            .metadata()
            .get("user-agent")
            .and_then(|v| v.to_str().ok());
        self.seen
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .push(agent.unwrap_or_default().to_owned());
        tokio::time::sleep(self.delay).await;
        Ok(Response::new(HealthCheckResponse {
            status: self.status as i32,
        }))
    }

    type WatchStream = Pin<Box<dyn Stream<Item = Result<HealthCheckResponse, Status>> + Send>>;

    async fn watch(
        &self,
        _request: Request<HealthCheckRequest>,
    ) -> Result<Response<Self::WatchStream>, Status> {
        Err(Status::unimplemented("watch is not scripted"))
    }
}

/// Starts a health server that answers `status` after `delay` to any
/// service name, and returns the User-Agents it sees.
pub async fn spawn_scripted_health_server(
    status: WireStatus,
    delay: Duration,
) -> (TestServer, SeenUserAgents) {
    let seen = SeenUserAgents::default();
    let health = ScriptedHealth {
        status,
        delay,
        seen: Arc::clone(&seen),
    };
    (serve(Routes::new(HealthServer::new(health))).await, seen)
}
