//! Hook latency through hooklet's real dispatch path (`HookRunner::run`), each kind
//! measured in the same run, reported as p50/p99 and as ratios to a baseline measured
//! in that run (spawning `/bin/true` directly). No target is asserted here.
//!
//! Run as root with Debian's `runc` installed, it adds the runc runtime in the same run:
//! an exec hook through `runc exec` (in the container's namespaces and a cgroup of its
//! own), and container start latency (create + start) under runc against the process
//! runtime, with the busybox image from `scripts/build-busybox-image`.
//!
//! Container start (create + start) is measured on the process runtime in-process and
//! under its `hooklet-monitor` (as `hooklet serve` runs it), and under runc; then
//! `HOOKLET_BENCH_MONITORS` (50) containers of each monitored runtime run at once and
//! their monitors' proportional set size is read from `/proc/PID/smaps_rollup`.
//!
//! `cargo bench -p hooklet --bench hooks` (iterations: `HOOKLET_BENCH_ITERS`, default 300).

use std::sync::Arc;
use std::time::{Duration, Instant};

use hooklet::hooks::http::HttpHookClient;
use hooklet::hooks::{Delivery, HookLimits, HookOutcome, HookRunner, HookTarget};
use hooklet::runtime::process::ProcessRuntime;
use hooklet::runtime::{ContainerConfig, PodRef, Runtime};
use hooklet::spec::parse::parse_manifests;
use hooklet::spec::{HookPhase, LifecycleHandler};
use hooklet::wasm::{WasmConfig, WasmHost};

mod containers;
mod results;
use containers::{monitor_pss, start_latency, sleeper, MonitorPss};
use results::Results;

const MANIFEST: &str = r#"
apiVersion: v1
kind: Pod
metadata: {name: bench}
spec:
  containers:
  - name: app
    image: busybox
    command: [sleep, "3600"]
    lifecycle:
      postStart: {exec: {command: [/bin/true]}}
      preStop: {sleep: {seconds: 0}}
  - name: wasm
    image: busybox
    command: [sleep, "3600"]
    lifecycle:
      postStart: {wasm: {plugin: noop}, timeoutSeconds: 30}
  - name: http
    image: busybox
    command: [sleep, "3600"]
    lifecycle:
      postStart: {httpGet: {path: /, port: PORT}}
"#;

#[derive(Clone)]
struct Stats {
    p50: Duration,
    p99: Duration,
}

fn stats(mut samples: Vec<Duration>) -> Stats {
    samples.sort();
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q) as usize];
    Stats { p50: at(0.5), p99: at(0.99) }
}

async fn measure<F, Fut>(iters: usize, mut f: F) -> Stats
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    for _ in 0..iters / 10 {
        f().await; // warm-up
    }
    let mut samples = Vec::with_capacity(iters);
    for _ in 0..iters {
        let t = Instant::now();
        f().await;
        samples.push(t.elapsed());
    }
    stats(samples)
}

async fn http_server() -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        loop {
            let (mut s, _) = listener.accept().await.unwrap();
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = s.read(&mut buf).await;
                let _ = s.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n").await;
            });
        }
    });
    port
}

#[tokio::main]
async fn main() {
    // `cargo bench` passes `--bench`; under `cargo test` (scripts/test) this is a smoke
    // run of every row with a few iterations, so the suite cannot rot.
    let smoke = !std::env::args().any(|a| a == "--bench");
    let default_iters = if smoke { 10 } else { 300 };
    let iters: usize = std::env::var("HOOKLET_BENCH_ITERS").ok().and_then(|s| s.parse().ok()).unwrap_or(default_iters);
    let dir = tempfile::tempdir().unwrap();
    let plugins = hooklet::testing::example_plugins_dir();
    let port = http_server().await;
    let pod = parse_manifests(&MANIFEST.replace("PORT", &port.to_string()), "bench.yaml").unwrap().remove(0).pod;
    let pod = Arc::new(pod);
    let runtime = Arc::new(ProcessRuntime::new(dir.path()));
    // Watched, as `hooklet serve` runs it: no delivery checks the plugin's files.
    let wasm = WasmHost::new(WasmConfig { plugin_dir: plugins, watch: true, ..WasmConfig::default() }).unwrap();
    let runner = HookRunner::new(runtime.clone(), HttpHookClient::new("kube-lifecycle/1.34".into()), wasm);

    let mut targets = Vec::new();
    for c in &pod.spec.containers {
        let id = runtime
            .create(ContainerConfig {
                pod: PodRef { namespace: "default".into(), name: "bench".into(), uid: pod.uid().into() },
                name: c.name.clone(),
                image: c.image.clone(),
                argv: c.command.clone(),
                env: vec![],
                working_dir: None,
                ..Default::default()
            })
            .await
            .unwrap();
        runtime.start(&id).await.unwrap();
        targets.push(HookTarget {
            pod: pod.clone(),
            container: Arc::new(c.clone()),
            container_id: id,
            pod_ip: Some("127.0.0.1".parse().unwrap()),
            phase: HookPhase::PostStart,
            delivery: Delivery::new(),
        });
    }
    let hook = |i: usize, phase: HookPhase| -> LifecycleHandler { pod.spec.containers[i].hook(phase).unwrap().clone() };
    let run = |i: usize, handler: LifecycleHandler| {
        let (runner, target) = (&runner, &targets[i]);
        async move {
            let r = runner.run(target, &handler, HookLimits::default()).await;
            assert_eq!(r.outcome, HookOutcome::Succeeded, "{}", r.output);
        }
    };

    let baseline = measure(iters, || async {
        let s = tokio::process::Command::new("/bin/true").status().await.unwrap();
        assert!(s.success());
    })
    .await;
    let rows = vec![
        ("spawn /bin/true directly (baseline)", baseline),
        ("exec hook /bin/true", measure(iters, || run(0, hook(0, HookPhase::PostStart))).await),
        ("sleep 0 hook", measure(iters, || run(0, hook(0, HookPhase::PreStop))).await),
        ("httpGet hook, loopback", measure(iters, || run(2, hook(2, HookPhase::PostStart))).await),
        ("wasm hook, noop plugin (fuel + deadline)", measure(iters, || run(1, hook(1, HookPhase::PostStart))).await),
    ];
    let mut rows = rows;
    // Container start and monitor memory: the process runtime in-process (as `hooklet
    // run`) and under its per-container monitor (as `hooklet serve`).
    let pod_ref = PodRef { namespace: "default".into(), name: "bench".into(), uid: pod.uid().into() };
    let starts = (iters / 10).max(5);
    let monitors: usize = std::env::var("HOOKLET_BENCH_MONITORS").ok().and_then(|s| s.parse().ok()).unwrap_or(if smoke { 3 } else { 50 });
    let monitored_dir = dir.path().join("monitored");
    let monitored: Arc<dyn Runtime> = Arc::new(ProcessRuntime::supervised(
        monitored_dir.join("logs"),
        monitored_dir.join("containers"),
        env!("CARGO_BIN_EXE_hooklet-monitor"),
        hooklet_monitor::cri::DEFAULT_ROTATION,
    ));
    let in_process: Arc<dyn Runtime> = runtime.clone();
    rows.push(("container create+start, process runtime (in-process)", stats(start_latency(&in_process, &pod_ref, starts).await)));
    rows.push(("container create+start, process runtime under hooklet-monitor", stats(start_latency(&monitored, &pod_ref, starts).await)));
    let process_pss = monitor_pss(&monitored, &pod_ref, monitors, &monitored_dir).await;
    let runc = runc_rows(iters, starts, monitors, &pod, &hook(0, HookPhase::PostStart)).await;
    rows.extend(runc.iter().flat_map(|(rows, _)| rows.iter().cloned()));
    let base = rows[0].1.p50.as_secs_f64();
    println!("hook latency, {iters} iterations each, same run (ratio = p50 / baseline p50)");
    println!("{:<64} {:>12} {:>12} {:>10}", "kind", "p50", "p99", "ratio");
    let mut out = Results::new("hooks");
    for (name, s) in &rows {
        let ratio = s.p50.as_secs_f64() / base;
        println!("{name:<64} {:>12?} {:>12?} {:>10.3}", s.p50, s.p99, ratio);
        out.latency("hook latency", name, s.p50, s.p99, ratio);
    }
    let p50 = |i: usize| rows[i].1.p50.as_secs_f64();
    let (exec, wasm, in_process_start, monitored_start) = (p50(1), p50(4), p50(5), p50(6));
    println!("wasm noop hook p50 = 1/{:.1} of the exec /bin/true hook p50", exec / wasm);
    out.value("targets", "exec hook p50 / wasm noop hook p50", serde_json::json!({ "ratio": exec / wasm }));
    let monitored_ratio = monitored_start / in_process_start;
    println!("container start p50: process under the monitor / in-process = {monitored_ratio:.2}");
    out.value("monitor", "container start p50, process under the monitor / in-process", serde_json::json!({ "ratio": monitored_ratio }));
    let mut pss = vec![("process runtime", process_pss)];
    if let Some((runc, runc_pss)) = &runc {
        let runc_exec = runc[0].1.p50.as_secs_f64() / wasm;
        let runc_start = runc[1].1.p50.as_secs_f64();
        println!("wasm noop hook p50 = 1/{runc_exec:.0} of the runc exec /bin/true hook p50");
        println!("container start p50: runc / process in-process = {:.1}", runc_start / in_process_start);
        out.value("targets", "runc exec hook p50 / wasm noop hook p50", serde_json::json!({ "ratio": runc_exec }));
        out.value("runc", "container start p50, runc / process in-process", serde_json::json!({ "ratio": runc_start / in_process_start }));
        out.value("runc", "container start p50, runc / process under the monitor", serde_json::json!({ "ratio": runc_start / monitored_start }));
        pss.push(("runc", *runc_pss));
    }
    for (runtime, p) in pss {
        println!("hooklet-monitor PSS, {runtime}: {:.0} kB each ({} running; target ≤ 300 kB)", p.kib_each, p.monitors);
        out.value("monitor", &format!("monitor PSS, {runtime}, kB each"), serde_json::json!({ "kib": p.kib_each, "monitors": p.monitors }));
    }
    out.write(smoke);
    for t in &targets {
        runtime.remove(&t.container_id).await.unwrap();
    }
}

/// The runc rows (exec hook via `runc exec`, container start) and the monitors' PSS
/// with `monitors` runc containers running, or `None` (with the reason on stderr) when
/// not root or runc is missing.
async fn runc_rows(
    iters: usize,
    starts: usize,
    monitors: usize,
    pod: &Arc<hooklet::spec::Pod>,
    exec: &LifecycleHandler,
) -> Option<(Vec<(&'static str, Stats)>, MonitorPss)> {
    use hooklet::runtime::runc::{PodNetworkOptions, RuncConfig, RuncRuntime};
    if let Some(why) = hooklet::bench::runc::unavailable() {
        eprintln!("runc rows skipped: {why}");
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("busybox.tar");
    hooklet::bench::runc::build_busybox(&archive).unwrap();
    hooklet::image::ImageStore::open(dir.path().join("images")).unwrap().import(&archive).unwrap();
    let network = PodNetworkOptions { bridge: "hkb-bench0".into(), subnet: "10.217.250.0/24".parse().unwrap() };
    let mut config = RuncConfig::under(dir.path(), "runc", dir.path().join("logs"), &network);
    config.monitor.program = env!("CARGO_BIN_EXE_hooklet-monitor").into();
    let runc = match RuncRuntime::open(config).await {
        Ok(runc) => Arc::new(runc),
        Err(err) => {
            eprintln!("runc rows skipped: {err:#}");
            return None;
        }
    };
    let pod_ref = PodRef { namespace: "default".into(), name: "bench".into(), uid: pod.uid().into() };
    let sandbox = runc.create_sandbox(&pod_ref).await.unwrap();
    let id = runc.create(sleeper(&pod_ref, "app")).await.unwrap();
    runc.start(&id).await.unwrap();
    let target = HookTarget {
        pod: pod.clone(),
        container: Arc::new(pod.spec.containers[0].clone()),
        container_id: id.clone(),
        pod_ip: sandbox.ip,
        phase: HookPhase::PostStart,
        delivery: Delivery::new(),
    };
    let wasm = WasmHost::new(WasmConfig::default()).unwrap();
    let runner = HookRunner::new(runc.clone(), HttpHookClient::new("kube-lifecycle/1.34".into()), wasm);
    let exec_hook = measure(iters, || async {
        let r = runner.run(&target, exec, HookLimits::default()).await;
        assert_eq!(r.outcome, HookOutcome::Succeeded, "{}", r.output);
    })
    .await;
    let runtime: Arc<dyn Runtime> = runc.clone();
    let runc_start = stats(start_latency(&runtime, &pod_ref, starts).await);
    // With the exec hook's container: `monitors` + 1 running.
    let pss = monitor_pss(&runtime, &pod_ref, monitors, dir.path()).await;
    runc.remove(&id).await.unwrap();
    runc.remove_sandbox(&pod_ref).await.unwrap();
    hooklet::bench::runc::remove_bridge(&network);
    Some((
        vec![("exec hook /bin/true via runc exec", exec_hook), ("container create+start, runc (under hooklet-monitor)", runc_start)],
        pss,
    ))
}
