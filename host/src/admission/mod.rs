//! Pod admission, as the kubelet's admit handlers decide it before a pod starts:
//! the eviction manager's (no BestEffort pod under `MemoryPressure`, no pod at all
//! under other pressure, critical pods always), then the resource fit against
//! allocatable (`OutOfpods`, `OutOfcpu`, `OutOfmemory`, `OutOfephemeral-storage`),
//! and for a critical pod that does not fit, preemption ([`preempt`]).

pub mod preempt;

use crate::nodestatus::{Pressure, ResourceList};
use crate::spec::qos::{pod_requests, qos_class, QosClass};
use crate::spec::{priority, Pod};

/// The eviction manager's reason for pods refused under node pressure.
pub const EVICTED_REASON: &str = "Evicted";

/// Why a pod is not admitted: `status.reason` and the event's message (the
/// pod's `status.message` is `Pod was rejected: MESSAGE`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub reason: String,
    pub message: String,
}

/// One resource the pod does not fit in (`InsufficientResourceError`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Insufficient {
    /// `pods`, `cpu`, `memory`, `ephemeral-storage`.
    pub resource: &'static str,
    pub requested: u64,
    pub used: u64,
    pub capacity: u64,
}

impl Insufficient {
    /// `Node didn't have enough resource: cpu, requested: 500, used: 1700, capacity: 2000`.
    pub fn message(&self) -> String {
        format!(
            "Node didn't have enough resource: {}, requested: {}, used: {}, capacity: {}",
            self.resource, self.requested, self.used, self.capacity
        )
    }

    /// How much is missing (`GetInsufficientAmount`).
    pub fn shortfall(&self) -> u64 {
        (self.requested + self.used).saturating_sub(self.capacity)
    }
}

/// What admission decided.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    Admit,
    /// A critical pod that fits once these pods (indices into `active`) are gone.
    Preempt(Vec<usize>),
    Reject(Rejection),
}

/// Decides on `pod` next to the `active` (admitted, not terminated) pods.
pub fn admit(pod: &Pod, allocatable: &ResourceList, pressures: &[Pressure], active: &[&Pod]) -> Decision {
    if let Some(rejection) = admit_under_pressure(pod, pressures) {
        return Decision::Reject(rejection);
    }
    let insufficient = fit(pod, allocatable, active);
    let Some(first) = insufficient.first() else { return Decision::Admit };
    if priority::is_critical(&pod.spec) {
        match preempt::victims(pod, active, &insufficient) {
            Ok(victims) => return Decision::Preempt(victims),
            Err(err) => tracing::warn!(pod = %pod.metadata.name, "preemption: error finding a set of pods to preempt: {err}"),
        }
    }
    Decision::Reject(Rejection { reason: format!("OutOf{}", first.resource), message: first.message() })
}

/// The eviction manager's `Admit`: without pressure, or for a critical pod, admit;
/// under memory pressure alone, admit all but BestEffort pods; else reject with
/// `The node had condition: [MemoryPressure]. `.
fn admit_under_pressure(pod: &Pod, pressures: &[Pressure]) -> Option<Rejection> {
    if pressures.is_empty() || priority::is_critical(&pod.spec) {
        return None;
    }
    if pressures == [Pressure::MemoryPressure] && qos_class(&pod.spec) != QosClass::BestEffort {
        return None;
    }
    let names: Vec<&str> = pressures.iter().map(|p| p.as_str()).collect();
    Some(Rejection { reason: EVICTED_REASON.into(), message: format!("The node had condition: [{}]. ", names.join(" ")) })
}

/// The resources `pod` does not fit in, in the kubelet's order (pods, cpu, memory,
/// ephemeral-storage); empty when it fits.
pub fn fit(pod: &Pod, allocatable: &ResourceList, active: &[&Pod]) -> Vec<Insufficient> {
    let mut out = Vec::new();
    if active.len() as u64 + 1 > allocatable.pods {
        out.push(Insufficient { resource: "pods", requested: 1, used: active.len() as u64, capacity: allocatable.pods });
    }
    let wanted = pod_requests(&pod.spec);
    let mut used = crate::spec::qos::Amounts::default();
    for p in active {
        let r = pod_requests(&p.spec);
        used.cpu_millis += r.cpu_millis;
        used.memory += r.memory;
        used.ephemeral_storage += r.ephemeral_storage;
    }
    let checks = [
        ("cpu", wanted.cpu_millis, used.cpu_millis, allocatable.cpu_millis),
        ("memory", wanted.memory, used.memory, allocatable.memory),
        ("ephemeral-storage", wanted.ephemeral_storage, used.ephemeral_storage, allocatable.ephemeral_storage),
    ];
    for (resource, requested, used, capacity) in checks {
        if requested > 0 && requested + used > capacity {
            out.push(Insufficient { resource, requested, used, capacity });
        }
    }
    out
}

#[cfg(test)]
mod tests;
