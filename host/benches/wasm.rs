//! The wasm engine, measured in one run with ratios to baselines from the same run:
//!
//! 1. delivery latency of the `noop` plugin through `WasmHost::deliver` (pooling
//!    allocator, pre-instantiated component, fresh store, fuel and a deadline), beside an
//!    exec-style baseline (spawning `/bin/true`) and a naive host that creates an engine
//!    and compiles the component for every call;
//! 2. throughput: `noop` deliveries per second at concurrency 1, 2, 8 and 64;
//! 3. fuel overhead, with fuel and epochs, epochs only, and neither: fib in WAT as a core
//!    module and as a component on hooklet's engine settings, in two shapes (see
//!    `fib_shapes`), then the `compute` plugin (recursive fib, and an FNV hash loop)
//!    through `WasmHost::deliver`;
//! 4. plugin load: 100 distinct plugins compiled cold vs loaded from the disk cache, and
//!    the largest plugin found (the Python or JavaScript marker when built), the same.
//!
//! `cargo bench -p hooklet --bench wasm` (iterations: `HOOKLET_BENCH_ITERS`, default
//! 2000; `HOOKLET_BENCH_PARTS=latency,fuel` runs only those of `latency`, `throughput`,
//! `fuel`, `load`). Nothing is asserted; unset `RUST_BACKTRACE` first (with it wasmtime captures a
//! backtrace whenever a store is dropped).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hooklet::wasm::{CompiledFrom, Metering, PluginEvent, PluginPhase, WasmConfig, WasmDelivery, WasmHost};
use serde_json::json;

mod fib_shapes;
mod results;
use results::Results;

fn delivery(plugin: &str, config: &[(&str, &str)]) -> WasmDelivery {
    WasmDelivery {
        plugin: plugin.into(),
        event: PluginEvent {
            phase: PluginPhase::PostStart,
            pod_name: "bench".into(),
            pod_namespace: "default".into(),
            pod_uid: "uid-bench".into(),
            container_name: "app".into(),
            container_id: "c-bench".into(),
            image: "busybox".into(),
            labels: vec![],
            annotations: vec![],
            pod_ip: None,
            delivery_id: "d-bench".into(),
            attempt: 1,
            config: config.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        },
        fuel: Some(u64::MAX / 4),
        deadline: None,
    }
}

/// A host configured as `hooklet serve` configures it (the plugin directory watched, so
/// no delivery checks the plugin's files), metered as `metering` says, with every plugin
/// of `dir` loaded (so that no compile runs in the background of a measurement).
async fn host(dir: &Path, metering: Metering) -> WasmHost {
    let host = WasmHost::new(WasmConfig { plugin_dir: dir.into(), metering, watch: true, ..WasmConfig::default() }).unwrap();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        if let Some(name) = entry.file_name().to_str().and_then(|n| n.strip_suffix(".wasm")) {
            host.load(name).await.unwrap_or_else(|err| panic!("plugin {name}: {err}"));
        }
    }
    host
}

async fn deliver_ok(host: &WasmHost, plugin: &str, config: &[(&str, &str)]) {
    let outcome = host.deliver(delivery(plugin, config)).await;
    assert_eq!(outcome.result, Ok(()), "{plugin}: {:?}", outcome.stderr);
}

/// p50 and p99 of `iters` timed runs of `f` (after a tenth as many warm-up runs).
async fn percentiles<F, Fut>(iters: usize, mut f: F) -> (Duration, Duration)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    for _ in 0..iters / 10 {
        f().await;
    }
    let mut samples = Vec::with_capacity(iters);
    for _ in 0..iters {
        let started = Instant::now();
        f().await;
        samples.push(started.elapsed());
    }
    samples.sort();
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q) as usize];
    (at(0.5), at(0.99))
}

fn row(out: &mut Results, section: &str, name: &str, p50: Duration, p99: Duration, base: Duration) {
    let ratio = p50.as_secs_f64() / base.as_secs_f64();
    println!("{name:<64} {:>11?} {:>11?} {:>9.4}", p50, p99, ratio);
    out.latency(section, name, p50, p99, ratio);
}

/// A naive host: a new engine, compile, link and instantiate for every call.
fn naive_call(wasm: &[u8]) {
    let engine = wasmtime::Engine::default();
    let component = wasmtime::component::Component::new(&engine, wasm).unwrap();
    std::hint::black_box(component);
}

async fn latency(out: &mut Results, plugins: &Path, iters: usize) {
    let spawn = percentiles(iters.min(500), || async {
        assert!(tokio::process::Command::new("/bin/true").status().await.unwrap().success());
    })
    .await;
    let pooled = host(plugins, Metering::FuelAndEpochs).await;
    let noop = percentiles(iters, || deliver_ok(&pooled, "noop", &[])).await;
    let bytes = std::fs::read(plugins.join("noop.wasm")).unwrap();
    let naive = percentiles(20, || async { naive_call(&bytes) }).await;
    println!("\n1. latency (ratio = p50 / spawn /bin/true p50)");
    println!("{:<64} {:>11} {:>11} {:>9}", "", "p50", "p99", "ratio");
    row(out, "latency", "spawn /bin/true (exec-hook baseline)", spawn.0, spawn.1, spawn.0);
    row(out, "latency", "naive host: engine + compile per call (compile only)", naive.0, naive.1, spawn.0);
    row(out, "latency", "wasm noop delivery (pool, fuel + deadline)", noop.0, noop.1, spawn.0);
    println!(
        "wasm noop = 1/{:.0} of spawning /bin/true, 1/{:.0} of the naive host",
        spawn.0.as_secs_f64() / noop.0.as_secs_f64(),
        naive.0.as_secs_f64() / noop.0.as_secs_f64()
    );
    let stats = pooled.pool_stats();
    println!("pool: {} slots, peak in use {}", stats.slots, stats.peak_in_use);
}

async fn throughput(out: &mut Results, plugins: &Path, iters: usize) {
    println!("\n2. throughput (noop deliveries per second; {} cores)", std::thread::available_parallelism().map_or(1, |n| n.get()));
    let host = host(plugins, Metering::FuelAndEpochs).await;
    let mut single = 0.0;
    for concurrency in [1usize, 2, 8, 64] {
        let per_task = (iters * 2 / concurrency).max(10);
        let started = Instant::now();
        let tasks: Vec<_> = (0..concurrency)
            .map(|_| {
                let host = host.clone();
                tokio::spawn(async move {
                    for _ in 0..per_task {
                        deliver_ok(&host, "noop", &[]).await;
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
        let rate = (per_task * concurrency) as f64 / started.elapsed().as_secs_f64();
        if concurrency == 1 {
            single = rate;
        }
        println!("concurrency {concurrency:>3}: {rate:>10.0} /s  ({:.2}x concurrency 1)", rate / single);
        out.value("throughput", &format!("concurrency {concurrency}"), json!({ "per_second": rate, "ratio": rate / single }));
    }
}

async fn fuel_overhead(out: &mut Results, plugins: &Path, samples: usize) {
    println!("\n3. fuel overhead (ratio = p50 / neither p50 of the same code)");
    println!("{:<64} {:>11} {:>11} {:>9}", "", "p50", "p99", "ratio");
    fib_shapes::rows(out, samples).await;
    let mut hosts = Vec::new();
    for metering in fib_shapes::METERINGS {
        hosts.push(host(plugins, metering).await);
    }
    for (label, config) in [("fib(27), call-heavy", [("work", "fib"), ("n", "27")]), ("fnv hash of 4 MiB, loop", [("work", "hash"), ("n", "4096")])] {
        let timed = fib_shapes::interleaved(&hosts, samples, |host| deliver_ok(host, "compute", &config)).await;
        let base = timed[0].0;
        for (metering, (p50, p99)) in fib_shapes::METERINGS.iter().zip(timed) {
            row(out, "fuel", &format!("compute plugin {label}: {metering:?}"), p50, p99, base);
        }
    }
}

/// The biggest component among the example plugins and the language builds.
fn largest_plugin(rust_plugins: &Path) -> PathBuf {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let dirs = [rust_plugins.to_path_buf(), repo.join("plugins/target/lang")];
    dirs.iter()
        .flat_map(|d| std::fs::read_dir(d).into_iter().flatten().flatten())
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "wasm"))
        .max_by_key(|p| std::fs::metadata(p).map_or(0, |m| m.len()))
        .unwrap()
}

/// `wasm` with a custom section appended: the same code, another digest (so another
/// plugin as far as the cache is concerned).
fn variant(wasm: &[u8], i: usize) -> Vec<u8> {
    let name = b"hooklet-bench";
    let payload = i.to_le_bytes();
    let body_len = 1 + name.len() + payload.len();
    assert!(body_len < 128 && name.len() < 128, "single-byte LEB128 lengths");
    let mut out = wasm.to_vec();
    out.extend_from_slice(&[0, body_len as u8, name.len() as u8]);
    out.extend_from_slice(name);
    out.extend_from_slice(&payload);
    out
}

/// Time to load every plugin in `dir` with a fresh host using `cache`.
async fn load_all(dir: &Path, cache: &Path, names: &[String]) -> (Duration, Vec<CompiledFrom>) {
    let host = WasmHost::new(WasmConfig { plugin_dir: dir.into(), cache_dir: Some(cache.into()), ..WasmConfig::default() }).unwrap();
    let started = Instant::now();
    let mut sources = Vec::new();
    for name in names {
        sources.push(host.load(name).await.unwrap().compiled);
    }
    (started.elapsed(), sources)
}

async fn plugin_load(out: &mut Results, plugins: &Path, count: usize, largest_too: bool) {
    println!("\n4. plugin load (fresh host each time; cache = the on-disk compiled-code cache)");
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let marker = std::fs::read(plugins.join("marker.wasm")).unwrap();
    let names: Vec<String> = (0..count).map(|i| format!("p{i:03}")).collect();
    for (i, name) in names.iter().enumerate() {
        std::fs::write(dir.path().join(format!("{name}.wasm")), variant(&marker, i)).unwrap();
    }
    let (cold, sources) = load_all(dir.path(), &cache, &names).await;
    assert!(sources.iter().all(|s| matches!(s, CompiledFrom::Compiler(_))));
    let (warm, sources) = load_all(dir.path(), &cache, &names).await;
    assert!(sources.iter().all(|s| matches!(s, CompiledFrom::DiskCache(_))));
    println!(
        "{count} plugins ({} KiB each): cold {cold:?}, cached {warm:?}: {:.0}x faster",
        marker.len() / 1024,
        cold.as_secs_f64() / warm.as_secs_f64()
    );
    let load = |bytes: u64| json!({ "bytes": bytes, "cold_seconds": cold.as_secs_f64(), "cached_seconds": warm.as_secs_f64(), "ratio": cold.as_secs_f64() / warm.as_secs_f64() });
    out.value("plugin load", &format!("{count} plugins"), load(marker.len() as u64));
    if !largest_too {
        return;
    }

    let largest = largest_plugin(plugins);
    let size = std::fs::metadata(&largest).unwrap().len();
    let big = tempfile::tempdir().unwrap();
    std::fs::copy(&largest, big.path().join("big.wasm")).unwrap();
    let cache = big.path().join("cache");
    let names = ["big".to_string()];
    let (cold, _) = load_all(big.path(), &cache, &names).await;
    let (warm, _) = load_all(big.path(), &cache, &names).await;
    println!(
        "largest, {} ({:.1} MiB): cold {cold:?}, cached {warm:?}: {:.0}x faster",
        largest.display(),
        size as f64 / (1 << 20) as f64,
        cold.as_secs_f64() / warm.as_secs_f64()
    );
    let row = json!({ "bytes": size, "cold_seconds": cold.as_secs_f64(), "cached_seconds": warm.as_secs_f64(), "ratio": cold.as_secs_f64() / warm.as_secs_f64() });
    out.value("plugin load", &format!("largest: {}", largest.display()), row);
    if size < 1 << 20 {
        println!("(build the Python or JavaScript marker with `plugins/build-languages.sh python` for a big one)");
    }
}

#[tokio::main]
async fn main() {
    // `cargo bench` passes `--bench`; under `cargo test` (scripts/test) this is a smoke
    // run: a few iterations of every part, so the suite cannot rot.
    let smoke = !std::env::args().any(|a| a == "--bench");
    let default_iters = if smoke { 5 } else { 2000 };
    let iters: usize = std::env::var("HOOKLET_BENCH_ITERS").ok().and_then(|s| s.parse().ok()).unwrap_or(default_iters);
    if std::env::var_os("RUST_BACKTRACE").is_some() {
        println!("warning: RUST_BACKTRACE is set; wasmtime then captures backtraces and every figure is slower");
    }
    let plugins = hooklet::testing::example_plugins_dir();
    let plugins = Arc::new(plugins);
    let parts = std::env::var("HOOKLET_BENCH_PARTS").unwrap_or_else(|_| "latency,throughput,fuel,load".into());
    let part = |name: &str| parts.split(',').any(|p| p.trim() == name);
    let mut out = Results::new("wasm");
    if part("latency") {
        latency(&mut out, &plugins, iters).await;
    }
    if part("throughput") {
        throughput(&mut out, &plugins, iters).await;
    }
    if part("fuel") {
        fuel_overhead(&mut out, &plugins, if smoke { 3 } else { 60 }).await;
    }
    if part("load") {
        if smoke {
            plugin_load(&mut out, &plugins, 3, false).await;
        } else {
            plugin_load(&mut out, &plugins, 100, true).await;
        }
    }
    out.write(smoke);
}
