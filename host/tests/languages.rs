//! The `marker` plugin in six languages (Rust, Python, JavaScript, C, Go, Zig), each built
//! from source by its own build recipe (`plugins/<lang>/build.sh`), run as the PostStart
//! and PreStop hooks of a real pod on the process runtime. Every language must write the
//! same marker files, log the same line, use fuel, and fail cleanly when its config says
//! `fail: "true"`. A language whose toolchain is missing fails its test with the command
//! that installs it (`scripts/install-plugin-toolchains LANG`).
//!
//! `cargo test -p hooklet --test languages -- --ignored --nocapture language_table` prints
//! the size, cold compile time and warm hook latency of each (the README's table).

mod common;
mod languages {
    pub mod toolchain;
}

use std::path::Path;
use std::time::{Duration, Instant};

use common::{node, pod, within};
use hooklet::hooks::{HandlerKind, HookOutcome, HookRun};
use hooklet::lifecycle::{PodPhase, PodStatus};
use hooklet::spec::HookPhase;
use hooklet::wasm::{PluginEvent, PluginPhase, WasmConfig, WasmDelivery, WasmHost};
use languages::toolchain::{self, Lang};

/// Safety net only: compiling a component that bundles an interpreter (Python, JS) takes
/// tens of seconds on a busy 2-core machine.
const LIMIT: u64 = 900;

/// The tests share the machine's cores: one language at a time keeps them predictable.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn manifest(name: &str, restart: &str, lifecycle: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}, uid: {name}-uid}}\nspec:\n  \
         restartPolicy: {restart}\n  terminationGracePeriodSeconds: 5\n  containers:\n  \
         - name: app\n    image: busybox:1.36\n    command: [sleep, \"300\"]\n    lifecycle:\n{lifecycle}"
    )
}

/// What every marker writes for `hook` of container `app` in pod `pod` (see
/// `plugins/marker/src/lib.rs`): the Rust plugin's format, byte for byte.
fn expected_file(pod: &str, status: &PodStatus, hook: &HookRun, message: &str) -> String {
    let container_id = status.containers[0].container_id.as_deref().expect("container id");
    let container_id = container_id.split_once("://").map_or(container_id, |(_, id)| id);
    let phase = match hook.phase {
        HookPhase::PostStart => "post-start",
        HookPhase::PreStop => "pre-stop",
    };
    format!(
        "phase={phase}\nnamespace=default\npod={pod}\npod-uid={pod}-uid\ncontainer=app\n\
         container-id={container_id}\nimage=busybox:1.36\ndelivery-id={}\nattempt={}\nmessage={message}\n",
        hook.delivery.id, hook.delivery.attempt
    )
}

/// Checks one successful marker hook: its outcome, fuel, log line and file.
fn check_hook(lang: Lang, pod: &str, status: &PodStatus, hook: &HookRun, out: &Path, message: &str) {
    let what = format!("{} {:?} hook", lang.plugin, hook.phase);
    assert_eq!(hook.kind, HandlerKind::Wasm, "{what}");
    assert_eq!(hook.outcome, HookOutcome::Succeeded, "{what} failed; output:\n{}", hook.output);
    let usage = hook.wasm.expect("wasm usage is recorded");
    assert!(usage.fuel_consumed > 0 && usage.fuel_consumed < usage.fuel_budget, "{what}: {usage:?}");
    let expected = expected_file(pod, status, hook, message);
    let file_name = format!("{pod}_app.{}", expected.lines().next().unwrap().trim_start_matches("phase="));
    let written = std::fs::read_to_string(out.join(&file_name))
        .unwrap_or_else(|e| panic!("{what}: no marker file {file_name}: {e}; output:\n{}", hook.output));
    assert_eq!(written, expected, "{what}: the marker file differs from the Rust marker's format");
    let line = format!("[info] wrote /out/{file_name} ({} bytes)", expected.len());
    assert!(hook.output.lines().any(|l| l == line), "{what}: expected log line {line:?} in:\n{}", hook.output);
}

/// Builds `lang`'s marker, runs it as PostStart and PreStop of one pod, then as a PostStart
/// told to fail in a second pod on the same node (so the component is compiled once).
async fn marker_runs_as_hooks(lang: Lang) {
    let _serial = SERIAL.lock().await;
    let built = tokio::task::spawn_blocking(move || toolchain::build(lang)).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = toolchain::plugin_dir(lang, &built.wasm, dir.path());
    let node = node(dir.path());
    let plugin = lang.plugin;

    let name = format!("lang-{}", lang.name);
    let lifecycle = format!(
        "      postStart:\n        wasm: {{plugin: {plugin}, config: {{message: hello from postStart}}}}\n      \
         preStop:\n        wasm: {{plugin: {plugin}, config: {{message: bye, dir: /out/}}}}\n"
    );
    let handle = node.start_pod(pod(&manifest(&name, "Always", &lifecycle)));
    let status = within(LIMIT, "the PostStart hook", handle.wait_for(|s| !s.containers[0].hooks.is_empty())).await;
    check_hook(lang, &name, &status, &status.containers[0].hooks[0], &out, "hello from postStart");
    within(LIMIT, "started", handle.wait_for(|s| s.containers[0].started)).await;
    handle.delete(None);
    let status = within(LIMIT, "termination", handle.finished()).await;
    let hooks = &status.containers[0].hooks;
    assert_eq!(hooks.len(), 2, "{hooks:#?}");
    assert_eq!(hooks[1].phase, HookPhase::PreStop);
    check_hook(lang, &name, &status, &hooks[1], &out, "bye");
    let total: u64 = hooks.iter().map(|h| h.wasm.unwrap().fuel_consumed).sum();
    assert_eq!(status.containers[0].wasm_fuel_total, total);

    let name = format!("lang-{}-fail", lang.name);
    let lifecycle = format!("      postStart:\n        wasm: {{plugin: {plugin}, config: {{fail: \"true\"}}}}\n");
    let handle = node.start_pod(pod(&manifest(&name, "Never", &lifecycle)));
    let pod_ref = format!("Pod \"{name}_default(");
    let event = within(
        LIMIT,
        "FailedPostStartHook",
        node.events().wait_for(|e| e.reason == "FailedPostStartHook" && e.message.contains(&pod_ref)),
    )
    .await;
    let reason = "marker: failing on purpose (config fail=true)";
    assert!(event.message.contains(&format!("WASM lifecycle hook ({plugin})")), "{}", event.message);
    assert!(event.message.contains(reason), "{}: {}", lang.plugin, event.message);
    let status = within(LIMIT, "the failed pod to end", handle.finished()).await;
    assert_eq!(status.phase, PodPhase::Failed);
    let hook = &status.containers[0].hooks[0];
    assert!(hook.outcome.failure().is_some_and(|f| f.contains(reason)), "{:?}", hook.outcome);
    let line = format!("[error] failing post-start hook of {name}/app on purpose");
    assert!(hook.output.lines().any(|l| l == line), "{}: expected {line:?} in:\n{}", lang.plugin, hook.output);
    assert!(hook.wasm.unwrap().fuel_consumed > 0, "fuel is recorded on failure too");
    assert!(!out.join(format!("{name}_app.post-start")).exists(), "a failing marker writes nothing");
}

#[tokio::test]
async fn rust_marker() {
    marker_runs_as_hooks(toolchain::RUST).await;
}

#[tokio::test]
async fn python_marker() {
    marker_runs_as_hooks(toolchain::PYTHON).await;
}

#[tokio::test]
async fn javascript_marker() {
    marker_runs_as_hooks(toolchain::JS).await;
}

#[tokio::test]
async fn c_marker() {
    marker_runs_as_hooks(toolchain::C).await;
}

#[tokio::test]
async fn go_marker() {
    marker_runs_as_hooks(toolchain::GO).await;
}

#[tokio::test]
async fn zig_marker() {
    marker_runs_as_hooks(toolchain::ZIG).await;
}

fn event(i: usize) -> PluginEvent {
    PluginEvent {
        phase: PluginPhase::PostStart,
        pod_name: "bench".into(),
        pod_namespace: "default".into(),
        pod_uid: "bench-uid".into(),
        container_name: format!("c{i}"),
        container_id: "id".into(),
        image: "busybox".into(),
        labels: vec![],
        annotations: vec![],
        pod_ip: None,
        delivery_id: format!("d{i}"),
        attempt: 1,
        config: vec![("message".into(), "bench".into())],
    }
}

/// Size, build time, cold compile time (a fresh engine loading the component) and warm hook
/// latency (median of 50 deliveries through `WasmHost::deliver`) of each language's marker,
/// as a Markdown table. Times vary with the machine; nothing is asserted.
#[tokio::test]
#[ignore = "measurement: run with --ignored --nocapture"]
async fn language_table() {
    let _serial = SERIAL.lock().await;
    println!("| language | plugin | component size | build (tools installed) | host compile (cold) | hook latency (warm, p50) | fuel per hook | peak memory |");
    println!("|---|---|---:|---:|---:|---:|---:|---:|");
    for lang in toolchain::ALL {
        let built = tokio::task::spawn_blocking(move || toolchain::build(lang)).await.unwrap();
        let dir = tempfile::tempdir().unwrap();
        toolchain::plugin_dir(lang, &built.wasm, dir.path());
        let host = WasmHost::new(WasmConfig { plugin_dir: dir.path().to_path_buf(), ..WasmConfig::default() }).unwrap();
        let started = Instant::now();
        host.load(lang.plugin).await.unwrap_or_else(|e| panic!("{}: {e}", lang.plugin));
        let compile = started.elapsed();
        let mut samples = Vec::new();
        let (mut fuel, mut memory) = (0, 0);
        for i in 0..55 {
            let delivery = WasmDelivery { plugin: lang.plugin.into(), event: event(i), fuel: None, deadline: None };
            let started = Instant::now();
            let outcome = host.deliver(delivery).await;
            let elapsed = started.elapsed();
            outcome.result.unwrap_or_else(|e| panic!("{}: {e}", lang.plugin));
            (fuel, memory) = (outcome.fuel_consumed, outcome.peak_memory_bytes);
            if i >= 5 {
                samples.push(elapsed);
            }
        }
        samples.sort();
        let size = std::fs::metadata(&built.wasm).unwrap().len();
        println!(
            "| {} | `{}` | {} | {} | {} | {} | {} | {} |",
            lang.name,
            lang.plugin,
            human_size(size),
            secs(built.build_time),
            secs(compile),
            millis(samples[samples.len() / 2]),
            fuel,
            human_size(memory)
        );
    }
}

fn human_size(bytes: u64) -> String {
    if bytes >= 1 << 20 {
        format!("{:.1} MiB", bytes as f64 / (1 << 20) as f64)
    } else {
        format!("{:.0} KiB", bytes as f64 / 1024.0)
    }
}

fn secs(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}

fn millis(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}
