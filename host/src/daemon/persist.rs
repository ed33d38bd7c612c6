//! Writing the node's state to the store: the durable delivery journal, pod status
//! snapshots (container instances and back-off entries included) and events (see
//! [`super::event_log`]).

use std::sync::Arc;

use super::event_log::EventLog;
use super::metrics::Metrics;
use crate::events::{Event, COMBINED_PREFIX};
use crate::hooks::{HandlerKind, HookRun};
use crate::lifecycle::{BackoffState, ContainerState, DeliveryJournal, JournalEntry, PodHandle, PodStatus};
use crate::store::{BackoffRow, ContainerRow, EventWrite, FinishedDelivery, NewDelivery, Store};

/// The daemon's journal: each call is a committed SQLite transaction before it
/// returns, so a pending delivery is durable before its handler starts. `done`
/// commits through the event log, with every event recorded before it.
pub struct StoreJournal {
    pub store: Arc<Store>,
    pub events: Arc<EventLog>,
    pub metrics: Arc<Metrics>,
}

impl DeliveryJournal for StoreJournal {
    fn pending(&self, e: &JournalEntry) -> anyhow::Result<()> {
        self.store.delivery_pending(&NewDelivery {
            id: e.delivery.id.clone(),
            attempt: e.delivery.attempt,
            pod_uid: e.pod_uid.clone(),
            container: e.container.clone(),
            runtime_id: e.runtime_id.clone(),
            phase: e.phase.as_str().to_string(),
            termination: e.termination,
        })?;
        Ok(())
    }

    fn done(&self, e: &JournalEntry, run: &HookRun) -> anyhow::Result<()> {
        // The run, the journal's `done` and the events recorded so far (the
        // outcome's among them) commit together (one transaction).
        self.events.finish(FinishedDelivery {
            pod_uid: e.pod_uid.clone(),
            container: e.container.clone(),
            id: e.delivery.id.clone(),
            attempt: e.delivery.attempt,
            run: serde_json::to_value(run)?,
            outcome: run.outcome.summary().to_string(),
        })?;
        let plugin = if run.kind == HandlerKind::Wasm { run.detail.as_str() } else { "" };
        self.metrics.hook_run(run, plugin);
        Ok(())
    }

    fn abandoned(&self, e: &JournalEntry, reason: &str) -> anyhow::Result<()> {
        self.store.delivery_done(&e.delivery.id, reason)?;
        Ok(())
    }
}

/// The container instances of a status, as the store keeps them.
pub fn container_rows(status: &PodStatus) -> Vec<ContainerRow> {
    status
        .init_containers
        .iter()
        .chain(&status.containers)
        .map(|c| ContainerRow {
            name: c.name.clone(),
            runtime_id: c.container_id.as_deref().map(runtime_id).map(str::to_string),
            state: c.state.name().to_string(),
            started_at: match &c.state {
                ContainerState::Running { started_at } => Some(*started_at),
                ContainerState::Terminated { started_at, .. } => *started_at,
                ContainerState::Waiting { .. } => None,
            },
            restart_count: c.restart_count,
            backoff: match &c.state {
                ContainerState::Waiting { message, .. } if in_back_off(&c.state) => message.clone(),
                _ => None,
            },
            backoff_state: c.backoff.map_or_else(BackoffRow::default, |b| BackoffRow {
                next: b.next,
                last_restart: b.last_restart,
                // Only a wait still under way has a restart time to resume.
                restart_at: b.restart_at.filter(|_| in_back_off(&c.state)),
            }),
        })
        .collect()
}

/// Whether a container is waiting in CrashLoopBackOff.
pub fn in_back_off(state: &ContainerState) -> bool {
    matches!(state, ContainerState::Waiting { reason, .. } if reason == "CrashLoopBackOff")
}

/// A stored back-off entry as the lifecycle takes it (None if nothing was saved).
pub fn backoff_state(row: &BackoffRow) -> Option<BackoffState> {
    (*row != BackoffRow::default()).then_some(BackoffState {
        next: row.next,
        last_restart: row.last_restart,
        restart_at: row.restart_at,
    })
}

/// `process://ID` → `ID`.
pub fn runtime_id(container_id: &str) -> &str {
    container_id.split_once("://").map(|(_, id)| id).unwrap_or(container_id)
}

/// Saves every status change of a pod until it is finished; returns the last status.
/// A save that fails (a full disk, a read-only file) is tried again every
/// [`RETRY`](super::event_log::RETRY) with the status of the moment, until one works.
pub async fn persist_status(store: Arc<Store>, metrics: Arc<Metrics>, handle: PodHandle) -> PodStatus {
    let uid = handle.pod().uid().to_string();
    let name = &handle.pod().metadata.name;
    let mut rx = handle.subscribe();
    let all = |s: &PodStatus| s.init_containers.iter().chain(&s.containers).map(|c| c.restart_count).collect::<Vec<u32>>();
    let mut restarts = all(&rx.borrow());
    let (mut spell, mut open) = (FailingSpell::default(), true);
    loop {
        let status = rx.borrow_and_update().clone();
        for (seen, count) in restarts.iter_mut().zip(all(&status)) {
            if count > *seen {
                metrics.restarts(u64::from(count - *seen));
                *seen = count;
            }
        }
        let saved = match serde_json::to_value(&status) {
            Ok(value) => store.save_status(&uid, &value, &container_rows(&status)),
            Err(err) => {
                tracing::error!("serialising a pod status failed: {err}");
                Ok(())
            }
        };
        spell.record(
            &saved,
            |err| tracing::error!(pod = %name, "saving the pod status failed, tried again every {:?}: {err}", super::event_log::RETRY),
            || tracing::warn!(pod = %name, "the pod status is saved again"),
        );
        let failing = spell.is_failing();
        if !failing && (status.finished || !open) {
            return status;
        }
        if failing {
            tokio::select! {
                changed = rx.changed(), if open => open = changed.is_ok(),
                () = tokio::time::sleep(super::event_log::RETRY) => {}
            }
        } else if rx.changed().await.is_err() {
            return status;
        }
    }
}

/// Runs a store write until it works, every [`RETRY`](super::event_log::RETRY) (the
/// state may be unwritable for a while: a full disk), saying what failed once.
pub async fn until_stored(what: &str, write: impl Fn() -> crate::store::Result<()>) {
    let mut spell = FailingSpell::default();
    loop {
        let result = write();
        spell.record(
            &result,
            |err| tracing::error!("{what} failed, tried again every {:?}: {err}", super::event_log::RETRY),
            || tracing::warn!("{what} is done now"),
        );
        if result.is_ok() {
            return;
        }
        tokio::time::sleep(super::event_log::RETRY).await;
    }
}

/// A write that may fail for a while (a full disk, an unwritable file): the first
/// failure of a spell is said, and the first success after it, not every retry.
#[derive(Debug, Default)]
pub struct FailingSpell(bool);

impl FailingSpell {
    /// Whether the last write recorded failed.
    pub fn is_failing(&self) -> bool {
        self.0
    }

    /// Records a write's result: `failed` runs on the first failure of a spell,
    /// `recovered` on the first success after one.
    pub fn record<E>(&mut self, result: &Result<(), E>, failed: impl FnOnce(&E), recovered: impl FnOnce()) {
        match result {
            Ok(()) if std::mem::take(&mut self.0) => recovered(),
            Ok(()) => {}
            Err(err) if !self.0 => {
                self.0 = true;
                failed(err);
            }
            Err(_) => {}
        }
    }
}

/// The key under which an event (and its merged repeats) is stored. A combined
/// event's message changes with each occurrence: it keeps one key (its prefix).
pub fn event_key(e: &Event) -> String {
    let message = if e.message.starts_with(COMBINED_PREFIX) { COMBINED_PREFIX } else { &e.message };
    format!(
        "{}\u{1f}{}\u{1f}{}\u{1f}{}\u{1f}{}",
        e.object.uid,
        e.object.field_path.as_deref().unwrap_or(""),
        e.event_type,
        e.reason,
        message
    )
}

/// An event as the store writes it.
pub fn event_write(event: &Event) -> anyhow::Result<EventWrite> {
    let o = &event.object;
    Ok(EventWrite {
        key: event_key(event),
        pod_uid: o.uid.clone(),
        namespace: o.namespace.clone(),
        pod_name: o.name.clone(),
        event: serde_json::to_value(event)?,
    })
}
