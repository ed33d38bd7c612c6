//! The init sequence: `spec.initContainers` in order, before the regular containers.
//!
//! A plain init container runs to completion; a failed one is restarted per the
//! pod's `restartPolicy` (`Always` acts as `OnFailure`) with CrashLoopBackOff, and
//! with `Never` its failure fails the pod: the regular containers never start. A
//! sidecar (`restartPolicy: Always`) is started and keeps running (restarted
//! whenever it exits); the next container waits until it has started and its
//! PostStart has finished (spec 2.3), then the sequence goes on beside it.

use std::sync::Arc;

use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::adopt::AdoptedContainer;
use super::container::ContainerWorker;
use super::pod::{resumes_instance, PodShared};
use super::slot::Slot;
use super::status::ContainerState;

/// Runs the init containers in order; sidecars are spawned into `sidecars` and
/// keep running. Returns whether the pod is initialized (every plain init
/// container completed): false if one failed for good or the pod is being deleted.
pub(super) async fn run_init_containers(
    shared: &Arc<PodShared>,
    adopted: Option<Vec<AdoptedContainer>>,
    sidecars: &mut JoinSet<()>,
) -> bool {
    for index in 0..shared.pod.spec.init_containers.len() {
        let slot = Slot::Init(index);
        let adopted = adopted.as_ref().and_then(|a| a.get(index).cloned());
        // Nothing new starts during a deletion; adopted instances are resumed.
        if shared.deleting.is_cancelled() && !resumes_instance(&adopted) {
            continue;
        }
        let worker = ContainerWorker::new(shared.clone(), slot);
        if slot.is_sidecar(&shared.pod) {
            let ended = shared.order.sidecar_spawned(index);
            let guard = ended.clone();
            sidecars.spawn(async move {
                let _ended = guard.drop_guard();
                worker.run(None, adopted).await;
            });
            wait_until_started(shared, slot, &ended).await;
        } else {
            worker.run(None, adopted).await;
            if !completed(shared, slot) {
                tracing::info!(pod = %shared.pod.metadata.name, container = %slot.spec(&shared.pod).name, "init container did not complete");
                return false;
            }
        }
    }
    !shared.deleting.is_cancelled()
}

/// Waits until the sidecar in `slot` has started (PostStart finished), its worker
/// `ended`, or the pod stops.
async fn wait_until_started(shared: &PodShared, slot: Slot, ended: &CancellationToken) {
    let mut status = shared.status.subscribe();
    tokio::select! {
        _ = status.wait_for(|s| slot.status(s).started) => {}
        _ = ended.cancelled() => {}
        _ = shared.stopping.cancelled() => {}
    }
}

/// Whether the plain init container in `slot` exited with 0.
fn completed(shared: &PodShared, slot: Slot) -> bool {
    let status = shared.status.borrow();
    matches!(slot.status(&status).state, ContainerState::Terminated { exit_code: 0, .. })
}
