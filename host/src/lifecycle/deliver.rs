//! Delivering one hook to a container: journal pending, run, journal done, record.

use std::time::{Duration, SystemTime};

use super::adopt::Redelivery;
use super::container::{ContainerWorker, Started};
use super::journal::JournalEntry;
use crate::events::EventType;
use crate::hooks::message::redacted;
use crate::hooks::{Delivery, HookLimits, HookRun, HookTarget};
use crate::spec::{HookPhase, LifecycleHandler};

impl ContainerWorker {
    /// Runs `handler` as a journaled delivery: a fresh one, or `redelivery` (same
    /// id, next attempt, with a `HookRedelivered` event) after a hooklet restart.
    pub(super) async fn deliver(
        &self,
        started: &Started,
        phase: HookPhase,
        handler: &LifecycleHandler,
        limits: HookLimits,
        redelivery: Option<Redelivery>,
        termination: Option<(SystemTime, Duration)>,
    ) -> HookRun {
        let (delivery, termination) = match redelivery {
            Some(r) => {
                let message = format!(
                    "Redelivering {} hook (delivery {}, attempt {}): it was in flight when hooklet stopped",
                    phase.as_str(),
                    r.delivery.id,
                    r.delivery.attempt
                );
                self.event(EventType::Normal, "HookRedelivered", &message);
                (r.delivery, r.termination.or(termination))
            }
            None => (Delivery::new(), termination),
        };
        let entry = JournalEntry {
            pod_uid: self.shared.pod.uid().to_string(),
            container: self.container.name.clone(),
            runtime_id: started.id.0.clone(),
            phase,
            delivery: delivery.clone(),
            termination,
        };
        let journal = &self.shared.node.journal;
        if let Err(err) = journal.pending(&entry) {
            tracing::error!(container = %self.container.name, "journaling the {} delivery failed: {err:#}", phase.as_str());
            let message = format!("Could not journal the {} delivery {}: {err:#}", phase.as_str(), delivery.id);
            self.event(EventType::Warning, "FailedJournal", &message);
        }
        let target = HookTarget {
            pod: self.shared.pod.clone(),
            container: self.container.clone(),
            container_id: started.id.clone(),
            pod_ip: self.shared.status.borrow().pod_ip,
            phase,
            delivery,
        };
        let run = self.shared.node.hooks.run(&target, handler, limits).await;
        if let Err(err) = journal.done(&entry, &run) {
            tracing::error!(container = %self.container.name, "journaling the end of a {} delivery failed: {err:#}", phase.as_str());
        }
        self.record_hook(&run);
        run
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
}
