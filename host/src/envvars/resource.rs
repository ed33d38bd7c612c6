//! `resourceFieldRef` values: `ExtractContainerResourceValue` over the container as
//! `defaultPodLimitsForDownwardAPI` sees it, a missing (or zero) `cpu`, `memory` or
//! `ephemeral-storage` limit standing for the node's allocatable.

use crate::nodestatus::ResourceList;
use crate::spec::qos::{container_limits, container_requests};
use crate::spec::resources::Quantity;
use crate::spec::{Container, Pod, ResourceFieldSelector};

/// The value of `selector` for `container` of `pod`, as the kubelet writes it: the
/// amount divided by the divisor (default `1`), rounded up.
pub fn resource_value(selector: &ResourceFieldSelector, pod: &Pod, container: &Container, allocatable: &ResourceList) -> Result<String, String> {
    // The kubelet merges the allocatable into the container being started and the
    // pod's regular containers, not its init containers.
    let (target, merged) = match selector.container_name.as_str() {
        "" => (container, true),
        name => match pod.spec.containers.iter().find(|c| c.name == name) {
            Some(c) => (c, true),
            None => (pod.spec.init_containers.iter().find(|c| c.name == name).ok_or_else(|| format!("container {name} not found"))?, false),
        },
    };
    let mut limits = container_limits(target);
    if merged {
        let or_node = |own: u64, node: u64| if own == 0 { node } else { own };
        limits.cpu_millis = or_node(limits.cpu_millis, allocatable.cpu_millis);
        limits.memory = or_node(limits.memory, allocatable.memory);
        limits.ephemeral_storage = or_node(limits.ephemeral_storage, allocatable.ephemeral_storage);
    }
    let requests = container_requests(target);
    let divisor = selector.divisor.clone().filter(|d| d.value().is_ok_and(|v| v != 0.0)).unwrap_or_else(|| Quantity::from("1"));
    let cpu = |millis: u64| -> Result<u64, String> { Ok(ceil_div(millis, divisor.millis()?)) };
    let bytes = |amount: u64| -> Result<u64, String> { Ok(ceil_div(amount, divisor.bytes()?)) };
    let value: Result<u64, String> = match selector.resource.as_str() {
        "limits.cpu" => cpu(limits.cpu_millis),
        "requests.cpu" => cpu(requests.cpu_millis),
        "limits.memory" => bytes(limits.memory),
        "requests.memory" => bytes(requests.memory),
        "limits.ephemeral-storage" => bytes(limits.ephemeral_storage),
        "requests.ephemeral-storage" => bytes(requests.ephemeral_storage),
        other => match other.split_once('.') {
            Some((section @ ("limits" | "requests"), name)) if name.starts_with("hugepages-") => {
                let limit = target.resources.limits.get(name);
                let set = if section == "limits" { limit } else { target.resources.requests.get(name).or(limit) };
                bytes(set.map(Quantity::bytes).transpose()?.unwrap_or(0))
            }
            _ => return Err(format!("unsupported container resource : {other}")),
        },
    };
    value.map(|v| v.to_string())
}

fn ceil_div(amount: u64, divisor: u64) -> u64 {
    amount.div_ceil(divisor.max(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(yaml_containers: &str) -> Pod {
        let yaml = format!("apiVersion: v1\nkind: Pod\nmetadata: {{name: p}}\nspec:\n{yaml_containers}");
        crate::spec::parse::parse_manifests(&yaml, "p.yaml").unwrap().remove(0).pod
    }

    fn value(pod: &Pod, container: usize, resource: &str, divisor: Option<&str>, name: &str) -> Result<String, String> {
        let selector = ResourceFieldSelector { container_name: name.into(), resource: resource.into(), divisor: divisor.map(Quantity::from) };
        let node = ResourceList { cpu_millis: 3500, memory: 8 << 30, ephemeral_storage: 100 << 30, pods: 110 };
        resource_value(&selector, pod, &pod.spec.containers[container], &node)
    }

    #[test]
    fn limits_requests_divisors_and_the_node_fallback() {
        let p = pod("  containers:\n  - {name: a, image: i, resources: {limits: {cpu: 250m, memory: 64Mi}}}\n  - {name: b, image: i, resources: {requests: {cpu: 100m}}}\n  initContainers:\n  - {name: init, image: i}\n");
        assert_eq!(value(&p, 0, "limits.cpu", None, "").as_deref(), Ok("1"), "250m rounds up to one core");
        assert_eq!(value(&p, 0, "limits.cpu", Some("1m"), "").as_deref(), Ok("250"));
        assert_eq!(value(&p, 0, "limits.memory", Some("1Mi"), "").as_deref(), Ok("64"));
        assert_eq!(value(&p, 0, "requests.memory", None, "").as_deref(), Ok("67108864"), "the request defaults to the limit");
        assert_eq!(value(&p, 1, "limits.cpu", None, "").as_deref(), Ok("4"), "no limit: the node's 3.5 cores, rounded up");
        assert_eq!(value(&p, 1, "limits.memory", Some("1Gi"), "").as_deref(), Ok("8"));
        assert_eq!(value(&p, 1, "requests.memory", None, "").as_deref(), Ok("0"));
        assert_eq!(value(&p, 1, "limits.ephemeral-storage", Some("1Gi"), "").as_deref(), Ok("100"));
        assert_eq!(value(&p, 1, "limits.cpu", Some("1m"), "a").as_deref(), Ok("250"), "another container by name");
        assert_eq!(value(&p, 0, "limits.memory", None, "init").as_deref(), Ok("0"), "init containers get no node fallback");
        assert_eq!(value(&p, 0, "limits.cpu", None, "nope").unwrap_err(), "container nope not found");
    }
}
