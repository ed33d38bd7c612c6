//! Re-adoption: resuming a pod whose containers outlived an earlier hooklet process.
//!
//! The daemon rebuilds an [`Adoption`] from its state database and the runtime's
//! answer for each container instance; [`crate::lifecycle::Node::adopt_pod`] then
//! starts the pod worker from where it was instead of starting new containers.

use std::net::IpAddr;
use std::time::{Duration, SystemTime};

use crate::envvars::expansion::expand_all;
use crate::envvars::{make_environment, EnvSources};

use crate::hooks::Delivery;
use crate::runtime::{ContainerConfig, ContainerId, ExitStatus, PodRef, ResourceLimits};
use crate::spec::{HookPhase, Pod};

use super::slot::Slot;
use super::PodStatus;

/// A delivery that was pending when hooklet stopped: run it again.
#[derive(Debug, Clone, PartialEq)]
pub struct Redelivery {
    pub phase: HookPhase,
    /// The original id with the next attempt number.
    pub delivery: Delivery,
    /// PreStop: when termination began and its grace (the original arithmetic).
    pub termination: Option<(SystemTime, Duration)>,
}

/// What became of one container while hooklet was away.
#[derive(Debug, Clone, PartialEq)]
pub enum AdoptedContainer {
    /// No instance to adopt: start one (as for a new pod), unless it was done.
    Start,
    /// The instance still runs.
    Live {
        id: ContainerId,
        started_at: SystemTime,
        /// A delivery to this instance that was pending.
        redelivery: Option<Redelivery>,
        /// Its PreStop already completed (a termination was under way).
        pre_stop_done: bool,
        /// When its PostStart failed, if it did: the kill that follows was under way.
        post_start_failed_at: Option<SystemTime>,
    },
    /// The instance exited while hooklet was down: record it, apply the restart policy.
    Exited { id: ContainerId, started_at: SystemTime, exit: ExitStatus },
    /// The container was waiting in CrashLoopBackOff: restart it at `restart_at`
    /// (the original time), with the saved back-off entry.
    BackOff { restart_at: SystemTime },
    /// The container had finished for good (no restart): keep its state.
    Done,
}

/// Everything needed to resume one pod.
#[derive(Debug, Clone)]
pub struct Adoption {
    /// The last saved status (restart counts, hook records, last states).
    pub status: PodStatus,
    /// One entry per `spec.initContainers[]`, in order: a completed init container is
    /// `Done` (not run again), a running sidecar `Live`.
    pub init_containers: Vec<AdoptedContainer>,
    /// One entry per `spec.containers[]`, in order.
    pub containers: Vec<AdoptedContainer>,
}

/// The remaining part of a termination that began at `began` with `grace`.
pub fn remaining(began: SystemTime, grace: Duration) -> Duration {
    let elapsed = SystemTime::now().duration_since(began).unwrap_or_default();
    grace.saturating_sub(elapsed)
}

/// The runtime configuration of the container in `slot` of `pod`, with its
/// environment `env` (see [`crate::envvars::make_environment`]); `$(VAR)` references in
/// `command` and `args` are expanded against it, as the kubelet does.
pub fn container_config(pod: &Pod, slot: Slot, env: Vec<(String, String)>) -> ContainerConfig {
    let c = slot.spec(pod);
    let command = expand_all(&c.command, &env);
    let args = expand_all(&c.args, &env);
    ContainerConfig {
        pod: PodRef {
            namespace: pod.namespace().to_string(),
            name: pod.metadata.name.clone(),
            uid: pod.uid().to_string(),
        },
        name: c.name.clone(),
        image: c.image.clone(),
        command_len: command.len(),
        argv: command.into_iter().chain(args).collect(),
        env,
        working_dir: c.working_dir.as_ref().map(Into::into),
        limits: ResourceLimits { memory_bytes: c.resources.memory_limit(), cpu_millis: c.resources.cpu_limit_millis() },
    }
}

/// The environment of the container in `slot` of `pod` built from `sources` now, or
/// the kubelet's reason it cannot be (`CreateContainerConfigError`).
pub fn container_env(pod: &Pod, slot: Slot, pod_ip: Option<IpAddr>, sources: &EnvSources) -> Result<Vec<(String, String)>, String> {
    make_environment(pod, slot.spec(pod), pod_ip, sources)
}
