//! `kubectl get pods` against the scale benchmark's pods, all Running: the wall time of
//! the real kubectl command (the server-side Table; and `-o json`, the `PodList`) and
//! the daemon's CPU time (user + system) while it answers. kubectl's discovery cache is
//! warmed by one untimed run first, so each timed run is one list request (as for a
//! user who ran kubectl before). The median wall time of the runs is reported, and
//! the mean of their CPU times.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use serde::Serialize;

use super::procfs;
use super::scale::NAMESPACE;

/// Timed runs of each command.
const RUNS: usize = 5;

/// The kubectl to run (`HOOKLET_SCALE_KUBECTL`, else the one `.ci/run` installs), if any.
pub fn find() -> Option<PathBuf> {
    let path = std::env::var_os("HOOKLET_SCALE_KUBECTL").map(PathBuf::from).unwrap_or_else(|| "/opt/hooklet-kubectl/bin/kubectl".into());
    path.is_file().then_some(path)
}

/// The medians, seconds.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct KubectlTimes {
    pub get_pods_s: f64,
    pub get_pods_cpu_s: f64,
    pub get_pods_json_s: f64,
    pub get_pods_json_cpu_s: f64,
    /// Baseline, same run: hooklet's own `get pods` over the unix socket (its table from `/v1`).
    pub hooklet_get_pods_s: f64,
    pub hooklet_get_pods_cpu_s: f64,
}

/// Runs the commands against the daemon `pid` through `kubeconfig` (and hooklet's own
/// `get pods` through `socket`); every one must list `pods` pods.
pub fn measure(kubectl: &Path, kubeconfig: &Path, hooklet: &Path, socket: &Path, work: &Path, pid: u32, pods: usize) -> anyhow::Result<KubectlTimes> {
    let cache = work.join("kube-cache");
    // `["hooklet"]`: hooklet's own CLI over the socket; anything else: kubectl with `extra`.
    let command = |extra: &[&str]| {
        let mut c = if extra == ["hooklet"] {
            let mut c = std::process::Command::new(hooklet);
            c.env("HOOKLET_SERVER", format!("unix://{}", socket.display()));
            c
        } else {
            let mut c = std::process::Command::new(kubectl);
            c.arg("--kubeconfig").arg(kubeconfig).arg("--cache-dir").arg(&cache);
            c
        };
        c.args(["get", "pods", "-n", NAMESPACE]).args(extra.iter().filter(|a| **a != "hooklet"));
        c
    };
    let run = |extra: &[&str]| -> anyhow::Result<(f64, f64)> {
        let cpu = procfs::stats(pid)?.cpu_seconds;
        let t = Instant::now();
        let out = command(extra).output().with_context(|| format!("running get pods {extra:?}"))?;
        let wall = t.elapsed().as_secs_f64();
        let cpu = procfs::stats(pid)?.cpu_seconds - cpu;
        anyhow::ensure!(out.status.success(), "kubectl get pods failed: {}", String::from_utf8_lossy(&out.stderr));
        let text = String::from_utf8_lossy(&out.stdout);
        let listed = match extra {
            [] | ["hooklet"] => text.lines().count().saturating_sub(1),
            _ => serde_json::from_str::<serde_json::Value>(&text)?["items"].as_array().map_or(0, Vec::len),
        };
        anyhow::ensure!(listed == pods, "kubectl listed {listed} pods, not {pods}");
        Ok((wall, cpu))
    };
    run(&[])?;
    // The median wall time; the mean CPU time (`/proc` counts whole 10 ms ticks, too
    // coarse for one request).
    let median = |extra: &[&str]| -> anyhow::Result<(f64, f64)> {
        let mut runs = (0..RUNS).map(|_| run(extra)).collect::<anyhow::Result<Vec<_>>>()?;
        let cpu = runs.iter().map(|r| r.1).sum::<f64>() / RUNS as f64;
        runs.sort_by(|a, b| a.0.total_cmp(&b.0));
        Ok((runs[RUNS / 2].0, cpu))
    };
    let (get_pods_s, get_pods_cpu_s) = median(&[])?;
    let (get_pods_json_s, get_pods_json_cpu_s) = median(&["-o", "json"])?;
    let (hooklet_get_pods_s, hooklet_get_pods_cpu_s) = median(&["hooklet"])?;
    Ok(KubectlTimes { get_pods_s, get_pods_cpu_s, get_pods_json_s, get_pods_json_cpu_s, hooklet_get_pods_s, hooklet_get_pods_cpu_s })
}
