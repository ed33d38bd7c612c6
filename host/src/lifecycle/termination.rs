//! Termination: the kubelet's `killContainer` (Killing event, PreStop within the
//! grace, stop signal, KILL at the deadline) and the order of stop signals in a pod
//! with sidecars (spec 3.2, 3.7).
//!
//! Every container's PreStop, sidecars included, starts at about the same time; only
//! the stop signal is ordered: regular containers first, then the sidecars in
//! reverse init order, each once the ones before it in that order have exited.

use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::adopt::remaining;
use super::container::{ContainerWorker, KillReason, Started, Step};
use super::deliver::Source;
use super::grace::{effective_grace, kill_at, kill_grace};
use super::slot::Slot;
use crate::events::EventType;
use crate::hooks::deadline::Deadline;
use crate::hooks::{HookLimits, HookOutcome};
use crate::runtime::{ContainerId, ExitStatus, Signal};
use crate::spec::HookPhase;

/// Who has exited, for the order of stop signals to sidecars.
#[derive(Debug, Default)]
pub(super) struct TerminationOrder {
    /// Cancelled once every regular container's worker has ended (or none will run).
    regular_done: CancellationToken,
    /// Per sidecar worker spawned: its init index, cancelled when the worker ends.
    sidecars: Mutex<Vec<(usize, CancellationToken)>>,
}

impl TerminationOrder {
    /// Registers the worker of sidecar `index`; the caller cancels the returned
    /// token when that worker ends.
    pub fn sidecar_spawned(&self, index: usize) -> CancellationToken {
        let ended = CancellationToken::new();
        self.sidecars.lock().unwrap_or_else(|e| e.into_inner()).push((index, ended.clone()));
        ended
    }

    /// Every regular container has exited (or never started).
    pub fn regular_containers_done(&self) {
        self.regular_done.cancel();
    }

    /// Completes when sidecar `index` may get its stop signal: the regular containers
    /// and every sidecar after it (in init order) have exited.
    pub async fn sidecar_turn(&self, index: usize) {
        self.regular_done.cancelled().await;
        let later: Vec<CancellationToken> = {
            let sidecars = self.sidecars.lock().unwrap_or_else(|e| e.into_inner());
            sidecars.iter().filter(|(i, _)| *i > index).map(|(_, ended)| ended.clone()).collect()
        };
        for ended in later {
            ended.cancelled().await;
        }
    }
}

impl ContainerWorker {
    /// `killContainer`: Killing event, PreStop within the grace, stop signal, KILL.
    pub(super) async fn kill(&mut self, mut started: Started, reason: KillReason) -> Step {
        let name = self.container.name.clone();
        // Liveness and startup stop before the kill (readiness goes on until the exit).
        if let Some(probes) = &started.probes {
            probes.stop_liveness_and_startup();
        }
        let (message, deadline, post_start_failure) = match reason {
            KillReason::PodStopping => {
                // A pod that completes (its sidecars left) stops with its own grace.
                let deadline = self.shared.termination_deadline().unwrap_or_else(|| {
                    Deadline::fixed(Instant::now() + effective_grace(None, &self.shared.pod.spec))
                });
                (Some(format!("Stopping container {name}")), deadline, None)
            }
            KillReason::PostStartFailed(failure) => {
                // The kubelet's `killContainer` with no override: the pod's TGPS. A
                // deletion arriving meanwhile does not shorten this kill; it is bounded
                // by the TGPS anyway and the pod's own containers are then stopped.
                // Its Killing event was recorded with the PostStart's outcome.
                let at = Instant::now() + kill_grace(&self.shared.pod.spec);
                (None, Deadline::fixed(at), Some(failure))
            }
            KillReason::ProbeFailed(kind) => {
                let (message, grace) = self.probe_kill(kind);
                started.probe_killed = true;
                (Some(message), Deadline::fixed(Instant::now() + grace), None)
            }
            // Its Killing event was recorded before the restart.
            KillReason::Resumed(began, grace) => (None, Deadline::fixed(Instant::now() + remaining(began, grace)), None),
        };
        if let Some(message) = message {
            self.event(EventType::Normal, "Killing", &message);
        }
        let termination = self.termination_times(&deadline);
        let runtime = self.shared.node.runtime.clone();
        let already_exited = tokio::time::timeout(Duration::ZERO, runtime.wait(&started.id)).await.is_ok();
        if let Some(handler) = self.container.hook(HookPhase::PreStop).cloned() {
            // No PreStop for a container that already exited, nor without time to run.
            if !already_exited && deadline.at() > Instant::now() && !started.pre_stop_done {
                let limits = HookLimits { deadline: Some(deadline.clone()), cancel: CancellationToken::new() };
                let source = started.take_redelivery(HookPhase::PreStop).map_or(Source::Fresh, Source::Redelivered);
                let run = self.deliver(&started, HookPhase::PreStop, &handler, limits, source, Some(termination), |_| {}).await;
                if run.outcome == HookOutcome::GraceExpired {
                    tracing::info!(container = %name, "PreStop hook not completed in grace period");
                }
            }
        }
        if self.slot.is_sidecar(&self.shared.pod) && post_start_failure.is_none() && self.shared.stopping.is_cancelled() {
            self.wait_for_turn(deadline.clone()).await;
        }
        let exit = self.stop(&started.id, deadline).await;
        let message = post_start_failure;
        Step::Exited(Some(started), exit, message)
    }

    /// When this termination began (wall clock) and its grace, for the journal: a
    /// deletion began when it was requested; any other kill begins now.
    fn termination_times(&self, deadline: &Deadline) -> (SystemTime, Duration) {
        let now = SystemTime::now();
        let end = now + deadline.at().saturating_duration_since(Instant::now());
        let began = self.shared.status.borrow().deletion_requested_at.filter(|_| self.shared.deleting.is_cancelled());
        let began = began.unwrap_or(now);
        (began, end.duration_since(began).unwrap_or_default())
    }

    /// A sidecar of a stopping pod gets its stop signal once every regular container
    /// and every later sidecar has exited, or when the grace runs out (spec 3.7).
    async fn wait_for_turn(&self, mut deadline: Deadline) {
        let Slot::Init(index) = self.slot else { return };
        tokio::select! {
            _ = self.shared.order.sidecar_turn(index) => {}
            _ = deadline.reached() => {
                tracing::info!(container = %self.container.name, "grace period over before the sidecar's turn to stop");
            }
        }
    }

    /// Stop signal now, KILL at the deadline (but not before the minimal window).
    async fn stop(&self, id: &ContainerId, mut deadline: Deadline) -> ExitStatus {
        let runtime = self.shared.node.runtime.clone();
        let min_window = self.shared.node.config.min_stop_window;
        if let Err(err) = runtime.signal(id, runtime.stop_signal(id)).await {
            tracing::warn!("stop signal to {}: {err:#}", self.container.name);
        }
        let signal_sent = Instant::now();
        let wait = runtime.wait(id);
        tokio::pin!(wait);
        loop {
            let kill_time = kill_at(deadline.at(), signal_sent, min_window);
            // Once the deadline has passed, a shorter one cannot move the kill time (it
            // is the minimal window's end), and waiting for it would return at once.
            let shortenable = deadline.at() > Instant::now();
            tokio::select! {
                exit = &mut wait => return self.exit_or_unknown(exit),
                _ = tokio::time::sleep_until(kill_time) => break,
                // A shorter grace (a second delete) recomputes the kill time.
                _ = deadline.reached(), if shortenable => {}
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
            ExitStatus::code(137)
        })
    }
}
