//! Exits and restarts: the restart policy and CrashLoopBackOff waits (spec 6.2), with a
//! wait resumed after a hooklet restart at its original time.

use std::time::{Duration, SystemTime};

use tokio::time::Instant;

use super::backoff::{to_instant, to_wall};
use super::container::{ContainerWorker, Started, Step};
use super::status::ContainerState;
use crate::events::EventType;
use crate::runtime::ExitStatus;
use crate::spec::RestartPolicy;

/// What the container's log lost, said with its fix; `None` when nothing was lost.
fn log_loss(exit: &ExitStatus) -> Option<String> {
    (exit.log_bytes_lost > 0).then(|| {
        let why = exit.log_error.as_deref().unwrap_or("a write failed");
        format!("{} bytes of output lost writing its log ({why}); free space where the container logs are kept", exit.log_bytes_lost)
    })
}

impl ContainerWorker {
    /// Records an exit (removing the instance) and decides: back off and restart, or done.
    pub(super) async fn exited(&mut self, started: Option<Started>, exit: ExitStatus, message: Option<String>) -> Step {
        let runtime = self.shared.node.runtime.clone();
        let mut state = ContainerState::terminated(&exit, started.as_ref().map(|s| s.started_at));
        let loss = log_loss(&exit);
        if let ContainerState::Terminated { reason, message: m, .. } = &mut state {
            if started.is_none() {
                *reason = "StartError".to_string();
            }
            *m = message.clone().or_else(|| loss.clone());
        }
        if let Some(loss) = loss {
            self.event(EventType::Warning, "LogOutputLost", &format!("Container {}: {loss}", self.container.name));
        }
        if let Some(s) = &started {
            if let Err(err) = runtime.remove(&s.id).await {
                tracing::warn!("removing container {}: {err:#}", self.container.name);
            }
        }
        let probe_killed = started.as_ref().is_some_and(|s| s.probe_killed);
        let plain_init = self.slot.is_plain_init(&self.shared.pod);
        let restart = !self.shared.stopping.is_cancelled()
            && (self.should_restart(&exit) || probe_killed && self.restarts_after_probe_kill());
        self.shared.update_container(self.slot, |c| {
            c.started = false;
            // A plain init container is ready once it completed.
            c.ready = !restart && plain_init && exit.exit_code == 0;
            if restart {
                c.last_state = Some(state);
                c.state = match &message {
                    Some(m) if started.is_some() => ContainerState::waiting("PostStartHookError", Some(m.clone())),
                    _ => ContainerState::waiting(self.slot.creating_reason(), None),
                };
            } else {
                c.state = state;
            }
        });
        if restart { Step::BackOff } else { Step::Done }
    }

    /// Whether a container that exited with `exit` is restarted: a sidecar always;
    /// a plain init container per the pod's `restartPolicy`, `Always` acting as
    /// `OnFailure` (it ran to completion); a regular container per the policy.
    pub(super) fn should_restart(&self, exit: &ExitStatus) -> bool {
        let pod = &self.shared.pod;
        if self.slot.is_sidecar(pod) {
            return true;
        }
        match pod.spec.restart_policy {
            RestartPolicy::Always if self.slot.is_plain_init(pod) => exit.exit_code != 0,
            RestartPolicy::Always => true,
            RestartPolicy::OnFailure => exit.exit_code != 0,
            RestartPolicy::Never => false,
        }
    }

    /// Waits the back-off delay (none for the first restart), then restarts. The
    /// entry, with the restart time, goes into the status for the daemon to save.
    pub(super) async fn back_off(&mut self) -> Step {
        let now = Instant::now();
        let delay = self.backoff.delay_before_restart(now);
        let mut state = self.backoff.state();
        state.restart_at = (!delay.is_zero()).then(|| to_wall(now + delay));
        self.shared.update_container(self.slot, |c| c.backoff = Some(state));
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
        self.wait_until(now + delay).await
    }

    /// A back-off wait that was under way when hooklet stopped: its state and
    /// `BackOff` event are already recorded; restart at the original time.
    pub(super) async fn resumed_back_off(&mut self, restart_at: SystemTime) -> Step {
        tracing::info!(container = %self.container.name, "resuming a CrashLoopBackOff wait until {}", humantime::format_rfc3339_millis(restart_at));
        self.wait_until(to_instant(restart_at)).await
    }

    async fn wait_until(&self, at: Instant) -> Step {
        tokio::select! {
            _ = tokio::time::sleep_until(at) => Step::Start,
            _ = self.shared.stopping.cancelled() => Step::Done,
        }
    }
}
