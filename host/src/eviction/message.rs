//! The evicted pod's message and the event's annotations (`evictionMessage`):
//! `The node was low on resource: memory. Threshold quantity: 100Mi, available:
//! 91012Ki. Container hog was using 1532812Ki, request is 0, has larger consumption
//! of memory. ` — every fragment ends with a space.

use std::collections::BTreeMap;

use super::rank::PodStats;
use super::signals::Observation;
use super::thresholds::{Signal, Threshold};
use crate::nodestatus::quantity;
use crate::spec::qos::container_requests;
use crate::spec::Pod;

/// The kubelet's `status.reason` for an evicted pod.
pub const EVICTED: &str = "Evicted";
/// Event annotation: the containers over their request, comma-joined.
pub const OFFENDING_CONTAINERS: &str = "offending_containers";
/// Event annotation: their usages, comma-joined.
pub const OFFENDING_CONTAINERS_USAGE: &str = "offending_containers_usage";
/// Event annotation: the starved resource.
pub const STARVED_RESOURCE: &str = "starved_resource";

/// An amount of `signal`'s kind as a quantity string.
fn amount(signal: Signal, n: u64) -> String {
    if signal.is_bytes() { quantity::bytes(n) } else { n.to_string() }
}

/// The message and annotations for evicting `pod` because `threshold` is met
/// with `observed`; `stats` are the pod's.
pub fn eviction_message(threshold: &Threshold, observed: &Observation, pod: &Pod, stats: &PodStats) -> (String, BTreeMap<String, String>) {
    let signal = threshold.signal;
    let resource = signal.resource();
    let mut message = format!("The node was low on resource: {resource}. ");
    let limit = threshold.value.amount(observed.capacity);
    message += &format!("Threshold quantity: {}, available: {}. ", amount(signal, limit), amount(signal, observed.available));
    let (mut offending, mut usages) = (Vec::new(), Vec::new());
    let containers = pod.spec.containers.iter().chain(&pod.spec.init_containers);
    for c in containers {
        let Some((_, s)) = stats.containers.iter().find(|(name, _)| *name == c.name) else { continue };
        let (usage, request, written) = match resource {
            "memory" => (s.working_set, container_requests(c).memory, request_text(c, "memory")),
            "ephemeral-storage" => (s.disk, container_requests(c).ephemeral_storage, request_text(c, "ephemeral-storage")),
            _ => continue,
        };
        if usage > request {
            let usage = quantity::bytes(usage);
            message += &format!("Container {} was using {usage}, request is {written}, has larger consumption of {resource}. ", c.name);
            offending.push(c.name.clone());
            usages.push(usage);
        }
    }
    let annotations = BTreeMap::from([
        (OFFENDING_CONTAINERS.to_string(), offending.join(",")),
        (OFFENDING_CONTAINERS_USAGE.to_string(), usages.join(",")),
        (STARVED_RESOURCE.to_string(), resource.to_string()),
    ]);
    (message, annotations)
}

/// The request as written (a limit stands in, as apiserver defaulting does), or `0`.
fn request_text(c: &crate::spec::Container, name: &str) -> String {
    let r = &c.resources;
    r.requests.get(name).or_else(|| r.limits.get(name)).map(|q| q.0.clone()).unwrap_or_else(|| "0".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eviction::rank::ContainerStats;
    use crate::eviction::thresholds::{parse_thresholds, EvictionFlags};

    #[test]
    fn the_kubelet_message_and_annotations() {
        let pod = crate::spec::parse::parse_manifests(
            "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n  - {name: hog, image: i}\n  - {name: ok, image: i, resources: {requests: {memory: 64Mi}}}\n",
            "t.yaml",
        )
        .unwrap()
        .remove(0)
        .pod;
        let t = &parse_thresholds(&EvictionFlags::default()).unwrap()[0];
        let observed = Observation { available: 91012 * 1024, capacity: 8 << 30 };
        let stats = PodStats {
            containers: vec![
                ("hog".into(), ContainerStats { working_set: 1532812 * 1024, ..Default::default() }),
                ("ok".into(), ContainerStats { working_set: 1 << 20, ..Default::default() }),
            ],
        };
        let (message, annotations) = eviction_message(t, &observed, &pod, &stats);
        assert_eq!(
            message,
            "The node was low on resource: memory. Threshold quantity: 100Mi, available: 91012Ki. Container hog was using 1532812Ki, request is 0, has larger consumption of memory. "
        );
        assert_eq!(annotations[OFFENDING_CONTAINERS], "hog");
        assert_eq!(annotations[OFFENDING_CONTAINERS_USAGE], "1532812Ki");
        assert_eq!(annotations[STARVED_RESOURCE], "memory");
    }
}
