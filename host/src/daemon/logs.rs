//! The daemon's side of `logs`: which container and which part of its log a request
//! is about (the latest instance, or with `previous` the last terminated one, as the
//! kubelet chooses them), and whether a followed log has ended.

use std::path::PathBuf;

use super::error::DaemonError;
use super::pods::pick_container;
use super::Daemon;
use crate::lifecycle::instance_logs::LogWindow;
use crate::lifecycle::{ContainerState, PodPhase};
use crate::runtime::logs::LogOptions;

/// Bytes of a container log returned at most (the end of the file).
pub const LOG_TAIL: usize = 1024 * 1024;

/// The log a request reads.
#[derive(Debug, Clone)]
pub struct LogTarget {
    /// The container (the one named, or the pod's only one).
    pub container: String,
    /// Its log file, if the runtime keeps one.
    pub path: Option<PathBuf>,
    /// The instance's part of that log.
    pub window: LogWindow,
}

impl LogTarget {
    /// `options` narrowed to the instance's part of the log (a `since` of the request
    /// later than the instance's start stays).
    pub fn options(&self, options: &LogOptions) -> LogOptions {
        let since = match (options.since, self.window.since) {
            (Some(asked), Some(start)) => Some(asked.max(start)),
            (asked, start) => asked.or(start),
        };
        LogOptions { since, until: self.window.until, ..options.clone() }
    }

    /// The log as `options` ask, at most [`LOG_TAIL`] bytes from its end; empty when
    /// the runtime keeps no log.
    pub fn read(&self, options: &LogOptions) -> Result<Vec<u8>, DaemonError> {
        match &self.path {
            Some(path) => crate::runtime::logs::read(path, &self.options(options), LOG_TAIL).map_err(DaemonError::internal),
            None => Ok(Vec::new()),
        }
    }
}

impl Daemon {
    /// The log of `container` (or the pod's only one) of pod `namespace/name`: its
    /// latest instance's, or with `previous` its last terminated instance's. An error
    /// (the kubelet's words) when there is no such instance.
    pub fn log_target(&self, namespace: &str, name: &str, container: Option<&str>, previous: bool) -> Result<LogTarget, DaemonError> {
        let entry = self.entry(namespace, name).ok_or_else(|| DaemonError::no_pod(namespace, name))?;
        let pod = entry.handle.pod();
        let container = pick_container(pod, container)?;
        let status = entry.handle.status();
        let window = match status.container(&container) {
            Some(c) => c.log_window(name, previous).map_err(|e| DaemonError::bad_request("container", e))?,
            None => LogWindow::default(),
        };
        let pod_ref = crate::runtime::PodRef {
            uid: pod.uid().to_string(),
            namespace: pod.namespace().to_string(),
            name: pod.metadata.name.clone(),
        };
        let path = self.runtime.log_path(&pod_ref, &container);
        Ok(LogTarget { container, path, window })
    }

    /// The id of the container's instance while it runs (`None` when it does not, or
    /// the pod is gone): a followed instance's log ends when this changes.
    pub fn running_instance(&self, namespace: &str, name: &str, container: &str) -> Option<String> {
        let pod = self.pod_status(namespace, name)?;
        let status = pod.container(container)?;
        matches!(status.state, ContainerState::Running { .. }).then(|| status.container_id.clone().unwrap_or_default())
    }

    /// Whether the pod can have no more output: it is gone, finished (`Succeeded` or
    /// `Failed`), or being deleted with its containers stopped.
    pub fn pod_output_ended(&self, namespace: &str, name: &str) -> bool {
        let Some(status) = self.pod_status(namespace, name) else { return true };
        let running = status.init_containers.iter().chain(&status.containers).any(|c| matches!(c.state, ContainerState::Running { .. }));
        let finished = matches!(status.phase, PodPhase::Succeeded | PodPhase::Failed);
        !running && (finished || status.deletion_requested_at.is_some())
    }
}
