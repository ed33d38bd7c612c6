//! The cost of probing at scale: N running containers (default 1,000), each with a
//! liveness probe at `periodSeconds: 1`, once per handler kind (exec `/bin/true`,
//! httpGet and tcpSocket to a loopback server in another process, a wasm probe plugin),
//! each kind measured in the same run on the process runtime. Reported: hooklet's CPU
//! seconds per second of wall time and per probe (its own, plus its exec'd children for
//! exec), probes per second, and how late probes ran against their schedule (p50/p99
//! lag as a share of the period), with ratios to the exec probe. No target is asserted.
//!
//! `cargo bench -p hooklet --bench probes` (`HOOKLET_PROBE_BENCH_PODS`, default 1000;
//! `HOOKLET_PROBE_BENCH_SECONDS`, the measured window, default 10). Under `cargo test`
//! it is a smoke run: 10 containers, 2 s.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hooklet::lifecycle::{Node, NodeConfig, PodHandle};
use hooklet::runtime::process::ProcessRuntime;
use hooklet::spec::parse::parse_manifests;
use hooklet::wasm::WasmConfig;
use serde_json::json;

mod results;
use results::Results;

/// CPU time of this process (`RUSAGE_SELF`) and of its reaped children.
fn cpu() -> (Duration, Duration) {
    let usage = |who| {
        let u = nix::sys::resource::getrusage(who).expect("getrusage");
        let tv = |t: nix::sys::time::TimeVal| Duration::new(t.tv_sec() as u64, t.tv_usec() as u32 * 1000);
        tv(u.user_time()) + tv(u.system_time())
    };
    (usage(nix::sys::resource::UsageWho::RUSAGE_SELF), usage(nix::sys::resource::UsageWho::RUSAGE_CHILDREN))
}

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn quantile(sorted: &[Duration], q: f64) -> Duration {
    sorted.get(((sorted.len().max(1) - 1) as f64 * q) as usize).copied().unwrap_or_default()
}

/// What one kind cost.
struct Figures {
    kind: &'static str,
    probes_per_second: f64,
    cpu_per_wall: f64,
    cpu_per_probe: Duration,
    lag_p50: Duration,
    lag_p99: Duration,
}

async fn run_kind(node: &Arc<Node>, kind: &'static str, probe: &str, pods: u64, window: Duration) -> Figures {
    let handles: Vec<PodHandle> = (0..pods)
        .map(|i| {
            let yaml = format!(
                "apiVersion: v1\nkind: Pod\nmetadata: {{name: {}-{i}}}\nspec:\n  terminationGracePeriodSeconds: 1\n  containers:\n  - name: c\n    image: busybox\n    command: [sleep, '3600']\n    livenessProbe:\n      {probe}\n      periodSeconds: 1\n      timeoutSeconds: 1\n",
                kind.to_lowercase()
            );
            node.start_pod(parse_manifests(&yaml, "bench.yaml").unwrap().remove(0).pod)
        })
        .collect();
    for h in &handles {
        h.wait_for(|s| s.containers[0].started).await;
    }
    // Two periods so that every worker is past its first probe.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let metrics = node.prober().metrics().clone();
    let count = || metrics.count("successful") + metrics.count("failed") + metrics.count("unknown");
    metrics.keep_lags();
    let failures = || metrics.count("failed") + metrics.count("unknown");
    let failed_before = failures();
    let (probes_before, (self_before, children_before), started) = (count(), cpu(), Instant::now());
    tokio::time::sleep(window).await;
    let (self_after, children_after) = cpu();
    let wall = started.elapsed();
    let probes = count() - probes_before;
    let mut lags = metrics.take_lags();
    lags.sort();
    assert_eq!(failures() - failed_before, 0, "{kind}: probes failed; the bench measures healthy probes");
    let own = self_after - self_before;
    let total = own + (children_after - children_before);
    for h in &handles {
        h.delete(Some(1));
    }
    for h in &handles {
        h.finished().await;
    }
    Figures {
        kind,
        probes_per_second: probes as f64 / wall.as_secs_f64(),
        cpu_per_wall: own.as_secs_f64() / wall.as_secs_f64(),
        cpu_per_probe: total / probes.max(1) as u32,
        lag_p50: quantile(&lags, 0.5),
        lag_p99: quantile(&lags, 0.99),
    }
}

/// A child process killed when dropped (also when the bench panics, so that it never
/// keeps the caller's output pipe open).
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// busybox's httpd on loopback in its own process (so its CPU is not hooklet's).
fn http_server(dir: &Path) -> (KillOnDrop, u16) {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    std::fs::write(dir.join("index.html"), "ok").unwrap();
    let child = std::process::Command::new("busybox")
        .args(["httpd", "-f", "-p", &format!("127.0.0.1:{port}"), "-h"])
        .arg(dir)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .map(KillOnDrop)
        .expect("busybox httpd (Debian's busybox-static) runs");
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        std::thread::sleep(Duration::from_millis(10));
    }
    (child, port)
}

#[tokio::main]
async fn main() {
    let smoke = !std::env::args().any(|a| a == "--bench");
    let pods = if smoke { 10 } else { env_or("HOOKLET_PROBE_BENCH_PODS", 1000) };
    let window = Duration::from_secs(if smoke { 2 } else { env_or("HOOKLET_PROBE_BENCH_SECONDS", 10) });
    let dir = tempfile::tempdir().unwrap();
    let plugins = hooklet::testing::example_plugins_dir();
    let config = NodeConfig { wasm: WasmConfig { plugin_dir: plugins, ..WasmConfig::default() }, ..NodeConfig::default() };
    let node = Node::new(Arc::new(ProcessRuntime::new(dir.path().join("logs"))), config).unwrap();
    let (server, port) = http_server(dir.path());
    let kinds = [
        ("exec", "exec: {command: [/bin/true]}".to_string()),
        ("httpGet", format!("httpGet: {{host: 127.0.0.1, port: {port}, path: /index.html}}")),
        ("tcpSocket", format!("tcpSocket: {{host: 127.0.0.1, port: {port}}}")),
        ("wasm", "wasm: {plugin: healthz}".to_string()),
    ];
    println!("{pods} containers, liveness probe every 1 s, {} s measured per kind", window.as_secs());
    let mut figures = Vec::new();
    for (kind, probe) in &kinds {
        figures.push(run_kind(&node, kind, probe, pods, window).await);
    }
    drop(server);
    let exec = figures[0].cpu_per_probe.as_secs_f64();
    let mut results = Results::new("probes");
    println!("{:<10} {:>9} {:>12} {:>14} {:>9} {:>9} {:>10}", "kind", "probes/s", "cpu s/s", "cpu/probe", "lag p50", "lag p99", "vs exec");
    for f in &figures {
        let ratio = f.cpu_per_probe.as_secs_f64() / exec;
        println!(
            "{:<10} {:>9.0} {:>11.2}% {:>11.1} µs {:>8.2}% {:>8.2}% {:>10.4}",
            f.kind,
            f.probes_per_second,
            f.cpu_per_wall * 100.0,
            f.cpu_per_probe.as_secs_f64() * 1e6,
            f.lag_p50.as_secs_f64() * 100.0,
            f.lag_p99.as_secs_f64() * 100.0,
            ratio
        );
        results.value("probes", f.kind, json!({
            "containers": pods, "probes_per_second": f.probes_per_second, "cpu_share_of_one_core": f.cpu_per_wall,
            "cpu_per_probe_us": f.cpu_per_probe.as_secs_f64() * 1e6, "lag_p50_share_of_period": f.lag_p50.as_secs_f64(),
            "lag_p99_share_of_period": f.lag_p99.as_secs_f64(), "cpu_per_probe_ratio_to_exec": ratio,
        }));
    }
    results.write(smoke);
}
