//! Local ephemeral-storage limits (the kubelet's `localStorageEviction`, on by
//! default with `LocalStorageCapacityIsolation`): every pass, before any threshold
//! is looked at, a pod whose containers' logs (and writable layers, where measured)
//! exceed the pod's total `limits.ephemeral-storage`, or one container's own, is
//! evicted at once (the 1 s grace) with the kubelet's message:
//!
//! - `Pod ephemeral local storage usage exceeds the total limit of containers 2Mi. `
//! - `Container writer exceeded its local ephemeral storage limit "2Mi". `
//!
//! Only pods that set such a limit are measured, so the pass stays cheap otherwise.

use super::manager::{evictable, EvictionManager, IMMEDIATE_EVICTION_GRACE};
use super::message::EVICTED;
use crate::events::EventType;
use crate::lifecycle::PodHandle;
use crate::nodestatus::quantity;
use crate::spec::qos::pod_limits;
use crate::spec::Pod;

/// The eviction signal names the kubelet counts these evictions under.
const POD_LIMIT_SIGNAL: &str = "ephemeralpodfs.limit";
const CONTAINER_LIMIT_SIGNAL: &str = "ephemeralcontainerfs.limit";

fn limit_of(c: &crate::spec::Container) -> Option<(u64, String)> {
    let q = c.resources.limits.get("ephemeral-storage")?;
    Some((q.bytes().ok()?, q.0.clone()))
}

/// The violation of `pod` whose containers use `disk` bytes (by name): its signal
/// and the message, or None.
pub fn violation(pod: &Pod, disk: &[(String, u64)]) -> Option<(&'static str, String)> {
    let limit = pod_limits(&pod.spec).ephemeral_storage;
    let total: u64 = disk.iter().map(|(_, d)| d).sum();
    if limit > 0 && total > limit {
        let message = format!("Pod ephemeral local storage usage exceeds the total limit of containers {}. ", quantity::bytes(limit));
        return Some((POD_LIMIT_SIGNAL, message));
    }
    for c in pod.spec.containers.iter().chain(&pod.spec.init_containers) {
        let (Some((limit, written)), Some((_, used))) = (limit_of(c), disk.iter().find(|(n, _)| *n == c.name)) else { continue };
        if *used > limit {
            return Some((CONTAINER_LIMIT_SIGNAL, format!("Container {} exceeded its local ephemeral storage limit \"{written}\". ", c.name)));
        }
    }
    None
}

impl EvictionManager {
    /// Evicts every active pod over its ephemeral-storage limits; returns one of them.
    pub(super) fn local_storage_evictions(&self) -> Option<PodHandle> {
        let limited = |h: &PodHandle| h.pod().spec.containers.iter().chain(&h.pod().spec.init_containers).any(|c| limit_of(c).is_some());
        let mut evicted = None;
        for h in (self.parts.pods)().into_iter().filter(|h| limited(h) && evictable(&h.status())) {
            let pod = h.pod();
            let disk: Vec<(String, u64)> =
                pod.spec.containers.iter().chain(&pod.spec.init_containers).map(|c| (c.name.clone(), self.log_size(&h, &c.name))).collect();
            let Some((signal, message)) = violation(pod, &disk) else { continue };
            if h.evict(EVICTED, &message, IMMEDIATE_EVICTION_GRACE) {
                self.parts.events.record(h.object(), EventType::Warning, EVICTED, &message);
                self.count_eviction(signal);
                tracing::warn!(pod = %pod.metadata.name, signal, "eviction manager: pod over its ephemeral-storage limit evicted");
                evicted = Some(h.clone());
            }
        }
        evicted
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pod_then_container_limits() {
        let pod = crate::spec::parse::parse_manifests(
            "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n  - {name: a, image: i, resources: {limits: {ephemeral-storage: 2Mi}}}\n  - {name: b, image: i, resources: {limits: {ephemeral-storage: 10Mi}}}\n",
            "t.yaml",
        )
        .unwrap()
        .remove(0)
        .pod;
        let d = |a: u64, b: u64| vec![("a".to_string(), a), ("b".to_string(), b)];
        assert_eq!(violation(&pod, &d(1 << 20, 1 << 20)), None);
        let (signal, message) = violation(&pod, &d(3 << 20, 1 << 20)).unwrap();
        assert_eq!((signal, message.as_str()), ("ephemeralcontainerfs.limit", "Container a exceeded its local ephemeral storage limit \"2Mi\". "));
        let (signal, message) = violation(&pod, &d(1 << 20, 12 << 20)).unwrap();
        assert_eq!((signal, message.as_str()), ("ephemeralpodfs.limit", "Pod ephemeral local storage usage exceeds the total limit of containers 12Mi. "));
    }
}
