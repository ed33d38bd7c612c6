//! Delivering one hook to a container: journal pending, run, journal done, record.

use std::time::{Duration, SystemTime};

use super::adopt::Redelivery;
use super::container::{ContainerWorker, Started};
use super::journal::JournalEntry;
use crate::events::EventType;
use crate::hooks::message::redacted;
use crate::hooks::{Delivery, HookLimits, HookRun, HookTarget};
use crate::runtime::ContainerId;
use crate::spec::{HookPhase, LifecycleHandler};

/// Where a delivery comes from.
pub(super) enum Source {
    /// A new delivery, journaled now.
    Fresh,
    /// A delivery journaled as pending already (PostStart, before the container started).
    Journaled(Delivery),
    /// A delivery left pending by an earlier hooklet process.
    Redelivered(Redelivery),
}

impl ContainerWorker {
    /// Runs `handler` as a journaled delivery: a fresh one, a pre-journaled one, or a
    /// redelivery (same id, next attempt, with a `HookRedelivered` event).
    /// The outcome's events, and those `on_outcome` records, are recorded before the
    /// journal's `done`: the daemon commits them no later than `done`.
    pub(super) async fn deliver(
        &self,
        started: &Started,
        phase: HookPhase,
        handler: &LifecycleHandler,
        limits: HookLimits,
        source: Source,
        termination: Option<(SystemTime, Duration)>,
        on_outcome: impl FnOnce(&HookRun),
    ) -> HookRun {
        let (delivery, termination, journaled) = match source {
            Source::Fresh => (Delivery::new(), termination, false),
            Source::Journaled(d) => (d, termination, true),
            Source::Redelivered(r) => {
                let message = format!(
                    "Redelivering {} hook (delivery {}, attempt {}): it was in flight when hooklet stopped",
                    phase.as_str(),
                    r.delivery.id,
                    r.delivery.attempt
                );
                self.event(EventType::Normal, "HookRedelivered", &message);
                (r.delivery, r.termination.or(termination), false)
            }
        };
        let entry = self.journal_entry(&started.id, phase, &delivery, termination);
        if !journaled {
            self.journal_pending(&entry);
        }
        let journal = &self.shared.node.journal;
        let target = HookTarget {
            pod: self.shared.pod.clone(),
            container: self.container.clone(),
            container_id: started.id.clone(),
            pod_ip: self.shared.status.borrow().pod_ip,
            phase,
            delivery,
        };
        let run = self.shared.node.hooks.run(&target, handler, limits).await;
        self.record_hook(&run);
        on_outcome(&run);
        if let Err(err) = journal.done(&entry, &run) {
            tracing::error!(container = %self.container.name, "journaling the end of a {} delivery failed: {err:#}", phase.as_str());
        }
        run
    }

    /// The journal's record of a delivery to container instance `id`.
    pub(super) fn journal_entry(
        &self,
        id: &ContainerId,
        phase: HookPhase,
        delivery: &Delivery,
        termination: Option<(SystemTime, Duration)>,
    ) -> JournalEntry {
        JournalEntry {
            pod_uid: self.shared.pod.uid().to_string(),
            container: self.container.name.clone(),
            runtime_id: id.0.clone(),
            phase,
            delivery: delivery.clone(),
            termination,
        }
    }

    /// Journals a delivery as pending (an error is logged and becomes an event).
    pub(super) fn journal_pending(&self, entry: &JournalEntry) {
        if let Err(err) = self.shared.node.journal.pending(entry) {
            let phase = entry.phase.as_str();
            tracing::error!(container = %self.container.name, "journaling the {phase} delivery failed: {err:#}");
            let message = format!("Could not journal the {phase} delivery {}: {err:#}", entry.delivery.id);
            self.event(EventType::Warning, "FailedJournal", &message);
        }
    }

    /// Records a hook run on the container and emits the events it calls for.
    fn record_hook(&self, run: &HookRun) {
        let keep = self.shared.node.config.hook_history.max(1);
        self.shared.update_container(self.slot, |c| {
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
}
