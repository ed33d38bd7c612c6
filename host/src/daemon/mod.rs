//! `hooklet serve`: the node daemon's state and operations, behind the control API.
//!
//! A [`Daemon`] owns the state database ([`crate::store::Store`]), the node (pod
//! workers on the process runtime in supervised mode, so containers outlive the
//! daemon) and the map of running pods. On start it re-adopts the pods of the state
//! directory (`recover`); on SIGTERM/SIGINT the API stops accepting, the state is
//! flushed and the daemon exits, leaving containers running, as the kubelet does.

pub mod changes;
pub mod error;
pub mod event_log;
pub mod metrics;
pub mod persist;
mod image_gc;
pub mod logs;
mod node;
mod pods;
mod recover;
mod secrets;
pub mod views;
pub mod exec;

pub use logs::{LogTarget, LOG_TAIL};

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use anyhow::Context;

use crate::eviction::{hard_eviction_reserve, EvictionConfig, EvictionManager};
use crate::lifecycle::{Node, NodeConfig, PodHandle};
use crate::nodestatus::{NodeSettings, NodeState};
use crate::runtime::process::ProcessRuntime;
use crate::runtime::runc::{MonitorConfig, RuncConfig, RuncRuntime, RuntimeChoice};
use crate::runtime::Runtime;
use crate::secret::SecretStore;
use crate::store::Store;
use event_log::EventLog;
use metrics::Metrics;
use persist::StoreJournal;

/// How the daemon runs.
#[derive(Debug, Clone)]
pub struct DaemonConfig {
    /// Holds `hooklet.db`, the API token, container logs and supervisor state.
    pub state_dir: PathBuf,
    /// Pod worker settings (back-off, wasm plugins, …).
    pub node: NodeConfig,
    /// The `hooklet-monitor` executable, run once per container.
    pub monitor_exe: PathBuf,
    /// When containers' CRI logs are rotated.
    pub log_rotation: hooklet_monitor::cri::Rotation,
    /// How long a deleted pod's events, hook runs and journal rows are kept.
    pub deleted_pod_retention: Duration,
    /// The container runtime.
    pub runtime: RuntimeChoice,
    /// Pulling images (runc): registries, credentials, back-off.
    pub images: crate::image::manager::ImageManagerConfig,
    /// The node's name, `--max-pods` and reservations.
    pub node_status: NodeSettings,
    /// Eviction thresholds and timings.
    pub eviction: EvictionConfig,
}

/// A pod the daemon runs.
#[derive(Clone)]
pub(crate) struct PodEntry {
    pub handle: PodHandle,
    pub applied_at: SystemTime,
}

/// The running daemon. Shared by every API connection.
pub struct Daemon {
    pub(crate) store: Arc<Store>,
    pub(crate) node: Arc<Node>,
    pub(crate) runtime: Arc<dyn Runtime>,
    pub(crate) metrics: Arc<Metrics>,
    /// The durable event queue (and the journal's `done` path).
    pub(crate) event_log: Arc<EventLog>,
    pub(crate) config: DaemonConfig,
    /// Pods by (namespace, name).
    pub(crate) pods: Mutex<BTreeMap<(String, String), PodEntry>>,
    /// Serialises applies and deletes (they are rare; simple beats clever here).
    pub(crate) mutations: tokio::sync::Mutex<()>,
    /// The node object: capacity, allocatable, conditions.
    pub(crate) node_state: Arc<NodeState>,
    /// Node-pressure eviction.
    pub(crate) eviction: Arc<EvictionManager>,
    /// The applied Secrets (`STATE/secrets`).
    pub(crate) secrets: SecretStore,
    /// Deletes unused images (`STATE/images`).
    pub(crate) image_gc: Arc<crate::image::gc::ImageGcManager>,
    /// Every change to a pod, with its revision (`resourceVersion`).
    pub changes: changes::PodChanges,
}

impl Daemon {
    /// Opens the state directory (creating it, mode 0700), the database and the
    /// node, and re-adopts the pods found there. Must run inside a tokio runtime.
    pub async fn start(mut config: DaemonConfig) -> anyhow::Result<Arc<Daemon>> {
        if let RuntimeChoice::Runc(_) = &config.runtime {
            // Nothing is created (not even the state directory) when runc cannot run.
            RuncRuntime::preflight(std::path::Path::new("runc")).await?;
        }
        create_private_dir(&config.state_dir)?;
        // Supervisors record absolute paths: a daemon started elsewhere finds them.
        config.state_dir = std::fs::canonicalize(&config.state_dir)
            .with_context(|| format!("state directory {}", config.state_dir.display()))?;
        let store = Arc::new(Store::open(&config.state_dir)?);
        let secrets = SecretStore::open(&config.state_dir.join("secrets")).map_err(anyhow::Error::msg)?;
        config.images.secrets = Some(secrets.clone());
        let metrics = Arc::new(Metrics::default());
        let logs = config.state_dir.join("logs");
        let runtime: Arc<dyn Runtime> = match &config.runtime {
            RuntimeChoice::Process => Arc::new(ProcessRuntime::supervised(
                logs,
                config.state_dir.join("containers"),
                config.monitor_exe.clone(),
                config.log_rotation,
            )),
            RuntimeChoice::Runc(network) => {
                let monitor = MonitorConfig { program: config.monitor_exe.clone(), rotation: config.log_rotation };
                let runc = RuncConfig { images: config.images.clone(), monitor, ..RuncConfig::under(&config.state_dir, "runc", logs, network) };
                Arc::new(RuncRuntime::open(runc).await?)
            }
        };
        let event_log = EventLog::start(store.clone(), metrics.clone())?;
        let journal = Arc::new(StoreJournal { store: store.clone(), events: event_log.clone(), metrics: metrics.clone() });
        let node = Node::with_journal(runtime.clone(), config.node.clone(), journal).context("starting the node")?;
        recover::restore_events(&store, &node, config.deleted_pod_retention)?;
        node.events().set_sink(event_log.sink())?;
        let thresholds = config.eviction.thresholds.clone();
        let node_state = Arc::new(
            NodeState::new(&config.node_status, &config.state_dir, |c| hard_eviction_reserve(&thresholds, c), node.events().clone())
                .context("measuring the node")?,
        );
        node.set_environment(crate::envvars::EnvSources {
            node: Arc::new(crate::envvars::NodeFacts {
                name: node_state.name.clone(),
                host_ips: node_state.internal_ips.clone(),
                allocatable: node_state.allocatable,
            }),
            secrets: Some(secrets.clone()),
        });
        let image_dir = config.state_dir.join("images");
        let image_store = crate::image::ImageStore::open(&image_dir).context("opening the image store")?;
        let image_gc = Arc::new(crate::image::gc::ImageGcManager::new(image_store, config.images.gc.clone()));
        let daemon = Arc::new_cyclic(|weak: &std::sync::Weak<Daemon>| {
            let pods_of = weak.clone();
            let pods: crate::eviction::manager::ActivePods =
                Box::new(move || pods_of.upgrade().map(|d| d.active_handles()).unwrap_or_default());
            let reclaim = Arc::new(node::DaemonReclaim { daemon: weak.clone() });
            let source = crate::eviction::signals::SignalSource { state_dir: config.state_dir.clone(), image_dir };
            let eviction = EvictionManager::new(crate::eviction::manager::EvictionParts {
                config: config.eviction.clone(),
                node: node_state.clone(),
                runtime: runtime.clone(),
                events: node.events().clone(),
                source,
                pods,
                reclaim: Some(reclaim),
            });
            Daemon {
                store,
                node,
                runtime,
                metrics,
                event_log,
                config,
                pods: Mutex::new(BTreeMap::new()),
                mutations: tokio::sync::Mutex::new(()),
                node_state,
                eviction,
                secrets,
                image_gc,
                changes: changes::PodChanges::default(),
            }
        });
        recover::recover(&daemon).await?;
        tokio::spawn(prune_periodically(daemon.clone()));
        tokio::spawn(daemon.eviction.clone().run());
        tokio::spawn(image_gc::collect_periodically(daemon.clone()));
        Ok(daemon)
    }

    /// The state directory.
    pub fn state_dir(&self) -> &Path {
        &self.config.state_dir
    }

    /// Saves the last status of every pod and checkpoints the database. Containers
    /// are left running.
    pub fn flush(&self) -> anyhow::Result<()> {
        self.event_log.flush();
        for entry in self.entries() {
            let status = entry.handle.status();
            let value = serde_json::to_value(&status)?;
            self.store.save_status(entry.handle.pod().uid(), &value, &persist::container_rows(&status))?;
        }
        self.store.flush()?;
        Ok(())
    }

    pub(crate) fn entries(&self) -> Vec<PodEntry> {
        self.pods.lock().unwrap_or_else(|e| e.into_inner()).values().cloned().collect()
    }

    pub(crate) fn entry(&self, namespace: &str, name: &str) -> Option<PodEntry> {
        let pods = self.pods.lock().unwrap_or_else(|e| e.into_inner());
        pods.get(&(namespace.to_string(), name.to_string())).cloned()
    }

    /// Registers a started pod and keeps its status in the store until it is gone.
    pub(crate) fn track(self: &Arc<Self>, handle: PodHandle, applied_at: SystemTime) {
        let key = (handle.pod().namespace().to_string(), handle.pod().metadata.name.clone());
        let entry = PodEntry { handle: handle.clone(), applied_at };
        self.pods.lock().unwrap_or_else(|e| e.into_inner()).insert(key.clone(), entry);
        let view = move |handle: &PodHandle| views::PodView { pod: (**handle.pod()).clone(), status: handle.status(), applied_at, events: vec![] };
        self.changes.record(changes::ChangeKind::Added, view(&handle));
        // Every status change is a revision, until the pod is gone.
        let gone = tokio_util::sync::CancellationToken::new();
        let (daemon, watched, stop) = (self.clone(), handle.clone(), gone.clone());
        tokio::spawn(async move {
            let mut statuses = watched.subscribe();
            loop {
                tokio::select! {
                    _ = stop.cancelled() => return,
                    changed = statuses.changed() => match changed {
                        Ok(()) => daemon.changes.record(changes::ChangeKind::Modified, view(&watched)),
                        Err(_) => return,
                    },
                }
            }
        });
        let daemon = self.clone();
        tokio::spawn(async move {
            let mut status = persist::persist_status(daemon.store.clone(), daemon.metrics.clone(), handle.clone()).await;
            if status.deletion_requested_at.is_none() {
                // Finished without a deletion (completed, evicted, rejected): kept
                // until deleted.
                status = handle.wait_for(|s| s.deletion_requested_at.is_some()).await;
                persist::persist_status(daemon.store.clone(), daemon.metrics.clone(), handle.clone()).await;
            }
            if status.finished && status.deletion_requested_at.is_some() {
                // Deleted: the pod goes, what was recorded about it after the
                // retention (the events still queued are committed first).
                daemon.event_log.flush();
                let what = format!("removing deleted pod {} from the state", key.1);
                persist::until_stored(&what, || daemon.store.delete_pod(handle.pod().uid())).await;
                if daemon.config.deleted_pod_retention.is_zero() {
                    daemon.prune();
                }
                daemon.pods.lock().unwrap_or_else(|e| e.into_inner()).remove(&key);
                daemon.node.events().forget_pod(handle.pod().uid());
                gone.cancel();
                daemon.changes.record(changes::ChangeKind::Deleted, view(&handle));
                tracing::info!(namespace = %key.0, pod = %key.1, "pod deleted");
            }
        });
    }
}

impl Daemon {
    /// Prunes the rows of pods deleted longer ago than the retention.
    pub(crate) fn prune(&self) {
        match self.store.prune_deleted(deleted_before(self.config.deleted_pod_retention)) {
            Ok(0) => {}
            Ok(n) => tracing::info!("pruned {n} rows of deleted pods"),
            Err(err) => tracing::error!("pruning the rows of deleted pods failed: {err}"),
        }
    }
}

/// Pods deleted before this time are past `retention`.
pub(crate) fn deleted_before(retention: Duration) -> SystemTime {
    SystemTime::now().checked_sub(retention).unwrap_or(std::time::UNIX_EPOCH)
}

/// Prunes deleted pods' rows every minute (or every retention, if shorter).
async fn prune_periodically(daemon: Arc<Daemon>) {
    let every = daemon.config.deleted_pod_retention.clamp(Duration::from_secs(1), Duration::from_secs(60));
    let mut tick = tokio::time::interval(every);
    loop {
        tick.tick().await;
        let d = daemon.clone();
        let _ = tokio::task::spawn_blocking(move || d.prune()).await;
    }
}

/// Creates `dir` (and parents) with mode 0700 for the last component.
fn create_private_dir(dir: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    if !dir.exists() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .with_context(|| format!("cannot create the state directory {}", dir.display()))?;
    }
    let meta = std::fs::metadata(dir).with_context(|| format!("state directory {}", dir.display()))?;
    anyhow::ensure!(meta.is_dir(), "--state-dir {} is not a directory", dir.display());
    if meta.permissions().mode() & 0o077 != 0 {
        tracing::warn!(dir = %dir.display(), "the state directory is accessible to other users; setting mode 0700");
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}
