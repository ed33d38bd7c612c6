//! Pod and container status in the Kubernetes API's shape.

use std::net::IpAddr;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use super::backoff::BackoffState;
use crate::hooks::HookRun;
use crate::runtime::ExitStatus;
use crate::spec::RestartPolicy;

/// `containerStatuses[].state`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", rename_all_fields = "camelCase")]
pub enum ContainerState {
    Waiting {
        reason: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        message: Option<String>,
    },
    Running {
        started_at: SystemTime,
    },
    Terminated {
        exit_code: i32,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        signal: Option<i32>,
        reason: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        message: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        started_at: Option<SystemTime>,
        finished_at: SystemTime,
    },
}

impl ContainerState {
    /// `Waiting` with a reason and optional message.
    pub fn waiting(reason: &str, message: Option<String>) -> Self {
        ContainerState::Waiting {
            reason: reason.to_string(),
            message,
        }
    }

    /// `Terminated` from an observed exit (`OOMKilled`, `Completed` for 0, else `Error`).
    pub fn terminated(exit: &ExitStatus, started_at: Option<SystemTime>) -> Self {
        let reason = match exit.exit_code {
            _ if exit.oom_killed => "OOMKilled",
            0 => "Completed",
            _ => "Error",
        };
        ContainerState::Terminated {
            exit_code: exit.exit_code,
            signal: exit.signal,
            reason: reason.to_string(),
            message: None,
            started_at,
            finished_at: exit.finished_at,
        }
    }

    /// The state's name: Waiting, Running or Terminated.
    pub fn name(&self) -> &'static str {
        match self {
            ContainerState::Waiting { .. } => "Waiting",
            ContainerState::Running { .. } => "Running",
            ContainerState::Terminated { .. } => "Terminated",
        }
    }
}

/// `containerStatuses[]`, plus hooklet's hook records (D4, D8).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerStatus {
    pub name: String,
    pub image: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_id: Option<String>,
    pub state: ContainerState,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_state: Option<ContainerState>,
    /// True once the container runs and its PostStart completed.
    pub started: bool,
    pub restart_count: u32,
    /// The most recent hook runs, oldest first (bounded).
    pub hooks: Vec<HookRun>,
    /// Fuel consumed by all wasm hooks of this container (D8).
    pub wasm_fuel_total: u64,
    /// The CrashLoopBackOff entry, for the daemon to save with the container
    /// (not part of the API view).
    #[serde(skip)]
    pub backoff: Option<BackoffState>,
}

/// `status.phase`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PodPhase {
    Pending,
    Running,
    Succeeded,
    Failed,
}

/// A pod's status.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodStatus {
    pub phase: PodPhase,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_ip: Option<IpAddr>,
    pub containers: Vec<ContainerStatus>,
    /// When deletion was requested, and with which effective grace (seconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deletion_requested_at: Option<SystemTime>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deletion_grace_seconds: Option<u64>,
    /// True once every container is done and the sandbox is gone.
    pub finished: bool,
}

impl PodStatus {
    /// The status of container `name`.
    pub fn container(&self, name: &str) -> Option<&ContainerStatus> {
        self.containers.iter().find(|c| c.name == name)
    }

    /// Recomputes `phase` from the containers (the kubelet's `getPhase`).
    pub fn update_phase(&mut self, policy: RestartPolicy) {
        self.phase = phase_of(&self.containers, policy, self.finished);
    }
}

fn phase_of(containers: &[ContainerStatus], policy: RestartPolicy, finished: bool) -> PodPhase {
    let (mut waiting, mut running, mut stopped, mut succeeded) = (0, 0, 0, 0);
    for c in containers {
        match &c.state {
            ContainerState::Running { .. } => running += 1,
            ContainerState::Terminated { exit_code, .. } => {
                stopped += 1;
                if *exit_code == 0 {
                    succeeded += 1;
                }
            }
            ContainerState::Waiting { .. } => match &c.last_state {
                Some(ContainerState::Terminated { exit_code, .. }) => {
                    stopped += 1;
                    if *exit_code == 0 {
                        succeeded += 1;
                    }
                }
                _ => waiting += 1,
            },
        }
    }
    if waiting > 0 && !finished {
        return PodPhase::Pending;
    }
    if running > 0 {
        return PodPhase::Running;
    }
    if stopped == 0 {
        return if finished { PodPhase::Failed } else { PodPhase::Pending };
    }
    // All stopped: an Always pod restarts them unless it is gone.
    if policy == RestartPolicy::Always && !finished {
        return PodPhase::Running;
    }
    if stopped == succeeded && waiting == 0 {
        PodPhase::Succeeded
    } else if policy == RestartPolicy::OnFailure && !finished {
        PodPhase::Running
    } else {
        PodPhase::Failed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(state: ContainerState, last: Option<ContainerState>) -> ContainerStatus {
        ContainerStatus {
            name: "c".into(),
            image: "i".into(),
            container_id: None,
            state,
            last_state: last,
            started: false,
            restart_count: 0,
            hooks: vec![],
            wasm_fuel_total: 0,
            backoff: None,
        }
    }

    fn exited(code: i32) -> ContainerState {
        ContainerState::terminated(
            &ExitStatus {
                exit_code: code,
                signal: None,
                finished_at: SystemTime::now(),
                oom_killed: false,
            },
            None,
        )
    }

    #[test]
    fn phases_follow_get_phase() {
        use RestartPolicy::*;
        let creating = status(ContainerState::waiting("ContainerCreating", None), None);
        let running = status(ContainerState::Running { started_at: SystemTime::now() }, None);
        let backoff = status(ContainerState::waiting("CrashLoopBackOff", None), Some(exited(1)));
        assert_eq!(phase_of(&[creating.clone()], Always, false), PodPhase::Pending);
        assert_eq!(phase_of(&[running.clone(), creating], Always, false), PodPhase::Pending);
        assert_eq!(phase_of(&[running.clone(), backoff.clone()], Always, false), PodPhase::Running);
        assert_eq!(phase_of(&[backoff.clone()], Always, false), PodPhase::Running);
        assert_eq!(phase_of(&[status(exited(0), None)], Never, false), PodPhase::Succeeded);
        assert_eq!(phase_of(&[status(exited(0), None), status(exited(2), None)], Never, false), PodPhase::Failed);
        assert_eq!(phase_of(&[status(exited(2), None)], OnFailure, false), PodPhase::Running);
        assert_eq!(phase_of(&[status(exited(143), None)], Always, true), PodPhase::Failed);
        assert_eq!(phase_of(&[status(exited(0), None)], Always, true), PodPhase::Succeeded);
    }
}
