//! Container start latency and container monitor memory, for any runtime: the rows
//! the hooks bench adds for the process runtime (in-process and under
//! `hooklet-monitor`) and for runc.
#![allow(dead_code)]

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hooklet::runtime::{ContainerConfig, PodRef, Runtime};

/// A `sleep 3600` busybox container `name` of pod `pod`.
pub fn sleeper(pod: &PodRef, name: &str) -> ContainerConfig {
    ContainerConfig {
        pod: pod.clone(),
        name: name.into(),
        image: "busybox".into(),
        argv: vec!["sleep".into(), "3600".into()],
        command_len: 2,
        ..Default::default()
    }
}

/// `create` + `start` of `n` containers on `runtime`, one at a time, each removed
/// before the next (the removal not timed): the samples.
pub async fn start_latency(runtime: &Arc<dyn Runtime>, pod: &PodRef, n: usize) -> Vec<Duration> {
    let mut samples = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        let id = runtime.create(sleeper(pod, "start")).await.unwrap();
        runtime.start(&id).await.unwrap();
        samples.push(t.elapsed());
        runtime.remove(&id).await.unwrap();
    }
    samples
}

/// The monitors' memory with `n` containers of `runtime` running at once.
#[derive(Debug, Clone, Copy)]
pub struct MonitorPss {
    /// Monitors found (every one of `state`'s, the `n` and any already running).
    pub monitors: u64,
    /// Their mean proportional set size, kB (shared pages split between them).
    pub kib_each: f64,
}

/// Starts `n` containers on `runtime`, reads the PSS of every `hooklet-monitor` whose
/// command line names `state` (`/proc/PID/smaps_rollup`), and removes them again.
pub async fn monitor_pss(runtime: &Arc<dyn Runtime>, pod: &PodRef, n: usize, state: &Path) -> MonitorPss {
    let mut ids = Vec::with_capacity(n);
    for i in 0..n {
        let id = runtime.create(sleeper(pod, &format!("pss{i}"))).await.unwrap();
        runtime.start(&id).await.unwrap();
        ids.push(id);
    }
    let (monitors, pss_kib) = hooklet::bench::procfs::supervisors(state);
    assert!(monitors as usize >= n, "{monitors} monitors for {n} containers under {}", state.display());
    for id in &ids {
        runtime.remove(id).await.unwrap();
    }
    MonitorPss { monitors, kib_each: pss_kib as f64 / monitors as f64 }
}
