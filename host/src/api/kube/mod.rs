//! The slice of the Kubernetes API that kubectl (and client libraries) need to
//! drive hooklet, in the wire format of core `v1` (see README, "The Kubernetes API"):
//!
//! | method | path | what |
//! |---|---|---|
//! | GET | `/version` | the version hooklet follows (1.37) |
//! | GET | `/api`, `/apis`, `/api/v1` | discovery, legacy or aggregated by `Accept` |
//! | GET | `/api/v1/pods`, `/api/v1/namespaces/NS/pods[/NAME]` | `PodList`/`Pod`, or a Table; `?watch=true` ([`watch`]) |
//! | POST | `/api/v1/namespaces/NS/pods` | create ([`write`]) |
//! | PATCH, DELETE | `/api/v1/namespaces/NS/pods/NAME` | server-side or client-side apply; delete with `DeleteOptions` |
//! | GET | `/api/v1/namespaces/NS/pods/NAME/log` | a container's log, or its stream ([`logs`]) |
//! | GET, POST | `/api/v1/namespaces/NS/pods/NAME/exec` | a command in a running container over a WebSocket ([`exec`]) |
//! | GET | `/openapi/v3`, `/openapi/v3/api/v1` | what kubectl needs to validate on the server ([`openapi`]) |
//! | GET | `/api/v1/events`, `/api/v1/namespaces/NS/events` | `EventList` (`fieldSelector` on `involvedObject.*`), or a Table |
//! | GET | `/api/v1/nodes[/NAME]` | this node |
//! | GET | `/api/v1/namespaces[/NAME]` | the namespaces in use |
//!
//! Every error is a `metav1.Status`. Query parameters the apiserver takes and
//! hooklet has no use for (`limit`, `timeout`, `pretty`, …) are ignored, as the
//! apiserver ignores unknown ones.

pub mod discovery;
pub mod events;
mod exec;
mod logs;
pub mod node;
pub mod openapi;
pub mod pod;
mod pods;
mod remotecommand;
pub mod selector;
pub mod status;
pub mod table;
mod watch;
pub mod wire;
/// Public (hidden) only for the fuzz targets (`fuzz/`, FUZZING.md): its pure parts, the
/// body readers and the merge patch. Not a stable API.
#[doc(hidden)]
pub mod write;

use std::collections::HashMap;
use std::sync::Arc;

use hyper::body::Incoming;
use hyper::{HeaderMap, Method, Request, Response, StatusCode};

use crate::api::body::{self, Body};
use crate::daemon::Daemon;
use status::KubeError;
pub use status::unauthorized;

/// Is `path` one of the Kubernetes API's (rather than hooklet's own `/v1`)?
pub fn handles(path: &str) -> bool {
    matches!(path.trim_start_matches('/').split('/').next(), Some("api" | "apis" | "version" | "openapi"))
}

/// Answers one request on a Kubernetes path.
pub async fn route(daemon: &Arc<Daemon>, req: Request<Incoming>) -> Response<Body> {
    let path = req.uri().path().to_string();
    let result = match crate::api::routes::parse_query(req.uri().query().unwrap_or("")) {
        Ok(query) => dispatch(daemon, &path, &query, req).await,
        Err(err) => Err(KubeError::from(err)),
    };
    result.unwrap_or_else(|e| e.response())
}

async fn dispatch(daemon: &Arc<Daemon>, path: &str, query: &HashMap<String, String>, req: Request<Incoming>) -> Result<Response<Body>, KubeError> {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let method = req.method().clone();
    match (&method, segments.as_slice()) {
        (&Method::GET | &Method::POST, ["api", "v1", "namespaces", ns, "pods", name, "exec"]) => exec::exec(daemon, ns, name, query, req),
        (&Method::GET, _) => read(daemon, &segments, path, query, req.headers()),
        (&Method::POST, ["api", "v1", "namespaces", ns, "pods"]) => write::create(daemon, ns, query, req).await,
        (&Method::PATCH, ["api", "v1", "namespaces", ns, "pods", name]) => write::patch(daemon, ns, name, query, req).await,
        (&Method::DELETE, ["api", "v1", "namespaces", ns, "pods", name]) => write::delete(daemon, ns, name, query, req).await,
        _ if known_resource(&segments) => Err(KubeError::method_not_allowed(&method, path)),
        _ => Err(KubeError::no_resource(path)),
    }
}

fn read(daemon: &Arc<Daemon>, segments: &[&str], path: &str, query: &HashMap<String, String>, headers: &HeaderMap) -> Result<Response<Body>, KubeError> {
    match segments {
        ["version"] => Ok(body::json(StatusCode::OK, &discovery::version())),
        ["api"] => Ok(discovery::api(headers)),
        ["apis"] => Ok(discovery::apis(headers)),
        ["api", "v1"] => Ok(body::json(StatusCode::OK, &discovery::api_v1())),
        ["openapi", "v3"] => Ok(body::json(StatusCode::OK, &openapi::index())),
        ["openapi", "v3", "api", "v1"] => Ok(body::json(StatusCode::OK, &openapi::api_v1())),
        ["api", "v1", "pods"] if watch::requested(query) => watch::pods(daemon, None, query, headers),
        ["api", "v1", "namespaces", ns, "pods"] if watch::requested(query) => watch::pods(daemon, Some(ns), query, headers),
        ["api", "v1", "pods"] => pods::list(daemon, None, query, headers),
        ["api", "v1", "namespaces", ns, "pods"] => pods::list(daemon, Some(ns), query, headers),
        ["api", "v1", "namespaces", ns, "pods", name] => pods::get(daemon, ns, name, headers),
        ["api", "v1", "namespaces", ns, "pods", name, "log"] => logs::log(daemon, ns, name, query),
        ["api", "v1", "events"] => list_events(daemon, None, query, headers),
        ["api", "v1", "namespaces", ns, "events"] => list_events(daemon, Some(ns), query, headers),
        ["api", "v1", "nodes"] => node::nodes(daemon, None, headers),
        ["api", "v1", "nodes", name] => node::nodes(daemon, Some(name), headers),
        ["api", "v1", "namespaces"] => node::namespaces(daemon, None, headers),
        ["api", "v1", "namespaces", name] => node::namespaces(daemon, Some(name), headers),
        _ => Err(KubeError::no_resource(path)),
    }
}

/// A path of a resource hooklet serves (for 405 rather than 404 on other verbs).
fn known_resource(segments: &[&str]) -> bool {
    match segments {
        ["api", "v1", resource, ..] if ["pods", "events", "nodes", "namespaces"].contains(resource) => true,
        ["api", "v1", "namespaces", _, resource, ..] => ["pods", "events"].contains(resource),
        _ => false,
    }
}

/// `GET …/events`: an `EventList` or a Table.
fn list_events(daemon: &Daemon, namespace: Option<&str>, query: &HashMap<String, String>, headers: &HeaderMap) -> Result<Response<Body>, KubeError> {
    if query.get("watch").is_some_and(|w| w == "true" || w == "1") {
        return Err(KubeError::new(StatusCode::METHOD_NOT_ALLOWED, "MethodNotAllowed", "watching events is not supported by this hooklet; list them"));
    }
    let fields = events::selector(query.get("fieldSelector").map(String::as_str))?;
    let node = daemon.node_name();
    let items: Vec<wire::Event> = daemon
        .events(None, None)?
        .iter()
        .map(|e| events::event(e, node))
        .filter(|e| events::matches(e, namespace, &fields))
        .collect();
    if table::wanted(headers) {
        let rows = items.iter().map(event_row).collect();
        return Ok(table::response(table::EVENT_COLUMNS, rows, None));
    }
    Ok(body::json(StatusCode::OK, &wire::List::v1("EventList", items)))
}

fn event_row(e: &wire::Event) -> wire::TableRow {
    let since = |t: &str| {
        humantime::parse_rfc3339(t).map(crate::printers::age).unwrap_or_else(|_| "<unknown>".into())
    };
    let o = &e.involved_object;
    let cells = vec![
        since(&e.last_timestamp).into(),
        e.event_type.clone().into(),
        e.reason.clone().into(),
        format!("{}/{}", o.kind.to_lowercase(), o.name).into(),
        o.field_path.clone().unwrap_or_default().into(),
        format!("{}, {}", e.source.component, e.source.host).into(),
        e.message.clone().into(),
        since(&e.first_timestamp).into(),
        e.count.to_string().into(),
        e.metadata.name.clone().into(),
    ];
    table::row(cells, e.metadata.clone())
}
