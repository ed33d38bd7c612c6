//! The pod's QoS class (`pkg/apis/core/v1/helper/qos`) and its effective resource
//! requests (`resourcehelper.PodRequests`), both computed from the spec alone.
//!
//! Requests default to limits where only a limit is given, as apiserver defaulting
//! does. Only `cpu` and `memory` decide the class.
//!
//! ```
//! use hooklet::spec::qos::{qos_class, QosClass};
//! use hooklet::spec::{Container, PodSpec};
//! let spec = PodSpec { containers: vec![Container::default()], ..PodSpec::default() };
//! assert_eq!(qos_class(&spec), QosClass::BestEffort);
//! ```

use serde::{Deserialize, Serialize};

use super::model::{Container, PodSpec};

/// `status.qosClass`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum QosClass {
    Guaranteed,
    Burstable,
    BestEffort,
}

impl QosClass {
    /// The API spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            QosClass::Guaranteed => "Guaranteed",
            QosClass::Burstable => "Burstable",
            QosClass::BestEffort => "BestEffort",
        }
    }
}

/// Resource amounts in the units the kubelet compares: millicores, bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Amounts {
    /// `cpu`, millicores.
    pub cpu_millis: u64,
    /// `memory`, bytes.
    pub memory: u64,
    /// `ephemeral-storage`, bytes.
    pub ephemeral_storage: u64,
}

impl Amounts {
    fn add(&mut self, o: Amounts) {
        self.cpu_millis += o.cpu_millis;
        self.memory += o.memory;
        self.ephemeral_storage += o.ephemeral_storage;
    }

    fn max(&mut self, o: Amounts) {
        self.cpu_millis = self.cpu_millis.max(o.cpu_millis);
        self.memory = self.memory.max(o.memory);
        self.ephemeral_storage = self.ephemeral_storage.max(o.ephemeral_storage);
    }

    fn sum(a: Amounts, b: Amounts) -> Amounts {
        let mut s = a;
        s.add(b);
        s
    }
}

/// One container's requests (a limit stands in for a missing request).
pub fn container_requests(c: &Container) -> Amounts {
    amounts(c, true)
}

/// One container's limits.
pub fn container_limits(c: &Container) -> Amounts {
    amounts(c, false)
}

fn amounts(c: &Container, requests: bool) -> Amounts {
    let get = |name: &str, millis: bool| {
        let limit = c.resources.limits.get(name);
        let q = if requests { c.resources.requests.get(name).or(limit) } else { limit };
        q.and_then(|q| if millis { q.millis().ok() } else { q.bytes().ok() }).unwrap_or(0)
    };
    Amounts { cpu_millis: get("cpu", true), memory: get("memory", false), ephemeral_storage: get("ephemeral-storage", false) }
}

/// The pod's effective requests: the regular containers and sidecars together, or
/// the largest init step (a plain init container next to the sidecars started
/// before it), whichever is larger.
pub fn pod_requests(spec: &PodSpec) -> Amounts {
    pod_amounts(spec, container_requests)
}

/// The pod's effective limits, computed as [`pod_requests`] is.
pub fn pod_limits(spec: &PodSpec) -> Amounts {
    pod_amounts(spec, container_limits)
}

fn pod_amounts(spec: &PodSpec, of: fn(&Container) -> Amounts) -> Amounts {
    let mut total = Amounts::default();
    for c in &spec.containers {
        total.add(of(c));
    }
    let (mut sidecars, mut init_peak) = (Amounts::default(), Amounts::default());
    for c in &spec.init_containers {
        let step = if c.is_sidecar() {
            total.add(of(c));
            sidecars.add(of(c));
            sidecars
        } else {
            Amounts::sum(of(c), sidecars)
        };
        init_peak.max(step);
    }
    total.max(init_peak);
    total
}

/// `ComputePodQOS`: BestEffort without any cpu/memory request or limit; Guaranteed
/// when every container limits both and the requests equal the limits; else
/// Burstable.
pub fn qos_class(spec: &PodSpec) -> QosClass {
    let (mut requests, mut limits) = ([0u64; 2], [0u64; 2]);
    let (mut any_request, mut any_limit) = ([false; 2], [false; 2]);
    let mut guaranteed = true;
    for c in spec.init_containers.iter().chain(&spec.containers) {
        let mut limited = [false; 2];
        for (i, name) in ["cpu", "memory"].into_iter().enumerate() {
            let value = |q: &super::resources::Quantity| q.millis().unwrap_or(0);
            let request = c.resources.requests.get(name).or_else(|| c.resources.limits.get(name)).map(value).unwrap_or(0);
            if request > 0 {
                requests[i] += request;
                any_request[i] = true;
            }
            let limit = c.resources.limits.get(name).map(value).unwrap_or(0);
            if limit > 0 {
                limits[i] += limit;
                any_limit[i] = true;
                limited[i] = true;
            }
        }
        guaranteed &= limited.iter().all(|l| *l);
    }
    if !any_request.iter().chain(&any_limit).any(|x| *x) {
        return QosClass::BestEffort;
    }
    if guaranteed && requests == limits && any_request == any_limit {
        QosClass::Guaranteed
    } else {
        QosClass::Burstable
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::resources::{Quantity, ResourceRequirements};
    use crate::spec::RestartPolicy;

    fn container(requests: &[(&str, &str)], limits: &[(&str, &str)]) -> Container {
        let map = |kv: &[(&str, &str)]| kv.iter().map(|(k, v)| (k.to_string(), Quantity::from(*v))).collect();
        Container { name: "c".into(), resources: ResourceRequirements { requests: map(requests), limits: map(limits) }, ..Container::default() }
    }

    fn spec(containers: Vec<Container>) -> PodSpec {
        PodSpec { containers, ..PodSpec::default() }
    }

    #[test]
    fn classes() {
        let both = [("cpu", "500m"), ("memory", "64Mi")];
        assert_eq!(qos_class(&spec(vec![container(&[], &[])])), QosClass::BestEffort);
        assert_eq!(qos_class(&spec(vec![container(&[], &both)])), QosClass::Guaranteed);
        assert_eq!(qos_class(&spec(vec![container(&both, &both)])), QosClass::Guaranteed);
        assert_eq!(qos_class(&spec(vec![container(&[("cpu", "100m")], &both)])), QosClass::Burstable);
        assert_eq!(qos_class(&spec(vec![container(&[("memory", "1Mi")], &[])])), QosClass::Burstable);
        assert_eq!(qos_class(&spec(vec![container(&[], &both), container(&[], &[])])), QosClass::Burstable);
        // Other resources do not count.
        assert_eq!(qos_class(&spec(vec![container(&[("ephemeral-storage", "1Gi")], &[])])), QosClass::BestEffort);
    }

    #[test]
    fn requests_of_init_steps_and_sidecars() {
        let mut s = spec(vec![container(&[("cpu", "200m")], &[]), container(&[], &[("memory", "1Ki")])]);
        assert_eq!(pod_requests(&s), Amounts { cpu_millis: 200, memory: 1024, ephemeral_storage: 0 });
        let sidecar = Container { restart_policy: Some(RestartPolicy::Always), ..container(&[("cpu", "100m")], &[]) };
        s.init_containers = vec![sidecar, container(&[("cpu", "1")], &[])];
        // The init step: 1 cpu + the 100m sidecar; the steady state: 300m.
        assert_eq!(pod_requests(&s).cpu_millis, 1100);
    }
}
