//! One pod: its handle, its shared state and its worker task.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use tokio::sync::{oneshot, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::adopt::{remaining, AdoptedContainer, Adoption};
use super::container::ContainerWorker;
use super::grace::effective_grace;
use super::init::run_init_containers;
use super::slot::Slot;
use super::status::{ContainerState, ContainerStatus, PodPhase, PodStatus};
use super::termination::TerminationOrder;
use super::Node;
use crate::events::{EventType, ObjectRef};
use crate::hooks::deadline::{deadline, Deadline, DeadlineSetter};
use crate::runtime::PodRef;
use crate::spec::{Container, Pod};

/// State shared by a pod's handle, its worker and its container workers.
pub(super) struct PodShared {
    pub node: Arc<Node>,
    pub pod: Arc<Pod>,
    pub object: ObjectRef,
    pub status: watch::Sender<PodStatus>,
    /// Cancelled when deletion begins: nothing new starts; cancels `stopping` too.
    pub deleting: CancellationToken,
    /// Cancelled when the pod stops: on deletion (a child of `deleting`), or when
    /// its regular containers are done for good or its initialization failed, which
    /// stops the sidecars still running. Container workers stop on it: it cancels
    /// PostStart hooks and back-off waits and moves running containers to `Kill`.
    pub stopping: CancellationToken,
    /// The order of stop signals to sidecars (spec 3.7).
    pub order: TerminationOrder,
    /// The termination deadline, set by the first delete (or eviction), shortened
    /// by later ones.
    pub(super) termination: Mutex<Option<DeadlineSetter>>,
}

impl PodShared {
    /// The termination deadline once deletion has begun.
    pub fn termination_deadline(&self) -> Option<Deadline> {
        let guard = self.termination.lock().unwrap_or_else(|e| e.into_inner());
        guard.as_ref().map(|setter| setter.observe())
    }

    /// Records an event about the pod itself.
    pub fn pod_event(&self, event_type: EventType, reason: &str, message: &str) {
        self.node.events.record(&self.object, event_type, reason, message);
    }

    /// Updates one container's status and recomputes the phase.
    pub fn update_container(&self, slot: Slot, f: impl FnOnce(&mut ContainerStatus)) {
        let spec = &self.pod.spec;
        self.status.send_modify(|s| {
            f(slot.status_mut(s));
            s.update_phase(spec);
        });
    }

    pub fn pod_ref(&self) -> PodRef {
        PodRef {
            namespace: self.pod.namespace().to_string(),
            name: self.pod.metadata.name.clone(),
            uid: self.pod.uid().to_string(),
        }
    }
}

/// A running pod. Cheap to clone.
#[derive(Clone)]
pub struct PodHandle {
    shared: Arc<PodShared>,
}

impl PodHandle {
    pub(super) fn spawn(node: Arc<Node>, pod: Pod, adoption: Option<Adoption>) -> PodHandle {
        let (shared, adopted, ended) = Self::prepare(node, pod, adoption);
        if !ended {
            tokio::spawn(run(shared.clone(), adopted));
        }
        PodHandle { shared }
    }

    /// The shared state of a pod about to run (or resumed), and whether it had
    /// already been ended by the node (then no worker runs: nothing is started).
    #[allow(clippy::type_complexity)]
    pub(super) fn prepare(
        node: Arc<Node>,
        pod: Pod,
        adoption: Option<Adoption>,
    ) -> (Arc<PodShared>, Option<(Vec<AdoptedContainer>, Vec<AdoptedContainer>)>, bool) {
        let object = ObjectRef::pod(pod.namespace(), &pod.metadata.name, pod.uid());
        // Regular containers wait for the init containers (`PodInitializing`).
        let regular_reason = if pod.spec.init_containers.is_empty() { "ContainerCreating" } else { "PodInitializing" };
        let fresh = PodStatus {
            phase: PodPhase::Pending,
            pod_ip: None,
            init_containers: pod.spec.init_containers.iter().map(|c| waiting_status(c, "PodInitializing")).collect(),
            containers: pod.spec.containers.iter().map(|c| waiting_status(c, regular_reason)).collect(),
            deletion_requested_at: None,
            deletion_grace_seconds: None,
            finished: false,
            conditions: Vec::new(),
            qos_class: Some(crate::spec::qos::qos_class(&pod.spec)),
            reason: None,
            message: None,
            node_kill: None,
        };
        let (initial, adopted) = match adoption {
            Some(a)
                if a.status.containers.len() == fresh.containers.len()
                    && a.status.init_containers.len() == fresh.init_containers.len() =>
            {
                let ended = a.status.finished && a.status.reason.is_some();
                (PodStatus { finished: ended, ..a.status }, Some((a.init_containers, a.containers)))
            }
            _ => (fresh, None),
        };
        // A pod the node ended (rejected, or evicted and done) is not run again.
        let ended = initial.finished;
        let node_kill = initial.node_kill.map(|k| (k.started_at, k.grace_seconds));
        let resume_deletion = initial.deletion_requested_at.zip(initial.deletion_grace_seconds).or(node_kill);
        let (status, _) = watch::channel(initial);
        let deleting = CancellationToken::new();
        let shared = Arc::new(PodShared {
            node,
            pod: Arc::new(pod),
            object,
            status,
            stopping: deleting.child_token(),
            deleting,
            order: TerminationOrder::default(),
            termination: Mutex::new(None),
        });
        if let Some((began, grace)) = resume_deletion {
            // A deletion under way when hooklet stopped keeps its original deadline.
            let left = remaining(began, Duration::from_secs(grace));
            *shared.termination.lock().unwrap_or_else(|e| e.into_inner()) = Some(deadline(Instant::now() + left).0);
            shared.deleting.cancel();
        }
        (shared, adopted, ended)
    }

    pub(super) fn shared(&self) -> &Arc<PodShared> {
        &self.shared
    }

    pub(super) fn from_shared(shared: Arc<PodShared>) -> PodHandle {
        PodHandle { shared }
    }

    /// A receiver that sees every status change (for persisting it).
    pub fn subscribe(&self) -> watch::Receiver<PodStatus> {
        self.shared.status.subscribe()
    }

    /// The pod as applied (with defaults).
    pub fn pod(&self) -> &Arc<Pod> {
        &self.shared.pod
    }

    /// The pod as an event's involved object.
    pub fn object(&self) -> &ObjectRef {
        &self.shared.object
    }

    /// A snapshot of the status.
    pub fn status(&self) -> PodStatus {
        self.shared.status.borrow().clone()
    }

    /// Waits until the status satisfies `pred`, and returns that status.
    pub async fn wait_for(&self, pred: impl Fn(&PodStatus) -> bool) -> PodStatus {
        let mut rx = self.shared.status.subscribe();
        let status = rx
            .wait_for(|s| pred(s))
            .await
            .expect("the handle keeps the status sender alive");
        status.clone()
    }

    /// Waits until every container is done and the sandbox is removed.
    pub async fn finished(&self) -> PodStatus {
        self.wait_for(|s| s.finished).await
    }

    /// Begins deletion with `grace_seconds` (or the pod's
    /// `terminationGracePeriodSeconds`), or shortens a deletion already under way.
    /// The grace can only decrease (spec 3.2).
    pub fn delete(&self, grace_seconds: Option<i64>) {
        let shared = &self.shared;
        let grace = effective_grace(grace_seconds, &shared.pod.spec);
        let at = Instant::now() + grace;
        let mut termination = shared.termination.lock().unwrap_or_else(|e| e.into_inner());
        match termination.as_ref() {
            Some(setter) => {
                if setter.shorten_to(at) {
                    tracing::info!(pod = %shared.pod.metadata.name, "grace period shortened to {}s", grace.as_secs());
                    shared.status.send_modify(|s| s.deletion_grace_seconds = Some(grace.as_secs()));
                }
            }
            None => {
                *termination = Some(deadline(at).0);
                shared.status.send_modify(|s| {
                    s.deletion_requested_at = Some(SystemTime::now());
                    s.deletion_grace_seconds = Some(grace.as_secs());
                });
                shared.deleting.cancel();
            }
        }
    }
}

/// The pod worker: sandbox, init containers, regular containers in order, wait for
/// all, stop the sidecars, clean up.
async fn run(shared: Arc<PodShared>, adopted: Option<(Vec<AdoptedContainer>, Vec<AdoptedContainer>)>) {
    let node = shared.node.clone();
    match node.runtime.create_sandbox(&shared.pod_ref()).await {
        Ok(sandbox) => shared.status.send_modify(|s| s.pod_ip = sandbox.ip),
        Err(err) => {
            shared.pod_event(EventType::Warning, "FailedCreatePodSandBox", &format!("Failed to create pod sandbox: {err:#}"));
            finish(&shared);
            return;
        }
    }
    let (adopted_init, adopted) = adopted.unzip();
    let mut sidecars = JoinSet::new();
    let initialized = run_init_containers(&shared, adopted_init, &mut sidecars).await;
    // During a deletion, adopted regular containers are resumed (their PreStop, stop).
    if initialized || shared.deleting.is_cancelled() {
        run_regular_containers(&shared, adopted).await;
    }
    shared.order.regular_containers_done();
    if !shared.stopping.is_cancelled() {
        // Completed, or the initialization failed: the sidecars are stopped.
        tracing::info!(pod = %shared.pod.metadata.name, "regular containers done; stopping the pod");
        shared.stopping.cancel();
    }
    join_all(sidecars).await;
    if let Err(err) = node.runtime.remove_sandbox(&shared.pod_ref()).await {
        tracing::warn!("removing the pod sandbox failed: {err:#}");
    }
    finish(&shared);
}

/// Starts the regular containers in order (a container's PostStart blocks the next
/// one's start, spec 2.3) and waits until every one is done.
async fn run_regular_containers(shared: &Arc<PodShared>, adopted: Option<Vec<AdoptedContainer>>) {
    let mut workers = JoinSet::new();
    for index in 0..shared.pod.spec.containers.len() {
        let adopted = adopted.as_ref().and_then(|a| a.get(index).cloned());
        if shared.deleting.is_cancelled() && !resumes_instance(&adopted) {
            continue;
        }
        let (first_start, started) = oneshot::channel();
        workers.spawn(ContainerWorker::new(shared.clone(), Slot::Regular(index)).run(Some(first_start), adopted));
        tokio::select! {
            _ = started => {}
            _ = shared.deleting.cancelled() => {}
        }
    }
    join_all(workers).await;
}

/// Whether an adopted container has an instance to resume, even during deletion.
pub(super) fn resumes_instance(adopted: &Option<AdoptedContainer>) -> bool {
    matches!(adopted, Some(AdoptedContainer::Live { .. } | AdoptedContainer::Exited { .. }))
}

async fn join_all(mut workers: JoinSet<()>) {
    while let Some(result) = workers.join_next().await {
        if let Err(err) = result {
            tracing::error!("container worker failed: {err}");
        }
    }
}

/// A container's status before its first start.
fn waiting_status(c: &Container, reason: &str) -> ContainerStatus {
    ContainerStatus {
        name: c.name.clone(),
        image: c.image.clone(),
        container_id: None,
        state: ContainerState::waiting(reason, None),
        last_state: None,
        started: false,
        ready: false,
        restart_count: 0,
        hooks: Vec::new(),
        wasm_fuel_total: 0,
        backoff: None,
        instance_logs: Default::default(),
    }
}

fn finish(shared: &PodShared) {
    shared.node.prober.metrics().forget_pod(shared.pod.uid());
    let spec = &shared.pod.spec;
    shared.status.send_modify(|s| {
        s.finished = true;
        s.update_phase(spec);
    });
}
