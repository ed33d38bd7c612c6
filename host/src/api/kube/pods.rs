//! `/api/v1/…/pods`: list and get, as a `PodList`/`Pod` or a Table by `Accept`.

use std::collections::HashMap;

use hyper::{HeaderMap, Response, StatusCode};

use super::pod::{metadata, pod};
use super::selector::Selector;
use super::status::KubeError;
use super::table;
use super::wire::List;
use crate::api::body::{self, Body};
use crate::daemon::views::PodView;
use crate::daemon::Daemon;
use crate::printers::{age, pod::columns};

/// The fields a pods `fieldSelector` may name.
const FIELDS: &[&str] = &["metadata.name", "metadata.namespace", "spec.nodeName", "status.phase"];

type Reply = Result<Response<Body>, KubeError>;

/// `GET /api/v1/pods`, `GET /api/v1/namespaces/NS/pods`.
pub fn list(daemon: &Daemon, namespace: Option<&str>, query: &HashMap<String, String>, headers: &HeaderMap) -> Reply {
    if query.get("watch").is_some_and(|w| w == "true" || w == "1") {
        return Err(KubeError::new(StatusCode::METHOD_NOT_ALLOWED, "MethodNotAllowed", "watching pods is not supported by this hooklet"));
    }
    let labels = Selector::labels(query.get("labelSelector").map(String::as_str).unwrap_or(""))?;
    let fields = Selector::fields(query.get("fieldSelector").map(String::as_str).unwrap_or(""), "pods", FIELDS)?;
    let node = daemon.node_name();
    let views: Vec<PodView> = daemon
        .list(namespace)
        .into_iter()
        .filter(|v| labels.matches_labels(&v.pod.metadata.labels))
        .filter(|v| {
            let phase = format!("{:?}", v.status.phase);
            fields.matches(|k| match k {
                "metadata.name" => Some(v.pod.metadata.name.as_str()),
                "metadata.namespace" => Some(v.pod.namespace()),
                "spec.nodeName" => Some(node),
                "status.phase" => Some(phase.as_str()),
                _ => None,
            })
        })
        .collect();
    respond(views, node, headers)
}

/// `GET /api/v1/namespaces/NS/pods/NAME`.
pub fn get(daemon: &Daemon, namespace: &str, name: &str, headers: &HeaderMap) -> Reply {
    let view = daemon.get(namespace, name)?;
    let node = daemon.node_name();
    if table::wanted(headers) {
        return Ok(table::response(table::POD_COLUMNS, vec![row(&view, node)], None));
    }
    Ok(body::json(StatusCode::OK, &pod(&view, node)))
}

fn respond(views: Vec<PodView>, node: &str, headers: &HeaderMap) -> Reply {
    if table::wanted(headers) {
        let rows = views.iter().map(|v| row(v, node)).collect();
        return Ok(table::response(table::POD_COLUMNS, rows, None));
    }
    let items = views.iter().map(|v| pod(v, node)).collect();
    Ok(body::json(StatusCode::OK, &List::v1("PodList", items)))
}

/// One Table row of `get pods`.
fn row(v: &PodView, node: &str) -> crate::api::kube::wire::TableRow {
    let cols = columns(&v.pod, &v.status);
    let ip = v.status.pod_ip.map(|ip| ip.to_string()).unwrap_or_else(|| "<none>".into());
    let cells = vec![
        v.pod.metadata.name.clone().into(),
        cols.ready.into(),
        cols.status.into(),
        cols.restarts.to_string().into(),
        age(v.applied_at).into(),
        ip.into(),
        node.into(),
        "<none>".into(),
        "<none>".into(),
    ];
    table::row(cells, metadata(v))
}
