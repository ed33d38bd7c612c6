use super::*;
use crate::spec::parse::parse_manifests;

pub(super) fn pod(name: &str, cpu: &str, extra: &str) -> Pod {
    let yaml = format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}}}\nspec:\n{extra}  containers:\n  - name: c\n    image: i\n    resources: {{requests: {{cpu: {cpu}}}}}\n"
    );
    parse_manifests(&yaml, "t.yaml").unwrap().remove(0).pod
}

fn node(cpu_millis: u64, pods: u64) -> ResourceList {
    ResourceList { cpu_millis, memory: 1 << 30, ephemeral_storage: 1 << 30, pods }
}

#[test]
fn a_pod_that_does_not_fit_gets_the_kubelet_reason_and_message() {
    let (a, b) = (pod("a", "1", ""), pod("b", "700m", ""));
    let c = pod("c", "500m", "");
    let Decision::Reject(r) = admit(&c, &node(2000, 110), &[], &[&a, &b]) else { panic!() };
    assert_eq!(r.reason, "OutOfcpu");
    assert_eq!(r.message, "Node didn't have enough resource: cpu, requested: 500, used: 1700, capacity: 2000");
    assert_eq!(admit(&c, &node(2200, 110), &[], &[&a, &b]), Decision::Admit);
    let Decision::Reject(r) = admit(&c, &node(4000, 2), &[], &[&a, &b]) else { panic!() };
    assert_eq!((r.reason.as_str(), r.message.as_str()), ("OutOfpods", "Node didn't have enough resource: pods, requested: 1, used: 2, capacity: 2"));
}

#[test]
fn pressure_refuses_best_effort_then_everything() {
    let burstable = pod("b", "100m", "");
    let best_effort = {
        let mut p = pod("e", "1", "");
        p.spec.containers[0].resources = Default::default();
        p
    };
    let roomy = node(4000, 110);
    assert_eq!(admit(&burstable, &roomy, &[Pressure::MemoryPressure], &[]), Decision::Admit);
    let Decision::Reject(r) = admit(&best_effort, &roomy, &[Pressure::MemoryPressure], &[]) else { panic!() };
    assert_eq!((r.reason.as_str(), r.message.as_str()), ("Evicted", "The node had condition: [MemoryPressure]. "));
    let both = [Pressure::MemoryPressure, Pressure::DiskPressure];
    let Decision::Reject(r) = admit(&burstable, &roomy, &both, &[]) else { panic!() };
    assert_eq!(r.message, "The node had condition: [MemoryPressure DiskPressure]. ");
    let critical = pod("k", "100m", "  priorityClassName: system-node-critical\n");
    assert_eq!(admit(&critical, &roomy, &both, &[]), Decision::Admit);
}
