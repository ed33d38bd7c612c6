//! hooklet's pods as `v1.Pod` objects: the manifest's spec (plus `nodeName`), the
//! metadata the daemon knows (uid, creation, deletion), and the status in the
//! kubelet's shape (`containerStatuses`, `conditions`, `podIP`, `startTime` …).

use serde::Serialize;

use super::wire::{time, ObjectMeta};
use crate::daemon::views::PodView;
use crate::lifecycle::{ContainerState, ContainerStatus, PodStatus};

/// A `v1.Pod`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Pod {
    pub kind: &'static str,
    pub api_version: &'static str,
    pub metadata: ObjectMeta,
    pub spec: serde_json::Value,
    pub status: WireStatus,
}

/// `v1.PodStatus`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WireStatus {
    pub phase: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<serde_json::Value>,
    #[serde(rename = "hostIP", skip_serializing_if = "Option::is_none")]
    pub host_ip: Option<String>,
    #[serde(rename = "hostIPs", skip_serializing_if = "Vec::is_empty")]
    pub host_ips: Vec<serde_json::Value>,
    #[serde(rename = "podIP", skip_serializing_if = "Option::is_none")]
    pub pod_ip: Option<String>,
    #[serde(rename = "podIPs", skip_serializing_if = "Vec::is_empty")]
    pub pod_ips: Vec<serde_json::Value>,
    pub start_time: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub init_container_statuses: Vec<serde_json::Value>,
    pub container_statuses: Vec<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub qos_class: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// The object metadata of a pod.
pub fn metadata(view: &PodView) -> ObjectMeta {
    let pod = &view.pod;
    ObjectMeta {
        name: pod.metadata.name.clone(),
        namespace: Some(pod.namespace().to_string()),
        uid: Some(pod.uid().to_string()),
        resource_version: None,
        creation_timestamp: Some(time(view.applied_at)),
        deletion_timestamp: view.status.deletion_requested_at.map(|at| {
            // The apiserver's deletionTimestamp is the deadline: request + grace.
            time(at + std::time::Duration::from_secs(view.status.deletion_grace_seconds.unwrap_or(0)))
        }),
        deletion_grace_period_seconds: view.status.deletion_requested_at.and(view.status.deletion_grace_seconds),
        labels: pod.metadata.labels.clone(),
        annotations: pod.metadata.annotations.clone(),
    }
}

/// The node a pod runs on, as its `v1.Pod` shows it.
#[derive(Debug, Clone, Copy)]
pub struct OnNode<'a> {
    /// `spec.nodeName`.
    pub name: &'a str,
    /// `status.hostIPs` (the node's `InternalIP`s).
    pub host_ips: &'a [std::net::IpAddr],
}

/// The `v1.Pod` of a daemon pod on `node`.
pub fn pod(view: &PodView, node: OnNode<'_>) -> Pod {
    let mut spec = serde_json::to_value(&view.pod.spec).expect("pod specs serialise");
    if let Some(object) = spec.as_object_mut() {
        object.insert("nodeName".into(), node.name.into());
    }
    Pod { kind: "Pod", api_version: "v1", metadata: metadata(view), spec, status: status(view, node.host_ips) }
}

fn status(view: &PodView, host_ips: &[std::net::IpAddr]) -> WireStatus {
    let s: &PodStatus = &view.status;
    let ip = s.pod_ip.map(|ip| ip.to_string());
    WireStatus {
        phase: format!("{:?}", s.phase),
        conditions: s
            .conditions
            .iter()
            .map(|c| {
                let mut v = serde_json::json!({"type": c.type_, "status": c.status, "lastProbeTime": null, "lastTransitionTime": time(c.last_transition_time)});
                if let Some(r) = &c.reason {
                    v["reason"] = r.clone().into();
                }
                if let Some(m) = &c.message {
                    v["message"] = m.clone().into();
                }
                v
            })
            .collect(),
        host_ip: host_ips.first().map(ToString::to_string),
        host_ips: host_ips.iter().map(|ip| serde_json::json!({"ip": ip.to_string()})).collect(),
        pod_ips: ip.iter().map(|ip| serde_json::json!({"ip": ip})).collect(),
        pod_ip: ip,
        start_time: time(view.applied_at),
        init_container_statuses: s.init_containers.iter().map(container_status).collect(),
        container_statuses: s.containers.iter().map(container_status).collect(),
        qos_class: s.qos_class.map(|q| format!("{q:?}")),
        reason: s.reason.clone(),
        message: s.message.clone(),
    }
}

fn container_status(c: &ContainerStatus) -> serde_json::Value {
    let mut v = serde_json::json!({
        "name": c.name,
        "image": c.image,
        "imageID": "",
        "state": state(&c.state),
        "lastState": c.last_state.as_ref().map(state).unwrap_or_else(|| serde_json::json!({})),
        "ready": c.ready,
        "restartCount": c.restart_count,
        "started": c.started,
    });
    if let Some(id) = &c.container_id {
        v["containerID"] = id.clone().into();
    }
    v
}

fn state(s: &ContainerState) -> serde_json::Value {
    match s {
        ContainerState::Waiting { reason, message } => {
            let mut w = serde_json::json!({"reason": reason});
            if let Some(m) = message {
                w["message"] = m.clone().into();
            }
            serde_json::json!({"waiting": w})
        }
        ContainerState::Running { started_at } => serde_json::json!({"running": {"startedAt": time(*started_at)}}),
        ContainerState::Terminated { exit_code, signal, reason, message, started_at, finished_at } => {
            let mut t = serde_json::json!({"exitCode": exit_code, "reason": reason, "finishedAt": time(*finished_at)});
            if let Some(sig) = signal {
                t["signal"] = (*sig).into();
            }
            if let Some(m) = message {
                t["message"] = m.clone().into();
            }
            t["startedAt"] = started_at.map(time).into();
            serde_json::json!({"terminated": t})
        }
    }
}
