//! The node as the API shows it (`GET /v1/nodes/NAME`): the Kubernetes Node's
//! capacity, allocatable and conditions, plus what `kubectl describe node` adds —
//! the non-terminated pods with their requests and limits, the allocated totals —
//! and hooklet's last observation of each eviction signal.

use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use super::{NodeAddress, NodeCondition, NodeState, ResourceList, SystemInfo};
use crate::events::Event;
use crate::lifecycle::{PodPhase, PodStatus};
use crate::spec::qos::{pod_limits, pod_requests, Amounts, QosClass};
use crate::spec::{priority, Pod};

/// One non-terminated pod on the node.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodePod {
    pub namespace: String,
    pub name: String,
    pub cpu_requests_millis: u64,
    pub cpu_limits_millis: u64,
    pub memory_requests: u64,
    pub memory_limits: u64,
    pub ephemeral_storage_requests: u64,
    pub ephemeral_storage_limits: u64,
    pub qos_class: QosClass,
    pub priority: i32,
    pub applied_at: SystemTime,
}

/// One eviction signal as last observed (hooklet extension).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SignalView {
    pub signal: String,
    /// Available amount (bytes, inodes or process ids).
    pub available: u64,
    pub capacity: u64,
}

/// `GET /v1/nodes/NAME` (and each item of `GET /v1/nodes`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeView {
    pub name: String,
    pub created_at: SystemTime,
    /// `status.addresses`: the `InternalIP`s, then `Hostname`.
    #[serde(default)]
    pub addresses: Vec<NodeAddress>,
    #[serde(default)]
    pub node_info: SystemInfo,
    pub capacity: ResourceList,
    pub allocatable: ResourceList,
    pub conditions: Vec<NodeCondition>,
    /// Sums of the non-terminated pods' requests and limits (`pods` = their count).
    pub allocated_requests: ResourceList,
    pub allocated_limits: ResourceList,
    pub pods: Vec<NodePod>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub signals: Vec<SignalView>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub events: Vec<Event>,
}

/// Whether a pod still holds node resources (not Succeeded or Failed).
pub fn is_active(status: &PodStatus) -> bool {
    !matches!(status.phase, PodPhase::Succeeded | PodPhase::Failed)
}

fn list(a: Amounts, pods: u64) -> ResourceList {
    ResourceList { cpu_millis: a.cpu_millis, memory: a.memory, ephemeral_storage: a.ephemeral_storage, pods }
}

impl NodeView {
    /// The view of `node` with these pods (only the active ones are listed).
    pub fn build<'a>(node: &NodeState, pods: impl IntoIterator<Item = (&'a Pod, &'a PodStatus, SystemTime)>) -> NodeView {
        let mut rows = Vec::new();
        let (mut requests, mut limits) = (ResourceList::default(), ResourceList::default());
        for (pod, status, applied_at) in pods.into_iter().filter(|(_, s, _)| is_active(s)) {
            let (r, l) = (pod_requests(&pod.spec), pod_limits(&pod.spec));
            requests = add(requests, list(r, 1));
            limits = add(limits, list(l, 1));
            rows.push(NodePod {
                namespace: pod.namespace().to_string(),
                name: pod.metadata.name.clone(),
                cpu_requests_millis: r.cpu_millis,
                cpu_limits_millis: l.cpu_millis,
                memory_requests: r.memory,
                memory_limits: l.memory,
                ephemeral_storage_requests: r.ephemeral_storage,
                ephemeral_storage_limits: l.ephemeral_storage,
                qos_class: status.qos_class.unwrap_or_else(|| crate::spec::qos::qos_class(&pod.spec)),
                priority: priority::of(&pod.spec),
                applied_at,
            });
        }
        NodeView {
            name: node.name.clone(),
            created_at: node.created_at,
            addresses: super::addresses::node_addresses(&node.internal_ips, &node.name),
            node_info: node.system.clone(),
            capacity: node.capacity,
            allocatable: node.allocatable,
            conditions: node.conditions().list().to_vec(),
            allocated_requests: requests,
            allocated_limits: limits,
            pods: rows,
            signals: Vec::new(),
            events: Vec::new(),
        }
    }
}

fn add(a: ResourceList, b: ResourceList) -> ResourceList {
    ResourceList {
        cpu_millis: a.cpu_millis + b.cpu_millis,
        memory: a.memory + b.memory,
        ephemeral_storage: a.ephemeral_storage + b.ephemeral_storage,
        pods: a.pods + b.pods,
    }
}
