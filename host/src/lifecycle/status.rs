//! Pod and container status in the Kubernetes API's shape.

use std::net::IpAddr;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use super::backoff::BackoffState;
use super::instance_logs::InstanceLogs;
pub use super::conditions::PodCondition;
use crate::hooks::HookRun;
use crate::runtime::ExitStatus;
use crate::spec::qos::QosClass;
use crate::spec::{Container, PodSpec, RestartPolicy};

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
    /// True once the container runs, its PostStart completed and its startup probe
    /// (if any) succeeded.
    pub started: bool,
    /// True while started and its readiness probe (if any) succeeds; for a plain init
    /// container, once it completed.
    #[serde(default)]
    pub ready: bool,
    pub restart_count: u32,
    /// The most recent hook runs, oldest first (bounded).
    pub hooks: Vec<HookRun>,
    /// Fuel consumed by all wasm hooks of this container (D8).
    pub wasm_fuel_total: u64,
    /// The CrashLoopBackOff entry, for the daemon to save with the container
    /// (not part of the API view).
    #[serde(skip)]
    pub backoff: Option<BackoffState>,
    /// When its last two instances were created: where each one's log begins.
    #[serde(default, skip_serializing_if = "InstanceLogs::is_empty")]
    pub instance_logs: InstanceLogs,
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
    /// `initContainerStatuses`: one per `spec.initContainers[]`, sidecars included.
    /// Absent from statuses saved before init containers were supported.
    #[serde(default, skip_serializing_if = "Vec::is_empty", alias = "initContainerStatuses")]
    pub init_containers: Vec<ContainerStatus>,
    pub containers: Vec<ContainerStatus>,
    /// When deletion was requested, and with which effective grace (seconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deletion_requested_at: Option<SystemTime>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deletion_grace_seconds: Option<u64>,
    /// True once every container is done and the sandbox is gone.
    pub finished: bool,
    /// `status.conditions`, recomputed with the phase.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<PodCondition>,
    /// `status.qosClass` (set when the pod is started; absent in older statuses).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub qos_class: Option<QosClass>,
    /// `status.reason` / `status.message`, set when the node ended the pod
    /// (`Evicted`, `Preempted`, an admission rejection such as `OutOfcpu`): the
    /// phase is then `Failed` for good (see [`super::evict`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// When the node's kill (eviction, preemption) began and its grace in seconds,
    /// so that a restarted hooklet finishes it with the original deadline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_kill: Option<NodeKill>,
}

/// A kill the node started (not a deletion): when, and with which grace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeKill {
    pub started_at: SystemTime,
    pub grace_seconds: u64,
}

impl PodStatus {
    /// The status of container `name` (init containers included: names are unique).
    pub fn container(&self, name: &str) -> Option<&ContainerStatus> {
        self.init_containers.iter().chain(&self.containers).find(|c| c.name == name)
    }

    /// Recomputes `phase` from the containers (the kubelet's `getPhase`).
    pub fn update_phase(&mut self, spec: &PodSpec) {
        if self.reason.is_some() {
            // Ended by the node (eviction, preemption, rejection): Failed for good.
            self.phase = PodPhase::Failed;
        } else {
            let init = InitCounts::of(&spec.init_containers, &self.init_containers, &self.containers);
            self.phase = phase_of(&self.containers, spec.restart_policy, self.finished, init);
        }
        super::conditions::update(self, spec);
    }

    /// The condition of `type_` (`Ready`, `ContainersReady`, …), if computed.
    pub fn condition(&self, type_: &str) -> Option<&PodCondition> {
        self.conditions.iter().find(|c| c.type_ == type_)
    }
}

/// What the init containers contribute to the phase (`getPhase`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct InitCounts {
    /// Plain init containers not yet completed, and sidecars not yet started.
    pending: u32,
    /// Plain init containers that exited with an error.
    failed: u32,
    /// Sidecars running: they keep the pod Running.
    running_sidecars: u32,
    /// Sidecars waiting for their first start.
    waiting_sidecars: u32,
    /// Some regular container has run (a restarting sidecar does not make the
    /// pod Pending again).
    regular_started: bool,
}

impl InitCounts {
    fn of(specs: &[Container], init: &[ContainerStatus], regular: &[ContainerStatus]) -> Self {
        let mut counts = InitCounts {
            regular_started: regular.iter().any(|c| c.container_id.is_some() || c.last_state.is_some()),
            ..InitCounts::default()
        };
        for (spec, c) in specs.iter().zip(init) {
            let last_exit = match &c.last_state {
                Some(ContainerState::Terminated { exit_code, .. }) => Some(*exit_code),
                _ => None,
            };
            match (&c.state, spec.is_sidecar()) {
                (ContainerState::Running { .. }, false) => counts.pending += 1,
                (ContainerState::Running { .. }, true) => {
                    counts.running_sidecars += 1;
                    counts.pending += u32::from(!c.started);
                }
                (ContainerState::Terminated { exit_code, .. }, false) => counts.failed += u32::from(*exit_code != 0),
                // A stopped sidecar does not count.
                (ContainerState::Terminated { .. }, true) => {}
                (ContainerState::Waiting { .. }, sidecar) => match last_exit {
                    Some(code) => counts.failed += u32::from(code != 0 && !sidecar),
                    None => {
                        counts.pending += 1;
                        counts.waiting_sidecars += u32::from(sidecar);
                    }
                },
            }
        }
        counts
    }
}

fn phase_of(containers: &[ContainerStatus], policy: RestartPolicy, finished: bool, init: InitCounts) -> PodPhase {
    if init.failed > 0 && policy == RestartPolicy::Never {
        return PodPhase::Failed;
    }
    if (init.pending > 0 && !init.regular_started || init.waiting_sidecars > 0) && !finished {
        return PodPhase::Pending;
    }
    let (mut waiting, mut running, mut stopped, mut succeeded) = (0, 0, 0, 0);
    running += init.running_sidecars;
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
pub(crate) mod tests {
    use super::*;

    /// A container status in `state` after `last`, for tests.
    pub(crate) fn status(state: ContainerState, last: Option<ContainerState>) -> ContainerStatus {
        ContainerStatus {
            name: "c".into(),
            image: "i".into(),
            container_id: None,
            state,
            last_state: last,
            started: false,
            ready: false,
            restart_count: 0,
            hooks: vec![],
            wasm_fuel_total: 0,
            backoff: None,
            instance_logs: Default::default(),
        }
    }

    fn exited(code: i32) -> ContainerState {
        ContainerState::terminated(&ExitStatus::code(code), None)
    }

    #[test]
    fn phases_follow_get_phase() {
        use RestartPolicy::*;
        let creating = status(ContainerState::waiting("ContainerCreating", None), None);
        let running = status(ContainerState::Running { started_at: SystemTime::now() }, None);
        let backoff = status(ContainerState::waiting("CrashLoopBackOff", None), Some(exited(1)));
        let phase_of = |c: &[ContainerStatus], policy, finished| phase_of(c, policy, finished, InitCounts::default());
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

    #[test]
    fn init_containers_in_the_phase() {
        use RestartPolicy::*;
        let plain = Container { name: "setup".into(), ..Container::default() };
        let sidecar = Container { restart_policy: Some(Always), ..plain.clone() };
        let creating = status(ContainerState::waiting("PodInitializing", None), None);
        let running = status(ContainerState::Running { started_at: SystemTime::now() }, None);
        let started = ContainerStatus { started: true, ..running.clone() };
        let backoff = status(ContainerState::waiting("CrashLoopBackOff", None), Some(exited(1)));
        let app_running = ContainerStatus { container_id: Some("process://1".into()), ..started.clone() };
        // One init container (its spec and status) and one regular container.
        let phase = |spec: &Container, init: &ContainerStatus, app: &ContainerStatus, policy| {
            let counts = InitCounts::of(std::slice::from_ref(spec), std::slice::from_ref(init), std::slice::from_ref(app));
            phase_of(std::slice::from_ref(app), policy, false, counts)
        };
        // Initializing: Pending, whatever the policy.
        assert_eq!(phase(&plain, &running, &creating, Always), PodPhase::Pending);
        assert_eq!(phase(&plain, &backoff, &creating, OnFailure), PodPhase::Pending);
        // A failed init container fails a Never pod.
        assert_eq!(phase(&plain, &status(exited(1), None), &creating, Never), PodPhase::Failed);
        // A sidecar not started yet keeps it Pending; started, the pod goes on.
        assert_eq!(phase(&sidecar, &running, &creating, Never), PodPhase::Pending);
        assert_eq!(phase(&sidecar, &started, &app_running, Never), PodPhase::Running);
        // Main container done, sidecar still running: Running; sidecar stopped: done.
        let app_done = ContainerStatus { container_id: Some("process://1".into()), ..status(exited(0), None) };
        assert_eq!(phase(&sidecar, &started, &app_done, Never), PodPhase::Running);
        assert_eq!(phase(&sidecar, &status(exited(143), None), &app_done, Never), PodPhase::Succeeded);
        // A sidecar restarting after the pod initialized does not make it Pending.
        assert_eq!(phase(&sidecar, &backoff, &app_running, Always), PodPhase::Running);
    }
}
