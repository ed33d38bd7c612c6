//! Kills the node decides on, not the user: eviction (node pressure), preemption
//! (a critical pod's admission) and admission rejection. The kubelet ends these pods
//! through the pod worker like a deletion — every container's PreStop, the stop
//! signal, KILL at the deadline — but with its own grace override, never restarts
//! them, and keeps the pod with `phase: Failed` and a `reason` / `message`.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::time::Instant;

use super::pod::PodHandle;
use super::status::NodeKill;
use super::Node;
use crate::hooks::deadline::deadline;
use crate::spec::Pod;

impl PodHandle {
    /// Ends the pod for the node: `status.reason` / `message` are set and the phase
    /// becomes `Failed` at once; the containers are stopped as in a deletion, with
    /// `grace` (at least 1 s, the pod worker's clamp) for PreStop and the stop, and
    /// are not restarted. The pod is kept (it is not deleted). Returns false, doing
    /// nothing, when the pod is already being deleted, ended or finished.
    pub fn evict(&self, reason: &str, message: &str, grace: Duration) -> bool {
        let shared = self.shared();
        let grace = grace.max(Duration::from_secs(1));
        let mut termination = shared.termination.lock().unwrap_or_else(|e| e.into_inner());
        let current = shared.status.borrow().clone();
        if termination.is_some() || current.reason.is_some() || current.finished {
            return false;
        }
        *termination = Some(deadline(Instant::now() + grace).0);
        let spec = &shared.pod.spec;
        shared.status.send_modify(|s| {
            s.reason = Some(reason.to_string());
            s.message = Some(message.to_string());
            s.node_kill = Some(NodeKill { started_at: SystemTime::now(), grace_seconds: grace.as_secs() });
            s.update_phase(spec);
        });
        tracing::info!(pod = %shared.pod.metadata.name, reason, grace_seconds = grace.as_secs(), "killing the pod for the node");
        shared.deleting.cancel();
        true
    }

    /// Whether the node ended this pod (evicted, preempted or rejected).
    pub fn ended_by_node(&self) -> bool {
        self.shared().status.borrow().reason.is_some()
    }
}

impl Node {
    /// A pod that admission refused: kept with `phase: Failed`, `reason` and
    /// `message` (`Pod was rejected: …`, the kubelet's `rejectPod`), finished, and
    /// nothing created for it — no sandbox, no container.
    pub fn reject_pod(self: &Arc<Self>, pod: Pod, reason: &str, message: &str) -> PodHandle {
        let (shared, _, _) = PodHandle::prepare(self.clone(), pod, None);
        let spec = &shared.pod.spec;
        shared.status.send_modify(|s| {
            s.reason = Some(reason.to_string());
            s.message = Some(format!("Pod was rejected: {message}"));
            s.finished = true;
            s.update_phase(spec);
        });
        PodHandle::from_shared(shared)
    }
}
