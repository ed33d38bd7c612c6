//! The scale benchmark: many pods on the process runtime under the real daemon.
//!
//! [`run`] starts `hooklet serve` on a fresh state directory, measures its idle
//! resident memory, applies `pods` pods (one container running `sleep`, a PostStart
//! and a PreStop hook of one kind: the `noop` wasm plugin or an exec of `/bin/true`)
//! as one multi-document manifest the way `hooklet apply -f` sends it, waits until
//! every container is started (its PostStart done), deletes every pod with a short
//! grace, waits until they are gone, and reads every hook run from the state database
//! after a clean shutdown. Nothing is asserted; the numbers go into a [`Report`].

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{bail, Context};
use hyper::Method;
use serde::Serialize;

use super::daemon::{BenchDaemon, DaemonFlags};
use super::procfs;
use crate::api::types::{ApplyRequest, ApplyResponse, PodList};
use crate::cli::client::Client;
use crate::hooks::HookRun;
use crate::lifecycle::ContainerState;
use crate::spec::HookPhase;

/// The namespace the benchmark's pods live in.
pub const NAMESPACE: &str = "scale-bench";

/// Manifest text sent per apply request at most (the API refuses bodies over 1 MiB).
const APPLY_CHUNK: usize = 512 * 1024;

/// DELETE requests in flight at once.
const DELETE_CONCURRENCY: usize = 8;

/// The kind of the pods' PostStart and PreStop hooks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum HookKind {
    /// `wasm: {plugin: noop}`.
    Wasm,
    /// `exec: {command: [/bin/true]}`.
    Exec,
}

impl HookKind {
    /// Parses `wasm` or `exec`.
    pub fn parse(s: &str) -> anyhow::Result<HookKind> {
        match s.trim() {
            "wasm" => Ok(HookKind::Wasm),
            "exec" => Ok(HookKind::Exec),
            other => bail!("unknown hook kind {other:?}: use wasm or exec"),
        }
    }

    fn handler(self) -> &'static str {
        match self {
            HookKind::Wasm => "{wasm: {plugin: noop}}",
            HookKind::Exec => "{exec: {command: [/bin/true]}}",
        }
    }
}

/// What to run.
#[derive(Debug, Clone)]
pub struct Config {
    /// The `hooklet` executable to run as the daemon.
    pub hooklet: PathBuf,
    /// A directory holding `noop.wasm` (copied into the daemon's own plugin directory).
    pub plugins: PathBuf,
    /// Where to put the state directory, socket and daemon log (a fresh directory
    /// below it is created and, unless `keep`, removed afterwards).
    pub work_dir: PathBuf,
    pub pods: usize,
    pub hook: HookKind,
    /// `terminationGracePeriodSeconds` and the delete's `gracePeriodSeconds`.
    pub grace_seconds: u32,
    /// How often the pod list is polled while waiting.
    pub poll: Duration,
    /// Give up waiting for all Running (or all gone) after this long.
    pub timeout: Duration,
    /// Keep the work directory (state, logs) for inspection.
    pub keep: bool,
    /// The real kubectl, to time `kubectl get pods` with every pod Running.
    pub kubectl: Option<PathBuf>,
    /// SIGKILL the daemon once every pod runs and measure how long a new one takes to
    /// adopt them all; the delete rows are then the new daemon's.
    pub adopt: bool,
    /// Run the pods under `--runtime runc` (root; the busybox image is built and
    /// imported first) instead of the process runtime.
    pub runc: bool,
}

/// Percentiles of hook durations, milliseconds.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Latency {
    pub runs: usize,
    pub failed: usize,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    /// The outcome and output of the first failed run, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_failure: Option<String>,
}

/// The result of one run.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub hook: HookKind,
    /// `process` or `runc`.
    pub runtime: &'static str,
    pub pods: usize,
    pub grace_seconds: u32,
    pub poll_ms: u64,
    /// The daemon's resident memory with no pods, `noop` loaded from the compiled-code
    /// cache (a node's usual start), MiB.
    pub idle_rss_mib: f64,
    /// The same on the very first start, which compiled `noop` with Cranelift, MiB.
    pub idle_rss_compiled_mib: f64,
    /// First apply request sent → the pod list shows every container started.
    pub apply_to_running_s: f64,
    /// First apply request sent → the last PostStart finished (from the hook records).
    pub apply_to_last_post_start_s: f64,
    /// How long the apply request(s) took.
    pub apply_request_s: f64,
    /// First DELETE sent → the pod list is empty (every pod terminated and removed).
    pub delete_to_gone_s: f64,
    /// How long sending every DELETE took.
    pub delete_requests_s: f64,
    /// The daemon's peak resident memory (`VmHWM`) over the whole run, MiB.
    pub peak_rss_mib: f64,
    /// The daemon's CPU time (user + system): applying until all Running, deleting until all gone.
    pub cpu_apply_s: f64,
    pub cpu_delete_s: f64,
    /// The daemon with every pod Running: threads, open fds, its supervisors and their PSS.
    pub threads_running: u64,
    pub fds_running: u64,
    pub supervisors_running: u64,
    pub supervisors_pss_mib: f64,
    /// The soft open-files limit the daemon ran with.
    pub nofile_limit: u64,
    pub post_start: Latency,
    pub pre_stop: Latency,
    /// `kubectl get pods` with every pod Running (when a kubectl was given).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kubectl: Option<super::kubectl::KubectlTimes>,
    /// With `adopt`: how long a restarted daemon took to adopt every container.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub adoption: Option<Adoption>,
}

/// A new daemon adopting the pods of a SIGKILLed one.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Adoption {
    /// New daemon spawned → its API answers (state loaded, every container offered to
    /// the runtime: the recovery runs before the daemon listens).
    pub restart_to_listening_s: f64,
    /// New daemon spawned → its pod list shows every container running under its id
    /// from before the kill, with no restart counted.
    pub restart_to_adopted_s: f64,
    /// The new daemon's CPU time (user + system) until then.
    pub cpu_s: f64,
}

/// Runs the benchmark once; see the module docs.
pub async fn run(config: &Config) -> anyhow::Result<Report> {
    let dir = config.work_dir.join(format!("hooklet-scale-{}-{}", std::process::id(), crate::store::to_ms(SystemTime::now())));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let result = run_in(config, &dir).await;
    if config.runc {
        super::runc::remove_leftovers(&dir.join("state"));
        super::runc::remove_bridge(&super::runc::scale_network());
        if !(config.keep || result.is_err()) {
            super::runc::unmount_below(&dir);
        }
    }
    if config.keep || result.is_err() {
        eprintln!("scale bench: state and daemon log kept in {}", dir.display());
    } else {
        let _ = std::fs::remove_dir_all(&dir);
    }
    result
}

async fn run_in(config: &Config, dir: &Path) -> anyhow::Result<Report> {
    // A plugin directory with just `noop`, so both hook kinds start the same daemon.
    let plugins = dir.join("plugins");
    std::fs::create_dir_all(&plugins)?;
    let noop = config.plugins.join("noop.wasm");
    std::fs::copy(&noop, plugins.join("noop.wasm")).with_context(|| format!("copying {}", noop.display()))?;
    let flags = DaemonFlags { max_pods: config.pods, https: config.kubectl.is_some(), runc: config.runc.then(super::runc::scale_network) };
    if config.runc {
        super::runc::import_busybox(&config.hooklet, dir, &dir.join("state"))?;
    }
    // The first start compiles the plugin (into the state directory's cache); the
    // measured daemon is the second, as on a node that has run before.
    let first = BenchDaemon::start(&config.hooklet, dir, &plugins, &flags).await?;
    let idle_compiled = idle_stats(&first).await?;
    first.stop().await?;
    let daemon = BenchDaemon::start(&config.hooklet, dir, &plugins, &flags).await?;
    let pid = daemon.pid();
    let idle = idle_stats(&daemon).await?;

    let applied_at = SystemTime::now();
    let t0 = Instant::now();
    let uids = apply(&daemon.client, config).await?;
    let apply_request = t0.elapsed();
    let list = wait_list(&daemon.client, config, "every container started", |l| {
        l.items.len() == config.pods && l.items.iter().all(|p| p.status.containers.iter().all(|c| c.started))
    })
    .await?;
    let running_after = t0.elapsed();
    let last_post_start = list
        .items
        .iter()
        .flat_map(|p| p.status.containers.iter().flat_map(|c| c.hooks.iter()))
        .filter(|h| h.phase == HookPhase::PostStart)
        .map(|h| h.started_at + h.duration)
        .max()
        .and_then(|t| t.duration_since(applied_at).ok())
        .unwrap_or_default();
    let running = procfs::stats(pid)?;
    let nofile_limit = procfs::nofile_limit(pid);
    let (supervisors, supervisors_pss) = procfs::supervisors(&daemon.state);
    let kubectl = match (&config.kubectl, &daemon.kubeconfig) {
        (Some(kubectl), Some(kubeconfig)) => Some(super::kubectl::measure(kubectl, kubeconfig, &config.hooklet, &dir.join("h.sock"), dir, pid, config.pods)?),
        _ => None,
    };

    let (daemon, adoption) = match config.adopt {
        true => {
            let (daemon, adoption) = adopt_after_crash(daemon, config, dir, &plugins, &flags, &list).await?;
            (daemon, Some(adoption))
        }
        false => (daemon, None),
    };
    let pid = daemon.pid();
    let before_delete = procfs::stats(pid)?;
    let t1 = Instant::now();
    delete_all(&daemon.client, config).await?;
    let delete_requests = t1.elapsed();
    wait_list(&daemon.client, config, "every pod gone", |l| l.items.is_empty()).await?;
    let gone_after = t1.elapsed();
    let end = procfs::stats(pid)?;

    let state = daemon.state.clone();
    daemon.stop().await?;
    let runs = hook_runs(&state, &uids)?;
    let mib = |kib: u64| kib as f64 / 1024.0;
    Ok(Report {
        hook: config.hook,
        runtime: if config.runc { "runc" } else { "process" },
        pods: config.pods,
        grace_seconds: config.grace_seconds,
        poll_ms: config.poll.as_millis() as u64,
        idle_rss_mib: mib(idle.rss_kib),
        idle_rss_compiled_mib: mib(idle_compiled.rss_kib),
        apply_to_running_s: running_after.as_secs_f64(),
        apply_to_last_post_start_s: last_post_start.as_secs_f64(),
        apply_request_s: apply_request.as_secs_f64(),
        delete_to_gone_s: gone_after.as_secs_f64(),
        delete_requests_s: delete_requests.as_secs_f64(),
        // After a crash, the higher of the two daemons' peaks.
        peak_rss_mib: mib(end.hwm_kib.max(running.hwm_kib)),
        cpu_apply_s: running.cpu_seconds - idle.cpu_seconds,
        cpu_delete_s: end.cpu_seconds - before_delete.cpu_seconds,
        threads_running: running.threads,
        fds_running: running.fds,
        supervisors_running: supervisors,
        supervisors_pss_mib: mib(supervisors_pss),
        nofile_limit,
        post_start: latency(&runs, HookPhase::PostStart),
        pre_stop: latency(&runs, HookPhase::PreStop),
        kubectl,
        adoption,
    })
}

/// SIGKILLs `daemon` while the pods of `running` run, starts a new daemon on the same
/// state, and waits until its pod list shows every container of `running` running
/// with its container id from before the kill and no restart counted (adopted, not
/// started again).
async fn adopt_after_crash(daemon: BenchDaemon, config: &Config, dir: &Path, plugins: &Path, flags: &DaemonFlags, running: &PodList) -> anyhow::Result<(BenchDaemon, Adoption)> {
    let ids = |list: &PodList| -> std::collections::BTreeSet<String> {
        let containers = list.items.iter().flat_map(|p| p.status.containers.iter());
        containers
            .filter(|c| c.started && c.restart_count == 0 && matches!(c.state, ContainerState::Running { .. }))
            .filter_map(|c| c.container_id.clone())
            .collect()
    };
    let before = ids(running);
    anyhow::ensure!(before.len() == config.pods, "{} of {} containers running before the kill", before.len(), config.pods);
    daemon.crash().await?;
    let t = Instant::now();
    let daemon = BenchDaemon::start(&config.hooklet, dir, plugins, flags).await?;
    let listening = t.elapsed();
    wait_list(&daemon.client, config, "every container adopted", |l| ids(l) == before).await?;
    let adopted = t.elapsed();
    let cpu = procfs::stats(daemon.pid())?.cpu_seconds;
    Ok((daemon, Adoption { restart_to_listening_s: listening.as_secs_f64(), restart_to_adopted_s: adopted.as_secs_f64(), cpu_s: cpu }))
}

/// The daemon's resource use once `noop` is serving and start-up work has settled.
async fn idle_stats(daemon: &BenchDaemon) -> anyhow::Result<procfs::ProcStats> {
    daemon.wait_plugin("noop", Duration::from_secs(120)).await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    Ok(procfs::stats(daemon.pid())?)
}

/// One pod of the benchmark, as YAML (`IfNotPresent`: under runc, the imported busybox;
/// the process runtime runs no image).
pub fn pod_manifest(index: usize, hook: HookKind, grace_seconds: u32) -> String {
    let handler = hook.handler();
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: scale-{index:05}, namespace: {NAMESPACE}}}\nspec:\n  \
         terminationGracePeriodSeconds: {grace_seconds}\n  restartPolicy: Never\n  containers:\n  - name: main\n    \
         image: busybox\n    imagePullPolicy: IfNotPresent\n    command: [sleep, \"3600\"]\n    lifecycle:\n      postStart: {handler}\n      preStop: {handler}\n"
    )
}

/// Applies every pod as multi-document manifests (split below the API's body limit);
/// returns the pods' uids.
async fn apply(client: &Client, config: &Config) -> anyhow::Result<Vec<String>> {
    let mut chunks = vec![String::new()];
    for i in 0..config.pods {
        let doc = pod_manifest(i, config.hook, config.grace_seconds);
        let last = chunks.last_mut().expect("never empty");
        if !last.is_empty() && last.len() + doc.len() > APPLY_CHUNK {
            chunks.push(String::new());
        }
        let last = chunks.last_mut().expect("never empty");
        last.push_str("---\n");
        last.push_str(&doc);
    }
    let mut uids = Vec::with_capacity(config.pods);
    for manifest in chunks {
        let body = serde_json::to_vec(&ApplyRequest { manifest, filename: Some("scale.yaml".into()) })?;
        let response: ApplyResponse = client.json(Method::POST, "/v1/pods", Some(body)).await.map_err(|e| anyhow::anyhow!(e.0))?;
        uids.extend(response.pods.into_iter().map(|p| p.uid));
    }
    anyhow::ensure!(uids.len() == config.pods, "applied {} pods, expected {}", uids.len(), config.pods);
    Ok(uids)
}

/// Deletes every pod, a few requests in flight at once (`hooklet delete pod` sends one per pod).
async fn delete_all(client: &Arc<Client>, config: &Config) -> anyhow::Result<()> {
    let next = Arc::new(AtomicUsize::new(0));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..DELETE_CONCURRENCY {
        let (next, client, pods, grace) = (next.clone(), client.clone(), config.pods, config.grace_seconds);
        tasks.spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= pods {
                    return Ok::<_, anyhow::Error>(());
                }
                let path = format!("/v1/namespaces/{NAMESPACE}/pods/scale-{i:05}?gracePeriodSeconds={grace}");
                client.bytes(Method::DELETE, &path, None).await.map_err(|e| anyhow::anyhow!(e.0))?;
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done??;
    }
    Ok(())
}

/// Polls the benchmark namespace's pod list until `done` holds; returns that list.
async fn wait_list(client: &Client, config: &Config, what: &str, done: impl Fn(&PodList) -> bool) -> anyhow::Result<PodList> {
    let until = Instant::now() + config.timeout;
    loop {
        let list: PodList = client
            .json(Method::GET, &format!("/v1/pods?namespace={NAMESPACE}"), None)
            .await
            .map_err(|e| anyhow::anyhow!(e.0))?;
        if done(&list) {
            return Ok(list);
        }
        if Instant::now() > until {
            let started = list.items.iter().filter(|p| p.status.containers.iter().all(|c| c.started)).count();
            // Say why one pod is not there yet: a refused or evicted pod names the reason.
            let waiting = list.items.iter().find(|p| !p.status.containers.iter().all(|c| c.started)).map(|p| {
                let s = &p.status;
                format!(
                    "; {} is {:?} ({}: {})",
                    p.pod.metadata.name,
                    s.phase,
                    s.reason.as_deref().unwrap_or("no reason"),
                    s.message.as_deref().unwrap_or("no message")
                )
            });
            bail!(
                "waited {:?} for {what}: {} pods listed, {started} with every container started{}; \
                 raise HOOKLET_SCALE_TIMEOUT or lower HOOKLET_SCALE_PODS",
                config.timeout,
                list.items.len(),
                waiting.unwrap_or_default()
            );
        }
        tokio::time::sleep(config.poll).await;
    }
}

/// Every hook run of the pods, read from the (stopped) daemon's state database.
fn hook_runs(state_dir: &Path, uids: &[String]) -> anyhow::Result<Vec<HookRun>> {
    let store = crate::store::Store::open(state_dir)?;
    let mut runs = Vec::new();
    for uid in uids {
        for row in store.hook_runs(uid, None)? {
            runs.push(serde_json::from_value(row.run).context("a stored hook run")?);
        }
    }
    Ok(runs)
}

/// Percentiles of the runs of one phase (nearest rank).
pub fn latency(runs: &[HookRun], phase: HookPhase) -> Latency {
    let mut ms: Vec<f64> = runs.iter().filter(|r| r.phase == phase).map(|r| r.duration.as_secs_f64() * 1e3).collect();
    if ms.is_empty() {
        return Latency::default();
    }
    ms.sort_by(f64::total_cmp);
    let failed: Vec<&HookRun> = runs.iter().filter(|r| r.phase == phase && r.outcome.summary() != "Succeeded").collect();
    let rank = |q: f64| ms[((q * ms.len() as f64).ceil() as usize).clamp(1, ms.len()) - 1];
    Latency {
        runs: ms.len(),
        failed: failed.len(),
        first_failure: failed.first().map(|r| format!("{:?}: {}", r.outcome, r.output)),
        p50_ms: rank(0.50),
        p99_ms: rank(0.99),
        max_ms: *ms.last().expect("not empty"),
    }
}
