//! A container instance's probes, as the container worker sees them: started once
//! the instance runs and its PostStart is done, their results written into the
//! container's `started` / `ready`, and the kill a failed liveness or startup probe
//! asks for (probe spec §4.1, §5).

use std::sync::Arc;
use std::time::Duration;

use super::container::{ContainerWorker, Started};
use super::grace::kill_grace;
use super::pod::PodShared;
use super::slot::Slot;
use crate::prober::{kill_message, ProbeSink, ProbeTarget};
use crate::spec::{ProbeType, RestartPolicy};

/// Writes one instance's probe results into its container's status.
struct StatusSink {
    shared: Arc<PodShared>,
    slot: Slot,
    /// `RUNTIME://ID` of the instance: a late result never touches the next instance.
    container_id: String,
    has_readiness: bool,
}

impl StatusSink {
    fn update(&self, f: impl FnOnce(&mut super::status::ContainerStatus)) {
        self.shared.update_container(self.slot, |c| {
            if c.container_id.as_deref() == Some(self.container_id.as_str()) {
                f(c);
            }
        });
    }
}

impl ProbeSink for StatusSink {
    fn started(&self) {
        let ready_without_probe = !self.has_readiness;
        self.update(|c| {
            c.started = true;
            c.ready = ready_without_probe;
        });
    }

    fn ready(&self, ready: bool) {
        self.update(|c| c.ready = ready && c.started);
    }
}

impl ContainerWorker {
    /// The instance runs and its PostStart is done: its probes start, and without a
    /// startup probe it is `started` now (and `ready` without a readiness probe).
    pub(super) fn begin_running(&self, started: &mut Started) {
        let container = &self.container;
        let has_startup = container.startup_probe.is_some();
        let has_readiness = container.readiness_probe.is_some();
        let runtime = self.shared.node.runtime.name();
        let container_id = format!("{runtime}://{}", started.id);
        // Probe results start afresh for every instance (also one adopted after a
        // restart of hooklet): not ready until the readiness probe succeeds.
        self.shared.update_container(self.slot, |c| {
            c.started = !has_startup;
            c.ready = !has_startup && !has_readiness;
        });
        if ProbeType::ALL.iter().all(|kind| container.probe(*kind).is_none()) {
            return;
        }
        let target = ProbeTarget {
            pod: self.shared.pod.clone(),
            container: container.clone(),
            container_id: started.id.clone(),
            pod_ip: self.shared.status.borrow().pod_ip,
            started_at: started.started_at,
            object: self.object.clone(),
        };
        let sink = StatusSink { shared: self.shared.clone(), slot: self.slot, container_id, has_readiness };
        started.probes = Some(self.shared.node.prober.spawn(target, Arc::new(sink), &self.probe_counters));
    }

    /// The `Killing` message and grace of a kill after `kind` failed: the probe's
    /// `terminationGracePeriodSeconds` when set, else the pod's.
    pub(super) fn probe_kill(&self, kind: ProbeType) -> (String, Duration) {
        let restart = self.restarts_after_probe_kill();
        let message = kill_message(kind, &self.container.name, self.slot.is_sidecar(&self.shared.pod), restart);
        let probe_grace = self.container.probe(kind).and_then(|p| p.termination_grace_period_seconds);
        let grace = match probe_grace {
            Some(seconds) => Duration::from_secs(seconds.max(0) as u64),
            None => kill_grace(&self.shared.pod.spec),
        };
        (message, grace)
    }

    /// A container killed by its liveness or startup probe is started again unless the
    /// pod's policy is `Never` (whatever its exit code); a sidecar always.
    pub(super) fn restarts_after_probe_kill(&self) -> bool {
        self.slot.is_sidecar(&self.shared.pod) || self.shared.pod.spec.restart_policy != RestartPolicy::Never
    }
}
