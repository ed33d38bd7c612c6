//! `/api/v1/…/pods`: list and get, as a `PodList`/`Pod` or a Table by `Accept`;
//! `?watch=true` hands over to [`super::watch`].

use std::collections::HashMap;

use hyper::{HeaderMap, Response, StatusCode};

use super::pod::{metadata, pod, OnNode, Pod};
use super::selector::Selector;
use super::status::KubeError;
use super::table;
use super::wire::{List, ListMeta, ObjectMeta};
use crate::api::body::{self, Body};
use crate::daemon::views::PodView;
use crate::daemon::Daemon;
use crate::printers::{age, pod::columns};

/// The fields a pods `fieldSelector` may name.
const FIELDS: &[&str] = &["metadata.name", "metadata.namespace", "spec.nodeName", "status.phase"];

type Reply = Result<Response<Body>, KubeError>;

/// Which pods a list or watch is about: a namespace (or all), `labelSelector`,
/// `fieldSelector`.
pub struct PodFilter {
    pub namespace: Option<String>,
    labels: Selector,
    fields: Selector,
    node: String,
}

impl PodFilter {
    /// The filter of a request's query.
    pub fn of(daemon: &Daemon, namespace: Option<&str>, query: &HashMap<String, String>) -> Result<PodFilter, KubeError> {
        Ok(PodFilter {
            namespace: namespace.map(str::to_string),
            labels: Selector::labels(query.get("labelSelector").map(String::as_str).unwrap_or(""))?,
            fields: Selector::fields(query.get("fieldSelector").map(String::as_str).unwrap_or(""), "pods", FIELDS)?,
            node: daemon.node_name().to_string(),
        })
    }

    /// Does `v` pass?
    pub fn matches(&self, v: &PodView) -> bool {
        if self.namespace.as_deref().is_some_and(|ns| ns != v.pod.namespace()) || !self.labels.matches_labels(&v.pod.metadata.labels) {
            return false;
        }
        let phase = format!("{:?}", v.status.phase);
        self.fields.matches(|k| match k {
            "metadata.name" => Some(v.pod.metadata.name.as_str()),
            "metadata.namespace" => Some(v.pod.namespace()),
            "spec.nodeName" => Some(self.node.as_str()),
            "status.phase" => Some(phase.as_str()),
            _ => None,
        })
    }
}

/// The wire metadata of a pod, with the revision of its last change.
pub fn meta(daemon: &Daemon, v: &PodView) -> ObjectMeta {
    let mut m = metadata(v);
    let revision = daemon.changes.revision_of(v.pod.uid()).unwrap_or_else(|| daemon.changes.revision());
    m.resource_version = Some(revision.to_string());
    m
}

/// The `v1.Pod` of a view, with its resourceVersion.
pub fn object(daemon: &Daemon, v: &PodView) -> Pod {
    let mut p = pod(v, OnNode { name: daemon.node_name(), host_ips: daemon.host_ips() });
    p.metadata = meta(daemon, v);
    p
}

/// `GET /api/v1/pods`, `GET /api/v1/namespaces/NS/pods`.
pub fn list(daemon: &Daemon, namespace: Option<&str>, query: &HashMap<String, String>, headers: &HeaderMap) -> Reply {
    let filter = PodFilter::of(daemon, namespace, query)?;
    // Taken before the pods are read: a watch from it misses no later change.
    let revision = Some(daemon.changes.revision().to_string());
    let views: Vec<PodView> = daemon.list(namespace).into_iter().filter(|v| filter.matches(v)).collect();
    if table::wanted(headers) {
        let rows = views.iter().map(|v| row(daemon, v)).collect();
        return Ok(table::response(table::POD_COLUMNS, rows, revision));
    }
    let items = views.iter().map(|v| object(daemon, v)).collect();
    let list = List { metadata: ListMeta { resource_version: revision }, ..List::v1("PodList", items) };
    Ok(body::json(StatusCode::OK, &list))
}

/// `GET /api/v1/namespaces/NS/pods/NAME`.
pub fn get(daemon: &Daemon, namespace: &str, name: &str, headers: &HeaderMap) -> Reply {
    let view = daemon.get(namespace, name)?;
    if table::wanted(headers) {
        return Ok(table::response(table::POD_COLUMNS, vec![row(daemon, &view)], None));
    }
    Ok(body::json(StatusCode::OK, &object(daemon, &view)))
}

/// One Table row of `get pods`.
pub fn row(daemon: &Daemon, v: &PodView) -> crate::api::kube::wire::TableRow {
    let cols = columns(&v.pod, &v.status);
    let ip = v.status.pod_ip.map(|ip| ip.to_string()).unwrap_or_else(|| "<none>".into());
    let cells = vec![
        v.pod.metadata.name.clone().into(),
        cols.ready.into(),
        cols.status.into(),
        cols.restarts.to_string().into(),
        age(v.applied_at).into(),
        ip.into(),
        daemon.node_name().into(),
        "<none>".into(),
        "<none>".into(),
    ];
    table::row(cells, meta(daemon, v))
}
