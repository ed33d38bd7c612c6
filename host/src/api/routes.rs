//! Request routing and the endpoint handlers.

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use tokio::sync::broadcast::error::RecvError;

use super::body::{self, Body};
use super::error::ApiError;
use super::types::{ApplyRequest, EventList, HookRunList, NodeList, PluginList, PodList, SecretList};
use crate::daemon::Daemon;
use crate::events::Event;

type Reply = Result<Response<Body>, ApiError>;

/// Dispatches one request.
pub(super) async fn route(daemon: &Arc<Daemon>, req: Request<Incoming>) -> Reply {
    let path = req.uri().path().to_string();
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let query = parse_query(req.uri().query().unwrap_or(""))?;
    let method = req.method().clone();
    match (method.clone(), segments.as_slice()) {
        (Method::GET, ["healthz"]) => {
            known(&query, &[])?;
            Ok(body::json(StatusCode::OK, &serde_json::json!({"status": "ok"})))
        }
        (Method::GET, ["metrics"]) => {
            let text = daemon.metrics.render()
                + &crate::daemon::metrics::Metrics::render_pool(&daemon.node.wasm().pool_stats())
                + &daemon.node.prober().metrics().render()
                + &daemon.render_node_metrics()
                + &crate::daemon::metrics::Metrics::render_runtime()
                + &format!(
                    "# HELP hooklet_api_watches Watches of the Kubernetes API being served.\n# TYPE hooklet_api_watches gauge\nhooklet_api_watches {}\n",
                    daemon.changes.open_watches()
                )
                + &format!(
                    "# HELP hooklet_events_in_memory Events the recorder holds to merge repeats into (the live pods' and the node's).
# TYPE hooklet_events_in_memory gauge
hooklet_events_in_memory {}
",
                    daemon.node.events().len()
                );
            Ok(body::text("text/plain; version=0.0.4", text))
        }
        (Method::GET, ["v1", "pods"]) => {
            known(&query, &["namespace"])?;
            let items = daemon.list(query.get("namespace").map(String::as_str));
            Ok(body::json(StatusCode::OK, &PodList { items }))
        }
        (Method::POST, ["v1", "pods"]) => apply(daemon, req).await,
        (Method::GET, ["v1", "namespaces", ns, "pods", name]) => {
            known(&query, &[])?;
            Ok(body::json(StatusCode::OK, &daemon.get(ns, name)?))
        }
        (Method::DELETE, ["v1", "namespaces", ns, "pods", name]) => {
            known(&query, &["gracePeriodSeconds"])?;
            let grace = match query.get("gracePeriodSeconds") {
                Some(v) => Some(v.parse::<i64>().map_err(|_| {
                    ApiError::bad_request("gracePeriodSeconds", format!("gracePeriodSeconds must be a whole number of seconds, not {v:?}"))
                })?),
                None => None,
            };
            Ok(body::json(StatusCode::ACCEPTED, &daemon.delete(ns, name, grace).await?))
        }
        (Method::GET, ["v1", "namespaces", ns, "pods", name, "log"]) => {
            known(&query, super::logs::LogRequest::PARAMS)?;
            let request = super::logs::LogRequest::parse(&query)?;
            // hooklet's `logs -f` follows the container across its restarts.
            Ok(super::logs::serve(daemon, ns, name, &request, super::logs::FollowUntil::PodEnds)?)
        }
        (Method::GET, ["v1", "namespaces", ns, "pods", name, "hooks"]) => {
            known(&query, &["container"])?;
            let items = daemon.hook_runs(ns, name, query.get("container").map(String::as_str))?;
            Ok(body::json(StatusCode::OK, &HookRunList { items }))
        }
        (Method::GET, ["v1", "secrets"]) => {
            known(&query, &["namespace"])?;
            Ok(body::json(StatusCode::OK, &SecretList { items: daemon.secrets(query.get("namespace").map(String::as_str))? }))
        }
        (Method::GET, ["v1", "namespaces", ns, "secrets", name]) => {
            known(&query, &[])?;
            Ok(body::json(StatusCode::OK, &daemon.secret(ns, name)?))
        }
        (Method::DELETE, ["v1", "namespaces", ns, "secrets", name]) => {
            known(&query, &[])?;
            Ok(body::json(StatusCode::OK, &daemon.delete_secret(ns, name).await?))
        }
        (Method::GET, ["v1", "nodes"]) => {
            known(&query, &[])?;
            Ok(body::json(StatusCode::OK, &NodeList { items: vec![daemon.node_view(false)?] }))
        }
        (Method::GET, ["v1", "nodes", name]) => {
            known(&query, &[])?;
            Ok(body::json(StatusCode::OK, &daemon.node_named(name)?))
        }
        (Method::GET, ["v1", "events"]) => events(daemon, &query),
        (Method::GET, ["v1", "plugins"]) => {
            known(&query, &[])?;
            let plugin_dir = daemon.config.node.wasm.plugin_dir.display().to_string();
            Ok(body::json(StatusCode::OK, &PluginList { plugin_dir, items: daemon.plugins().await? }))
        }
        (_, ["healthz"] | ["metrics"] | ["v1", "pods"] | ["v1", "events"] | ["v1", "plugins"] | ["v1", "secrets"] | ["v1", "nodes", ..])
        | (_, ["v1", "namespaces", _, "pods" | "secrets", _, ..]) => Err(ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            format!("method {method} is not allowed on {path}"),
            Some("method"),
        )),
        _ => Err(ApiError::new(StatusCode::NOT_FOUND, format!("no such endpoint: {path} (see `hooklet serve --help`)"), Some("path"))),
    }
}

async fn apply(daemon: &Arc<Daemon>, req: Request<Incoming>) -> Reply {
    let bytes = body::read_limited(req).await?;
    let request = apply_request(&bytes)?;
    let filename = request.filename.as_deref().unwrap_or("manifest");
    let response = daemon.apply(&request.manifest, filename).await?;
    let created = response.pods.iter().chain(&response.secrets).any(|p| p.result == "created");
    Ok(body::json(if created { StatusCode::CREATED } else { StatusCode::OK }, &response))
}

/// The body of `POST /v1/pods`: `{"manifest": "…", "filename": "…"}`, each wrong field a
/// 400 naming it.
pub fn apply_request(bytes: &[u8]) -> Result<ApplyRequest, ApiError> {
    let value: serde_json::Value = serde_json::from_slice(&bytes)
        .map_err(|e| ApiError::bad_request("body", format!("the body must be a JSON object {{\"manifest\": \"…\"}}: {e}")))?;
    let Some(object) = value.as_object() else {
        return Err(ApiError::bad_request("body", "the body must be a JSON object {\"manifest\": \"…\"}"));
    };
    if let Some(unknown) = object.keys().find(|k| !["manifest", "filename"].contains(&k.as_str())) {
        return Err(ApiError::bad_request(unknown, format!("unknown field {unknown:?}; the fields are \"manifest\" and \"filename\"")));
    }
    if !object.get("manifest").is_some_and(|m| m.is_string()) {
        return Err(ApiError::bad_request("manifest", "\"manifest\" is required: the manifest's text (YAML or JSON) as a string"));
    }
    if object.get("filename").is_some_and(|f| !f.is_string() && !f.is_null()) {
        return Err(ApiError::bad_request("filename", "\"filename\" must be a string"));
    }
    serde_json::from_value(value).map_err(|e| ApiError::bad_request("body", e.to_string()))
}

fn events(daemon: &Arc<Daemon>, query: &HashMap<String, String>) -> Reply {
    known(query, &["namespace", "pod", "watch"])?;
    let namespace = query.get("namespace").cloned();
    let pod = query.get("pod").cloned();
    let watch = super::query::flag(query, "watch")?;
    let matches = move |e: &Event| {
        namespace.as_deref().is_none_or(|ns| e.object.namespace == ns) && pod.as_deref().is_none_or(|p| e.object.name == p)
    };
    if !watch {
        let items: Vec<Event> = daemon.events(None, None)?.into_iter().filter(|e| matches(e)).collect();
        return Ok(body::json(StatusCode::OK, &EventList { items }));
    }
    // Subscribe first so nothing recorded meanwhile is missed.
    let mut rx = daemon.node.events().subscribe();
    let stored = daemon.events(None, None)?;
    let (tx, response) = body::stream();
    tokio::spawn(async move {
        let line = |e: &Event| {
            let mut bytes = serde_json::to_vec(e).expect("events serialise");
            bytes.push(b'\n');
            Bytes::from(bytes)
        };
        for e in stored.iter().filter(|e| matches(e)) {
            if tx.send(line(e)).await.is_err() {
                return;
            }
        }
        loop {
            match rx.recv().await {
                Ok(e) if matches(&e) => {
                    if tx.send(line(&e)).await.is_err() {
                        return;
                    }
                }
                Ok(_) | Err(RecvError::Lagged(_)) => {}
                Err(RecvError::Closed) => return,
            }
        }
    });
    Ok(response)
}

/// Refuses query parameters the endpoint does not know.
fn known(query: &HashMap<String, String>, allowed: &[&str]) -> Result<(), ApiError> {
    match query.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(k) if allowed.is_empty() => Err(ApiError::bad_request(k, format!("unknown query parameter {k:?}: this endpoint takes none"))),
        Some(k) => Err(ApiError::bad_request(k, format!("unknown query parameter {k:?}; known: {}", allowed.join(", ")))),
        None => Ok(()),
    }
}

/// `a=1&b=x%20y` → map, percent-decoded.
pub fn parse_query(query: &str) -> Result<HashMap<String, String>, ApiError> {
    let mut map = HashMap::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let k = decode(k).ok_or_else(|| ApiError::bad_request("query", format!("bad percent-encoding in {pair:?}")))?;
        let v = decode(v).ok_or_else(|| ApiError::bad_request(&k, format!("bad percent-encoding in {pair:?}")))?;
        map.insert(k, v);
    }
    Ok(map)
}

/// Every value of a query parameter that may repeat (`command=sh&command=-c`), in order.
pub fn query_values(query: &str, key: &str) -> Result<Vec<String>, ApiError> {
    let mut values = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        if decode(k).as_deref() == Some(key) {
            values.push(decode(v).ok_or_else(|| ApiError::bad_request(key, format!("bad percent-encoding in {pair:?}")))?);
        }
    }
    Ok(values)
}

/// `s` percent-decoded (`+` is a space), or `None` when it is not valid UTF-8 or `%XX`.
pub fn decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}
