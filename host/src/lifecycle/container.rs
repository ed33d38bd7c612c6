//! One container's life, as a state machine whose states are [`Step`]s.
//!
//! ```text
//! Start ──► PostStart ──► Running ──► Exited ──► BackOff ──► Start …
//!   │           │            │           ▲  └──► Done
//!   │           └──(failed)──┴─► Kill ───┘   (Kill: PreStop, stop signal, KILL)
//!   └──(create/start error)──────────────┘
//! ```
//! Deletion moves a started container to `Kill` (cancelling a running PostStart) and
//! ends the loop after `Exited`; back-off waits end early on deletion.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::sync::oneshot;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::backoff::Backoff;
use super::grace::{kill_at, kill_grace};
use super::pod::PodShared;
use super::status::ContainerState;
use crate::events::{EventType, ObjectRef};
use crate::hooks::deadline::Deadline;
use crate::hooks::message::redacted;
use crate::hooks::{Delivery, HookLimits, HookOutcome, HookRun, HookTarget};
use crate::runtime::{ContainerConfig, ContainerId, ExitStatus, Signal};
use crate::spec::{Container, HookPhase, RestartPolicy};

/// A container instance whose process was started.
struct Started {
    id: ContainerId,
    started_at: SystemTime,
}

/// Why a started container is being killed.
enum KillReason {
    Deletion,
    PostStartFailed(String),
}

/// The states of the machine.
enum Step {
    Start,
    PostStart(Started),
    Running(Started),
    Kill(Started, KillReason),
    Exited(Option<Started>, ExitStatus, Option<String>),
    BackOff,
    Done,
}

/// Drives one container of a pod.
pub(super) struct ContainerWorker {
    shared: Arc<PodShared>,
    index: usize,
    container: Arc<Container>,
    object: ObjectRef,
    backoff: Backoff,
    instances: u32,
}

impl ContainerWorker {
    pub(super) fn new(shared: Arc<PodShared>, index: usize) -> Self {
        let container = Arc::new(shared.pod.spec.containers[index].clone());
        let object = shared.object.container(&container.name);
        let backoff = Backoff::new(shared.node.config.backoff);
        ContainerWorker { shared, index, container, object, backoff, instances: 0 }
    }

    /// Runs the machine; `first_start` fires once the first start attempt (PostStart
    /// included) is over, so the pod worker can start the next container.
    pub(super) async fn run(mut self, first_start: oneshot::Sender<()>) {
        let mut first_start = Some(first_start);
        let mut step = Step::Start;
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
                Step::Done => break,
            };
            if matches!(step, Step::Kill(..) | Step::Exited(..)) {
                if let Some(tx) = first_start.take() {
                    let _ = tx.send(());
                }
            }
        }
    }

    fn event(&self, event_type: EventType, reason: &str, message: &str) {
        self.shared.node.events.record(&self.object, event_type, reason, message);
    }

    fn set_state(&self, state: ContainerState) {
        self.shared.update_container(self.index, |c| c.state = state);
    }

    fn config(&self) -> ContainerConfig {
        let c = &self.container;
        ContainerConfig {
            pod: self.shared.pod_ref(),
            name: c.name.clone(),
            image: c.image.clone(),
            argv: c.command.iter().chain(c.args.iter()).cloned().collect(),
            env: c.env.iter().map(|e| (e.name.clone(), e.value.clone())).collect(),
            working_dir: c.working_dir.as_ref().map(Into::into),
        }
    }

    async fn start(&mut self) -> Step {
        if self.shared.deleting.is_cancelled() {
            return Step::Done;
        }
        let runtime = self.shared.node.runtime.clone();
        self.instances += 1;
        if self.instances > 1 {
            self.shared.update_container(self.index, |c| c.restart_count += 1);
        }
        self.set_state(ContainerState::waiting("ContainerCreating", None));
        let id = match runtime.create(self.config()).await {
            Ok(id) => id,
            Err(err) => {
                let message = format!("{err:#}");
                self.event(EventType::Warning, "Failed", &format!("Error: {message}"));
                self.set_state(ContainerState::waiting("CreateContainerError", Some(message.clone())));
                return self.start_failed(message);
            }
        };
        let name = &self.container.name;
        self.shared.update_container(self.index, |c| c.container_id = Some(format!("{}://{id}", runtime.name())));
        self.event(EventType::Normal, "Created", &format!("Created container: {name}"));
        if let Err(err) = runtime.start(&id).await {
            let message = format!("{err:#}");
            self.event(EventType::Warning, "Failed", &format!("Error: {message}"));
            let _ = runtime.remove(&id).await;
            return self.start_failed(message);
        }
        self.event(EventType::Normal, "Started", &format!("Started container {name}"));
        let started_at = SystemTime::now();
        self.set_state(ContainerState::Running { started_at });
        Step::PostStart(Started { id, started_at })
    }

    /// A container that could not be created or started counts as exited with 128
    /// (`StartError`), and the restart policy decides what follows.
    fn start_failed(&self, message: String) -> Step {
        let exit = ExitStatus { exit_code: 128, signal: None, finished_at: SystemTime::now() };
        Step::Exited(None, exit, Some(message))
    }

    fn hook_target(&self, started: &Started, phase: HookPhase) -> HookTarget {
        HookTarget {
            pod: self.shared.pod.clone(),
            container: self.container.clone(),
            container_id: started.id.clone(),
            pod_ip: self.shared.status.borrow().pod_ip,
            phase,
            delivery: Delivery::new(),
        }
    }

    /// Records a hook run on the container and emits the events it calls for.
    fn record_hook(&self, run: &HookRun) {
        let keep = self.shared.node.config.hook_history.max(1);
        self.shared.update_container(self.index, |c| {
            if let Some(w) = &run.wasm {
                c.wasm_fuel_total += w.fuel_consumed;
            }
            c.hooks.push(run.clone());
            let excess = c.hooks.len().saturating_sub(keep);
            c.hooks.drain(..excess);
        });
        if let Some(target) = &run.http_fallback {
            let message = format!("request to HTTPS lifecycle hook {target} got HTTP response, retry with HTTP succeeded");
            self.shared.pod_event(EventType::Warning, "LifecycleHTTPFallback", &message);
        }
        if let Some(failure) = run.outcome.failure() {
            tracing::warn!(container = %self.container.name, "{failure}");
            let reason = format!("Failed{}Hook", run.phase.as_str());
            let message = if self.shared.node.config.redact_hook_messages {
                redacted(run.phase)
            } else {
                failure.to_string()
            };
            self.event(EventType::Warning, &reason, &message);
        }
    }

    async fn post_start(&mut self, started: Started) -> Step {
        let Some(handler) = self.container.hook(HookPhase::PostStart).cloned() else {
            self.shared.update_container(self.index, |c| c.started = true);
            return Step::Running(started);
        };
        let limits = HookLimits { deadline: None, cancel: self.shared.deleting.child_token() };
        let target = self.hook_target(&started, HookPhase::PostStart);
        let run = self.shared.node.hooks.run(&target, &handler, limits).await;
        self.record_hook(&run);
        match run.outcome.failure() {
            None => {
                self.shared.update_container(self.index, |c| c.started = true);
                Step::Running(started)
            }
            Some(_) if self.shared.deleting.is_cancelled() => Step::Kill(started, KillReason::Deletion),
            Some(message) => Step::Kill(started, KillReason::PostStartFailed(message.to_string())),
        }
    }

    async fn running(&mut self, started: Started) -> Step {
        let runtime = self.shared.node.runtime.clone();
        tokio::select! {
            exit = runtime.wait(&started.id) => match exit {
                Ok(exit) => Step::Exited(Some(started), exit, None),
                Err(err) => {
                    tracing::error!("lost track of container {}: {err:#}", self.container.name);
                    Step::Kill(started, KillReason::Deletion)
                }
            },
            _ = self.shared.deleting.cancelled() => Step::Kill(started, KillReason::Deletion),
        }
    }

    /// `killContainer`: Killing event, PreStop within the grace, stop signal, KILL.
    async fn kill(&mut self, started: Started, reason: KillReason) -> Step {
        let name = self.container.name.clone();
        let (message, deadline, post_start_failure) = match reason {
            KillReason::Deletion => {
                let deadline = self.shared.termination_deadline().expect("deletion sets a deadline");
                (format!("Stopping container {name}"), deadline, None)
            }
            KillReason::PostStartFailed(failure) => {
                // The kubelet's `killContainer` with no override: the pod's TGPS. A
                // deletion arriving meanwhile does not shorten this kill; it is bounded
                // by the TGPS anyway and the pod's own containers are then stopped.
                let at = Instant::now() + kill_grace(&self.shared.pod.spec);
                ("FailedPostStartHook".to_string(), Deadline::fixed(at), Some(failure))
            }
        };
        self.event(EventType::Normal, "Killing", &message);
        let runtime = self.shared.node.runtime.clone();
        let already_exited = tokio::time::timeout(Duration::ZERO, runtime.wait(&started.id)).await.is_ok();
        if let Some(handler) = self.container.hook(HookPhase::PreStop).cloned() {
            // No PreStop for a container that already exited, nor without time to run.
            if !already_exited && deadline.at() > Instant::now() {
                let limits = HookLimits { deadline: Some(deadline.clone()), cancel: CancellationToken::new() };
                let target = self.hook_target(&started, HookPhase::PreStop);
                let run = self.shared.node.hooks.run(&target, &handler, limits).await;
                self.record_hook(&run);
                if run.outcome == HookOutcome::GraceExpired {
                    tracing::info!(container = %name, "PreStop hook not completed in grace period");
                }
            }
        }
        let exit = self.stop(&started.id, deadline).await;
        let message = post_start_failure;
        Step::Exited(Some(started), exit, message)
    }

    /// Stop signal now, KILL at the deadline (but not before the minimal window).
    async fn stop(&self, id: &ContainerId, mut deadline: Deadline) -> ExitStatus {
        let runtime = self.shared.node.runtime.clone();
        let min_window = self.shared.node.config.min_stop_window;
        if let Err(err) = runtime.signal(id, Signal::SIGTERM).await {
            tracing::warn!("stop signal to {}: {err:#}", self.container.name);
        }
        let signal_sent = Instant::now();
        let wait = runtime.wait(id);
        tokio::pin!(wait);
        loop {
            let kill_time = kill_at(deadline.at(), signal_sent, min_window);
            tokio::select! {
                exit = &mut wait => return self.exit_or_unknown(exit),
                _ = tokio::time::sleep_until(kill_time) => break,
                // A shorter grace (a second delete) recomputes the kill time.
                _ = deadline.reached() => {}
            }
        }
        tracing::info!(container = %self.container.name, "grace period over; sending SIGKILL");
        if let Err(err) = runtime.signal(id, Signal::SIGKILL).await {
            tracing::warn!("KILL to {}: {err:#}", self.container.name);
        }
        self.exit_or_unknown(wait.await)
    }

    fn exit_or_unknown(&self, exit: anyhow::Result<ExitStatus>) -> ExitStatus {
        exit.unwrap_or_else(|err| {
            tracing::error!("exit of {} unknown: {err:#}", self.container.name);
            ExitStatus { exit_code: 137, signal: None, finished_at: SystemTime::now() }
        })
    }

    async fn exited(&mut self, started: Option<Started>, exit: ExitStatus, message: Option<String>) -> Step {
        let runtime = self.shared.node.runtime.clone();
        let mut state = ContainerState::terminated(&exit, started.as_ref().map(|s| s.started_at));
        if let ContainerState::Terminated { reason, message: m, .. } = &mut state {
            if started.is_none() {
                *reason = "StartError".to_string();
            }
            *m = message.clone();
        }
        if let Some(s) = &started {
            if let Err(err) = runtime.remove(&s.id).await {
                tracing::warn!("removing container {}: {err:#}", self.container.name);
            }
        }
        let restart = !self.shared.deleting.is_cancelled() && self.should_restart(&exit);
        self.shared.update_container(self.index, |c| {
            c.started = false;
            if restart {
                c.last_state = Some(state);
                c.state = match &message {
                    Some(m) if started.is_some() => ContainerState::waiting("PostStartHookError", Some(m.clone())),
                    _ => ContainerState::waiting("ContainerCreating", None),
                };
            } else {
                c.state = state;
            }
        });
        if restart { Step::BackOff } else { Step::Done }
    }

    fn should_restart(&self, exit: &ExitStatus) -> bool {
        match self.shared.pod.spec.restart_policy {
            RestartPolicy::Always => true,
            RestartPolicy::OnFailure => exit.exit_code != 0,
            RestartPolicy::Never => false,
        }
    }

    async fn back_off(&mut self) -> Step {
        let delay = self.backoff.delay_before_restart(Instant::now());
        if delay.is_zero() {
            return Step::Start;
        }
        let name = &self.container.name;
        let pod = self.shared.pod.display_name();
        let secs = humantime::format_duration(Duration::from_secs(delay.as_secs().max(1)));
        self.set_state(ContainerState::waiting(
            "CrashLoopBackOff",
            Some(format!("back-off {secs} restarting failed container={name} pod={pod}")),
        ));
        self.event(EventType::Warning, "BackOff", &format!("Back-off restarting failed container {name} in pod {pod}"));
        tokio::select! {
            _ = tokio::time::sleep(delay) => Step::Start,
            _ = self.shared.deleting.cancelled() => Step::Done,
        }
    }
}
