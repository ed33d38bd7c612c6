//! Exec into a pod's container for a client (`kubectl exec`): which running container
//! a request names, and the runtime's exec, the same one exec hooks and probes use.
//! What the command reads and writes goes between the client and the process only:
//! none of it is logged or recorded as an event.

use super::error::DaemonError;
use super::Daemon;
use crate::lifecycle::ContainerState;
use crate::runtime::{ContainerId, ExecRequest, ExecResult};

/// A running container to exec into.
#[derive(Debug, Clone)]
pub struct ExecTarget {
    /// The container's name in the pod.
    pub container: String,
    id: ContainerId,
}

impl Daemon {
    /// The running container `container` (or the pod's only one) of pod
    /// `namespace/name`: NotFound for an unknown pod or container, BadRequest for a
    /// container that is not running.
    pub fn exec_target(&self, namespace: &str, name: &str, container: Option<&str>) -> Result<ExecTarget, DaemonError> {
        let entry = self.entry(namespace, name).ok_or_else(|| DaemonError::no_pod(namespace, name))?;
        let container = super::pods::pick_container(entry.handle.pod(), container)?;
        let status = entry.handle.status();
        let running = status.container(&container).and_then(|c| match (&c.state, &c.container_id) {
            (ContainerState::Running { .. }, Some(id)) => Some(id.split_once("://").map_or(id.as_str(), |(_, id)| id).to_string()),
            _ => None,
        });
        let Some(id) = running else {
            let state = match status.container(&container).map(|c| &c.state) {
                Some(ContainerState::Terminated { exit_code, reason, .. }) => format!("terminated ({reason}, exit code {exit_code})"),
                Some(ContainerState::Waiting { reason, .. }) => format!("waiting ({reason})"),
                _ => "not started".to_string(),
            };
            return Err(DaemonError::bad_request(
                "container",
                format!("cannot exec in a stopped state: container {container:?} of pod {name:?} is {state}; exec needs a running container"),
            ));
        };
        Ok(ExecTarget { container, id: ContainerId(id) })
    }

    /// Runs `request` in the target container and waits for it (dropping the future
    /// kills the command, as for a cancelled exec hook).
    pub async fn exec(&self, target: &ExecTarget, request: ExecRequest) -> anyhow::Result<ExecResult> {
        self.runtime.exec(&target.id, request).await
    }
}
