//! Changing pods through the Kubernetes paths: `POST` (create, and client-side
//! apply of a new pod), `PATCH` (server-side apply; client-side apply of a changed
//! pod) and `DELETE` with `DeleteOptions`. hooklet does not update pods in place:
//! a patch that would change a pod is refused with a `Conflict` that says so.

use std::collections::HashMap;
use std::sync::Arc;

use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::{Request, Response, StatusCode};
use serde_json::{Map, Value};

use super::pods::object;
use super::status::KubeError;
use crate::api::body::{self, Body};
use crate::daemon::Daemon;

type Reply = Result<Response<Body>, KubeError>;

/// The filename hooklet's validation errors name for a request body.
const BODY: &str = "request body";

/// `POST /api/v1/namespaces/NS/pods`.
pub async fn create(daemon: &Arc<Daemon>, namespace: &str, query: &HashMap<String, String>, req: Request<Incoming>) -> Reply {
    no_dry_run(query)?;
    let pod = pod_body(req, namespace, None).await?;
    let applied = daemon.create(&pod.text, BODY).await?;
    respond(daemon, namespace, &pod.name, StatusCode::CREATED, &applied.warnings)
}

/// `PATCH /api/v1/namespaces/NS/pods/NAME`.
pub async fn patch(daemon: &Arc<Daemon>, namespace: &str, name: &str, query: &HashMap<String, String>, req: Request<Incoming>) -> Reply {
    no_dry_run(query)?;
    let content_type = req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    let media = content_type.split(';').next().unwrap_or("").trim();
    match media {
        // Server-side apply: the whole object; created, or compared with the pod.
        "application/apply-patch+yaml" => {
            let pod = pod_body(req, namespace, Some(name)).await?;
            let applied = daemon.apply(&pod.text, BODY).await?;
            let created = applied.pods.iter().any(|p| p.result == "created");
            respond(daemon, namespace, name, if created { StatusCode::CREATED } else { StatusCode::OK }, &applied.warnings)
        }
        "application/strategic-merge-patch+json" | "application/merge-patch+json" => {
            let patch = json_body(req).await?;
            let view = daemon.get(namespace, name)?;
            let current = serde_json::to_value(&view.pod).map_err(|e| KubeError::bad_request(e.to_string()))?;
            let mut merged = current.clone();
            merge(&mut merged, &patch);
            let (current, merged) = (without_last_applied(current), without_last_applied(merged));
            if let Some(field) = first_change(&current, &merged, "") {
                return Err(KubeError::new(
                    StatusCode::CONFLICT,
                    "Conflict",
                    format!("pods {name:?}: the patch changes {field}; hooklet does not update pods in place: delete the pod (`kubectl delete pod {name} -n {namespace}`) and apply again"),
                ));
            }
            respond(daemon, namespace, name, StatusCode::OK, &[])
        }
        other => Err(KubeError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UnsupportedMediaType",
            format!("the body of the request was in an unknown format ({other:?}); accepted media types include: application/apply-patch+yaml, application/strategic-merge-patch+json, application/merge-patch+json"),
        )),
    }
}

/// `DELETE /api/v1/namespaces/NS/pods/NAME` with an optional `DeleteOptions` body
/// (`gracePeriodSeconds`, `preconditions.uid`); `?gracePeriodSeconds=` too.
pub async fn delete(daemon: &Arc<Daemon>, namespace: &str, name: &str, query: &HashMap<String, String>, req: Request<Incoming>) -> Reply {
    no_dry_run(query)?;
    let bytes = body::read_limited(req).await?;
    let options = if bytes.iter().all(u8::is_ascii_whitespace) { Value::Object(Map::new()) } else { parse_json(&bytes)? };
    let Some(options) = options.as_object() else {
        return Err(KubeError::bad_request("the DeleteOptions body must be a JSON object"));
    };
    let grace = match (options.get("gracePeriodSeconds"), query.get("gracePeriodSeconds")) {
        (Some(Value::Null) | None, None) => None,
        (Some(v), _) if !v.is_null() => Some(v.as_i64().ok_or_else(|| KubeError::bad_request(format!("gracePeriodSeconds must be a whole number of seconds, not {v}")))?),
        (_, Some(q)) => Some(q.parse::<i64>().map_err(|_| KubeError::bad_request(format!("gracePeriodSeconds must be a whole number of seconds, not {q:?}")))?),
        _ => None,
    };
    if let Some(uid) = options.get("preconditions").and_then(|p| p.get("uid")).and_then(Value::as_str) {
        let view = daemon.get(namespace, name)?;
        if uid != view.pod.uid() {
            return Err(KubeError::new(
                StatusCode::CONFLICT,
                "Conflict",
                format!("Precondition failed: UID in precondition: {uid}, UID in object meta: {}", view.pod.uid()),
            ));
        }
    }
    let view = daemon.delete(namespace, name, grace).await?;
    Ok(body::json(StatusCode::OK, &object(daemon, &view)))
}

/// The answer to a create or apply: the pod now, and hooklet's warnings as
/// `Warning` headers (kubectl prints each as `Warning: …`).
fn respond(daemon: &Daemon, namespace: &str, name: &str, status: StatusCode, warnings: &[String]) -> Reply {
    let view = daemon.get(namespace, name)?;
    let mut response = body::json(status, &object(daemon, &view));
    for warning in warnings {
        let text = warning.replace('\\', "\\\\").replace('"', "\\\"");
        let value = format!("299 - \"{}\"", text.chars().filter(|c| c.is_ascii() && !c.is_ascii_control()).collect::<String>());
        if let Ok(value) = HeaderValue::from_str(&value) {
            response.headers_mut().append(header::WARNING, value);
        }
    }
    Ok(response)
}

/// hooklet has no dry run: say so rather than change something.
fn no_dry_run(query: &HashMap<String, String>) -> Result<(), KubeError> {
    match query.get("dryRun") {
        Some(v) if !v.is_empty() => Err(KubeError::bad_request("dryRun is not supported by hooklet; run the command without --dry-run=server")),
        _ => Ok(()),
    }
}

/// A Pod from a request body, as JSON text for the daemon's manifest reader.
pub struct PodBody {
    /// The object as JSON, its namespace filled in.
    pub text: String,
    /// Its `metadata.name` ("" when it has none).
    pub name: String,
}

/// Reads a body that must be one Pod (JSON, or YAML for curl users) in `namespace`
/// (filled in when the object names none), named `name` when given.
async fn pod_body(req: Request<Incoming>, namespace: &str, name: Option<&str>) -> Result<PodBody, KubeError> {
    pod_object(json_body(req).await?, namespace, name)
}

/// [`pod_body`] once the body is parsed: `value` must be a Pod in `namespace`, named
/// `name` when given.
pub fn pod_object(mut value: Value, namespace: &str, name: Option<&str>) -> Result<PodBody, KubeError> {
    let Some(object) = value.as_object_mut() else {
        return Err(KubeError::bad_request("the body must be a Pod object"));
    };
    match object.get("kind").and_then(Value::as_str) {
        Some("Pod") => {}
        Some(other) => return Err(KubeError::bad_request(format!("the body is a {other:?}, not a Pod: this path takes Pods"))),
        None => return Err(KubeError::bad_request("Object 'Kind' is missing in the body: it must be a Pod (kind: Pod, apiVersion: v1)")),
    }
    let metadata = object.entry("metadata").or_insert_with(|| Value::Object(Map::new()));
    let Some(metadata) = metadata.as_object_mut() else {
        return Err(KubeError::bad_request("metadata must be an object"));
    };
    match metadata.get("namespace").and_then(Value::as_str) {
        Some(ns) if ns != namespace => {
            return Err(KubeError::bad_request(format!(
                "the namespace of the provided object ({ns}) does not match the namespace sent on the request ({namespace})"
            )))
        }
        Some(_) => {}
        None => {
            metadata.insert("namespace".into(), namespace.into());
        }
    }
    let object_name = metadata.get("name").and_then(Value::as_str).unwrap_or("").to_string();
    if let Some(name) = name.filter(|n| *n != object_name) {
        return Err(KubeError::bad_request(format!("the name of the object ({object_name:?}) does not match the name on the URL ({name:?})")));
    }
    Ok(PodBody { text: value.to_string(), name: object_name })
}

/// A body of at most 1 MiB that is a JSON (or YAML) document.
async fn json_body(req: Request<Incoming>) -> Result<Value, KubeError> {
    let bytes = body::read_limited(req).await?;
    parse_json(&bytes)
}

/// A body that is one JSON (or YAML) document; a 400 saying what is wrong otherwise.
pub fn parse_json(bytes: &[u8]) -> Result<Value, KubeError> {
    let text = std::str::from_utf8(bytes).map_err(|_| KubeError::bad_request("the body is not UTF-8 text"))?;
    if text.trim_start().starts_with('{') {
        return serde_json::from_str(text).map_err(|e| KubeError::bad_request(format!("the body is not valid JSON: {e}")));
    }
    serde_norway::from_str(text).map_err(|e| KubeError::bad_request(format!("the body is neither JSON nor YAML: {e}")))
}

/// A JSON merge patch (RFC 7386) of `patch` onto `target`; the directives of a
/// strategic merge patch (`$patch`, `$setElementOrder/…`, `$retainKeys`) are left out.
pub fn merge(target: &mut Value, patch: &Value) {
    let Some(patch) = patch.as_object() else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let object = target.as_object_mut().expect("made an object");
    for (key, value) in patch {
        if key.starts_with('$') {
            continue;
        }
        if value.is_null() {
            object.remove(key);
        } else {
            merge(object.entry(key.clone()).or_insert(Value::Null), value);
        }
    }
}

/// kubectl's record of the last applied file: it changes with every client-side
/// apply, and says nothing about the pod itself.
const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

fn without_last_applied(mut pod: Value) -> Value {
    if let Some(annotations) = pod.pointer_mut("/metadata/annotations").and_then(Value::as_object_mut) {
        annotations.remove(LAST_APPLIED);
    }
    pod
}

/// The path of the first difference between `a` and `b`.
pub fn first_change(a: &Value, b: &Value, at: &str) -> Option<String> {
    if a == b {
        return None;
    }
    match (a.as_object(), b.as_object()) {
        (Some(a), Some(b)) => {
            let keys = a.keys().chain(b.keys().filter(|k| !a.contains_key(*k)));
            keys.filter_map(|k| {
                let path = if at.is_empty() { k.clone() } else { format!("{at}.{k}") };
                first_change(a.get(k).unwrap_or(&Value::Null), b.get(k).unwrap_or(&Value::Null), &path)
            })
            .next()
        }
        _ => Some(if at.is_empty() { "the object".into() } else { at.to_string() }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_merge_patch_that_changes_nothing_is_found_unchanged() {
        let pod = json!({"metadata": {"name": "p", "labels": {"a": "1"}}, "spec": {"containers": [{"name": "app", "image": "busybox"}]}});
        let mut same = pod.clone();
        merge(&mut same, &json!({"metadata": {"labels": {"a": "1"}}, "spec": {"$setElementOrder/containers": [{"name": "app"}]}}));
        assert_eq!(first_change(&pod, &same, ""), None);
        let mut changed = pod.clone();
        merge(&mut changed, &json!({"spec": {"containers": [{"name": "app", "image": "nginx"}]}}));
        assert_eq!(first_change(&pod, &changed, "").as_deref(), Some("spec.containers"));
        let mut relabelled = pod.clone();
        merge(&mut relabelled, &json!({"metadata": {"labels": {"a": null, "b": "2"}}}));
        assert_eq!(first_change(&pod, &relabelled, "").as_deref(), Some("metadata.labels.a"));
    }
}
