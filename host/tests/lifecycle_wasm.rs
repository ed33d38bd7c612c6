//! wasm hooks end to end: the example plugins, built from source by the test run,
//! as PostStart and PreStop hooks of real pods on the process runtime.

mod common;

use std::path::Path;

use common::{node, pod, within};
use hooklet::hooks::{HandlerKind, HookOutcome};
use hooklet::lifecycle::PodPhase;

/// A plugin directory under `dir` with the named example plugins copied in.
fn plugin_dir(dir: &Path, plugins: &[&str]) -> std::path::PathBuf {
    let built = hooklet::testing::example_plugins_dir();
    let plugins_dir = dir.to_path_buf();
    for name in plugins {
        std::fs::copy(built.join(format!("{name}.wasm")), plugins_dir.join(format!("{name}.wasm")))
            .unwrap_or_else(|e| panic!("copy {name}.wasm: {e}"));
    }
    plugins_dir
}

fn manifest(name: &str, restart: &str, lifecycle: &str) -> String {
    format!(
        r#"
apiVersion: v1
kind: Pod
metadata:
  name: {name}
  labels: {{team: edge}}
spec:
  restartPolicy: {restart}
  terminationGracePeriodSeconds: 3
  containers:
  - name: app
    image: busybox
    command: [sleep, "300"]
    lifecycle:
{lifecycle}
"#
    )
}

/// The `marker` plugin as PostStart and PreStop: its files show up in the granted
/// directory, fuel is recorded per hook and summed per container, its log lines are
/// the hook output.
#[tokio::test]
async fn marker_plugin_as_poststart_and_prestop() {
    let dir = tempfile::tempdir().unwrap();
    let plugins = plugin_dir(dir.path(), &["marker"]);
    let out = dir.path().join("markers");
    std::fs::create_dir(&out).unwrap();
    std::fs::write(
        plugins.join("marker.toml"),
        format!("[[capabilities.dirs]]\nhost = \"{}\"\nguest = \"/out\"\naccess = \"read-write\"\n", out.display()),
    )
    .unwrap();
    let node = node(&plugins);
    let lifecycle = "      postStart:\n        wasm: {plugin: marker, config: {message: hello-start}}\n      preStop:\n        wasm: {plugin: marker, config: {message: hello-stop}}";
    let handle = node.start_pod(pod(&manifest("wasm-marker", "Always", lifecycle)));
    let status = within(120, "started", handle.wait_for(|s| s.containers[0].started)).await;
    let start = &status.containers[0].hooks[0];
    assert_eq!((start.kind, &start.outcome), (HandlerKind::Wasm, &HookOutcome::Succeeded), "{}", start.output);
    let usage = start.wasm.expect("wasm usage recorded");
    assert!(usage.fuel_consumed > 0 && usage.fuel_consumed <= usage.fuel_budget, "{usage:?}");
    handle.delete(None);
    let status = within(120, "termination", handle.finished()).await;
    let c = &status.containers[0];
    assert_eq!(c.hooks.len(), 2);
    let total: u64 = c.hooks.iter().map(|h| h.wasm.unwrap().fuel_consumed).sum();
    assert_eq!(c.wasm_fuel_total, total, "fuel is summed per container (D8)");
    let files: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        .collect();
    assert_eq!(files.len(), 2, "{files:?}");
    let all = files.join("\n");
    for expected in ["hello-start", "hello-stop", "wasm-marker", &start.delivery.id] {
        assert!(all.contains(expected), "missing {expected:?} in {all}");
    }
    assert!(!start.output.is_empty(), "the plugin's log lines are kept as output (D4)");
}

/// Without a grant the same plugin cannot write: a clear failure, and hooklet goes on.
#[tokio::test]
async fn a_plugin_gets_no_filesystem_unless_granted() {
    let dir = tempfile::tempdir().unwrap();
    let plugins = plugin_dir(dir.path(), &["marker"]);
    let node = node(&plugins);
    let lifecycle = "      postStart:\n        wasm: {plugin: marker}";
    let handle = node.start_pod(pod(&manifest("no-grant", "Never", lifecycle)));
    let event = within(120, "the failure", node.events().wait_for(|e| e.reason == "FailedPostStartHook")).await;
    assert!(event.message.starts_with("WASM lifecycle hook (marker) for Container \"app\""), "{}", event.message);
    within(120, "the pod to end", handle.finished()).await;
}

/// The `failing` plugin: its message and log line reach the event (D3).
#[tokio::test]
async fn a_failing_plugin_message_is_in_the_event() {
    let dir = tempfile::tempdir().unwrap();
    let plugins = plugin_dir(dir.path(), &["failing"]);
    let node = node(&plugins);
    let lifecycle = "      postStart:\n        wasm: {plugin: failing, config: {message: config check failed}}";
    let handle = node.start_pod(pod(&manifest("wasm-failing", "Never", lifecycle)));
    let event = within(120, "the failure", node.events().wait_for(|e| e.reason == "FailedPostStartHook")).await;
    assert!(event.message.contains("config check failed"), "{}", event.message);
    let killing = node.events().wait_for(|e| e.reason == "Killing").await;
    assert_eq!(killing.message, "FailedPostStartHook");
    let status = within(120, "the pod to end", handle.finished()).await;
    assert_eq!(status.phase, PodPhase::Failed);
    let hook = &status.containers[0].hooks[0];
    assert!(hook.wasm.unwrap().fuel_consumed > 0, "fuel is recorded on failure too");
}

/// A looping plugin is cut at its deadline (`timeoutSeconds`), and with a small
/// budget it runs out of fuel; hooklet survives both.
#[tokio::test]
async fn a_looping_plugin_is_cut_by_its_deadline_or_its_fuel() {
    let dir = tempfile::tempdir().unwrap();
    let plugins = plugin_dir(dir.path(), &["spin"]);
    let node = node(&plugins);
    let timed = "      postStart:\n        wasm: {plugin: spin, fuel: 100000000000}\n        timeoutSeconds: 1";
    let handle = node.start_pod(pod(&manifest("spin-deadline", "Never", timed)));
    let status = within(120, "the pod to end", handle.finished()).await;
    let hook = &status.containers[0].hooks[0];
    let failure = hook.outcome.failure().expect("the loop fails").to_string();
    assert!(failure.contains("WASM lifecycle hook (spin)"), "{failure}");
    assert!(hook.duration.as_secs_f64() >= 1.0 && hook.duration.as_secs() < 30, "{:?}", hook.duration);

    let fuel = "      postStart:\n        wasm: {plugin: spin, fuel: 1000000}";
    let handle = node.start_pod(pod(&manifest("spin-fuel", "Never", fuel)));
    let status = within(120, "the pod to end", handle.finished()).await;
    let hook = &status.containers[0].hooks[0];
    let failure = hook.outcome.failure().expect("fuel runs out").to_string();
    assert!(failure.contains("fuel") && failure.contains("1000000"), "{failure}");
    assert_eq!(hook.wasm.unwrap().fuel_budget, 1_000_000);
}

/// A looping PreStop is abandoned when the grace runs out; the pod still terminates.
#[tokio::test]
async fn a_looping_prestop_plugin_is_cut_at_the_grace_period() {
    let dir = tempfile::tempdir().unwrap();
    let plugins = plugin_dir(dir.path(), &["spin"]);
    let node = node(&plugins);
    let lifecycle = "      preStop:\n        wasm: {plugin: spin, fuel: 100000000000}";
    let handle = node.start_pod(pod(&manifest("spin-prestop", "Always", lifecycle)));
    within(120, "started", handle.wait_for(|s| s.containers[0].started)).await;
    handle.delete(Some(2));
    let status = within(120, "termination", handle.finished()).await;
    let hook = &status.containers[0].hooks[0];
    assert!(
        matches!(hook.outcome, HookOutcome::GraceExpired) || hook.outcome.failure().is_some_and(|f| f.contains("deadline")),
        "{:?}",
        hook.outcome
    );
}

/// A missing plugin is a clear hook failure, not a crash.
#[tokio::test]
async fn a_missing_plugin_is_a_clear_hook_failure() {
    let dir = tempfile::tempdir().unwrap();
    let node = node(dir.path());
    let lifecycle = "      postStart:\n        wasm: {plugin: nosuch}";
    let handle = node.start_pod(pod(&manifest("missing", "Never", lifecycle)));
    let event = within(120, "the failure", node.events().wait_for(|e| e.reason == "FailedPostStartHook")).await;
    assert!(event.message.contains("nosuch"), "{}", event.message);
    assert!(event.message.contains("not found"), "{}", event.message);
    within(120, "the pod to end", handle.finished()).await;
}
