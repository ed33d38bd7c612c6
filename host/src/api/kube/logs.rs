//! `GET /api/v1/namespaces/NS/pods/NAME/log`: a container's log as kubectl reads it
//! (`container`, `follow`, `tailLines`, `sinceSeconds` / `sinceTime`, `timestamps`,
//! `limitBytes`, and `stream`), `text/plain`. `previous` is refused: hooklet keeps one
//! log per container across its restarts (it holds the previous instances' output).
//!
//! With `follow` the answer streams: the log now, then each line written, until the
//! container instance stops running, the pod is gone, or the client goes away.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use hyper::{header, Response};

use super::status::KubeError;
use crate::api::body::{self, Body};
use crate::daemon::Daemon;
use crate::lifecycle::ContainerState;
use crate::runtime::logs::follow::Follower;
use crate::runtime::logs::{parse_stream, LogOptions};

/// How often a followed log is looked at for new lines.
const FOLLOW_EVERY: Duration = Duration::from_millis(100);

type Reply = Result<Response<Body>, KubeError>;

fn flag(query: &HashMap<String, String>, name: &str) -> Result<bool, KubeError> {
    match query.get(name).map(String::as_str) {
        None | Some("false") | Some("0") => Ok(false),
        Some("true") | Some("1") | Some("") => Ok(true),
        Some(other) => Err(KubeError::bad_request(format!("{name} must be true or false, not {other:?}"))),
    }
}

fn number(query: &HashMap<String, String>, name: &str) -> Result<Option<u64>, KubeError> {
    query
        .get(name)
        .map(|v| v.parse::<u64>().map_err(|_| KubeError::bad_request(format!("{name} must be a whole number of 0 or more, not {v:?}"))))
        .transpose()
}

/// The options of a log request.
fn options(query: &HashMap<String, String>) -> Result<(LogOptions, Option<u64>), KubeError> {
    if flag(query, "previous")? {
        return Err(KubeError::bad_request(
            "previous is not supported by hooklet: a container's log holds the output of all its instances (`kubectl logs` without --previous shows it)",
        ));
    }
    let since = match (number(query, "sinceSeconds")?, query.get("sinceTime")) {
        (Some(_), Some(_)) => return Err(KubeError::bad_request("at most one of sinceTime or sinceSeconds may be specified")),
        (Some(s), None) => Some(SystemTime::now() - Duration::from_secs(s)),
        (None, Some(t)) => Some(humantime::parse_rfc3339_weak(t).map_err(|e| KubeError::bad_request(format!("sinceTime {t:?} is not an RFC 3339 time: {e}")))?),
        (None, None) => None,
    };
    let stream = match query.get("stream") {
        Some(s) => parse_stream(s).map_err(KubeError::bad_request)?,
        None => None,
    };
    let tail_lines = number(query, "tailLines")?.map(|n| n as usize);
    let options = LogOptions { timestamps: flag(query, "timestamps")?, tail_lines, stream, since };
    Ok((options, number(query, "limitBytes")?))
}

/// Serves a log request.
pub fn log(daemon: &Arc<Daemon>, namespace: &str, name: &str, query: &HashMap<String, String>) -> Reply {
    let (options, limit_bytes) = options(query)?;
    let (container, path) = daemon.log_file(namespace, name, query.get("container").map(String::as_str))?;
    let cap = move |mut bytes: Vec<u8>, sent: u64| {
        if let Some(limit) = limit_bytes {
            bytes.truncate(limit.saturating_sub(sent) as usize);
        }
        bytes
    };
    let Some(path) = path else { return Ok(body::text("text/plain", Vec::new())) };
    if !flag(query, "follow")? {
        let log = crate::runtime::logs::read(&path, &options, crate::daemon::LOG_TAIL).map_err(|e| KubeError::internal(e.to_string()))?;
        return Ok(body::text("text/plain", cap(log, 0)));
    }
    let instance = running_instance(daemon, namespace, name, &container);
    let (now, mut follower) = Follower::start(&path, &options, crate::daemon::LOG_TAIL).map_err(|e| KubeError::internal(e.to_string()))?;
    let (tx, mut response) = body::stream();
    response.headers_mut().insert(header::CONTENT_TYPE, "text/plain".parse().expect("a valid header"));
    let (daemon, namespace, name) = (daemon.clone(), namespace.to_string(), name.to_string());
    tokio::spawn(async move {
        let mut sent = 0u64;
        let mut chunk = now;
        loop {
            let bytes = cap(chunk, sent);
            sent += bytes.len() as u64;
            if !bytes.is_empty() && tx.send(Bytes::from(bytes)).await.is_err() {
                return;
            }
            if limit_bytes.is_some_and(|l| sent >= l) {
                return;
            }
            if instance.is_none() || running_instance(&daemon, &namespace, &name, &container) != instance {
                // The instance followed has stopped (or the pod is gone); its monitor
                // completed the log before its exit was seen: the last of it, and end.
                let last = cap(follower.next().unwrap_or_default(), sent);
                if !last.is_empty() {
                    let _ = tx.send(Bytes::from(last)).await;
                }
                return;
            }
            tokio::select! {
                _ = tx.closed() => return,
                _ = tokio::time::sleep(FOLLOW_EVERY) => {}
            }
            chunk = match follower.next() {
                Ok(bytes) => bytes,
                Err(err) => {
                    tracing::warn!(pod = %name, %container, "following the log: {err}");
                    return;
                }
            };
        }
    });
    Ok(response)
}

/// The id of the container's instance while it runs.
fn running_instance(daemon: &Daemon, namespace: &str, name: &str, container: &str) -> Option<String> {
    let pod = daemon.pod_status(namespace, name)?;
    let status = pod.container(container)?;
    matches!(status.state, ContainerState::Running { .. }).then(|| status.container_id.clone().unwrap_or_default())
}
