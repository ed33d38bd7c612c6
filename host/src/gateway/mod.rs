//! `hooklet gateway`: WebAssembly hooks for any Kubernetes cluster, through the kubelet's
//! own `httpGet` handler.
//!
//! The gateway runs as a sidecar of a pod (an init container with `restartPolicy:
//! Always`, which starts before the app containers and stops after them) and serves
//! `GET /hooks/PLUGIN?phase=postStart|preStop&KEY=VALUE…`: each request is one hook
//! delivery to `PLUGIN.wasm` through the node's own dispatch path
//! ([`HookRunner`](crate::hooks::HookRunner) on a [`WasmHost`]): the same engine,
//! instance pool, fuel, memory and resource caps, deadlines, output capture and failure
//! texts as a wasm hook on a hooklet node. The pod's identity comes from the downward API
//! ([`pod::POD_ENV`]), the delivery id from the request ([`request`]).
//!
//! | method | path | answer |
//! |---|---|---|
//! | GET | `/hooks/PLUGIN?phase=…` | 200 the plugin handled the hook; 500 it failed it (the body is the reason); 504 its deadline stopped it; 404 no such plugin; 400 a bad query; 503 the gateway is full |
//! | GET | `/metrics` | Prometheus text, the node's hook metrics and the gateway's |
//! | GET | `/healthz` | `ok` |
//!
//! Hook requests take a place in [`admission::Admission`] (pool slots plus a bounded
//! line) or are refused with 503 at once; `/metrics` and `/healthz` never wait.

pub mod admission;
pub mod metrics;
pub mod pod;
pub mod request;
mod respond;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{header, Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::api::body::Body;
use crate::hooks::deadline::Deadline;
use crate::hooks::http::HttpHookClient;
use crate::hooks::{HookLimits, HookRunner, HookTarget};
use crate::runtime::ContainerId;
use crate::spec::{Container, HookPhase, LifecycleHandler, WasmAction};
use crate::wasm::{WasmFailure, WasmHost};
use admission::Admission;
use metrics::GatewayMetrics;
use pod::PodIdentity;
use request::{BadRequest, HookRequest};

/// How the gateway runs.
#[derive(Debug, Clone)]
pub struct GatewayConfig {
    /// The PreStop deadline when the request gives none (`?deadline=`): the gateway cannot
    /// see the pod's grace period, so it is configured (default 30 s, Kubernetes' default
    /// `terminationGracePeriodSeconds`).
    pub prestop_deadline: Duration,
    /// Hook requests that may wait for a pool slot beyond those running; more get 503.
    pub max_queued: usize,
    /// How a hook that did not succeed is answered.
    pub on_failure: OnFailure,
}

/// How the gateway answers a hook request that did not succeed (the plugin failed, its
/// deadline passed, no such plugin, a bad query, the gateway full).
///
/// The kubelet counts **any** HTTP response as a successful hook (spec §4, kubernetes#56963):
/// only a transport error fails it. So a 5xx fails the hook only where the caller checks
/// the status (hooklet's `failOnHttpError`, curl, a script); on a stock kubelet, `close`
/// is what makes a failing plugin fail the hook (`FailedPostStartHook`, the container
/// killed), with the reason in the gateway's log and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OnFailure {
    /// A 4xx/5xx status with the reason as the body.
    Status,
    /// Close the connection without an answer, so the kubelet sees a transport error.
    Close,
}

/// A hook request refused by closing its connection ([`OnFailure::Close`]); its text is
/// the answer it would otherwise have had.
#[derive(Debug)]
pub struct Refused(pub String);

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0.trim_end())
    }
}

impl std::error::Error for Refused {}

/// One gateway: the pod it serves, the hook runner, the admission line and counters.
pub struct Gateway {
    config: GatewayConfig,
    pod: PodIdentity,
    runner: HookRunner,
    admission: Admission,
    metrics: GatewayMetrics,
}

impl Gateway {
    /// A gateway delivering on `wasm` for `pod`.
    pub fn new(config: GatewayConfig, pod: PodIdentity, wasm: WasmHost) -> Arc<Gateway> {
        let admission = Admission::new(wasm.config().pool_slots, config.max_queued);
        // The runner's HTTP client is never used: the gateway builds only wasm handlers.
        let runner = HookRunner::without_runtime(HttpHookClient::new("hooklet-gateway".into()), wasm);
        Arc::new(Gateway { config, pod, runner, admission, metrics: GatewayMetrics::default() })
    }

    /// Answers one request (any path); `Err` means: close the connection unanswered
    /// ([`OnFailure::Close`]).
    pub async fn handle<B>(&self, req: Request<B>) -> Result<Response<Body>, Refused> {
        let path = req.uri().path().to_string();
        if req.method() != Method::GET && req.method() != Method::HEAD {
            return Ok(text(StatusCode::METHOD_NOT_ALLOWED, format!("{} {path}: the gateway answers GET only\n", req.method())));
        }
        Ok(match path.as_str() {
            "/healthz" => text(StatusCode::OK, "ok\n".into()),
            "/metrics" => {
                let wasm = self.runner.wasm();
                let body = self.metrics.render(&wasm.pool_stats(), &self.admission);
                let mut response = text(StatusCode::OK, body);
                response.headers_mut().insert(header::CONTENT_TYPE, "text/plain; version=0.0.4".parse().expect("a valid header"));
                response
            }
            p if p.starts_with("/hooks/") => {
                let started = tokio::time::Instant::now();
                let query = req.uri().query().unwrap_or_default().to_string();
                let (status, body) = self.hook(&path, &query, req.headers()).await;
                self.metrics.answered(status.as_u16());
                let elapsed_ms = started.elapsed().as_millis() as u64;
                if status == StatusCode::OK {
                    tracing::info!(%path, status = status.as_u16(), elapsed_ms, "hook request");
                } else {
                    tracing::warn!(%path, status = status.as_u16(), elapsed_ms, "hook request failed: {}", body.trim_end());
                    if self.config.on_failure == OnFailure::Close {
                        return Err(Refused(body));
                    }
                }
                text(status, body)
            }
            _ => text(StatusCode::NOT_FOUND, format!("{path}: the gateway serves /hooks/PLUGIN, /metrics and /healthz\n")),
        })
    }

    async fn hook(&self, path: &str, query: &str, headers: &hyper::HeaderMap) -> (StatusCode, String) {
        let request = match HookRequest::parse(path, query, headers) {
            Ok(request) => request,
            Err(BadRequest::NotFound(body)) => return (StatusCode::NOT_FOUND, body),
            Err(BadRequest::Invalid(body)) => return (StatusCode::BAD_REQUEST, body),
        };
        let Some(_admitted) = self.admission.try_admit() else {
            let (load, capacity) = self.admission.load();
            tracing::warn!(plugin = %request.plugin, load, capacity, "the gateway is full; refusing a hook");
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                format!(
                    "the gateway is full: {load} hook requests are running or waiting (at most {capacity}: \
                     --wasm-pool-slots plus --max-queued); the {} hook of plugin {} was not run\n",
                    request.phase.as_str(),
                    request.plugin
                ),
            );
        };
        if let Err(failure @ WasmFailure::PluginNotFound { .. }) = self.runner.wasm().load(&request.plugin).await {
            return (StatusCode::NOT_FOUND, format!("no plugin {}: {failure}\n", request.plugin));
        }
        self.deliver(request).await
    }

    /// Runs the hook of `request` on the node's dispatch path and answers with its outcome.
    async fn deliver(&self, request: HookRequest) -> (StatusCode, String) {
        let deadline = match request.phase {
            HookPhase::PreStop => Some(request.deadline.unwrap_or(self.config.prestop_deadline)),
            HookPhase::PostStart => request.deadline,
        };
        let target = HookTarget {
            pod: self.pod.pod.clone(),
            container: Arc::new(Container { name: request.container.clone(), ..Container::default() }),
            container_id: ContainerId(String::new()),
            pod_ip: self.pod.pod_ip,
            phase: request.phase,
            delivery: request.delivery.clone(),
        };
        let handler = LifecycleHandler {
            wasm: Some(WasmAction { plugin: request.plugin.clone(), config: request.config.iter().cloned().collect(), fuel: None }),
            ..LifecycleHandler::default()
        };
        let limits = HookLimits {
            deadline: deadline.map(|d| Deadline::fixed(tokio::time::Instant::now() + d)),
            ..HookLimits::default()
        };
        // Dropped when the kubelet hangs up: the delivery future goes with it, and the
        // plugin is stopped at its next epoch tick.
        let gone = HangUp { plugin: &request.plugin, delivery: &request.delivery.id };
        let run = self.runner.run(&target, &handler, limits).await;
        std::mem::forget(gone);
        self.metrics.hooks.hook_run(&run, &request.plugin);
        respond::answer(&run, &request.plugin, deadline)
    }
}

/// Logs a delivery whose request was dropped before it finished.
struct HangUp<'a> {
    plugin: &'a str,
    delivery: &'a str,
}

impl Drop for HangUp<'_> {
    fn drop(&mut self) {
        tracing::warn!(plugin = self.plugin, delivery = self.delivery, "the client hung up; the hook delivery was stopped");
    }
}

fn text(status: StatusCode, body: String) -> Response<Body> {
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "text/plain; charset=utf-8")
        .body(Full::new(Bytes::from(body)).boxed())
        .expect("a valid response")
}

/// Serves HTTP/1.1 on `listener` until `shutdown` is cancelled; then stops accepting
/// and returns once the hook requests in flight have been answered (waiting at most the
/// PreStop deadline).
pub async fn serve(gateway: Arc<Gateway>, listener: TcpListener, shutdown: CancellationToken) {
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => spawn_connection(gateway.clone(), stream, peer),
                Err(err) => tracing::warn!("accepting a connection: {err}"),
            },
            _ = shutdown.cancelled() => break,
        }
    }
    drop(listener);
    let (in_flight, _) = gateway.admission.load();
    if in_flight > 0 {
        tracing::info!(in_flight, "stopped accepting; waiting for the hooks in flight");
    }
    // A hook without a deadline could hold the exit for ever: the PreStop deadline bounds it.
    if tokio::time::timeout(gateway.config.prestop_deadline, gateway.admission.drained()).await.is_err() {
        tracing::warn!("hooks still running after --prestop-deadline; stopping them");
    }
    tracing::info!("the gateway stopped");
}

fn spawn_connection(gateway: Arc<Gateway>, stream: tokio::net::TcpStream, peer: SocketAddr) {
    tokio::spawn(async move {
        let service = service_fn(move |req| {
            let gateway = gateway.clone();
            async move { gateway.handle(req).await }
        });
        if let Err(err) = http1::Builder::new().serve_connection(TokioIo::new(stream), service).await {
            tracing::debug!(%peer, "gateway connection ended: {err}");
        }
    });
}
