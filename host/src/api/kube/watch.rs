//! `GET …/pods?watch=true`: newline-delimited `{"type": "ADDED|MODIFIED|DELETED|BOOKMARK",
//! "object": …}` over a chunked response, as kubectl's `get -w`, `delete` and `wait`
//! read it.
//!
//! * `resourceVersion=RV` (RV > 0): the changes after RV (410 `Expired` when RV is
//!   older than the history kept: the client lists again).
//! * no `resourceVersion`, `resourceVersion=0`, or `sendInitialEvents=true` (the
//!   watch-list of kubectl 1.37): an `ADDED` for each pod first; with
//!   `sendInitialEvents` then a `BOOKMARK` with the `k8s.io/initial-events-end`
//!   annotation, at the revision the initial events show.
//! * `timeoutSeconds`: the stream ends then (default 30 minutes).
//! * the object of each event is a Table of one row when the client asked for
//!   Tables (`kubectl get pods -w`).
//!
//! The stream ends when the client goes away (the task waits on the response
//! body's receiver), when the timeout passes, or when the client fell so far behind
//! that changes were lost (it watches again from its last revision).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use hyper::{header, HeaderMap, Response, StatusCode};
use serde_json::{json, Value};
use tokio::sync::broadcast::error::RecvError;

use super::pods::{object, row, PodFilter};
use super::status::KubeError;
use super::table;
use crate::api::body::{self, Body};
use crate::daemon::changes::{ChangeKind, PodChange};
use crate::daemon::views::PodView;
use crate::daemon::Daemon;

/// How long a watch lasts without `timeoutSeconds`.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30 * 60);

type Reply = Result<Response<Body>, KubeError>;

/// Is this list request a watch?
pub fn requested(query: &HashMap<String, String>) -> bool {
    query.get("watch").is_some_and(|w| w == "true" || w == "1")
}

/// Serves a watch of pods.
pub fn pods(daemon: &Arc<Daemon>, namespace: Option<&str>, query: &HashMap<String, String>, headers: &HeaderMap) -> Reply {
    let filter = PodFilter::of(daemon, namespace, query)?;
    let since = match query.get("resourceVersion").map(String::as_str) {
        None | Some("") | Some("0") => None,
        Some(rv) => Some(rv.parse::<u64>().map_err(|_| KubeError::bad_request(format!("resourceVersion {rv:?} is not a resourceVersion this server handed out")))?),
    };
    let initial_end = query.get("sendInitialEvents").is_some_and(|v| v == "true");
    let timeout = match query.get("timeoutSeconds") {
        None => DEFAULT_TIMEOUT,
        Some(s) => Duration::from_secs(s.parse().map_err(|_| KubeError::bad_request(format!("timeoutSeconds {s:?} is not a number of seconds")))?),
    };
    let tables = table::wanted(headers);
    let start = match (initial_end, since) {
        (false, Some(rv)) => daemon.changes.watch(Some(rv)),
        _ => daemon.changes.watch(None),
    }
    .map_err(|too_old| {
        KubeError::new(StatusCode::GONE, "Expired", format!("too old resource version: {} ({})", since.unwrap_or(0), too_old.oldest))
    })?;
    let guard = daemon.changes.watching();
    let encode = Encoder { daemon: daemon.clone(), tables };
    // The initial events: every pod now, at the revision of its last change
    // (a later change of it comes through the receiver and is not sent twice).
    let mut lines: Vec<Bytes> = Vec::new();
    let mut shown: HashMap<String, u64> = HashMap::new();
    if since.is_none() || initial_end {
        for v in daemon.list(filter.namespace.as_deref()).iter().filter(|v| filter.matches(v)) {
            let revision = daemon.changes.revision_of(v.pod.uid()).unwrap_or(start.revision);
            shown.insert(v.pod.uid().to_string(), revision);
            lines.push(encode.event("ADDED", v, revision));
        }
    }
    if initial_end {
        let bookmark = json!({"kind": "Pod", "apiVersion": "v1", "metadata": {
            "resourceVersion": start.revision.to_string(), "annotations": {"k8s.io/initial-events-end": "true"}}});
        lines.push(line(&json!({"type": "BOOKMARK", "object": bookmark})));
    }
    for change in start.backlog.iter().filter(|c| filter.matches(&c.view)) {
        lines.push(encode.change(change));
    }
    let (tx, mut response) = body::stream();
    response.headers_mut().insert(header::CONTENT_TYPE, "application/json".parse().expect("a valid header"));
    let mut receiver = start.receiver;
    tokio::spawn(async move {
        let _guard = guard;
        let deadline = tokio::time::sleep(timeout);
        tokio::pin!(deadline);
        for l in lines {
            if tx.send(l).await.is_err() {
                return;
            }
        }
        loop {
            let change = tokio::select! {
                _ = tx.closed() => return,
                _ = &mut deadline => return,
                received = receiver.recv() => match received {
                    Ok(change) => change,
                    // Lost changes: end, the client watches again from what it saw.
                    Err(RecvError::Lagged(_)) | Err(RecvError::Closed) => return,
                },
            };
            let seen = shown.get(change.view.pod.uid()).is_some_and(|rv| change.revision <= *rv);
            if seen || !filter.matches(&change.view) {
                continue;
            }
            tokio::select! {
                _ = &mut deadline => return,
                sent = tx.send(encode.change(&change)) => if sent.is_err() { return },
            }
        }
    });
    Ok(response)
}

/// Writes watch events: the pod, or a Table of its row.
struct Encoder {
    daemon: Arc<Daemon>,
    tables: bool,
}

impl Encoder {
    /// An event of `kind` showing `v` at `revision`.
    fn event(&self, kind: &str, v: &PodView, revision: u64) -> Bytes {
        let object = if self.tables {
            table::value(table::POD_COLUMNS, vec![row(&self.daemon, v)], Some(revision.to_string()))
        } else {
            let mut pod = object(&self.daemon, v);
            pod.metadata.resource_version = Some(revision.to_string());
            serde_json::to_value(pod).expect("pods serialise")
        };
        line(&json!({"type": kind, "object": object}))
    }

    fn change(&self, change: &PodChange) -> Bytes {
        let kind = match change.kind {
            ChangeKind::Added => "ADDED",
            ChangeKind::Modified => "MODIFIED",
            ChangeKind::Deleted => "DELETED",
        };
        self.event(kind, &change.view, change.revision)
    }
}

fn line(v: &Value) -> Bytes {
    let mut bytes = serde_json::to_vec(v).expect("JSON values serialise");
    bytes.push(b'\n');
    Bytes::from(bytes)
}
