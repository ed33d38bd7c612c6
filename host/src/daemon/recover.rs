//! Start-up: re-adopt the pods of the state directory and redeliver pending hooks.
//!
//! For each stored pod, each container instance recorded in its last status (or in
//! a pending delivery, which may be newer) is offered to the runtime: one still
//! running is adopted as it is, one that exited while hooklet was down gets its exit
//! recorded and the restart policy applied. A delivery still pending for a live
//! instance is redelivered with the same id and the next attempt number; one whose
//! container is gone is closed in the journal as `ContainerGone`. A container that
//! was waiting in CrashLoopBackOff is restarted at the time the wait was to end.
//! Rows of pods deleted longer than the retention ago are pruned.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use anyhow::Context;

use super::persist::{backoff_state, in_back_off, runtime_id};
use super::Daemon;
use crate::events::Event;
use crate::lifecycle::Node;
use crate::store::Store;
use crate::hooks::Delivery;
use crate::lifecycle::adopt::{container_config, container_env};
use crate::lifecycle::{AdoptedContainer, Adoption, ContainerState, PodStatus, Redelivery, Slot};
use crate::runtime::{Adopted, ContainerId};
use crate::spec::{HookPhase, Pod};
use crate::store::{DeliveryRow, DeliveryState};

/// Adopts every stored pod. Errors only for an unreadable state.
pub(super) async fn recover(daemon: &Arc<Daemon>) -> anyhow::Result<()> {
    let store = &daemon.store;
    let rows = store.list_pods()?;
    let deliveries = store.deliveries(false)?;
    let mut by_runtime_id: HashMap<String, Vec<DeliveryRow>> = HashMap::new();
    for d in deliveries {
        by_runtime_id.entry(d.delivery.runtime_id.clone()).or_default().push(d);
    }
    let mut adopted_ids = Vec::new();
    let mut live_ids = Vec::new();
    let mut resumed = Vec::new();
    for row in rows {
        let pod: Pod = serde_json::from_value(row.manifest)
            .with_context(|| format!("stored manifest of pod {}/{} is unreadable", row.namespace, row.name))?;
        let mut status: Option<PodStatus> = match row.status.map(serde_json::from_value).transpose() {
            Ok(s) => s,
            Err(err) => {
                tracing::warn!(pod = %row.name, "stored status unreadable ({err}); the pod starts afresh");
                None
            }
        };
        // The back-off entries are kept with the container rows, not in the status.
        for saved in store.containers(&row.uid)? {
            let all = status.iter_mut().flat_map(|s| s.init_containers.iter_mut().chain(s.containers.iter_mut()));
            if let Some(c) = all.into_iter().find(|c| c.name == saved.name) {
                c.backoff = backoff_state(&saved.backoff_state);
            }
        }
        let adoption = match status {
            Some(status) => {
                let slots = (0..status.init_containers.len()).map(Slot::Init).chain((0..status.containers.len()).map(Slot::Regular));
                let (mut init_containers, mut containers) = (Vec::new(), Vec::new());
                for slot in slots {
                    let adopted = adopt_container(daemon, &pod, slot, (slot.status(&status), status.pod_ip), &by_runtime_id).await;
                    if let AdoptedContainer::Live { id, .. } | AdoptedContainer::Exited { id, .. } = &adopted {
                        adopted_ids.push(id.0.clone());
                    }
                    if let AdoptedContainer::Live { id, .. } = &adopted {
                        live_ids.push(id.0.clone());
                    }
                    match slot {
                        Slot::Init(_) => init_containers.push(adopted),
                        Slot::Regular(_) => containers.push(adopted),
                    }
                }
                Some(Adoption { status, init_containers, containers })
            }
            None => None,
        };
        resumed.push((pod, adoption, row.applied_at));
    }
    // Before any pod worker starts a container: nothing unknown may keep running.
    let known = adopted_ids.iter().cloned().collect();
    let pods = resumed.iter().map(|(pod, _, _)| pod.uid().to_string()).collect();
    for id in daemon.runtime.reap_orphans(&known, &pods).await {
        tracing::warn!(id = %id, "removed a leftover container of an earlier hooklet (never recorded, or not adoptable by this runtime)");
    }
    for (pod, adoption, applied_at) in resumed {
        tracing::info!(namespace = %pod.namespace(), pod = %pod.metadata.name, "resuming pod");
        let handle = match adoption {
            Some(adoption) => daemon.node.adopt_pod(pod, adoption),
            None => daemon.node.start_pod(pod),
        };
        daemon.track(handle, applied_at);
    }
    // Deliveries left pending for instances that are gone can never complete.
    for (id, rows) in &by_runtime_id {
        if live_ids.contains(id) {
            continue;
        }
        for d in rows.iter().filter(|d| d.state == DeliveryState::Pending) {
            tracing::warn!(delivery = %d.delivery.id, "closing a {} delivery whose container is gone", d.delivery.phase);
            store.delivery_done(&d.delivery.id, "ContainerGone")?;
        }
    }
    Ok(())
}

/// Prunes the rows of pods deleted longer than `retention` ago, then gives the
/// node's event recorder the stored events, so repeats keep merging into them.
pub(super) fn restore_events(store: &Store, node: &Node, retention: Duration) -> anyhow::Result<()> {
    let pruned = store.prune_deleted(super::deleted_before(retention))?;
    if pruned > 0 {
        tracing::info!("pruned {pruned} rows of deleted pods");
    }
    // Only the live pods' events (and the node's, the plugins'): a deleted pod's stay
    // stored for its retention but never merge again.
    let live: std::collections::HashSet<String> = store.list_pods()?.into_iter().map(|p| p.uid).collect();
    let mut events = Vec::new();
    for row in store.list_events(None, None)? {
        match serde_json::from_value::<Event>(row.event) {
            Ok(event) if event.object.kind == "Pod" && !live.contains(&event.object.uid) => {}
            Ok(event) => events.push(event),
            Err(err) => tracing::warn!("a stored event is unreadable ({err}); it is not merged into"),
        }
    }
    node.events().restore(events);
    Ok(())
}

/// What to do with the container in `slot` of `pod`, whose last saved status is
/// `saved`. A completed init container is `Done`: it does not run again.
async fn adopt_container(
    daemon: &Daemon,
    pod: &Pod,
    slot: Slot,
    (saved, pod_ip): (&crate::lifecycle::ContainerStatus, Option<IpAddr>),
    deliveries: &HashMap<String, Vec<DeliveryRow>>,
) -> AdoptedContainer {
    let name = &saved.name;
    let journaled = || deliveries.values().flatten().filter(|d| d.delivery.pod_uid == pod.uid() && &d.delivery.container == name);
    // A pending delivery names an instance the status may not have recorded yet.
    let pending_id = journaled()
        .filter(|d| d.state == DeliveryState::Pending)
        .max_by_key(|d| d.pending_at)
        .map(|d| d.delivery.runtime_id.clone());
    // Waiting in back-off (and no newer instance): restart at the original time.
    if let (None, Some(restart_at)) = (&pending_id, saved.backoff.and_then(|b| b.restart_at)) {
        if in_back_off(&saved.state) {
            tracing::info!(container = %name, "resuming a CrashLoopBackOff wait");
            return AdoptedContainer::BackOff { restart_at };
        }
    }
    let saved_id = saved.container_id.as_deref().map(runtime_id).map(str::to_string);
    let Some(id) = pending_id.or_else(|| newer_than_saved(journaled(), saved, saved_id.as_deref())).or(saved_id.clone()) else {
        return AdoptedContainer::Start;
    };
    if matches!(saved.state, ContainerState::Terminated { .. }) && saved.container_id.as_deref().map(runtime_id) == Some(&id) {
        return AdoptedContainer::Done;
    }
    // The saved start time is this instance's only if the status named it.
    let started_at = match &saved.state {
        ContainerState::Running { started_at } if saved_id.as_deref() == Some(id.as_str()) => *started_at,
        _ => SystemTime::now(),
    };
    let id = ContainerId(id);
    match daemon.runtime_adopt(pod, slot, &id, pod_ip).await {
        Adopted::Running => {
            let rows = deliveries.get(&id.0).map(Vec::as_slice).unwrap_or_default();
            let pending = rows.iter().filter(|d| d.state == DeliveryState::Pending).max_by_key(|d| d.pending_at);
            let redelivery = pending.map(|d| Redelivery {
                phase: if d.delivery.phase == "PreStop" { HookPhase::PreStop } else { HookPhase::PostStart },
                delivery: Delivery { id: d.delivery.id.clone(), attempt: d.delivery.attempt + 1 },
                termination: d.delivery.termination,
            });
            let done = |phase: &'static str| rows.iter().filter(move |d| d.state == DeliveryState::Done && d.delivery.phase == phase);
            let pre_stop_done = done("PreStop").next().is_some();
            let failed = |d: &&DeliveryRow| matches!(d.outcome.as_deref(), Some("Failed" | "TimedOut"));
            let post_start_failed_at = done("PostStart").filter(failed).filter_map(|d| d.done_at).max();
            tracing::info!(container = %name, id = %id, redelivery = redelivery.is_some(), "adopted a running container");
            AdoptedContainer::Live { id, started_at, redelivery, pre_stop_done, post_start_failed_at }
        }
        Adopted::Exited(exit) => {
            tracing::info!(container = %name, id = %id, code = exit.exit_code, "container exited while hooklet was down");
            AdoptedContainer::Exited { id, started_at, exit }
        }
        Adopted::Unknown => AdoptedContainer::Start,
    }
}

/// The instance of the newest delivery (of any state) when it is newer than the saved
/// status's instance. Status snapshots are written behind the journal, so a crash can
/// lose the snapshot that named an instance whose PostStart was already journaled done;
/// that instance still runs and is the container's current one, not an orphan.
fn newer_than_saved<'a>(
    journaled: impl Iterator<Item = &'a DeliveryRow>,
    saved: &crate::lifecycle::ContainerStatus,
    saved_id: Option<&str>,
) -> Option<String> {
    let newest = journaled.max_by_key(|d| d.pending_at)?;
    if Some(newest.delivery.runtime_id.as_str()) == saved_id {
        return None;
    }
    let saved_started = match &saved.state {
        ContainerState::Running { started_at } => Some(*started_at),
        ContainerState::Terminated { started_at, .. } => *started_at,
        ContainerState::Waiting { .. } => None,
    };
    // A PostStart is journaled when its instance is created, so after any older
    // instance started: one journaled before the saved instance started is older.
    let newer = match (saved_id, saved_started) {
        (None, _) => true,
        // (The journal keeps milliseconds.)
        (Some(_), Some(started)) => newest.pending_at + Duration::from_millis(1) > started,
        (Some(_), None) => false,
    };
    newer.then(|| newest.delivery.runtime_id.clone())
}

impl Daemon {
    async fn runtime_adopt(&self, pod: &Pod, slot: Slot, id: &ContainerId, pod_ip: Option<IpAddr>) -> Adopted {
        // The environment as it would be built now (exec hooks of the process runtime
        // get it); a Secret gone since the start leaves its variables out.
        let env = container_env(pod, slot, pod_ip, &self.node.environment()).unwrap_or_else(|err| {
            tracing::warn!(id = %id, "the adopted container's environment is incomplete: {err}");
            Vec::new()
        });
        match self.runtime.adopt(id, container_config(pod, slot, env)).await {
            Ok(a) => a,
            Err(err) => {
                tracing::warn!(id = %id, "cannot adopt container: {err:#}");
                Adopted::Unknown
            }
        }
    }
}
