//! The daemon's side of the node: admission of applied pods (reject, admit, or
//! preempt then admit), the node's API view, and node-level reclaim for the
//! eviction manager.

use std::sync::{Arc, Weak};
use std::time::Duration;

use async_trait::async_trait;

use super::Daemon;
use crate::admission::preempt::{PREEMPTION_MESSAGE, PREEMPTION_REASON};
use crate::admission::{admit, Decision};
use super::error::{DaemonError, ErrorKind};
use crate::eviction::Reclaim;
use crate::events::EventType;
use crate::lifecycle::grace::effective_grace;
use crate::lifecycle::PodHandle;
use crate::nodestatus::view::SignalView;
use crate::nodestatus::NodeView;
use crate::spec::Pod;

/// Time allowed beyond a preempted pod's grace for it to be gone before the
/// critical pod starts anyway.
const PREEMPTION_SLACK: Duration = Duration::from_secs(10);

impl Daemon {
    /// Pods holding node resources: admitted and not finished.
    pub(crate) fn active_handles(&self) -> Vec<PodHandle> {
        self.entries().into_iter().map(|e| e.handle).filter(|h| !h.status().finished).collect()
    }

    /// Admits `pod` and starts it, or keeps it rejected (`Failed`, the kubelet's
    /// reason and message, a Warning event, nothing created). A critical pod that
    /// does not fit first preempts pods and waits until they are gone.
    pub(crate) async fn admit_and_start(self: &Arc<Self>, pod: Pod) -> PodHandle {
        let active = self.active_handles();
        let active_pods: Vec<&Pod> = active.iter().map(|h| &**h.pod()).collect();
        let pressures = self.node_state.conditions().active();
        match admit(&pod, &self.node_state.allocatable, &pressures, &active_pods) {
            Decision::Admit => self.node.start_pod(pod),
            Decision::Reject(r) => {
                tracing::warn!(pod = %pod.metadata.name, reason = %r.reason, "pod rejected: {}", r.message);
                let handle = self.node.reject_pod(pod, &r.reason, &r.message);
                self.node.events().record(handle.object(), EventType::Warning, &r.reason, &r.message);
                handle
            }
            Decision::Preempt(victims) => {
                let resource = crate::admission::fit(&pod, &self.node_state.allocatable, &active_pods).first().map(|i| i.resource).unwrap_or("");
                let mut waits = Vec::new();
                for h in victims.iter().map(|i| active[*i].clone()) {
                    self.node.events().record(h.object(), EventType::Warning, PREEMPTION_REASON, PREEMPTION_MESSAGE);
                    // The kubelet's killPodFunc without an override: the pod's own grace.
                    let grace = effective_grace(None, &h.pod().spec);
                    if h.evict(PREEMPTION_REASON, PREEMPTION_MESSAGE, grace) {
                        self.metrics.preemption(resource);
                    }
                    waits.push(tokio::spawn(async move {
                        if tokio::time::timeout(grace + PREEMPTION_SLACK, h.finished()).await.is_err() {
                            tracing::warn!(pod = %h.pod().metadata.name, "a preempted pod is not gone yet; admitting the critical pod anyway");
                        }
                    }));
                }
                for w in waits {
                    let _ = w.await;
                }
                tracing::info!(pod = %pod.metadata.name, preempted = victims.len(), "critical pod admitted after preemption");
                self.node.start_pod(pod)
            }
        }
    }

    /// This node's name (`--hostname-override`, else the host name).
    pub fn node_name(&self) -> &str {
        &self.node_state.name
    }

    /// This node's `InternalIP`s (`--node-ip`, else the detected address).
    pub fn host_ips(&self) -> &[std::net::IpAddr] {
        &self.node_state.internal_ips
    }

    /// The node's view, with its events and the last observed signals.
    pub fn node_view(&self, with_events: bool) -> Result<NodeView, DaemonError> {
        let entries = self.entries();
        let statuses: Vec<_> = entries.iter().map(|e| (e.handle.pod().clone(), e.handle.status(), e.applied_at)).collect();
        let mut view = NodeView::build(&self.node_state, statuses.iter().map(|(p, s, t)| (&**p, s, *t)));
        view.signals = self
            .eviction
            .observations()
            .into_iter()
            .map(|(signal, o)| SignalView { signal: signal.as_str().to_string(), available: o.available, capacity: o.capacity })
            .collect();
        if with_events {
            let uid = &self.node_state.object().uid;
            view.events = self.events(Some("default"), Some(&self.node_state.name))?.into_iter().filter(|e| &e.object.uid == uid).collect();
        }
        Ok(view)
    }

    /// One node by name (this one), else 404.
    pub fn node_named(&self, name: &str) -> Result<NodeView, DaemonError> {
        if name != self.node_state.name {
            return Err(DaemonError::new(ErrorKind::NotFound, format!("nodes {name:?} not found (this node is {:?})", self.node_state.name), Some("name")).about("nodes", name));
        }
        self.node_view(true)
    }
}

impl Daemon {
    /// The node's metrics: `kubelet_evictions{eviction_signal}`, one gauge per
    /// pressure condition, and the last observation of each signal.
    pub fn render_node_metrics(&self) -> String {
        use std::fmt::Write;
        let mut out = String::new();
        let _ = writeln!(out, "# HELP kubelet_evictions Pods evicted for node pressure, by eviction signal.\n# TYPE kubelet_evictions counter");
        for (signal, n) in self.eviction.evictions() {
            let _ = writeln!(out, "kubelet_evictions{{eviction_signal=\"{signal}\"}} {n}");
        }
        let _ = writeln!(out, "# HELP hooklet_node_pressure Whether the node reports the pressure condition (1) or not (0).\n# TYPE hooklet_node_pressure gauge");
        let conditions = self.node_state.conditions();
        for p in crate::nodestatus::Pressure::ALL {
            let _ = writeln!(out, "hooklet_node_pressure{{condition=\"{}\"}} {}", p.as_str(), u8::from(conditions.has(p)));
        }
        let _ = writeln!(out, "# HELP hooklet_eviction_signal_available What the last housekeeping pass observed available, by signal (bytes, inodes or pids).\n# TYPE hooklet_eviction_signal_available gauge");
        for (signal, o) in self.eviction.observations() {
            let _ = writeln!(out, "hooklet_eviction_signal_available{{eviction_signal=\"{}\"}} {}", signal.as_str(), o.available);
        }
        out + &self.render_image_gc_metrics()
    }
}

/// Node-level reclaim for the eviction manager: logs of finished pods' containers
/// (the kubelet's container GC of dead containers), then images no pod uses.
pub(crate) struct DaemonReclaim {
    pub daemon: Weak<Daemon>,
}

#[async_trait]
impl Reclaim for DaemonReclaim {
    async fn dead_containers(&self) -> u64 {
        let Some(daemon) = self.daemon.upgrade() else { return 0 };
        let mut freed = 0;
        for e in daemon.entries().into_iter().filter(|e| e.handle.status().finished) {
            let pod = e.handle.pod();
            let pod_ref = crate::runtime::PodRef { namespace: pod.namespace().into(), name: pod.metadata.name.clone(), uid: pod.uid().into() };
            for c in pod.spec.init_containers.iter().chain(&pod.spec.containers) {
                let Some(path) = daemon.runtime.log_path(&pod_ref, &c.name) else { continue };
                for file in crate::runtime::logs::files(&path) {
                    let len = std::fs::metadata(&file).map(|m| m.len()).unwrap_or(0);
                    if len > 0 && std::fs::remove_file(&file).is_ok() {
                        tracing::info!(pod = %pod.metadata.name, container = %c.name, bytes = len, "reclaimed the log of a dead container");
                        freed += len;
                    }
                }
            }
        }
        freed
    }

    async fn unused_images(&self) -> u64 {
        let Some(daemon) = self.daemon.upgrade() else { return 0 };
        // The kubelet's `DeleteUnusedImages`, after the dead containers are gone:
        // only active pods' images are in use.
        let pass = tokio::task::spawn_blocking(move || {
            let in_use = daemon.images_in_use(true)?;
            daemon.image_gc.delete_unused_images(&in_use, std::time::Instant::now())
        });
        match pass.await {
            Ok(Ok(freed)) => freed,
            Ok(Err(err)) => {
                tracing::warn!("eviction manager: cannot reclaim unused images: {err}");
                0
            }
            Err(_) => 0,
        }
    }
}
