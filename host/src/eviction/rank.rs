//! Ranking pods for eviction (`rankMemoryPressure`, `rankDiskPressureFunc`,
//! `rankPIDPressure`): under memory or disk pressure, pods whose usage exceeds
//! their request first, then lower priority first, then the largest usage above
//! the request; under PID pressure, lower priority, then the most processes.
//! The QoS class plays no part (only through requests).

use std::cmp::Reverse;

use super::thresholds::Signal;
use crate::spec::qos::pod_requests;
use crate::spec::{priority, Pod};

/// What one container uses (from the runtime, and its log and writable layer).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ContainerStats {
    pub working_set: u64,
    pub processes: u64,
    /// Logs and writable layer, bytes.
    pub disk: u64,
}

/// One pod's stats, per container name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PodStats {
    pub containers: Vec<(String, ContainerStats)>,
}

impl PodStats {
    /// The pod's total.
    pub fn total(&self) -> ContainerStats {
        self.containers.iter().fold(ContainerStats::default(), |a, (_, c)| ContainerStats {
            working_set: a.working_set + c.working_set,
            processes: a.processes + c.processes,
            disk: a.disk + c.disk,
        })
    }
}

/// A pod that may be evicted, with its stats.
#[derive(Debug, Clone)]
pub struct Candidate<'a> {
    pub pod: &'a Pod,
    pub stats: PodStats,
}

impl Candidate<'_> {
    /// (usage, request) of the resource `signal` starves.
    fn usage_and_request(&self, signal: Signal) -> (u64, u64) {
        let (total, requests) = (self.stats.total(), pod_requests(&self.pod.spec));
        match signal {
            Signal::MemoryAvailable => (total.working_set, requests.memory),
            Signal::PidAvailable => (total.processes, 0),
            _ => (total.disk, requests.ephemeral_storage),
        }
    }
}

/// Sorts `pods` so that the first is the one to evict for `signal`. Each pod's
/// key (over its request, priority, usage above its request) is computed once.
pub fn rank(signal: Signal, pods: &mut [Candidate<'_>]) {
    pods.sort_by_cached_key(|c| {
        let (usage, request) = c.usage_and_request(signal);
        let priority = priority::of(&c.pod.spec);
        let above = usage as i128 - request as i128;
        if signal == Signal::PidAvailable {
            // Lower priority first, then more processes.
            (false, priority, Reverse(usage as i128))
        } else {
            // Over the request first (false sorts first), lower priority, most above.
            (usage <= request, priority, Reverse(above))
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::parse::parse_manifests;

    fn pod(name: &str, memory_request: Option<&str>, priority: i32) -> Pod {
        let resources = memory_request.map(|m| format!("\n    resources: {{requests: {{memory: {m}}}, limits: {{memory: {m}}}}}")).unwrap_or_default();
        let yaml = format!("apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}}}\nspec:\n  priority: {priority}\n  containers:\n  - name: c\n    image: i{resources}\n");
        parse_manifests(&yaml, "t.yaml").unwrap().remove(0).pod
    }

    fn using(pod: &Pod, working_set: u64, processes: u64) -> Candidate<'_> {
        Candidate { pod, stats: PodStats { containers: vec![("c".into(), ContainerStats { working_set, processes, disk: 0 })] } }
    }

    fn names(c: &[Candidate]) -> Vec<String> {
        c.iter().map(|c| c.pod.metadata.name.clone()).collect()
    }

    #[test]
    fn memory_ranks_over_request_then_priority_then_usage() {
        let (hog, guaranteed, small, important) =
            (pod("hog", None, 0), pod("guaranteed", Some("1Gi"), 0), pod("small", None, 0), pod("important", None, 100));
        let mut c = vec![using(&guaranteed, 900 << 20, 1), using(&important, 2 << 30, 1), using(&small, 10 << 20, 1), using(&hog, 500 << 20, 1)];
        rank(Signal::MemoryAvailable, &mut c);
        // All but the guaranteed pod exceed their request; priority before usage.
        assert_eq!(names(&c), ["hog", "small", "important", "guaranteed"]);
    }

    #[test]
    fn pids_rank_by_priority_then_processes() {
        let (a, b, c) = (pod("a", None, 5), pod("b", None, 0), pod("c", None, 0));
        let mut v = vec![using(&a, 0, 100), using(&b, 0, 3), using(&c, 0, 7)];
        rank(Signal::PidAvailable, &mut v);
        assert_eq!(names(&v), ["c", "b", "a"]);
    }
}
