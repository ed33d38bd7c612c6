//! The eviction manager's `synchronize` pass, every `--housekeeping-interval`:
//!
//! 1. observe the signals; work out the thresholds met (a threshold met before
//!    stays met until the signal is back above it plus `--eviction-minimum-reclaim`),
//!    and the soft ones met for their whole grace period;
//! 2. report the node conditions (at once; cleared only after
//!    `--eviction-pressure-transition-period` without the threshold met); evict the
//!    pods over their `limits.ephemeral-storage` ([`super::local_storage`]) and end
//!    the pass if there were any;
//! 3. for the most urgent threshold met (memory first), reclaim node-level
//!    resources (dead containers' leftovers, then unused images); if that is enough,
//!    stop;
//! 4. rank the active pods ([`super::rank`]) and evict the first that is not
//!    critical: phase `Failed`, reason `Evicted`, [`super::message`], a `Warning
//!    Evicted` event with annotations, PreStop under the eviction grace (hard: the
//!    kubelet's 1 s; soft: the lesser of `--eviction-max-pod-grace-period` and the
//!    pod's `terminationGracePeriodSeconds`). One pod per pass; the next pass waits
//!    until it is gone (at most 30 s, the kubelet's `podCleanupTimeout`).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use tokio::time::Instant;

use super::message::{eviction_message, EVICTED};
use super::rank::{rank, Candidate, ContainerStats, PodStats};
use super::signals::{Observations, SignalSource};
use super::thresholds::{Signal, Threshold};
use crate::events::{EventRecorder, EventType};
use crate::lifecycle::{ContainerStatus, PodHandle, PodStatus};
use crate::nodestatus::{NodeState, Pressure};
use crate::runtime::{ContainerId, Runtime};
use crate::spec::priority;

/// The grace of a hard eviction (`immediateEvictionGracePeriodSeconds`).
pub const IMMEDIATE_EVICTION_GRACE: Duration = Duration::from_secs(1);
/// How long a pass waits for the pod it evicted (`podCleanupTimeout`).
pub const POD_CLEANUP_TIMEOUT: Duration = Duration::from_secs(30);

/// The eviction settings (flags of `hooklet serve`).
#[derive(Debug, Clone)]
pub struct EvictionConfig {
    /// Hard and soft thresholds ([`super::thresholds::parse_thresholds`]).
    pub thresholds: Vec<Threshold>,
    /// `--eviction-max-pod-grace-period` (seconds; the kubelet's default 0).
    pub max_pod_grace_period: i64,
    /// `--eviction-pressure-transition-period` (5m).
    pub pressure_transition_period: Duration,
    /// `--housekeeping-interval` (10s).
    pub housekeeping_interval: Duration,
}

impl Default for EvictionConfig {
    fn default() -> Self {
        EvictionConfig {
            thresholds: super::thresholds::parse_thresholds(&Default::default()).expect("the defaults parse"),
            max_pod_grace_period: 0,
            pressure_transition_period: Duration::from_secs(300),
            housekeeping_interval: Duration::from_secs(10),
        }
    }
}

/// Node-level reclaim before evicting for disk pressure: the daemon removes what
/// dead containers left and unused images.
#[async_trait]
pub trait Reclaim: Send + Sync {
    /// Removes the leftovers of containers that are gone (logs of finished pods);
    /// returns bytes freed.
    async fn dead_containers(&self) -> u64;
    /// Removes images no pod uses; returns bytes freed.
    async fn unused_images(&self) -> u64;
}

/// The pods the manager may consider, supplied by the daemon.
pub type ActivePods = Box<dyn Fn() -> Vec<PodHandle> + Send + Sync>;

#[derive(Default)]
struct State {
    first_observed: HashMap<usize, Instant>,
    pressure_last_observed: HashMap<Pressure, Instant>,
    /// Thresholds met at the last pass (after their grace), by index.
    met: Vec<usize>,
    observations: Observations,
}

/// What an eviction manager works with.
pub struct EvictionParts {
    pub config: EvictionConfig,
    pub node: Arc<NodeState>,
    pub runtime: Arc<dyn Runtime>,
    pub events: EventRecorder,
    pub source: SignalSource,
    pub pods: ActivePods,
    pub reclaim: Option<Arc<dyn Reclaim>>,
}

/// One eviction manager per node.
pub struct EvictionManager {
    pub(super) parts: EvictionParts,
    state: Mutex<State>,
    evictions: Mutex<BTreeMap<&'static str, u64>>,
}

impl EvictionManager {
    /// A manager for `parts.node`, measuring `parts.source`, ranking what
    /// `parts.pods` returns.
    pub fn new(parts: EvictionParts) -> Arc<Self> {
        Arc::new(EvictionManager { parts, state: Mutex::default(), evictions: Mutex::default() })
    }

    /// Runs a pass every housekeeping interval, forever.
    pub async fn run(self: Arc<Self>) {
        let mut tick = tokio::time::interval(self.parts.config.housekeeping_interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if let Some(evicted) = self.synchronize().await {
                let _ = tokio::time::timeout(POD_CLEANUP_TIMEOUT, evicted.finished()).await;
            }
        }
    }

    /// Evictions so far by signal (`kubelet_evictions{eviction_signal}`).
    pub fn evictions(&self) -> BTreeMap<&'static str, u64> {
        self.evictions.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The signals of the last pass.
    pub fn observations(&self) -> Observations {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).observations.clone()
    }

    /// The configuration.
    pub fn config(&self) -> &EvictionConfig {
        &self.parts.config
    }

    async fn observe(&self) -> Observations {
        let source = self.parts.source.clone();
        tokio::task::spawn_blocking(move || source.observe()).await.unwrap_or_default()
    }

    /// Whether threshold `t` is met by `obs` (with its minimum reclaim when `sticky`).
    fn is_met(t: &Threshold, obs: &Observations, sticky: bool) -> bool {
        let Some(o) = obs.get(&t.signal) else { return false };
        let mut limit = t.value.amount(o.capacity);
        if sticky {
            limit += t.min_reclaim.as_ref().map_or(0, |m| m.amount(o.capacity));
        }
        o.available < limit
    }

    /// One pass; returns the pod it evicted, if any.
    pub async fn synchronize(&self) -> Option<PodHandle> {
        let obs = self.observe().await;
        let now = Instant::now();
        let thresholds = &self.parts.config.thresholds;
        let (met, conditions) = {
            let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
            let met_now: Vec<usize> = (0..thresholds.len())
                .filter(|i| Self::is_met(&thresholds[*i], &obs, false) || (st.met.contains(i) && Self::is_met(&thresholds[*i], &obs, true)))
                .collect();
            st.first_observed.retain(|i, _| met_now.contains(i));
            for i in &met_now {
                st.first_observed.entry(*i).or_insert(now);
                st.pressure_last_observed.insert(thresholds[*i].signal.pressure(), now);
            }
            let period = self.parts.config.pressure_transition_period;
            let conditions: Vec<(Pressure, bool)> = Pressure::ALL
                .into_iter()
                .map(|p| (p, st.pressure_last_observed.get(&p).is_some_and(|at| now.duration_since(*at) < period)))
                .collect();
            let met: Vec<usize> = met_now.into_iter().filter(|i| now.duration_since(st.first_observed[i]) >= thresholds[*i].grace_period).collect();
            st.met = met.clone();
            st.observations = obs.clone();
            (met, conditions)
        };
        for (pressure, on) in conditions {
            self.parts.node.set_pressure(pressure, on);
        }
        if let Some(evicted) = self.local_storage_evictions() {
            return Some(evicted);
        }
        // Memory first, then the others in their order.
        let &i = met.iter().min_by_key(|i| (thresholds[**i].signal != Signal::MemoryAvailable, **i))?;
        let threshold = &thresholds[i];
        tracing::info!(signal = threshold.signal.as_str(), hard = threshold.is_hard(), "eviction manager: threshold met, attempting to reclaim");
        if self.reclaim_node_level(threshold).await {
            return None;
        }
        self.evict_one(threshold, &obs).await
    }

    /// Disk signals: reclaim what dead containers left, then unused images (with a
    /// dedicated imagefs, nodefs pressure reclaims only dead containers), checking
    /// the signal (with its minimum reclaim) after each. True when enough was freed.
    async fn reclaim_node_level(&self, threshold: &Threshold) -> bool {
        let Some(reclaim) = &self.parts.reclaim else { return false };
        let steps = match threshold.signal {
            Signal::MemoryAvailable | Signal::PidAvailable => return false,
            Signal::NodeFsAvailable | Signal::NodeFsInodesFree if self.parts.source.dedicated_imagefs() => 1,
            _ => 2,
        };
        for step in 0..steps {
            let freed = if step == 0 { reclaim.dead_containers().await } else { reclaim.unused_images().await };
            tracing::info!(signal = threshold.signal.as_str(), freed, "eviction manager: reclaimed node-level resources");
            if !Self::is_met(threshold, &self.observe().await, true) {
                tracing::info!("eviction manager: node-level reclaim was enough; no pod is evicted");
                return true;
            }
        }
        false
    }

    /// Ranks the active pods and evicts the first that may be evicted.
    async fn evict_one(&self, threshold: &Threshold, obs: &Observations) -> Option<PodHandle> {
        let handles: Vec<PodHandle> = (self.parts.pods)().into_iter().filter(|h| evictable(&h.status())).collect();
        let stats = self.pod_stats(&handles).await;
        let mut candidates: Vec<(Candidate, &PodHandle)> = handles
            .iter()
            .zip(stats)
            .filter_map(|(h, s)| s.map(|stats| (Candidate { pod: h.pod(), stats }, h)))
            .collect();
        if candidates.is_empty() {
            tracing::info!("eviction manager: no pod with usage stats to evict");
            return None;
        }
        let mut ranked: Vec<Candidate> = candidates.iter().map(|(c, _)| c.clone()).collect();
        rank(threshold.signal, &mut ranked);
        let observed = obs.get(&threshold.signal)?;
        for c in &ranked {
            if priority::is_critical(&c.pod.spec) {
                tracing::info!(pod = %c.pod.metadata.name, "eviction manager: cannot evict a critical pod");
                continue;
            }
            let (_, handle) = candidates.iter_mut().find(|(x, _)| x.pod.uid() == c.pod.uid())?;
            let grace = if threshold.is_hard() {
                IMMEDIATE_EVICTION_GRACE
            } else {
                let seconds = self.parts.config.max_pod_grace_period.min(c.pod.spec.termination_grace_seconds());
                Duration::from_secs(seconds.max(0) as u64)
            };
            let (message, annotations) = eviction_message(threshold, observed, c.pod, &c.stats);
            if !handle.evict(EVICTED, &message, grace) {
                continue;
            }
            self.parts.events.record_annotated(handle.object(), EventType::Warning, EVICTED, &message, annotations);
            self.count_eviction(threshold.signal.as_str());
            tracing::warn!(pod = %c.pod.metadata.name, signal = threshold.signal.as_str(), "eviction manager: pod evicted");
            return Some((*handle).clone());
        }
        tracing::info!("eviction manager: unable to evict any pod from the node");
        None
    }

    /// Counts an eviction under `signal` (`kubelet_evictions`).
    pub(super) fn count_eviction(&self, signal: &'static str) {
        *self.evictions.lock().unwrap_or_else(|e| e.into_inner()).entry(signal).or_default() += 1;
    }

    /// Each pod's stats, or None when its running containers could not be measured.
    async fn pod_stats(&self, handles: &[PodHandle]) -> Vec<Option<PodStats>> {
        let statuses: Vec<PodStatus> = handles.iter().map(PodHandle::status).collect();
        let ids: Vec<ContainerId> = statuses.iter().flat_map(|s| all_containers(s).filter_map(running_id)).collect();
        let usage = self.parts.runtime.usage(&ids).await;
        handles
            .iter()
            .zip(&statuses)
            .map(|(h, s)| {
                let mut stats = PodStats::default();
                for c in all_containers(s) {
                    let mut cs = ContainerStats::default();
                    if let Some(id) = running_id(c) {
                        let u = usage.get(&id)?;
                        cs.working_set = u.working_set_bytes;
                        cs.processes = u.processes;
                    }
                    cs.disk = self.log_size(h, &c.name);
                    stats.containers.push((c.name.clone(), cs));
                }
                Some(stats)
            })
            .collect()
    }

    /// The bytes of a container's log files, the rotated ones included.
    pub(super) fn log_size(&self, h: &PodHandle, container: &str) -> u64 {
        let pod = h.pod();
        let pod_ref = crate::runtime::PodRef { namespace: pod.namespace().into(), name: pod.metadata.name.clone(), uid: pod.uid().into() };
        let Some(path) = self.parts.runtime.log_path(&pod_ref, container) else { return 0 };
        crate::runtime::logs::files(&path).iter().filter_map(|f| std::fs::metadata(f).ok()).map(|m| m.len()).sum()
    }
}

/// A pod still running and not being deleted or ended.
pub(super) fn evictable(s: &PodStatus) -> bool {
    !s.finished && s.reason.is_none() && s.deletion_requested_at.is_none() && crate::nodestatus::view::is_active(s)
}

fn all_containers(s: &PodStatus) -> impl Iterator<Item = &ContainerStatus> {
    s.init_containers.iter().chain(&s.containers)
}

/// The runtime id of a running container.
fn running_id(c: &ContainerStatus) -> Option<ContainerId> {
    let running = matches!(c.state, crate::lifecycle::ContainerState::Running { .. });
    let id = c.container_id.as_deref()?;
    running.then(|| ContainerId(id.split_once("://").map_or(id, |(_, i)| i).to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eviction::signals::Observation;
    use crate::eviction::thresholds::{parse_thresholds, EvictionFlags};

    fn threshold(hard: &str, reclaim: Option<&str>) -> Threshold {
        let flags = EvictionFlags { hard: Some(hard.into()), minimum_reclaim: reclaim.map(str::to_string), ..EvictionFlags::default() };
        parse_thresholds(&flags).unwrap().remove(0)
    }

    fn observed(available: u64) -> Observations {
        Observations::from([(Signal::MemoryAvailable, Observation { available, capacity: 1 << 30 })])
    }

    #[test]
    fn a_signal_that_could_not_be_measured_meets_no_threshold() {
        let t = threshold("memory.available<100Mi", None);
        assert!(!EvictionManager::is_met(&t, &Observations::new(), false));
        assert!(!EvictionManager::is_met(&t, &Observations::new(), true));
        assert!(EvictionManager::is_met(&t, &observed(50 << 20), false));
        assert!(!EvictionManager::is_met(&t, &observed(100 << 20), false));
    }

    #[test]
    fn a_met_threshold_stays_met_until_its_minimum_reclaim() {
        let t = threshold("memory.available<100Mi", Some("memory.available=50Mi"));
        // Above the threshold but below threshold + minimum reclaim.
        assert!(!EvictionManager::is_met(&t, &observed(120 << 20), false));
        assert!(EvictionManager::is_met(&t, &observed(120 << 20), true));
        assert!(!EvictionManager::is_met(&t, &observed(150 << 20), true));
        let pct = threshold("memory.available<10%", Some("memory.available=5%"));
        assert!(EvictionManager::is_met(&pct, &observed((1 << 30) / 100 * 12), true));
    }

    #[test]
    fn only_running_pods_not_ended_or_deleted_are_candidates() {
        use crate::lifecycle::PodPhase;
        let base: PodStatus = serde_json::from_value(serde_json::json!({"phase": "Running", "containers": [], "finished": false})).unwrap();
        assert!(evictable(&base));
        assert!(!evictable(&PodStatus { reason: Some("Evicted".into()), ..base.clone() }));
        assert!(!evictable(&PodStatus { deletion_requested_at: Some(std::time::SystemTime::now()), ..base.clone() }));
        assert!(!evictable(&PodStatus { phase: PodPhase::Succeeded, ..base.clone() }));
        assert!(!evictable(&PodStatus { finished: true, ..base }));
    }
}
