//! Hostile and broken plugins end to end: each runs as the PostStart hook of one pod while
//! a neighbour pod with healthy exec and wasm hooks starts beside it. hooklet survives, the
//! hostile hook fails with a specific message in its `FailedPostStartHook` event, its fuel
//! and memory figures are recorded, and the neighbour's hooks succeed during and after.
//!
//! The misbehaviours come from one plugin, `plugins/hostile` (built from source by the test
//! run), copied under several names so that each can have its own manifest; the broken
//! files are written byte by byte here.

mod common;

use std::path::Path;
use std::sync::Arc;

use common::{node, pod, within, RecordingServer};
use hooklet::hooks::{HookOutcome, HookRun, HOOK_OUTPUT_LIMIT};
use hooklet::lifecycle::Node;

/// `dir` as a plugin directory: `hostile.wasm` copied as each of `names`, and `noop.wasm`.
fn plugin_dir(dir: &Path, names: &[&str]) {
    let built = hooklet::testing::example_plugins_dir();
    for (from, to) in names.iter().map(|name| ("hostile", *name)).chain([("noop", "noop")]) {
        std::fs::copy(built.join(format!("{from}.wasm")), dir.join(format!("{to}.wasm")))
            .unwrap_or_else(|e| panic!("copy {from}.wasm: {e}"));
    }
}

/// A pod whose only container has `post_start` (YAML under `postStart:`) and no restarts.
fn hostile_pod(name: &str, post_start: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}}}\nspec:\n  restartPolicy: Never\n  \
         terminationGracePeriodSeconds: 3\n  containers:\n  - name: app\n    image: busybox\n    \
         command: [sleep, \"300\"]\n    lifecycle:\n      postStart:\n{post_start}\n"
    )
}

/// A pod with an exec PostStart in one container and wasm PostStart and PreStop hooks
/// (the `noop` plugin) in another.
fn neighbour_pod(name: &str) -> String {
    format!(
        r#"
apiVersion: v1
kind: Pod
metadata: {{name: {name}}}
spec:
  terminationGracePeriodSeconds: 5
  containers:
  - name: exec
    image: busybox
    command: [sleep, "300"]
    lifecycle:
      postStart: {{exec: {{command: [sh, -c, "echo healthy"]}}}}
  - name: wasm
    image: busybox
    command: [sleep, "300"]
    lifecycle:
      postStart: {{wasm: {{plugin: noop}}}}
      preStop: {{wasm: {{plugin: noop}}}}
"#
    )
}

/// Runs `post_start` as pod `name`'s PostStart while a neighbour pod starts beside it.
/// Checks that the neighbour's hooks succeed, and — when `runs_long` — that it started
/// while the hostile hook was still running. Returns the hostile hook run and the message
/// of its `FailedPostStartHook` event, if any.
async fn beside_neighbour(node: &Arc<Node>, name: &str, post_start: &str, runs_long: bool) -> (HookRun, Option<String>) {
    let hostile = node.start_pod(pod(&hostile_pod(name, post_start)));
    let neighbour = node.start_pod(pod(&neighbour_pod(&format!("{name}-neighbour"))));
    let status = within(120, "the neighbour to start", neighbour.wait_for(|s| s.containers.iter().all(|c| c.started))).await;
    for c in &status.containers {
        assert_eq!(c.hooks[0].outcome, HookOutcome::Succeeded, "{name}: neighbour {}: {}", c.name, c.hooks[0].output);
    }
    if runs_long {
        assert!(hostile.status().containers[0].hooks.is_empty(), "{name}: the neighbour started while the hostile hook ran");
    }
    let ran = within(120, "the hostile hook to end", hostile.wait_for(|s| !s.containers[0].hooks.is_empty())).await;
    let run = ran.containers[0].hooks[0].clone();
    let event = match run.outcome.failure() {
        Some(_) => {
            let failed = node.events().wait_for(|e| e.reason == "FailedPostStartHook" && e.object.name == name);
            Some(within(120, "the failure event", failed).await.message)
        }
        None => None,
    };
    hostile.delete(Some(1));
    within(120, "the hostile pod to end", hostile.finished()).await;

    // After: the neighbour still runs, unrestarted, and its wasm PreStop works.
    assert!(neighbour.status().containers.iter().all(|c| c.started && c.restart_count == 0), "{name}: neighbour disturbed");
    neighbour.delete(None);
    let end = within(120, "the neighbour to terminate", neighbour.finished()).await;
    let wasm = end.container("wasm").unwrap();
    assert_eq!(wasm.hooks.len(), 2, "{name}: {:?}", wasm.hooks);
    assert!(wasm.hooks.iter().all(|h| h.outcome == HookOutcome::Succeeded), "{name}: {:?}", wasm.hooks);
    (run, event)
}

/// The event message of a failed hostile hook, checked to name the plugin.
fn failure_event(name: &str, plugin: &str, event: Option<String>) -> String {
    let message = event.unwrap_or_else(|| panic!("{name}: no FailedPostStartHook event"));
    assert!(message.starts_with(&format!("WASM lifecycle hook ({plugin}) for Container \"app\"")), "{message}");
    message
}

#[tokio::test]
async fn runaway_plugins_are_cut_by_fuel_deadline_and_memory_cap() {
    let dir = tempfile::tempdir().unwrap();
    plugin_dir(dir.path(), &["hostile", "bomb", "slowpoke"]);
    std::fs::write(dir.path().join("bomb.toml"), "[limits]\nmemory = \"16 MiB\"\n").unwrap();
    std::fs::write(
        dir.path().join("slowpoke.toml"),
        "[limits]\ntimeout-seconds = 1\nfuel = 100_000_000_000_000\n[config]\nmode = \"loop\"\n",
    )
    .unwrap();
    let node = node(dir.path());
    let deadline_cut = |run: &HookRun, message: &str| {
        assert!(matches!(run.outcome, HookOutcome::TimedOut { .. }), "{:?}", run.outcome);
        assert!(message.contains("the deadline passed before the plugin finished"), "{message}");
        assert!(run.duration.as_secs_f64() >= 1.0 && run.duration.as_secs() < 10, "{:?}", run.duration);
    };

    let (run, event) = beside_neighbour(&node, "loop-fuel", "        wasm: {plugin: hostile, config: {mode: loop}, fuel: 20000000}", false).await;
    let message = failure_event("loop-fuel", "hostile", event);
    assert!(message.contains("fuel ran out after 20000000 units (the delivery's budget)"), "{message}");
    let usage = run.wasm.unwrap();
    assert_eq!((usage.fuel_consumed, usage.fuel_budget), (20_000_000, 20_000_000));

    let looping = "        wasm: {plugin: hostile, config: {mode: loop}, fuel: 100000000000000}\n        timeoutSeconds: 1";
    let (run, event) = beside_neighbour(&node, "loop-deadline", looping, true).await;
    deadline_cut(&run, &failure_event("loop-deadline", "hostile", event));
    assert!(run.wasm.unwrap().fuel_consumed > 1_000_000, "fuel is recorded at the deadline: {:?}", run.wasm);

    let sleeping = "        wasm: {plugin: hostile, config: {mode: sleep, ms: \"60000\"}}\n        timeoutSeconds: 1";
    let (run, event) = beside_neighbour(&node, "slow-host-call", sleeping, true).await;
    deadline_cut(&run, &failure_event("slow-host-call", "hostile", event));

    let (run, event) = beside_neighbour(&node, "default-timeout", "        wasm: {plugin: slowpoke}", true).await;
    deadline_cut(&run, &failure_event("default-timeout", "slowpoke", event));

    let (_, event) = beside_neighbour(&node, "recurse", "        wasm: {plugin: hostile, config: {mode: recurse}}", false).await;
    let message = failure_event("recurse", "hostile", event);
    assert!(message.contains("call stack exhausted") && message.contains("recursed too deep"), "{message}");

    let (run, event) = beside_neighbour(&node, "memory-bomb", "        wasm: {plugin: bomb, config: {mode: memory-bomb}}", false).await;
    let message = failure_event("memory-bomb", "bomb", event);
    assert!(message.contains("memory cap of 16777216 bytes (16.0 MiB)"), "{message}");
    assert!(message.contains("`limits.memory` in bomb.toml"), "{message}");
    let usage = run.wasm.unwrap();
    assert_eq!(usage.memory_cap_bytes, 16 << 20);
    assert!(usage.peak_memory_bytes > 4 << 20 && usage.peak_memory_bytes <= 16 << 20, "{usage:?}");
    assert!(usage.fuel_consumed > 0);
}

#[tokio::test]
async fn crashing_and_flooding_plugins_fail_or_stay_bounded() {
    let dir = tempfile::tempdir().unwrap();
    plugin_dir(dir.path(), &["hostile"]);
    let node = node(dir.path());

    let (run, event) = beside_neighbour(&node, "trap", "        wasm: {plugin: hostile, config: {mode: trap}}", false).await;
    let message = failure_event("trap", "hostile", event);
    assert!(message.contains("the plugin crashed (wasm trap: wasm `unreachable` instruction executed)"), "{message}");
    assert!(run.wasm.unwrap().fuel_consumed > 0);

    let (_, event) = beside_neighbour(&node, "panic", "        wasm: {plugin: hostile, config: {mode: panic}}", false).await;
    let message = failure_event("panic", "hostile", event);
    assert!(message.contains("the plugin crashed"), "{message}");
    assert!(message.contains("hostile: panicking on purpose"), "the panic message from stderr: {message}");

    let flood = "        wasm: {plugin: hostile, config: {mode: flood, lines: \"20000\", bytes: \"1048576\"}}";
    let (run, event) = beside_neighbour(&node, "flood", flood, false).await;
    assert_eq!(run.outcome, HookOutcome::Succeeded, "a chatty plugin is not failed for it");
    assert_eq!(event, None);
    assert!(
        run.output.starts_with("[output past the caps dropped: 19744 log lines, 983040 bytes of stdout, 983040 bytes of stderr]\n[info] flood line 0\n"),
        "{}",
        run.output.chars().take(300).collect::<String>()
    );
    assert!(run.output.len() <= HOOK_OUTPUT_LIMIT + 64, "output is bounded: {} bytes", run.output.len());
}

#[tokio::test]
async fn files_and_hosts_not_granted_are_denied() {
    let allowed = RecordingServer::start().await;
    let elsewhere = RecordingServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    plugin_dir(dir.path(), &["hostile", "fetch"]);
    std::fs::write(dir.path().join("fetch.toml"), format!("[capabilities.http]\nallow = [\"{}\"]\n", allowed.addr)).unwrap();
    let node = node(dir.path());

    let (_, event) = beside_neighbour(&node, "passwd", "        wasm: {plugin: hostile, config: {mode: read-file, path: /etc/passwd}}", false).await;
    let message = failure_event("passwd", "hostile", event);
    assert!(message.contains("hostile: cannot read /etc/passwd"), "{message}");
    assert!(!message.contains("root:"), "nothing of the file leaked: {message}");

    let denied = format!("        wasm: {{plugin: fetch, config: {{mode: http-get, url: \"{}/nope\"}}}}", elsewhere.url());
    let (_, event) = beside_neighbour(&node, "http-denied", &denied, false).await;
    let message = failure_event("http-denied", "fetch", event);
    assert!(message.contains("HttpRequestDenied"), "{message}");
    let host = elsewhere.addr.to_string();
    assert!(message.contains(&format!("`{host}` is not on the plugin's HTTP allow-list (`capabilities.http.allow` in fetch.toml)")), "{message}");
    assert!(elsewhere.seen().is_empty(), "the denied request never left hooklet");

    let fetch = format!("        wasm: {{plugin: fetch, config: {{mode: http-get, url: \"{}/hello\"}}}}", allowed.url());
    let (run, event) = beside_neighbour(&node, "http-allowed", &fetch, false).await;
    assert_eq!(run.outcome, HookOutcome::Succeeded, "{}", run.output);
    assert_eq!(event, None);
    assert!(run.output.contains(": 200, 2 body bytes"), "{}", run.output);
    assert_eq!(allowed.seen()[0].target, "/hello");
}

#[tokio::test]
async fn broken_plugin_files_are_refused_and_the_rest_of_the_directory_loads() {
    let dir = tempfile::tempdir().unwrap();
    plugin_dir(dir.path(), &[]);
    let hostile = std::fs::read(hooklet::testing::example_plugins_dir().join("hostile.wasm")).unwrap();
    let files: [(&str, &[u8], &str); 4] = [
        ("text", b"#!/bin/sh\necho not wasm\n", "is not a WebAssembly file"),
        ("empty", b"", "is empty (0 bytes)"),
        // The smallest valid component: it exports nothing, so not the hook handler.
        ("wrong-world", b"\0asm\x0d\0\x01\0", "does not export `hooklet:hook/handler@0.1.0`"),
        ("truncated", &hostile[..hostile.len() / 2], "is not a valid WebAssembly component"),
    ];
    let node = node(dir.path());
    for (name, bytes, expected) in files {
        std::fs::write(dir.path().join(format!("{name}.wasm")), bytes).unwrap();
        let (run, event) = beside_neighbour(&node, name, &format!("        wasm: {{plugin: {name}}}"), false).await;
        let message = failure_event(name, name, event);
        assert!(message.contains(&format!("plugin `{name}` cannot be used: ")), "{message}");
        assert!(message.contains(&format!("{name}.wasm {expected}")), "{message}");
        assert_eq!(run.wasm.unwrap().fuel_consumed, 0, "{name} never ran");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_deliveries_of_one_plugin_at_once_wait_for_a_pool_slot_and_all_succeed() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(hooklet::testing::example_plugins_dir().join("spin.wasm"), dir.path().join("spin.wasm")).unwrap();
    let mut config = common::test_config(dir.path());
    config.wasm.pool_slots = 2;
    let node = common::node_with(dir.path(), config);
    let hook = "        wasm: {plugin: spin, config: {mode: sleep, ms: \"1000\"}}";
    let pods: Vec<_> = (0..6).map(|i| node.start_pod(pod(&hostile_pod(&format!("burst-{i}"), hook)))).collect();
    for p in &pods {
        let status = within(120, "every pod to start", p.wait_for(|s| s.containers[0].started)).await;
        let run = &status.containers[0].hooks[0];
        assert_eq!(run.outcome, HookOutcome::Succeeded, "{}", run.output);
    }
    let stats = node.wasm().pool_stats();
    assert_eq!((stats.slots, stats.peak_in_use), (2, 2), "{stats:?}");
    assert!(stats.waited >= 1, "six deliveries of a second each shared two slots: {stats:?}");
    for p in &pods {
        p.delete(Some(1));
        within(120, "the pod to end", p.finished()).await;
    }
}
