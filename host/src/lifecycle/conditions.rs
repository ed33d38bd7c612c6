//! Pod conditions as the kubelet's status manager generates them
//! (`pkg/kubelet/status/generate.go`, probe spec §4.2): `PodReadyToStartContainers`,
//! `Initialized`, `Ready`, `ContainersReady`, `PodScheduled` (hooklet admits pods
//! itself, so it is `True` from the start), and `DisruptionTarget` for a pod the node
//! evicted or preempted.

use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use super::status::{ContainerState, ContainerStatus, PodPhase, PodStatus};
use crate::spec::PodSpec;

/// One entry of `status.conditions`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodCondition {
    #[serde(rename = "type")]
    pub type_: String,
    /// `True` or `False`.
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    pub last_transition_time: SystemTime,
}

/// A condition's status, reason and message before its transition time is known.
struct Computed {
    type_: &'static str,
    ok: bool,
    reason: Option<&'static str>,
    message: Option<String>,
}

impl Computed {
    fn truth(type_: &'static str, ok: bool) -> Self {
        Computed { type_, ok, reason: None, message: None }
    }

    fn not(type_: &'static str, reason: &'static str, message: Option<String>) -> Self {
        Computed { type_, ok: false, reason: Some(reason), message }
    }
}

/// Recomputes `status.conditions`, keeping each condition's `lastTransitionTime`
/// while its status stays the same.
pub(super) fn update(status: &mut PodStatus, spec: &PodSpec) {
    let containers_ready = containers_ready(status, spec);
    let ready = Computed { type_: "Ready", ..clone_of(&containers_ready) };
    let computed = [
        Computed::truth("PodReadyToStartContainers", status.pod_ip.is_some() && !status.finished),
        initialized(status, spec),
        ready,
        containers_ready,
        Computed::truth("PodScheduled", true),
    ];
    // A pod the kubelet itself ends (eviction, preemption) gets `DisruptionTarget`.
    let disruption = matches!(status.reason.as_deref(), Some("Evicted" | "Preempted")).then(|| Computed {
        type_: "DisruptionTarget",
        ok: true,
        reason: Some("TerminationByKubelet"),
        message: status.message.clone(),
    });
    let now = SystemTime::now();
    let previous = std::mem::take(&mut status.conditions);
    status.conditions = disruption
        .into_iter()
        .chain(computed)
        .map(|c| {
            let value = if c.ok { "True" } else { "False" };
            let since = previous
                .iter()
                .find(|p| p.type_ == c.type_ && p.status == value)
                .map_or(now, |p| p.last_transition_time);
            PodCondition {
                type_: c.type_.to_string(),
                status: value.to_string(),
                reason: c.reason.map(str::to_string),
                message: c.message,
                last_transition_time: since,
            }
        })
        .collect();
}

fn clone_of(c: &Computed) -> Computed {
    Computed { type_: c.type_, ok: c.ok, reason: c.reason, message: c.message.clone() }
}

/// Go's `%s` of a `[]string`: `[a b]`.
fn go_list(names: &[&str]) -> String {
    format!("[{}]", names.join(" "))
}

/// `ContainersReady`: every sidecar and regular container ready.
fn containers_ready(status: &PodStatus, spec: &PodSpec) -> Computed {
    const TYPE: &str = "ContainersReady";
    match status.phase {
        PodPhase::Succeeded => return Computed::not(TYPE, "PodCompleted", None),
        PodPhase::Failed => return Computed::not(TYPE, "PodFailed", None),
        _ => {}
    }
    let sidecars = spec.init_containers.iter().zip(&status.init_containers).filter(|(s, _)| s.is_sidecar());
    let unready: Vec<&str> = sidecars
        .map(|(_, c)| c)
        .chain(&status.containers)
        .filter(|c| !c.ready)
        .map(|c| c.name.as_str())
        .collect();
    if unready.is_empty() {
        return Computed::truth(TYPE, true);
    }
    let message = format!("containers with unready status: {}", go_list(&unready));
    Computed::not(TYPE, "ContainersNotReady", Some(message))
}

/// `Initialized`: every plain init container completed and every sidecar started,
/// or some regular container has run already.
fn initialized(status: &PodStatus, spec: &PodSpec) -> Computed {
    const TYPE: &str = "Initialized";
    if spec.init_containers.is_empty() || status.phase == PodPhase::Succeeded {
        return match status.phase {
            PodPhase::Succeeded if !spec.init_containers.is_empty() => Computed { reason: Some("PodCompleted"), ..Computed::truth(TYPE, true) },
            _ => Computed::truth(TYPE, true),
        };
    }
    if status.containers.iter().any(has_run) {
        return Computed::truth(TYPE, true);
    }
    let incomplete: Vec<&str> = spec
        .init_containers
        .iter()
        .zip(&status.init_containers)
        .filter(|(s, c)| if s.is_sidecar() { !c.started } else { !completed(c) })
        .map(|(_, c)| c.name.as_str())
        .collect();
    if incomplete.is_empty() {
        return Computed::truth(TYPE, true);
    }
    let message = format!("containers with incomplete status: {}", go_list(&incomplete));
    Computed::not(TYPE, "ContainersNotInitialized", Some(message))
}

fn has_run(c: &ContainerStatus) -> bool {
    c.container_id.is_some() || c.last_state.is_some()
}

fn completed(c: &ContainerStatus) -> bool {
    matches!(c.state, ContainerState::Terminated { exit_code: 0, .. })
}
