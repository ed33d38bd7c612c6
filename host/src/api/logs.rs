//! Serving a container's log, for both faces of the API: hooklet's `/v1/…/log` and
//! the Kubernetes `pods/log`. The parameters are `PodLogOptions`' (`container`,
//! `follow`, `previous`, `tailLines`, `sinceSeconds` / `sinceTime`, `timestamps`,
//! `limitBytes`, `stream`), the answer `text/plain`.
//!
//! With `follow` the answer streams: the log now, then each line as it is written,
//! until the client goes away or the log ends. Where it ends is the one difference
//! between the faces ([`FollowUntil`]): the kubelet ends with the container instance,
//! hooklet's own `logs -f` goes on across the container's restarts until the pod can
//! write no more.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use hyper::{header, Response};

use super::body::{self, Body};
use super::query::{flag, number, BadParam};
use crate::daemon::error::DaemonError;
use crate::daemon::{Daemon, LogTarget, LOG_TAIL};
use crate::runtime::logs::follow::Follower;
use crate::runtime::logs::{parse_stream, LogOptions};

/// How often a followed log is looked at for new lines.
const FOLLOW_EVERY: Duration = Duration::from_millis(100);

/// A log request's parameters.
#[derive(Debug, Clone, Default)]
pub struct LogRequest {
    pub container: Option<String>,
    pub options: LogOptions,
    pub limit_bytes: Option<u64>,
    pub follow: bool,
    pub previous: bool,
}

impl LogRequest {
    /// The query parameters a log request takes.
    pub const PARAMS: &'static [&'static str] =
        &["container", "timestamps", "tailLines", "stream", "follow", "previous", "sinceSeconds", "sinceTime", "limitBytes"];

    /// The parameters of `query`.
    pub fn parse(query: &HashMap<String, String>) -> Result<LogRequest, BadParam> {
        let since = match (number(query, "sinceSeconds")?, query.get("sinceTime")) {
            (Some(_), Some(_)) => return Err(BadParam::new("sinceSeconds", "at most one of sinceTime or sinceSeconds may be specified".into())),
            // Further back than the clock goes is the whole log.
            (Some(s), None) => Some(SystemTime::now().checked_sub(Duration::from_secs(s)).unwrap_or(SystemTime::UNIX_EPOCH)),
            (None, Some(t)) => Some(humantime::parse_rfc3339_weak(t).map_err(|e| BadParam::new("sinceTime", format!("sinceTime {t:?} is not an RFC 3339 time: {e}")))?),
            (None, None) => None,
        };
        let stream = match query.get("stream") {
            Some(s) => parse_stream(s).map_err(|e| BadParam::new("stream", e))?,
            None => None,
        };
        let tail_lines = number(query, "tailLines")?.map(|n| n as usize);
        Ok(LogRequest {
            container: query.get("container").cloned(),
            options: LogOptions { timestamps: flag(query, "timestamps")?, tail_lines, stream, since, until: None },
            limit_bytes: number(query, "limitBytes")?,
            follow: flag(query, "follow")?,
            previous: flag(query, "previous")?,
        })
    }
}

/// Where a followed log ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FollowUntil {
    /// When the container instance followed stops running (the kubelet's).
    InstanceStops,
    /// When the pod can write no more: gone, finished, or deleted (hooklet's `logs -f`).
    PodEnds,
}

/// Serves a log request.
pub fn serve(daemon: &Arc<Daemon>, namespace: &str, name: &str, request: &LogRequest, until: FollowUntil) -> Result<Response<Body>, DaemonError> {
    let target = daemon.log_target(namespace, name, request.container.as_deref(), request.previous)?;
    let limit_bytes = request.limit_bytes;
    let cap = move |mut bytes: Vec<u8>, sent: u64| {
        if let Some(limit) = limit_bytes {
            bytes.truncate(limit.saturating_sub(sent) as usize);
        }
        bytes
    };
    let Some(path) = target.path.clone() else { return Ok(body::text("text/plain", Vec::new())) };
    // The previous instance has ended: there is nothing to follow.
    if !request.follow || request.previous {
        return Ok(body::text("text/plain", cap(target.read(&request.options)?, 0)));
    }
    let instance = daemon.running_instance(namespace, name, &target.container);
    let ended = Ended { daemon: daemon.clone(), namespace: namespace.to_string(), name: name.to_string(), until, instance };
    let (now, mut follower) = Follower::start(&path, &target.options(&request.options), LOG_TAIL).map_err(DaemonError::internal)?;
    let (tx, mut response) = body::stream();
    response.headers_mut().insert(header::CONTENT_TYPE, "text/plain".parse().expect("a valid header"));
    let LogTarget { container, .. } = target;
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
            if ended.is_ended(&container) {
                // What was followed has stopped; its monitor completed the log before
                // its exit was seen: the last of it, and end.
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
                    tracing::warn!(pod = %ended.name, %container, "following the log: {err}");
                    return;
                }
            };
        }
    });
    Ok(response)
}

/// Whether a followed log has ended.
struct Ended {
    daemon: Arc<Daemon>,
    namespace: String,
    name: String,
    until: FollowUntil,
    /// The instance running when the follow began.
    instance: Option<String>,
}

impl Ended {
    fn is_ended(&self, container: &str) -> bool {
        match self.until {
            FollowUntil::InstanceStops => {
                self.instance.is_none() || self.daemon.running_instance(&self.namespace, &self.name, container) != self.instance
            }
            FollowUntil::PodEnds => self.daemon.pod_output_ended(&self.namespace, &self.name),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found writing the fuzz target `api_request` (FUZZING.md): a `sinceSeconds` further back than the clock
    /// goes overflowed the time it subtracts from, and the request's task panicked.
    #[test]
    fn since_seconds_beyond_the_clock_means_the_whole_log() {
        let query: HashMap<String, String> = [("sinceSeconds".to_string(), u64::MAX.to_string())].into();
        let request = LogRequest::parse(&query).unwrap();
        assert_eq!(request.options.since, Some(SystemTime::UNIX_EPOCH));
    }
}
