//! The pod worker: what the kubelet's `SyncPod` / `killContainer` do, per pod.
//!
//! A [`Node`] holds the services every pod shares (runtime, hook runner, event
//! recorder, configuration) and starts pods. Each pod gets a [`PodHandle`] and a
//! worker task that runs its init containers in order (`init`: plain ones to
//! completion, sidecars started and kept running), then starts its regular
//! containers in order (a container's PostStart blocks the next container's start),
//! supervises each container through its states (`container::Step`), restarts per
//! `restartPolicy` with CrashLoopBackOff, and on [`PodHandle::delete`] stops all
//! containers in parallel: PreStop, stop signal (sidecars last, `termination`),
//! KILL when the grace runs out. A [`Slot`] names a container: init or regular.
//! [`PodHandle::evict`] is the same kill for the node (eviction, preemption), with
//! the node's grace, no restart and the pod kept `Failed`; [`Node::reject_pod`]
//! keeps a pod admission refused, creating nothing.
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! use std::sync::Arc;
//! use hooklet::lifecycle::{Node, NodeConfig};
//! use hooklet::runtime::process::ProcessRuntime;
//! use hooklet::spec::parse::parse_manifests;
//!
//! let node = Node::new(Arc::new(ProcessRuntime::new("/tmp/hooklet-logs")), NodeConfig::default())?;
//! let pod = parse_manifests(
//!     "apiVersion: v1\nkind: Pod\nmetadata: {name: demo}\nspec:\n  containers:\n  - name: app\n    image: busybox\n    command: [sleep, '60']\n",
//!     "demo.yaml",
//! )?.remove(0).pod;
//! let handle = node.start_pod(pod);
//! handle.wait_for(|s| s.containers[0].started).await;
//! handle.delete(Some(5));
//! let status = handle.finished().await;
//! println!("{:?}", status.phase);
//! # Ok(()) }
//! ```

pub mod adopt;
pub mod backoff;
mod conditions;
mod config_error;
mod container;
mod crashloop;
mod deliver;
mod evict;
pub mod grace;
mod init;
pub mod instance_logs;
pub mod journal;
mod pod;
mod probing;
pub mod slot;
pub mod status;
mod termination;

use std::sync::Arc;
use std::time::Duration;

pub use adopt::{AdoptedContainer, Adoption, Redelivery};
pub use backoff::{BackoffPolicy, BackoffState};
pub use journal::{DeliveryJournal, JournalEntry, MemoryJournal, NoJournal};
pub use pod::PodHandle;
pub use slot::Slot;
pub use status::{ContainerState, ContainerStatus, NodeKill, PodCondition, PodPhase, PodStatus};

use crate::envvars::EnvSources;
use crate::events::EventRecorder;
use crate::hooks::http::HttpHookClient;
use crate::hooks::HookRunner;
use crate::prober::Prober;
use crate::runtime::Runtime;
use crate::spec::Pod;
use crate::wasm::{WasmConfig, WasmHost};

/// The Kubernetes version hooklet's behaviour follows (for `User-Agent: kube-lifecycle/…`
/// and `kube-probe/…`).
pub const KUBE_VERSION: &str = "1.34";

/// Node-wide settings. Defaults are the kubelet's numbers.
#[derive(Debug, Clone)]
pub struct NodeConfig {
    /// CrashLoopBackOff numbers.
    pub backoff: BackoffPolicy,
    /// Minimal window between the stop signal and KILL (the kubelet's 2 s).
    pub min_stop_window: Duration,
    /// Put the fixed 1.26+ texts (`PostStartHook failed`) in hook failure events
    /// instead of the handler's failure detail (D3).
    pub redact_hook_messages: bool,
    /// How many hook runs are kept per container.
    pub hook_history: usize,
    /// The wasm engine's settings (plugin directory, fuel default, limits).
    pub wasm: WasmConfig,
    /// How long one second of a probe's `initialDelaySeconds`, `periodSeconds` and
    /// `timeoutSeconds` lasts: 1 s; tests shrink it.
    pub probe_time_unit: Duration,
}

impl Default for NodeConfig {
    fn default() -> Self {
        NodeConfig {
            backoff: BackoffPolicy::default(),
            min_stop_window: grace::MIN_STOP_WINDOW,
            redact_hook_messages: false,
            hook_history: 16,
            wasm: WasmConfig::default(),
            probe_time_unit: Duration::from_secs(1),
        }
    }
}

/// The services shared by every pod on this node.
pub struct Node {
    runtime: Arc<dyn Runtime>,
    hooks: HookRunner,
    wasm: WasmHost,
    events: EventRecorder,
    config: NodeConfig,
    journal: Arc<dyn DeliveryJournal>,
    prober: Arc<Prober>,
    /// Where containers' `valueFrom` values come from (the node, the Secrets).
    environment: std::sync::RwLock<EnvSources>,
}

impl Node {
    /// A node running containers on `runtime`, with its own wasm engine and HTTP client.
    pub fn new(runtime: Arc<dyn Runtime>, config: NodeConfig) -> anyhow::Result<Arc<Node>> {
        Self::with_journal(runtime, config, Arc::new(NoJournal))
    }

    /// A node that journals every hook delivery in `journal` (D2).
    pub fn with_journal(
        runtime: Arc<dyn Runtime>,
        config: NodeConfig,
        journal: Arc<dyn DeliveryJournal>,
    ) -> anyhow::Result<Arc<Node>> {
        let wasm = WasmHost::new(config.wasm.clone())?;
        let events = EventRecorder::new();
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(record_plugin_changes(wasm.clone(), events.clone()));
        }
        let http = HttpHookClient::new(format!("kube-lifecycle/{KUBE_VERSION}"));
        let hooks = HookRunner::new(runtime.clone(), http, wasm.clone());
        let prober = Arc::new(Prober::new(runtime.clone(), wasm.clone(), events.clone(), KUBE_VERSION, config.probe_time_unit));
        Ok(Arc::new(Node {
            runtime,
            hooks,
            wasm,
            events,
            config,
            journal,
            prober,
            environment: std::sync::RwLock::new(EnvSources::local()),
        }))
    }

    /// The node's wasm host (plugins, their usage, the instance pool).
    pub fn wasm(&self) -> &WasmHost {
        &self.wasm
    }

    /// The node's prober (its metrics, for `/metrics`).
    pub fn prober(&self) -> &Arc<Prober> {
        &self.prober
    }

    /// The node's event recorder.
    pub fn events(&self) -> &EventRecorder {
        &self.events
    }

    /// The node's configuration.
    pub fn config(&self) -> &NodeConfig {
        &self.config
    }

    /// Starts a (parsed, validated) pod and returns its handle.
    pub fn start_pod(self: &Arc<Self>, pod: Pod) -> PodHandle {
        PodHandle::spawn(self.clone(), pod, None)
    }

    /// Resumes a pod whose containers outlived an earlier hooklet process: adopted
    /// containers are not started again, pending deliveries are redelivered, and a
    /// deletion under way keeps its original deadline.
    pub fn adopt_pod(self: &Arc<Self>, pod: Pod, adoption: Adoption) -> PodHandle {
        PodHandle::spawn(self.clone(), pod, Some(adoption))
    }

    /// The container runtime.
    pub fn runtime(&self) -> &Arc<dyn Runtime> {
        &self.runtime
    }

    /// Sets where containers' environment values come from (`hooklet serve`: its node
    /// object and secret store); until then, this machine and no Secrets.
    pub fn set_environment(&self, sources: EnvSources) {
        *self.environment.write().unwrap_or_else(|e| e.into_inner()) = sources;
    }

    /// Where containers' environment values come from.
    pub fn environment(&self) -> EnvSources {
        self.environment.read().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// Records an event for each change of a serving plugin (hot reload): `PluginReloaded`,
/// `Warning PluginReloadFailed` (the previous version keeps serving), `PluginRemoved`,
/// and `PluginLoaded` for a first load. Ends when the wasm host is gone.
async fn record_plugin_changes(wasm: WasmHost, events: EventRecorder) {
    use crate::events::{EventType, ObjectRef};
    use crate::wasm::PluginChange;
    use tokio::sync::broadcast::error::RecvError;
    let mut notices = wasm.plugin_notices();
    drop(wasm);
    loop {
        let notice = match notices.recv().await {
            Ok(notice) => notice,
            Err(RecvError::Lagged(_)) => continue,
            Err(RecvError::Closed) => return,
        };
        let event_type = match notice.change {
            PluginChange::ReloadFailed { .. } => EventType::Warning,
            _ => EventType::Normal,
        };
        let (reason, message) = notice.change.describe(&notice.plugin);
        events.record(&ObjectRef::plugin(&notice.plugin), event_type, reason, &message);
    }
}
