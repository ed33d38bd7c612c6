//! The prober: liveness, readiness and startup probes, as the kubelet's
//! `pkg/kubelet/prober` runs them (probe spec §3–§5).
//!
//! | file | concept |
//! |---|---|
//! | `worker.rs` | one worker per container instance and probe kind: initial delay, period, jitter, thresholds, startup gating, on-hold |
//! | `actions.rs`, `attempt.rs` | one probe attempt of any handler kind, through the handler layer hooks use too, and what it found |
//! | `tcp.rs`, `grpc.rs` | the two probe-only handlers: connect, `grpc.health.v1.Health/Check` |
//! | `metrics.rs` | `prober_probe_total`, `prober_probe_duration_seconds`, wasm probe fuel |
//!
//! The handler layer is shared with hooks, not copied: exec probes run through the same
//! [`Runtime::exec`] as exec hooks (inside the container's namespaces and cgroup under
//! runc), httpGet probes through the same request builder and client as httpGet hooks
//! ([`crate::hooks::http`], with the prober's transport rules), and wasm probes through
//! the same [`WasmHost`] delivery path (pool, fuel, deadline, output caps) as wasm hooks.
//!
//! The container worker (`lifecycle`) calls [`Prober::spawn`] when an instance is running
//! and its PostStart is done, and keeps the returned [`InstanceProbes`] with the
//! instance: [`InstanceProbes::failed`] completes when liveness or startup reaches its
//! failure threshold (the worker is then on hold until the next instance), liveness and
//! startup stop when termination begins ([`InstanceProbes::stop_liveness_and_startup`]),
//! and readiness runs until the instance is dropped.

mod actions;
mod attempt;
pub mod grpc;
pub mod metrics;
mod tcp;
mod wasm;
mod worker;

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tokio_util::sync::{CancellationToken, DropGuard};

use crate::events::{EventRecorder, ObjectRef};
use crate::hooks::http::HttpHookClient;
use crate::runtime::{ContainerId, Runtime};
use crate::spec::{Container, Pod, ProbeType};
use crate::wasm::WasmHost;
pub use metrics::ProberMetrics;

/// The cached result of a probe kind for one container (`results.Result`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProbeResult {
    Success,
    Failure,
    Unknown,
}

/// What a probe learns about its container from the container worker.
#[derive(Debug, Clone)]
pub struct ProbeTarget {
    pub pod: Arc<Pod>,
    pub container: Arc<Container>,
    pub container_id: ContainerId,
    pub pod_ip: Option<IpAddr>,
    /// `state.running.startedAt`: the initial delay counts from here.
    pub started_at: SystemTime,
    /// The container as an event's involved object.
    pub object: ObjectRef,
}

/// Where a probe's results go: the container worker's status.
pub trait ProbeSink: Send + Sync + 'static {
    /// The startup probe succeeded: the container is `started`.
    fn started(&self);
    /// The readiness result changed: the container is `ready` or not.
    fn ready(&self, ready: bool);
}

/// The consecutive-result counters of one container's probe kinds, which outlive an
/// instance (probe spec §3.5: `lastResult`/`resultRun` carry over a restart).
#[derive(Debug, Default, Clone)]
pub struct ProbeCounters(Arc<Mutex<HashMap<ProbeType, worker::RunCounter>>>);

/// The node's prober: the probe HTTP client, the runtime for exec probes, the wasm host
/// and the metrics. One per node; shared behind an `Arc`.
pub struct Prober {
    runtime: Arc<dyn Runtime>,
    http: HttpHookClient,
    wasm: WasmHost,
    events: EventRecorder,
    metrics: Arc<ProberMetrics>,
    user_agent: String,
    /// How long one of a probe's seconds lasts (1 s; tests shrink it).
    unit: Duration,
    /// When the prober started: workers created within one period of it jitter their
    /// first probe (a restarted agent does not probe every container at once).
    started: Instant,
}

impl Prober {
    /// A prober sending `User-Agent: kube-probe/<kube_version>`, where one second of a
    /// probe's `initialDelaySeconds`, `periodSeconds` and `timeoutSeconds` lasts `unit`.
    pub fn new(runtime: Arc<dyn Runtime>, wasm: WasmHost, events: EventRecorder, kube_version: &str, unit: Duration) -> Self {
        let user_agent = format!("kube-probe/{kube_version}");
        Prober {
            runtime,
            http: HttpHookClient::for_probes(user_agent.clone()),
            wasm,
            events,
            metrics: Arc::new(ProberMetrics::default()),
            user_agent,
            unit,
            started: Instant::now(),
        }
    }

    /// `seconds` of probe time (`periodSeconds`, …) as a duration.
    fn seconds(&self, seconds: i64) -> Duration {
        self.unit * seconds.clamp(0, u32::MAX as i64) as u32
    }

    /// The probe counters and latencies, for `/metrics`.
    pub fn metrics(&self) -> &Arc<ProberMetrics> {
        &self.metrics
    }

    /// Starts the probe workers of one running container instance whose PostStart is
    /// done. Without a startup probe the instance counts as started at once.
    pub fn spawn(
        self: &Arc<Self>,
        target: ProbeTarget,
        sink: Arc<dyn ProbeSink>,
        counters: &ProbeCounters,
    ) -> InstanceProbes {
        let all = CancellationToken::new();
        let liveness_and_startup = all.child_token();
        let has_startup = target.container.startup_probe.is_some();
        let (started, _) = watch::channel(!has_startup);
        let (kill_tx, kill_rx) = mpsc::channel(2);
        let target = Arc::new(target);
        for kind in ProbeType::ALL {
            let Some(probe) = target.container.probe(kind).cloned() else { continue };
            let stop = match kind {
                ProbeType::Readiness => all.clone(),
                _ => liveness_and_startup.clone(),
            };
            let worker = worker::Worker {
                prober: self.clone(),
                target: target.clone(),
                kind,
                probe,
                sink: sink.clone(),
                started: started.clone(),
                kill: kill_tx.clone(),
                counters: counters.clone(),
                series: self.metrics.series(&target, kind),
            };
            tokio::spawn(async move {
                tokio::select! {
                    _ = worker.run() => {}
                    _ = stop.cancelled() => {}
                }
            });
        }
        InstanceProbes { liveness_and_startup, kill: kill_rx, _all: all.drop_guard() }
    }
}

/// The probe workers of one container instance; dropping it stops them all.
pub struct InstanceProbes {
    liveness_and_startup: CancellationToken,
    kill: mpsc::Receiver<ProbeType>,
    _all: DropGuard,
}

impl InstanceProbes {
    /// Completes when liveness or startup has failed `failureThreshold` times in a row;
    /// never for a container without those probes.
    pub async fn failed(&mut self) -> ProbeType {
        match self.kill.recv().await {
            Some(kind) => kind,
            None => std::future::pending().await,
        }
    }

    /// Termination began: liveness and startup stop (a liveness kill never interrupts
    /// a PreStop or the grace); readiness keeps running until the container exits.
    pub fn stop_liveness_and_startup(&self) {
        self.liveness_and_startup.cancel();
    }
}

/// `Container NAME failed liveness probe, will be restarted` (the `Killing` message), or
/// for a sidecar `Init container NAME failed liveness probe`.
pub fn kill_message(kind: ProbeType, container: &str, sidecar: bool, restart: bool) -> String {
    let probe = kind.as_str().to_lowercase();
    match (sidecar, restart) {
        (true, _) => format!("Init container {container} failed {probe} probe"),
        (false, true) => format!("Container {container} failed {probe} probe, will be restarted"),
        (false, false) => format!("Container {container} failed {probe} probe"),
    }
}
