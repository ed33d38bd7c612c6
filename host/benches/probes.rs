//! The cost of probing at scale: N running containers (default 1,000), each with a
//! liveness probe at `periodSeconds: 1`, once per handler kind (exec `/bin/true`,
//! httpGet and tcpSocket to a loopback server in another process, a wasm probe plugin),
//! each kind measured in the same run on the process runtime. Reported: hooklet's CPU
//! seconds per second of wall time and per probe (its own, plus its exec'd children for
//! exec), probes per second, and how late probes ran against their schedule (p50/p99
//! lag as a share of the period), with ratios to the exec probe. No target is asserted.
//!
//! `cargo bench -p hooklet --bench probes` (`HOOKLET_PROBE_BENCH_PODS`, default 1000;
//! `HOOKLET_PROBE_BENCH_SECONDS`, the measured window, default 10;
//! `HOOKLET_PROBE_BENCH_KINDS=wasm,exec` for some kinds only). Under `cargo test`
//! it is a smoke run: 10 containers, 2 s.

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
    /// CPU of reaped children (exec'd probe commands) per second of wall time.
    children_per_wall: f64,
    cpu_per_probe: Duration,
    lag_p50: Duration,
    lag_p99: Duration,
    /// Probes that failed or errored in the window (timeouts under load).
    failed: u64,
}

async fn run_kind(node: &Arc<Node>, kind: &'static str, probe: &str, pods: u64, window: Duration) -> Figures {
    let handles: Vec<PodHandle> = (0..pods)
        .map(|i| {
            let yaml = format!(
                "apiVersion: v1\nkind: Pod\nmetadata: {{name: {}-{i}}}\nspec:\n  terminationGracePeriodSeconds: 1\n  containers:\n  - name: c\n    image: busybox\n    command: [sleep, '3600']\n    {}\n",
                kind.to_lowercase(),
                if probe.is_empty() { String::new() } else { format!("livenessProbe:\n      {probe}\n      periodSeconds: 1\n      timeoutSeconds: 1") }
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
    // On stderr, for a profiler to attach to the measured window only.
    eprintln!("measuring {kind} for {window:?} (pid {})", std::process::id());
    tokio::time::sleep(window).await;
    let (self_after, children_after) = cpu();
    let wall = started.elapsed();
    let probes = count() - probes_before;
    let mut lags = metrics.take_lags();
    lags.sort();
    let failed = failures() - failed_before;
    let own = self_after - self_before;
    let children = children_after - children_before;
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
        children_per_wall: children.as_secs_f64() / wall.as_secs_f64(),
        cpu_per_probe: Duration::ZERO,
        lag_p50: quantile(&lags, 0.5),
        lag_p99: quantile(&lags, 0.99),
        failed,
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

/// The loopback HTTP server of the httpGet and tcpSocket probes: this bench binary again,
/// in its own process (so its CPU is not hooklet's), answering `200 ok` with hyper.
fn http_server() -> (KillOnDrop, u16) {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let child = std::process::Command::new(std::env::current_exe().unwrap())
        .env(SERVE_ENV, port.to_string())
        .stdout(std::process::Stdio::null())
        .spawn()
        .map(KillOnDrop)
        .expect("the bench binary runs as the server");
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        std::thread::sleep(Duration::from_millis(10));
    }
    (child, port)
}

/// Set to a port: the bench binary is the loopback server (see [`http_server`]).
const SERVE_ENV: &str = "HOOKLET_PROBE_BENCH_SERVE";

async fn serve(port: u16) {
    use hyper::service::service_fn;
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await.unwrap();
    loop {
        let Ok((tcp, _)) = listener.accept().await else { continue };
        tokio::spawn(async move {
            let ok = service_fn(|_req| async {
                Ok::<_, std::convert::Infallible>(hyper::Response::new(http_body_util::Full::new(bytes::Bytes::from_static(b"ok"))))
            });
            let _ = hyper::server::conn::http1::Builder::new().serve_connection(hyper_util::rt::TokioIo::new(tcp), ok).await;
        });
    }
}

#[tokio::main]
async fn main() {
    if let Some(port) = std::env::var(SERVE_ENV).ok().and_then(|p| p.parse().ok()) {
        return serve(port).await;
    }
    let smoke = !std::env::args().any(|a| a == "--bench");
    let pods = if smoke { 10 } else { env_or("HOOKLET_PROBE_BENCH_PODS", 1000) };
    let window = Duration::from_secs(if smoke { 2 } else { env_or("HOOKLET_PROBE_BENCH_SECONDS", 10) });
    let dir = tempfile::tempdir().unwrap();
    let plugins = hooklet::testing::example_plugins_dir();
    // As under `hooklet serve`: the plugin directory is watched (no file check per call).
    let wasm = WasmConfig { plugin_dir: plugins, watch: true, ..WasmConfig::default() };
    let config = NodeConfig { wasm, ..NodeConfig::default() };
    let node = Node::new(Arc::new(ProcessRuntime::new(dir.path().join("logs"))), config).unwrap();
    let (server, port) = http_server();
    let kinds = [
        ("none", String::new()),
        ("exec", "exec: {command: [/bin/true]}".to_string()),
        ("httpGet", format!("httpGet: {{host: 127.0.0.1, port: {port}, path: /index.html}}")),
        ("tcpSocket", format!("tcpSocket: {{host: 127.0.0.1, port: {port}}}")),
        ("wasm", "wasm: {plugin: healthz}".to_string()),
    ];
    println!("{pods} containers, liveness probe every 1 s, {} s measured per kind", window.as_secs());
    let mut figures = Vec::new();
    // `HOOKLET_PROBE_BENCH_KINDS=wasm,exec` measures only those (and the idle baseline).
    let only = std::env::var("HOOKLET_PROBE_BENCH_KINDS").ok();
    let wanted = |kind: &str| kind == "none" || only.as_deref().is_none_or(|o| o.split(',').any(|k| k == kind));
    for (kind, probe) in kinds.iter().filter(|(kind, _)| wanted(kind)) {
        figures.push(run_kind(&node, kind, probe, pods, window).await);
    }
    drop(server);
    // Per probe: what the kind costs over the same containers without probes.
    let idle = figures.remove(0);
    for f in &mut figures {
        let extra = (f.cpu_per_wall - idle.cpu_per_wall).max(0.0) + f.children_per_wall;
        f.cpu_per_probe = Duration::from_secs_f64(extra / f.probes_per_second.max(1.0));
    }
    println!("{pods} containers without probes: hooklet {:.2}% of one core (subtracted below)", idle.cpu_per_wall * 100.0);
    let exec = figures.iter().find(|f| f.kind == "exec").map_or(f64::NAN, |f| f.cpu_per_probe.as_secs_f64());
    let mut results = Results::new("probes");
    println!("{:<10} {:>9} {:>12} {:>14} {:>9} {:>9} {:>10} {:>7}", "kind", "probes/s", "cpu s/s", "cpu/probe", "lag p50", "lag p99", "vs exec", "failed");
    for f in &figures {
        let ratio = f.cpu_per_probe.as_secs_f64() / exec;
        println!(
            "{:<10} {:>9.0} {:>11.2}% {:>11.1} µs {:>8.2}% {:>8.2}% {:>10.4} {:>7}",
            f.kind,
            f.probes_per_second,
            f.cpu_per_wall * 100.0,
            f.cpu_per_probe.as_secs_f64() * 1e6,
            f.lag_p50.as_secs_f64() * 100.0,
            f.lag_p99.as_secs_f64() * 100.0,
            ratio,
            f.failed
        );
        results.value("probes", f.kind, json!({
            "containers": pods, "probes_per_second": f.probes_per_second, "cpu_share_of_one_core": f.cpu_per_wall,
            "cpu_per_probe_us": f.cpu_per_probe.as_secs_f64() * 1e6, "lag_p50_share_of_period": f.lag_p50.as_secs_f64(),
            "lag_p99_share_of_period": f.lag_p99.as_secs_f64(), "cpu_per_probe_ratio_to_exec": ratio, "failed": f.failed,
        }));
    }
    results.write(smoke);
}
