//! One container's life, as a state machine whose states are [`Step`]s.
//!
//! ```text
//! Start ──► PostStart ──► Running ──► Exited ──► BackOff ──► Start …
//!   │           │            │           ▲  └──► Done
//!   │           └──(failed)──┴─► Kill ───┘   (Kill: PreStop, stop signal, KILL)
//!   └──(create/start error)──────────────┘
//! ```
//! The pod stopping (deletion, or completion with sidecars left) moves a started
//! container to `Kill` (cancelling a running PostStart) and ends the loop after
//! `Exited`; back-off waits end early. `Kill` itself is in [`super::termination`].

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::sync::oneshot;
use tokio::time::Instant;

use super::adopt::{container_config, container_env, AdoptedContainer, Redelivery};
use super::backoff::Backoff;
use super::deliver::Source;
use super::grace::kill_grace;
use super::pod::PodShared;
use super::slot::Slot;
use super::status::ContainerState;
use crate::events::{EventType, ObjectRef};
use crate::hooks::{Delivery, HookLimits, HookRun};
use crate::image::manager::{ImageFailure, ImagePod};
use crate::image::ImageError;
use crate::prober::{InstanceProbes, ProbeCounters};
use crate::runtime::{ContainerConfig, ContainerId, ExitStatus};
use crate::spec::{Container, HookPhase, ProbeType};

/// The shortest wait before trying a missing image again.
const IMAGE_RETRY_MIN: Duration = Duration::from_millis(100);

/// A container instance whose process was started.
pub(super) struct Started {
    pub id: ContainerId,
    pub started_at: SystemTime,
    /// A delivery to this instance left pending by an earlier hooklet process.
    pub redelivery: Option<Redelivery>,
    /// Its PreStop already completed (before a hooklet restart).
    pub pre_stop_done: bool,
    /// Its PostStart delivery, journaled as pending before the container started.
    journaled: Option<Delivery>,
    /// Its probe workers, once it runs with its PostStart done; dropped with it.
    pub probes: Option<InstanceProbes>,
    /// Killed because its liveness or startup probe failed.
    pub probe_killed: bool,
}

impl Started {
    fn new(id: ContainerId, started_at: SystemTime) -> Self {
        Started { id, started_at, redelivery: None, pre_stop_done: false, journaled: None, probes: None, probe_killed: false }
    }

    /// Completes when a liveness or startup probe asks for a kill (never without probes).
    async fn probe_failed(&mut self) -> ProbeType {
        match self.probes.as_mut() {
            Some(probes) => probes.failed().await,
            None => std::future::pending().await,
        }
    }

    pub fn take_redelivery(&mut self, phase: HookPhase) -> Option<Redelivery> {
        match &self.redelivery {
            Some(r) if r.phase == phase => self.redelivery.take(),
            _ => None,
        }
    }
}

/// Why a started container is being killed.
pub(super) enum KillReason {
    /// The pod stops: deleted, or completed with sidecars still running.
    PodStopping,
    PostStartFailed(String),
    /// The liveness or startup probe reached its failure threshold.
    ProbeFailed(ProbeType),
    /// A kill that was under way when hooklet stopped (not a deletion): termination
    /// began at this wall-clock time with this grace.
    Resumed(SystemTime, Duration),
}

/// The states of the machine.
pub(super) enum Step {
    Start,
    PostStart(Started),
    Running(Started),
    Kill(Started, KillReason),
    Exited(Option<Started>, ExitStatus, Option<String>),
    BackOff,
    /// The environment could not be built (`CreateContainerConfigError`): wait, retry.
    ConfigError(String),
    /// A back-off wait resumed after a hooklet restart: restart at this time.
    ResumedBackOff(SystemTime),
    Done,
}

/// Drives one container of a pod.
pub(super) struct ContainerWorker {
    pub(super) shared: Arc<PodShared>,
    pub(super) slot: Slot,
    pub(super) container: Arc<Container>,
    pub(super) object: ObjectRef,
    pub(super) backoff: Backoff,
    instances: u32,
    /// Probe counters that carry over from one instance to the next.
    pub(super) probe_counters: ProbeCounters,
}

impl ContainerWorker {
    pub(super) fn new(shared: Arc<PodShared>, slot: Slot) -> Self {
        let container = Arc::new(slot.spec(&shared.pod).clone());
        let object = slot.object(&shared.object, &container.name);
        let policy = shared.node.config.backoff;
        // A back-off entry saved by an earlier hooklet process continues.
        let saved = slot.status(&shared.status.borrow()).backoff;
        let backoff = saved.map_or_else(|| Backoff::new(policy), |s| Backoff::restore(policy, s));
        ContainerWorker { shared, slot, container, object, backoff, instances: 0, probe_counters: ProbeCounters::default() }
    }

    /// Runs the machine; `first_start` fires once the first start attempt (PostStart
    /// included) is over, so the pod worker can start the next container.
    /// `adopted`: resume a container instance of an earlier hooklet process.
    pub(super) async fn run(mut self, mut first_start: Option<oneshot::Sender<()>>, adopted: Option<AdoptedContainer>) {
        let mut step = match adopted {
            Some(adopted) => self.adopted_step(adopted),
            None => Step::Start,
        };
        if matches!(step, Step::ResumedBackOff(_)) {
            // Waiting out a back-off must not hold up the pod's other containers.
            if let Some(tx) = first_start.take() {
                let _ = tx.send(());
            }
        }
        loop {
            step = match step {
                Step::Start => self.start().await,
                Step::PostStart(s) => self.post_start(s).await,
                Step::Running(s) => {
                    if let Some(tx) = first_start.take() {
                        let _ = tx.send(());
                    }
                    self.running(s).await
                }
                Step::Kill(s, reason) => self.kill(s, reason).await,
                Step::Exited(s, exit, message) => self.exited(s, exit, message).await,
                Step::BackOff => self.back_off().await,
                Step::ConfigError(message) => {
                    // The kubelet goes on with the pod's next containers meanwhile.
                    if let Some(tx) = first_start.take() {
                        let _ = tx.send(());
                    }
                    self.config_error(message).await
                }
                Step::ResumedBackOff(at) => self.resumed_back_off(at).await,
                Step::Done => break,
            };
            if matches!(step, Step::Kill(..) | Step::Exited(..)) {
                if let Some(tx) = first_start.take() {
                    let _ = tx.send(());
                }
            }
        }
    }

    /// Where an adopted container resumes.
    fn adopted_step(&mut self, adopted: AdoptedContainer) -> Step {
        let stopping = self.shared.stopping.is_cancelled();
        match adopted {
            AdoptedContainer::Start => Step::Start,
            AdoptedContainer::Done => Step::Done,
            AdoptedContainer::BackOff { restart_at } => {
                self.instances = 1;
                Step::ResumedBackOff(restart_at)
            }
            AdoptedContainer::Exited { id, started_at, exit } => {
                self.instances = 1;
                Step::Exited(Some(Started::new(id, started_at)), exit, None)
            }
            AdoptedContainer::Live { id, started_at, redelivery, pre_stop_done, post_start_failed_at } => {
                self.instances = 1;
                // The saved status may predate this instance (it is written behind the
                // journal that named it).
                let container_id = format!("{}://{id}", self.shared.node.runtime.name());
                self.shared.update_container(self.slot, |c| {
                    c.container_id = Some(container_id);
                    c.state = ContainerState::Running { started_at };
                });
                let phase = redelivery.as_ref().map(|r| r.phase);
                let termination = redelivery.as_ref().and_then(|r| r.termination);
                let mut started = Started { redelivery, pre_stop_done, ..Started::new(id, started_at) };
                match phase {
                    // Deletion cancels a redelivered PostStart as it would the original.
                    Some(HookPhase::PostStart) => Step::PostStart(started),
                    _ if stopping => Step::Kill(started, KillReason::PodStopping),
                    Some(HookPhase::PreStop) => {
                        let (began, grace) =
                            termination.unwrap_or_else(|| (SystemTime::now(), kill_grace(&self.shared.pod.spec)));
                        Step::Kill(started, KillReason::Resumed(began, grace))
                    }
                    // Killing after a failed PostStart (its event is recorded): go on.
                    None if post_start_failed_at.is_some() => {
                        let began = post_start_failed_at.unwrap_or_else(SystemTime::now);
                        Step::Kill(started, KillReason::Resumed(began, kill_grace(&self.shared.pod.spec)))
                    }
                    None => {
                        self.begin_running(&mut started);
                        Step::Running(started)
                    }
                }
            }
        }
    }

    /// Records an event about this container.
    pub(super) fn event(&self, event_type: EventType, reason: &str, message: &str) {
        self.shared.node.events.record(&self.object, event_type, reason, message);
    }

    pub(super) fn set_state(&self, state: ContainerState) {
        self.shared.update_container(self.slot, |c| c.state = state);
    }

    /// The runtime configuration with the environment built now, or why it cannot be.
    fn config(&self) -> Result<ContainerConfig, String> {
        let pod_ip = self.shared.status.borrow().pod_ip;
        let env = container_env(&self.shared.pod, self.slot, pod_ip, &self.shared.node.environment())?;
        Ok(container_config(&self.shared.pod, self.slot, env))
    }

    async fn start(&mut self) -> Step {
        if self.shared.stopping.is_cancelled() {
            return Step::Done;
        }
        let runtime = self.shared.node.runtime.clone();
        // A new instance is not started until its PostStart is done (also when a
        // restarted hooklet starts again a container whose status said `started`).
        let creating = self.slot.creating_reason();
        self.shared.update_container(self.slot, |c| {
            c.started = false;
            c.state = ContainerState::waiting(creating, None);
        });
        if let Some(images) = runtime.image_manager() {
            let (recorder, object) = (self.shared.node.events.clone(), self.object.clone());
            let events = move |t: EventType, reason: &str, message: &str| {
                recorder.record(&object, t, reason, message);
            };
            let pod = &self.shared.pod;
            let pull_secrets: Vec<String> = pod.spec.image_pull_secrets.iter().map(|s| s.name.clone()).collect();
            let target = ImagePod { uid: pod.uid(), namespace: pod.namespace(), pull_secrets: &pull_secrets };
            let (image, policy) = (&self.container.image, self.container.image_pull_policy);
            if let Err(failure) = images.ensure_image_exists(target, image, policy, &events).await {
                return self.image_unavailable(failure).await;
            }
        }
        // As the kubelet's `generateContainerConfig`: after the image, before the create.
        let config = match self.config() {
            Ok(config) => config,
            Err(message) => return Step::ConfigError(message),
        };
        let created_at = SystemTime::now();
        let created = runtime.create(config).await;
        if let Some(image_error) = created.as_ref().err().and_then(|e| e.downcast_ref::<ImageError>()) {
            let message = image_error.to_string();
            self.event(EventType::Warning, image_error.reason(), &message);
            let failure = ImageFailure { reason: image_error.reason(), message, retry_after: None };
            return self.image_unavailable(failure).await;
        }
        // Every attempt past the first is a restart, whether or not it gets created; an
        // image that is not there is not an attempt.
        self.instances += 1;
        if self.instances > 1 {
            self.shared.update_container(self.slot, |c| c.restart_count += 1);
        }
        let id = match created {
            Ok(id) => id,
            Err(err) => {
                let message = format!("{err:#}");
                self.event(EventType::Warning, "Failed", &format!("Error: {message}"));
                self.set_state(ContainerState::waiting("CreateContainerError", Some(message.clone())));
                return self.start_failed(message);
            }
        };
        let name = &self.container.name;
        self.shared.update_container(self.slot, |c| {
            c.container_id = Some(format!("{}://{id}", runtime.name()));
            c.instance_logs.begin(created_at);
        });
        self.event(EventType::Normal, "Created", &format!("Created container: {name}"));
        // PostStart is journaled before the start: a crash right after the start
        // still finds it pending (kubernetes#60053 cannot happen).
        let post_start = self.container.hook(HookPhase::PostStart).map(|_| {
            let entry = self.journal_entry(&id, HookPhase::PostStart, &Delivery::new(), None);
            self.journal_pending(&entry);
            entry
        });
        if let Err(err) = runtime.start(&id).await {
            let message = format!("{err:#}");
            if let Some(entry) = &post_start {
                if let Err(err) = self.shared.node.journal.abandoned(entry, "ContainerNotStarted") {
                    tracing::error!("journaling an abandoned PostStart failed: {err:#}");
                }
            }
            self.event(EventType::Warning, "Failed", &format!("Error: {message}"));
            let _ = runtime.remove(&id).await;
            return self.start_failed(message);
        }
        self.event(EventType::Normal, "Started", &format!("Started container {name}"));
        let started_at = SystemTime::now();
        self.set_state(ContainerState::Running { started_at });
        let journaled = post_start.map(|e| e.delivery);
        Step::PostStart(Started { journaled, ..Started::new(id, started_at) })
    }

    /// The image is not there (the kubelet's `ErrImagePull`, `ImagePullBackOff`,
    /// `ErrImageNeverPull`, `InvalidImageName`; the image manager recorded why): the
    /// container waits with that reason and is tried again when the pull back-off says,
    /// else after the container's back-off, since the image may be imported meanwhile.
    /// No container was made, so this is not a restart.
    async fn image_unavailable(&mut self, failure: ImageFailure) -> Step {
        self.event(EventType::Warning, "Failed", &format!("Error: {}", failure.reason));
        self.set_state(ContainerState::waiting(failure.reason, Some(failure.message)));
        let delay = failure.retry_after.unwrap_or_else(|| self.backoff.delay_before_restart(Instant::now()));
        tokio::select! {
            _ = tokio::time::sleep(delay.max(IMAGE_RETRY_MIN)) => Step::Start,
            _ = self.shared.stopping.cancelled() => Step::Done,
        }
    }

    /// A container that could not be created or started counts as exited with 128
    /// (`StartError`), and the restart policy decides what follows.
    fn start_failed(&self, message: String) -> Step {
        Step::Exited(None, ExitStatus::code(128), Some(message))
    }

    async fn post_start(&mut self, mut started: Started) -> Step {
        let Some(handler) = self.container.hook(HookPhase::PostStart).cloned() else {
            self.begin_running(&mut started);
            return Step::Running(started);
        };
        let limits = HookLimits { deadline: None, cancel: self.shared.stopping.child_token() };
        let source = match (started.take_redelivery(HookPhase::PostStart), started.journaled.take()) {
            (Some(r), _) => Source::Redelivered(r),
            (None, Some(d)) => Source::Journaled(d),
            (None, None) => Source::Fresh,
        };
        // The outcome's events (Killing included) are recorded before the journal's
        // `done`, so they are committed with it.
        let mut kill = None;
        let on_outcome = |run: &HookRun| {
            kill = run.outcome.failure().map(|failure| {
                if self.shared.stopping.is_cancelled() {
                    KillReason::PodStopping
                } else {
                    self.event(EventType::Normal, "Killing", "FailedPostStartHook");
                    KillReason::PostStartFailed(failure.to_string())
                }
            });
        };
        self.deliver(&started, HookPhase::PostStart, &handler, limits, source, None, on_outcome).await;
        match kill {
            None => {
                self.begin_running(&mut started);
                Step::Running(started)
            }
            Some(reason) => Step::Kill(started, reason),
        }
    }

    async fn running(&mut self, mut started: Started) -> Step {
        let runtime = self.shared.node.runtime.clone();
        let id = started.id.clone();
        tokio::select! {
            kind = started.probe_failed() => Step::Kill(started, KillReason::ProbeFailed(kind)),
            exit = runtime.wait(&id) => match exit {
                Ok(exit) => Step::Exited(Some(started), exit, None),
                Err(err) => {
                    tracing::error!("lost track of container {}: {err:#}", self.container.name);
                    Step::Kill(started, KillReason::PodStopping)
                }
            },
            _ = self.shared.stopping.cancelled() => Step::Kill(started, KillReason::PodStopping),
        }
    }
}
