//! Writing the node's state to the store: the durable delivery journal, pod status
//! snapshots (container instances included) and events.

use std::sync::Arc;

use tokio::sync::broadcast::error::RecvError;

use super::metrics::Metrics;
use crate::events::{Event, EventRecorder};
use crate::hooks::{HandlerKind, HookRun};
use crate::lifecycle::{ContainerState, DeliveryJournal, JournalEntry, PodHandle, PodStatus};
use crate::store::{ContainerRow, NewDelivery, Store};

/// The daemon's journal: each call is a committed SQLite transaction before it
/// returns, so a pending delivery is durable before its handler starts.
pub struct StoreJournal {
    pub store: Arc<Store>,
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
        // The run and the journal's `done` commit together (one transaction).
        let value = serde_json::to_value(run)?;
        self.store.finish_delivery(&e.pod_uid, &e.container, &e.delivery.id, e.delivery.attempt, &value, run.outcome.summary())?;
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
        .containers
        .iter()
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
                ContainerState::Waiting { reason, message } if reason == "CrashLoopBackOff" => message.clone(),
                _ => None,
            },
        })
        .collect()
}

/// `process://ID` → `ID`.
pub fn runtime_id(container_id: &str) -> &str {
    container_id.split_once("://").map(|(_, id)| id).unwrap_or(container_id)
}

/// Saves every status change of a pod until it is finished; returns the last status.
pub async fn persist_status(store: Arc<Store>, metrics: Arc<Metrics>, handle: PodHandle) -> PodStatus {
    let uid = handle.pod().uid().to_string();
    let mut rx = handle.subscribe();
    let mut restarts: Vec<u32> = rx.borrow().containers.iter().map(|c| c.restart_count).collect();
    loop {
        let status = rx.borrow_and_update().clone();
        for (seen, c) in restarts.iter_mut().zip(&status.containers) {
            if c.restart_count > *seen {
                metrics.restarts(u64::from(c.restart_count - *seen));
                *seen = c.restart_count;
            }
        }
        match serde_json::to_value(&status) {
            Ok(value) => {
                if let Err(err) = store.save_status(&uid, &value, &container_rows(&status)) {
                    tracing::error!(pod = %handle.pod().metadata.name, "saving the pod status failed: {err}");
                }
            }
            Err(err) => tracing::error!("serialising a pod status failed: {err}"),
        }
        if status.finished || rx.changed().await.is_err() {
            return status;
        }
    }
}

/// The key under which an event (and its merged repeats) is stored.
pub fn event_key(e: &Event) -> String {
    format!(
        "{}\u{1f}{}\u{1f}{}\u{1f}{}\u{1f}{}",
        e.object.uid,
        e.object.field_path.as_deref().unwrap_or(""),
        e.event_type,
        e.reason,
        e.message
    )
}

/// Stores every event as it is recorded (and counts back-offs) until the recorder closes.
pub async fn persist_events(store: Arc<Store>, metrics: Arc<Metrics>, events: EventRecorder) {
    let mut rx = events.subscribe();
    loop {
        let event = match rx.recv().await {
            Ok(e) => e,
            Err(RecvError::Lagged(n)) => {
                tracing::warn!("{n} events were not stored (the store fell behind)");
                continue;
            }
            Err(RecvError::Closed) => return,
        };
        save_event(&store, &event);
        if event.reason == "BackOff" {
            metrics.backoff();
        }
    }
}

/// Stores one event (or its merged update).
pub fn save_event(store: &Store, event: &Event) {
    let result = serde_json::to_value(event).map_err(anyhow::Error::from).and_then(|value| {
        let o = &event.object;
        Ok(store.upsert_event(&event_key(event), &o.uid, &o.namespace, &o.name, &value)?)
    });
    if let Err(err) = result {
        tracing::error!("storing an event failed: {err:#}");
    }
}
