//! One pod's `get pods` columns as kubectl prints them: READY, STATUS (with
//! kubectl's init container forms `Init:N/M`, `Init:Error`, `Init:CrashLoopBackOff`,
//! `PodInitializing`), RESTARTS.

use crate::lifecycle::{ContainerState, ContainerStatus, PodStatus};
use crate::spec::Pod;

/// The computed columns of one pod.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodColumns {
    /// `ready/total`, sidecars counted.
    pub ready: String,
    pub status: String,
    pub restarts: u32,
}

/// The columns of `pod` with status `s`.
pub fn columns(pod: &Pod, s: &PodStatus) -> PodColumns {
    let sidecars = || pod.spec.init_containers.iter().zip(&s.init_containers).filter(|(spec, _)| spec.is_sidecar()).map(|(_, c)| c);
    let ready = s.containers.iter().chain(sidecars()).filter(|c| is_ready(c)).count();
    let total = s.containers.len() + sidecars().count();
    let restarts: u32 = if initialized(s) {
        s.containers.iter().chain(sidecars()).map(|c| c.restart_count).sum()
    } else {
        s.init_containers.iter().map(|c| c.restart_count).sum()
    };
    PodColumns { ready: format!("{ready}/{total}"), status: status_text(pod, s), restarts }
}

fn is_ready(c: &ContainerStatus) -> bool {
    c.ready && matches!(c.state, ContainerState::Running { .. })
}

/// Some regular container has been created: initialization is over.
fn initialized(s: &PodStatus) -> bool {
    s.containers.iter().any(|c| c.container_id.is_some() || c.last_state.is_some())
}

/// The STATUS column: `Terminating`; while initializing, the first init container
/// not done (`Init:<reason>` or `Init:N/M`); else the first waiting reason of a
/// regular container, or the phase. A pod the node ended shows its reason.
pub fn status_text(pod: &Pod, s: &PodStatus) -> String {
    if s.deletion_requested_at.is_some() {
        return "Terminating".to_string();
    }
    // Ended by the node: `Evicted`, `Preempted`, `OutOfcpu` … (kubectl's
    // `status.reason`).
    if let Some(reason) = &s.reason {
        return reason.clone();
    }
    if !initialized(s) {
        if let Some(text) = init_status_text(pod, s) {
            return text;
        }
    }
    let waiting = s.containers.iter().find_map(|c| match &c.state {
        ContainerState::Waiting { reason, .. } => Some(reason.clone()),
        _ => None,
    });
    waiting.unwrap_or_else(|| format!("{:?}", s.phase))
}

/// kubectl's init container forms, or None when every init container is done (a
/// plain one completed, a sidecar started).
fn init_status_text(pod: &Pod, s: &PodStatus) -> Option<String> {
    let total = pod.spec.init_containers.len();
    for (i, (spec, c)) in pod.spec.init_containers.iter().zip(&s.init_containers).enumerate() {
        match &c.state {
            ContainerState::Terminated { exit_code: 0, .. } => continue,
            _ if spec.is_sidecar() && c.started => continue,
            ContainerState::Terminated { reason, .. } => return Some(format!("Init:{reason}")),
            ContainerState::Waiting { reason, .. } if reason != "PodInitializing" => return Some(format!("Init:{reason}")),
            _ => return Some(format!("Init:{i}/{total}")),
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use std::time::SystemTime;

    use super::*;
    use crate::lifecycle::PodPhase;
    use crate::runtime::ExitStatus;
    use crate::spec::parse::parse_manifests;

    fn pod() -> Pod {
        let yaml = "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  initContainers:\n  - {name: setup, image: busybox}\n  - {name: side, image: busybox, restartPolicy: Always}\n  containers:\n  - {name: app, image: busybox}\n";
        parse_manifests(yaml, "p.yaml").unwrap().remove(0).pod
    }

    fn container(state: ContainerState, last: Option<ContainerState>, started: bool) -> ContainerStatus {
        ContainerStatus {
            name: "c".into(),
            image: "busybox".into(),
            container_id: None,
            state,
            last_state: last,
            started,
            ready: started,
            restart_count: 0,
            hooks: vec![],
            wasm_fuel_total: 0,
            backoff: None,
            instance_logs: Default::default(),
        }
    }

    fn waiting(reason: &str) -> ContainerStatus {
        container(ContainerState::waiting(reason, None), None, false)
    }

    fn exited(code: i32) -> ContainerState {
        ContainerState::terminated(&ExitStatus::code(code), None)
    }

    fn running(started: bool) -> ContainerStatus {
        container(ContainerState::Running { started_at: SystemTime::now() }, None, started)
    }

    fn status(init: Vec<ContainerStatus>, app: ContainerStatus) -> PodStatus {
        PodStatus {
            phase: PodPhase::Pending,
            pod_ip: None,
            init_containers: init,
            containers: vec![app],
            deletion_requested_at: None,
            deletion_grace_seconds: None,
            finished: false,
            conditions: vec![],
            qos_class: None,
            reason: None,
            message: None,
            node_kill: None,
        }
    }

    #[test]
    fn init_forms_follow_kubectl() {
        let pod = pod();
        let text = |init, app| status_text(&pod, &status(init, app));
        let init = || waiting("PodInitializing");
        assert_eq!(text(vec![init(), init()], init()), "Init:0/2");
        assert_eq!(text(vec![running(false), init()], init()), "Init:0/2");
        assert_eq!(text(vec![container(exited(0), None, false), running(false)], init()), "Init:1/2");
        assert_eq!(text(vec![container(exited(1), None, false), init()], init()), "Init:Error");
        let backoff = container(ContainerState::waiting("CrashLoopBackOff", None), Some(exited(1)), false);
        assert_eq!(text(vec![backoff, init()], init()), "Init:CrashLoopBackOff");
        // Every init container done, the regular one not created yet.
        assert_eq!(text(vec![container(exited(0), None, false), running(true)], init()), "PodInitializing");
        // Initialized: a stopped sidecar no longer shows.
        let done = ContainerStatus { container_id: Some("process://1".into()), ..container(exited(0), None, false) };
        let s = PodStatus { phase: PodPhase::Succeeded, ..status(vec![container(exited(0), None, false), container(exited(143), None, false)], done) };
        assert_eq!(status_text(&pod, &s), "Succeeded");
    }

    #[test]
    fn ready_counts_started_sidecars() {
        let app = ContainerStatus { container_id: Some("process://1".into()), ..running(true) };
        let pod = pod();
        let status = PodStatus { phase: PodPhase::Running, ..status(vec![container(exited(0), None, false), running(true)], app) };
        let cols = columns(&pod, &status);
        assert_eq!((cols.ready.as_str(), cols.status.as_str()), ("2/2", "Running"));
        // Started but not ready (its readiness probe has not succeeded): 1/2.
        let unready = ContainerStatus { ready: false, ..status.containers[0].clone() };
        assert_eq!(columns(&pod, &PodStatus { containers: vec![unready], ..status }).ready, "1/2");
    }
}
