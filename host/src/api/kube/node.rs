//! `/api/v1/nodes` (this node, as a `v1.Node`) and `/api/v1/namespaces` (those in
//! use: hooklet has no namespace objects, so a namespace exists while something
//! is in it; `default` always does).

use std::collections::BTreeSet;

use hyper::{HeaderMap, Response, StatusCode};
use serde_json::{json, Value};

use super::discovery::{git_version, go_arch};
use super::status::KubeError;
use super::table;
use super::wire::{time, List, ObjectMeta};
use crate::api::body::{self, Body};
use crate::daemon::Daemon;
use crate::nodestatus::quantity;
use crate::nodestatus::resources::ResourceList;
use crate::nodestatus::NodeView;
use crate::printers::age;

type Reply = Result<Response<Body>, KubeError>;

fn resources(r: &ResourceList) -> Value {
    json!({
        "cpu": quantity::cpu(r.cpu_millis),
        "memory": quantity::bytes(r.memory),
        "ephemeral-storage": quantity::bytes(r.ephemeral_storage),
        "pods": r.pods.to_string(),
    })
}

fn node_metadata(v: &NodeView) -> ObjectMeta {
    let labels = [
        ("kubernetes.io/hostname", v.name.as_str()),
        ("kubernetes.io/os", std::env::consts::OS),
        ("kubernetes.io/arch", go_arch()),
    ];
    ObjectMeta {
        name: v.name.clone(),
        creation_timestamp: Some(time(v.created_at)),
        labels: labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        ..ObjectMeta::default()
    }
}

/// `Ready` or `NotReady`, as `kubectl get nodes` shows it.
fn readiness(v: &NodeView) -> &'static str {
    match v.conditions.iter().find(|c| c.condition_type == "Ready") {
        Some(c) if c.status == "True" => "Ready",
        _ => "NotReady",
    }
}

/// The wide table's `INTERNAL-IP`: the first `InternalIP`, as the apiserver prints it.
fn internal_ip(v: &NodeView) -> String {
    v.addresses.iter().find(|a| a.address_type == "InternalIP").map_or_else(|| "<none>".into(), |a| a.address.clone())
}

fn or_unknown(s: &str) -> &str {
    if s.is_empty() { "<unknown>" } else { s }
}

fn node(v: &NodeView, runtime: &str) -> Value {
    let conditions: Vec<Value> = v
        .conditions
        .iter()
        .map(|c| {
            json!({"type": c.condition_type, "status": c.status, "lastHeartbeatTime": time(c.last_heartbeat_time),
                   "lastTransitionTime": time(c.last_transition_time), "reason": c.reason, "message": c.message})
        })
        .collect();
    json!({
        "kind": "Node", "apiVersion": "v1", "metadata": node_metadata(v), "spec": {},
        "status": {
            "capacity": resources(&v.capacity), "allocatable": resources(&v.allocatable), "conditions": conditions,
            "addresses": v.addresses,
            "nodeInfo": {"kubeletVersion": git_version(), "operatingSystem": v.node_info.operating_system, "architecture": v.node_info.architecture,
                         "containerRuntimeVersion": format!("{runtime}://hooklet-{}", env!("CARGO_PKG_VERSION")),
                         "osImage": v.node_info.os_image, "kernelVersion": v.node_info.kernel_version, "machineID": "", "systemUUID": "", "bootID": "", "kubeProxyVersion": ""},
        },
    })
}

/// `GET /api/v1/nodes`, `GET /api/v1/nodes/NAME`.
pub fn nodes(daemon: &Daemon, name: Option<&str>, headers: &HeaderMap) -> Reply {
    let view = match name {
        Some(name) => daemon.node_named(name)?,
        None => daemon.node_view(false)?,
    };
    let runtime = daemon.runtime.name();
    if table::wanted(headers) {
        let cells = vec![
            view.name.clone().into(),
            readiness(&view).into(),
            "<none>".into(),
            age(view.created_at).into(),
            git_version().into(),
            internal_ip(&view).into(),
            "<none>".into(),
            or_unknown(&view.node_info.os_image).into(),
            or_unknown(&view.node_info.kernel_version).into(),
            format!("{runtime}://hooklet-{}", env!("CARGO_PKG_VERSION")).into(),
        ];
        return Ok(table::response(table::NODE_COLUMNS, vec![table::row(cells, node_metadata(&view))], None));
    }
    match name {
        Some(_) => Ok(body::json(StatusCode::OK, &node(&view, runtime))),
        None => Ok(body::json(StatusCode::OK, &List::v1("NodeList", vec![node(&view, runtime)]))),
    }
}

/// The namespaces in use.
fn in_use(daemon: &Daemon) -> BTreeSet<String> {
    let mut names: BTreeSet<String> = daemon.list(None).iter().map(|v| v.pod.namespace().to_string()).collect();
    names.insert("default".into());
    names
}

fn namespace(name: &str) -> Value {
    json!({"kind": "Namespace", "apiVersion": "v1", "metadata": {"name": name, "labels": {"kubernetes.io/metadata.name": name}},
           "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}})
}

/// `GET /api/v1/namespaces`, `GET /api/v1/namespaces/NAME`.
pub fn namespaces(daemon: &Daemon, name: Option<&str>, headers: &HeaderMap) -> Reply {
    let names = in_use(daemon);
    let names: Vec<&String> = match name {
        Some(n) if !names.contains(n) => return Err(KubeError::not_found("namespaces", n)),
        Some(n) => names.iter().filter(|x| *x == n).collect(),
        None => names.iter().collect(),
    };
    if table::wanted(headers) {
        let rows = names
            .iter()
            .map(|n| {
                let meta = ObjectMeta { name: n.to_string(), ..ObjectMeta::default() };
                table::row(vec![n.as_str().into(), "Active".into(), "<unknown>".into()], meta)
            })
            .collect();
        return Ok(table::response(table::NAMESPACE_COLUMNS, rows, None));
    }
    match name {
        Some(n) => Ok(body::json(StatusCode::OK, &namespace(n))),
        None => Ok(body::json(StatusCode::OK, &List::v1("NamespaceList", names.iter().map(|n| namespace(n)).collect()))),
    }
}
