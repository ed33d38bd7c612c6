//! The kubelet's critical-pod admission (`pkg/kubelet/preemption`): a critical pod
//! that does not fit is admitted by evicting the pods that free its shortfall with
//! the least impact — guaranteed pods only if burstable and best-effort ones cannot
//! make room, burstable ones only if best-effort ones cannot — choosing within each
//! class, round by round, the pod nearest to the remaining requirement (the fewest
//! pods), ties going to the smaller request (memory, then cpu).
//!
//! Preempted pods get `status.reason: Preempted` (issue #14; the kubelet's
//! `events.PreemptContainer` is `Preempting`), the message [`PREEMPTION_MESSAGE`], a
//! `Warning Preempted` event, and are killed with their own grace.

use super::Insufficient;
use crate::spec::qos::{pod_requests, qos_class, QosClass};
use crate::spec::{priority, Pod};

/// The status reason and event reason of a preempted pod.
pub const PREEMPTION_REASON: &str = "Preempted";
/// The kubelet's message for a preempted pod.
pub const PREEMPTION_MESSAGE: &str = "Preempted in order to admit critical pod";

/// `kubetypes.Preemptable`: a critical pod may preempt a non-critical one, and any
/// pod one of lower priority.
pub fn preemptable(preemptor: &Pod, preemptee: &Pod) -> bool {
    let (a, b) = (&preemptor.spec, &preemptee.spec);
    (priority::is_critical(a) && !priority::is_critical(b)) || priority::of(a) > priority::of(b)
}

/// One resource still to free.
#[derive(Debug, Clone, Copy)]
struct Requirement {
    resource: &'static str,
    quantity: i128,
}

fn request(pod: &Pod, resource: &str) -> i128 {
    let r = pod_requests(&pod.spec);
    match resource {
        "pods" => 1,
        "cpu" => r.cpu_millis as i128,
        "memory" => r.memory as i128,
        "ephemeral-storage" => r.ephemeral_storage as i128,
        _ => 0,
    }
}

fn subtract(reqs: &[Requirement], pods: &[&Pod]) -> Vec<Requirement> {
    reqs.iter()
        .filter_map(|r| {
            let left = pods.iter().fold(r.quantity, |q, p| q - request(p, r.resource));
            (left > 0).then_some(Requirement { quantity: left, ..*r })
        })
        .collect()
}

fn distance(reqs: &[Requirement], pod: &Pod) -> f64 {
    reqs.iter()
        .map(|r| {
            let remaining = (r.quantity - request(pod, r.resource)) as f64;
            if remaining > 0.0 { (remaining / r.quantity as f64).powi(2) } else { 0.0 }
        })
        .sum()
}

/// The kubelet's `smallerResourceRequest` (memory, then cpu). Where the kubelet
/// then takes whichever pod comes later in its list, hooklet takes the one of
/// lower priority, so the choice does not depend on the order pods were listed.
fn smaller_request(a: &Pod, b: &Pod) -> bool {
    for resource in ["memory", "cpu"] {
        let (x, y) = (request(a, resource), request(b, resource));
        if x != y {
            return x < y;
        }
    }
    priority::of(&a.spec) <= priority::of(&b.spec)
}

fn by_distance<'a>(mut pods: Vec<(usize, &'a Pod)>, mut reqs: Vec<Requirement>) -> Result<Vec<(usize, &'a Pod)>, String> {
    let mut chosen = Vec::new();
    while !reqs.is_empty() {
        if pods.is_empty() {
            return Err(format!("no set of running pods found to reclaim resources: {}", describe(&reqs)));
        }
        let mut best = 0;
        let mut best_distance = reqs.len() as f64 + 1.0;
        for (i, (_, pod)) in pods.iter().enumerate() {
            let d = distance(&reqs, pod);
            if d < best_distance || (d == best_distance && smaller_request(pod, pods[best].1)) {
                best_distance = d;
                best = i;
            }
        }
        let picked = pods.swap_remove(best);
        reqs = subtract(&reqs, &[picked.1]);
        chosen.push(picked);
    }
    Ok(chosen)
}

fn pods<'a>(v: &[(usize, &'a Pod)]) -> Vec<&'a Pod> {
    v.iter().map(|(_, p)| *p).collect()
}

fn describe(reqs: &[Requirement]) -> String {
    let parts: Vec<String> = reqs.iter().map(|r| format!("(res: {}, q: {}), ", r.resource, r.quantity)).collect();
    format!("[{}]", parts.concat())
}

/// The pods (indices into `active`) to preempt so that `pod` fits, or why none can.
pub fn victims(pod: &Pod, active: &[&Pod], insufficient: &[Insufficient]) -> Result<Vec<usize>, String> {
    let reqs: Vec<Requirement> =
        insufficient.iter().map(|i| Requirement { resource: i.resource, quantity: i.shortfall() as i128 }).collect();
    let class = |c: QosClass| -> Vec<(usize, &Pod)> {
        active.iter().copied().enumerate().filter(|(_, p)| preemptable(pod, p) && qos_class(&p.spec) == c).collect()
    };
    let (best_effort, burstable, guaranteed) = (class(QosClass::BestEffort), class(QosClass::Burstable), class(QosClass::Guaranteed));
    let all: Vec<&Pod> = [pods(&best_effort), pods(&burstable), pods(&guaranteed)].concat();
    let unmet = subtract(&reqs, &all);
    if !unmet.is_empty() {
        return Err(format!("no set of running pods found to reclaim resources: {}", describe(&unmet)));
    }
    let g = by_distance(guaranteed, subtract(&reqs, &[pods(&best_effort), pods(&burstable)].concat()))?;
    let b = by_distance(burstable, subtract(&reqs, &[pods(&best_effort), pods(&g)].concat()))?;
    let e = by_distance(best_effort, subtract(&reqs, &[pods(&b), pods(&g)].concat()))?;
    Ok(e.into_iter().chain(b).chain(g).map(|(i, _)| i).collect())
}

#[cfg(test)]
mod tests {
    use super::super::tests::pod;
    use super::super::{admit, Decision};
    use crate::nodestatus::ResourceList;

    #[test]
    fn a_critical_pod_preempts_the_fewest_lower_priority_pods() {
        let low = pod("low", "600m", "  priority: 10\n");
        let mid = pod("mid", "300m", "  priority: 20\n");
        let other = pod("other", "300m", "  priority: 30\n");
        let critical = pod("crit", "500m", "  priorityClassName: system-node-critical\n");
        let node = ResourceList { cpu_millis: 1500, memory: 1 << 30, ephemeral_storage: 1 << 30, pods: 110 };
        // 1200m used, 300m free, 200m missing: one pod of at least 200m suffices;
        // the nearest (300m, then the smaller request) is chosen, not both.
        let decision = admit(&critical, &node, &[], &[&low, &mid, &other]);
        assert_eq!(decision, Decision::Preempt(vec![1]), "the 300m pod of lower priority");
        // Equal pods: the lowest priority goes.
        let (a, b, c) = (pod("a", "500m", "  priority: 5\n"), pod("b", "500m", "  priority: 1\n"), pod("c", "500m", "  priority: 9\n"));
        assert_eq!(admit(&critical, &node, &[], &[&a, &b, &c]), Decision::Preempt(vec![1]));
        // A pod of the same priority is not preempted: nothing can make room (one of
        // lower priority could be, critical or not: `Preemptable`).
        let other_critical = pod("c2", "1400m", "  priorityClassName: system-node-critical\n");
        let decision = admit(&critical, &node, &[], &[&other_critical]);
        assert!(matches!(decision, Decision::Reject(ref r) if r.reason == "OutOfcpu"), "{decision:?}");
        // A non-critical pod is refused, not preempting.
        let normal = pod("n", "500m", "  priority: 1000\n");
        assert!(matches!(admit(&normal, &node, &[], &[&low, &mid, &other]), Decision::Reject(_)));
    }
}
