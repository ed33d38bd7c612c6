//! Wasm probes end to end on the process runtime: the `healthz` plugin flipping readiness
//! through a granted directory, a wasm liveness kill that runs a wasm PreStop, a probe
//! naming a missing plugin or a hook-only plugin, and hostile probes (endless loop,
//! memory bomb, output flood) contained while a neighbour's probe stays healthy.

mod common;

use std::path::Path;

use common::probes::{condition, event_count, until_events, UNIT};
use common::{messages, node_with, pod, test_config, within};
use hooklet::lifecycle::NodeConfig;

/// `dir/plugins` with `healthz` (and its manifest granting `dir/plugins/health`),
/// `noop`, and `hostile` copied as each of `hostile`.
fn plugins(dir: &Path, hostile: &[&str]) -> std::path::PathBuf {
    let built = hooklet::testing::example_plugins_dir();
    let plugins = dir.join("plugins");
    std::fs::create_dir_all(plugins.join("health")).unwrap();
    let copies = [("healthz", "healthz"), ("noop", "noop")].into_iter().chain(hostile.iter().map(|h| ("hostile", *h)));
    for (from, to) in copies {
        std::fs::copy(built.join(format!("{from}.wasm")), plugins.join(format!("{to}.wasm"))).unwrap();
    }
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugins/healthz/healthz.toml");
    std::fs::copy(manifest, plugins.join("healthz.toml")).unwrap();
    plugins
}

fn node(plugins: &Path) -> std::sync::Arc<hooklet::lifecycle::Node> {
    node_with(plugins, NodeConfig { probe_time_unit: UNIT, ..test_config(plugins) })
}

#[tokio::test]
async fn healthz_flips_readiness_and_counts_fuel() {
    let dir = tempfile::tempdir().unwrap();
    let plugins = plugins(dir.path(), &[]);
    std::fs::write(plugins.join("health/web.ok"), "serving\n").unwrap();
    let node = node(&plugins);
    let handle = node.start_pod(pod(
        "apiVersion: v1\nkind: Pod\nmetadata: {name: wasm-ready}\nspec:\n  containers:\n  - name: web\n    image: busybox\n    command: [sleep, '300']\n    readinessProbe:\n      wasm: {plugin: healthz, config: {file: /health/web.ok}}\n      periodSeconds: 1\n      failureThreshold: 1\n",
    ));
    let uid = handle.pod().uid().to_string();
    within(60, "ready", handle.wait_for(|s| condition(s, "Ready") == "True")).await;
    std::fs::remove_file(plugins.join("health/web.ok")).unwrap();
    within(60, "not ready", handle.wait_for(|s| !s.containers[0].ready)).await;
    let failed = messages(&node, &uid, "Unhealthy");
    assert!(
        failed[0].starts_with("Readiness probe failed: wasm probe plugin healthz: the plugin failed the probe: healthz: cannot read /health/web.ok"),
        "{failed:?}"
    );
    let metrics = node.prober().metrics().render();
    let fuel = metrics
        .lines()
        .find(|l| l.starts_with("hooklet_probe_wasm_fuel_consumed_total{probe_type=\"Readiness\",container=\"web\""))
        .and_then(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .unwrap_or_else(|| panic!("no fuel series: {metrics}"));
    assert!(fuel > 0, "fuel is counted per wasm probe");
    assert_eq!(handle.status().containers[0].restart_count, 0);
    handle.delete(Some(1));
    within(30, "termination", handle.finished()).await;
}

/// A wasm liveness failure kills the container; its wasm PreStop runs on that kill.
#[tokio::test]
async fn wasm_liveness_kill_runs_a_wasm_prestop() {
    let dir = tempfile::tempdir().unwrap();
    let plugins = plugins(dir.path(), &[]);
    let node = node(&plugins);
    let handle = node.start_pod(pod(
        "apiVersion: v1\nkind: Pod\nmetadata: {name: wasm-live}\nspec:\n  terminationGracePeriodSeconds: 2\n  containers:\n  - name: app\n    image: busybox\n    command: [sleep, '300']\n    livenessProbe:\n      wasm: {plugin: healthz, config: {fail: 'true'}}\n      periodSeconds: 1\n      failureThreshold: 2\n    lifecycle:\n      preStop: {wasm: {plugin: noop}}\n",
    ));
    let uid = handle.pod().uid().to_string();
    let status = within(60, "a restart", handle.wait_for(|s| s.containers[0].restart_count >= 1)).await;
    assert_eq!(messages(&node, &uid, "Killing")[0], "Container app failed liveness probe, will be restarted");
    assert!(event_count(&node, &uid, "Unhealthy") >= 2, "two failures at failureThreshold 2");
    let pre_stop = status.containers[0].hooks.iter().find(|h| h.phase == hooklet::spec::HookPhase::PreStop).expect("the PreStop ran");
    assert_eq!(pre_stop.outcome, hooklet::hooks::HookOutcome::Succeeded);
    handle.delete(Some(1));
    within(30, "termination", handle.finished()).await;
}

/// A missing plugin and a hook-only (0.1.0) plugin fail as probes with what to do.
#[tokio::test]
async fn missing_and_hook_only_plugins_fail_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let plugins = plugins(dir.path(), &[]);
    let node = node(&plugins);
    let spec = |name: &str, plugin: &str| {
        format!("apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}}}\nspec:\n  containers:\n  - name: c\n    image: busybox\n    command: [sleep, '300']\n    readinessProbe:\n      wasm: {{plugin: {plugin}}}\n      periodSeconds: 1\n")
    };
    let missing = node.start_pod(pod(&spec("missing", "nope")));
    let hook_only = node.start_pod(pod(&spec("hook-only", "noop")));
    for h in [&missing, &hook_only] {
        within(60, "a failed probe", until_events(&node, h.pod().uid(), "Unhealthy", 1)).await;
    }
    let missing_message = &messages(&node, missing.pod().uid(), "Unhealthy")[0];
    assert!(missing_message.contains("nope.wasm"), "names the file: {missing_message}");
    let hook_message = &messages(&node, hook_only.pod().uid(), "Unhealthy")[0];
    assert!(hook_message.contains("does not export `hooklet:hook/prober@0.2.0`"), "{hook_message}");
    assert!(hook_message.contains("export_probe!"), "says how to fix it: {hook_message}");
    for h in [&missing, &hook_only] {
        assert!(!h.status().containers[0].ready);
        h.delete(Some(1));
        within(30, "termination", h.finished()).await;
    }
}

/// Hostile probes are stopped by fuel, the memory cap and the output caps, and a
/// neighbour's wasm probe keeps passing meanwhile.
#[tokio::test]
async fn hostile_probes_are_contained() {
    let dir = tempfile::tempdir().unwrap();
    let plugins = plugins(dir.path(), &["looper", "bomber", "flooder"]);
    std::fs::write(plugins.join("bomber.toml"), "[limits]\nmemory = \"8 MiB\"\n").unwrap();
    let node = node(&plugins);
    let spec = |name: &str, probe: &str| {
        format!("apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}}}\nspec:\n  containers:\n  - name: c\n    image: busybox\n    command: [sleep, '300']\n    readinessProbe:\n      {probe}\n      timeoutSeconds: 30\n      periodSeconds: 1\n      failureThreshold: 1\n")
    };
    let looper = node.start_pod(pod(&spec("looper", "wasm: {plugin: looper, fuel: 2000000}")));
    let bomber = node.start_pod(pod(&spec("bomber", "wasm: {plugin: bomber, config: {mode: memory-bomb}}")));
    let flooder = node.start_pod(pod(&spec("flooder", "wasm: {plugin: flooder, config: {mode: flood, lines: '5000', bytes: '200000'}}")));
    let neighbour = node.start_pod(pod(&spec("neighbour", "wasm: {plugin: healthz}")));
    for h in [&looper, &bomber] {
        within(60, "two failed probes", until_events(&node, h.pod().uid(), "Unhealthy", 2)).await;
    }
    let fuel = &messages(&node, looper.pod().uid(), "Unhealthy")[0];
    assert!(fuel.contains("fuel ran out after 2000000 units"), "{fuel}");
    let memory = &messages(&node, bomber.pod().uid(), "Unhealthy")[0];
    assert!(memory.contains("memory cap of 8388608 bytes"), "{memory}");
    within(60, "the flooder ready", flooder.wait_for(|s| s.containers[0].ready)).await;
    within(60, "the neighbour ready", neighbour.wait_for(|s| s.containers[0].ready)).await;
    assert_eq!(event_count(&node, neighbour.pod().uid(), "Unhealthy"), 0);
    for h in [&looper, &bomber, &flooder, &neighbour] {
        h.delete(Some(1));
        within(30, "termination", h.finished()).await;
    }
}
