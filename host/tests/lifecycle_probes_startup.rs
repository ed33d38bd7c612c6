//! Startup probes, readiness after startup, probes during termination and on sidecars
//! (probe spec §8.1 cases 14–17, 22, 23 and §8.2), on the process runtime with probe
//! seconds of 100 ms.

mod common;

use common::probes::{condition, condition_message, event_count, probe_node, until_events, until_probes};
use common::{messages, pod, within};
use hooklet::lifecycle::ContainerState;

/// 14. "should be restarted startup probe fails": liveness would pass.
#[tokio::test]
async fn failing_startup_probe_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let node = probe_node(dir.path());
    let handle = node.start_pod(pod(
        "apiVersion: v1\nkind: Pod\nmetadata: {name: startup-fails}\nspec:\n  terminationGracePeriodSeconds: 1\n  containers:\n  - name: c\n    image: busybox\n    command: [sleep, '600']\n    livenessProbe: {exec: {command: ['true']}, initialDelaySeconds: 1, failureThreshold: 1, periodSeconds: 1}\n    startupProbe: {exec: {command: ['false']}, initialDelaySeconds: 1, failureThreshold: 3, periodSeconds: 1}\n",
    ));
    let uid = handle.pod().uid().to_string();
    within(60, "a restart", handle.wait_for(|s| s.containers[0].restart_count >= 1)).await;
    assert_eq!(messages(&node, &uid, "Killing")[0], "Container c failed startup probe, will be restarted");
    assert!(event_count(&node, &uid, "Unhealthy") >= 3, "three failures before the kill");
    assert!(messages(&node, &uid, "Unhealthy").iter().all(|m| m.starts_with("Startup probe failed")));
    handle.delete(Some(1));
    within(30, "termination", handle.finished()).await;
}

/// 15. "should *not* be restarted by liveness probe because startup probe delays it"
#[tokio::test]
async fn startup_gates_liveness() {
    let dir = tempfile::tempdir().unwrap();
    let node = probe_node(dir.path());
    let handle = node.start_pod(pod(
        "apiVersion: v1\nkind: Pod\nmetadata: {name: gated}\nspec:\n  containers:\n  - name: c\n    image: busybox\n    command: [sleep, '600']\n    livenessProbe: {exec: {command: ['false']}, failureThreshold: 1, periodSeconds: 1}\n    startupProbe: {exec: {command: ['false']}, failureThreshold: 60, periodSeconds: 1}\n",
    ));
    let uid = handle.pod().uid().to_string();
    within(60, "twenty failed startup probes", until_events(&node, &uid, "Unhealthy", 20)).await;
    let status = handle.status();
    assert_eq!(status.containers[0].restart_count, 0);
    assert!(!status.containers[0].started, "started only once the startup probe succeeds");
    assert!(messages(&node, &uid, "Unhealthy").iter().all(|m| m.starts_with("Startup probe failed")), "liveness never ran");
    handle.delete(Some(1));
    within(30, "termination", handle.finished()).await;
}

/// 16. "should be restarted by liveness probe after startup probe enables it"
#[tokio::test]
async fn liveness_runs_after_startup_succeeds() {
    let dir = tempfile::tempdir().unwrap();
    let node = probe_node(dir.path());
    let file = dir.path().join("startup");
    let handle = node.start_pod(pod(&format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: enabled}}\nspec:\n  terminationGracePeriodSeconds: 1\n  containers:\n  - name: c\n    image: busybox\n    command: [sh, -c, 'sleep 1; echo ok > {f}; sleep 600']\n    livenessProbe: {{exec: {{command: ['false']}}, failureThreshold: 1, periodSeconds: 1}}\n    startupProbe: {{exec: {{command: [cat, {f}]}}, failureThreshold: 60, periodSeconds: 1}}\n",
        f = file.display()
    )));
    within(60, "started", handle.wait_for(|s| s.containers[0].started)).await;
    within(60, "a restart", handle.wait_for(|s| s.containers[0].restart_count >= 1)).await;
    assert_eq!(messages(&node, handle.pod().uid(), "Killing")[0], "Container c failed liveness probe, will be restarted");
    handle.delete(Some(1));
    within(30, "termination", handle.finished()).await;
}

/// 17. "should be ready immediately after startupProbe succeeds": readiness probes at
/// once when startup succeeds, not at its next period (30 probe seconds away).
#[tokio::test]
async fn ready_right_after_startup() {
    let dir = tempfile::tempdir().unwrap();
    let node = probe_node(dir.path());
    let file = dir.path().join("startup");
    let handle = node.start_pod(pod(&format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: ready-after-startup}}\nspec:\n  containers:\n  - name: c\n    image: busybox\n    command: [sh, -c, 'sleep 3.2; echo ok > {f}; sleep 600']\n    readinessProbe: {{exec: {{command: ['true']}}, periodSeconds: 300}}\n    startupProbe: {{exec: {{command: [cat, {f}]}}, periodSeconds: 5, failureThreshold: 120}}\n",
        f = file.display()
    )));
    let started = within(60, "started", handle.wait_for(|s| s.containers[0].started)).await;
    let ready = within(60, "ready", handle.wait_for(|s| s.containers[0].ready)).await;
    // A readiness tick would come only 300 probe seconds (30 s) after the container started.
    assert!(condition(&ready, "Ready") == "True");
    let ready_at = ready.condition("Ready").unwrap().last_transition_time;
    let began = match started.containers[0].state {
        ContainerState::Running { started_at } => started_at,
        ref other => panic!("{other:?}"),
    };
    let waited = ready_at.duration_since(began).unwrap();
    assert!(waited < common::probes::UNIT * 300, "ready only after {waited:?}: the readiness period, not the trigger");
    handle.delete(Some(1));
    within(30, "termination", handle.finished()).await;
}

/// 22 and 23: during a graceful termination readiness keeps probing (the pod becomes not
/// ready) and liveness is stopped (no `failed liveness probe`).
#[tokio::test]
async fn termination_keeps_readiness_and_stops_liveness() {
    let dir = tempfile::tempdir().unwrap();
    let node = probe_node(dir.path());
    let (ready, live) = (dir.path().join("ready"), dir.path().join("live"));
    let handle = node.start_pod(pod(&format!(
        r#"
apiVersion: v1
kind: Pod
metadata: {{name: terminating}}
spec:
  terminationGracePeriodSeconds: 30
  containers:
  - name: c
    image: busybox
    command: [sh, -c, "touch {r} {l}; trap 'rm -f {r} {l}; sleep 3; exit 0' TERM; while true; do sleep 0.1; done"]
    readinessProbe: {{exec: {{command: [cat, "{r}"]}}, initialDelaySeconds: 1, periodSeconds: 1, failureThreshold: 1}}
    livenessProbe: {{exec: {{command: [cat, "{l}"]}}, initialDelaySeconds: 1, periodSeconds: 1, failureThreshold: 1}}
"#,
        r = ready.display(),
        l = live.display()
    )));
    let uid = handle.pod().uid().to_string();
    within(60, "ready", handle.wait_for(|s| s.containers[0].ready)).await;
    handle.delete(None);
    let unready = within(60, "not ready while terminating", handle.wait_for(|s| !s.containers[0].ready)).await;
    assert!(matches!(unready.containers[0].state, ContainerState::Running { .. }), "still terminating");
    assert_eq!(condition(&unready, "Ready"), "False");
    within(60, "termination", handle.finished()).await;
    assert!(!messages(&node, &uid, "Killing").iter().any(|m| m.contains("failed liveness probe")));
    assert!(!messages(&node, &uid, "Unhealthy").iter().any(|m| m.starts_with("Liveness")));
}

/// §8.2: a sidecar's startup probe gates the next container; its readiness feeds
/// `ContainersReady`; its liveness kill restarts it (whatever the pod's policy) with
/// the sidecar message.
#[tokio::test]
async fn sidecar_probes_gate_and_feed_readiness() {
    let dir = tempfile::tempdir().unwrap();
    let node = probe_node(dir.path());
    let (started, healthy) = (dir.path().join("started"), dir.path().join("healthy"));
    std::fs::write(&healthy, "").unwrap();
    let handle = node.start_pod(pod(&format!(
        r#"
apiVersion: v1
kind: Pod
metadata: {{name: sidecar-probes}}
spec:
  restartPolicy: Never
  terminationGracePeriodSeconds: 1
  initContainers:
  - name: proxy
    image: busybox
    restartPolicy: Always
    command: [sh, -c, "sleep 1; touch {s}; sleep 600"]
    startupProbe: {{exec: {{command: [cat, "{s}"]}}, periodSeconds: 1, failureThreshold: 100}}
    readinessProbe: {{exec: {{command: [cat, "{h}"]}}, periodSeconds: 1, failureThreshold: 1}}
    livenessProbe: {{exec: {{command: [cat, "{h}"]}}, periodSeconds: 1, failureThreshold: 2}}
  containers:
  - name: app
    image: busybox
    command: [sleep, '600']
"#,
        s = started.display(),
        h = healthy.display()
    )));
    let uid = handle.pod().uid().to_string();
    let before = within(60, "the sidecar running", handle.wait_for(|s| matches!(s.init_containers[0].state, ContainerState::Running { .. }))).await;
    assert!(before.containers[0].container_id.is_none(), "app waits for the sidecar's startup probe");
    assert_eq!(condition(&before, "Initialized"), "False");
    assert_eq!(condition_message(&before, "Initialized"), "containers with incomplete status: [proxy]");
    let all_ready = within(60, "all ready", handle.wait_for(|s| condition(s, "ContainersReady") == "True")).await;
    assert!(all_ready.init_containers[0].ready && all_ready.containers[0].ready);
    std::fs::remove_file(&healthy).unwrap();
    let unready = within(60, "sidecar unready", handle.wait_for(|s| !s.init_containers[0].ready)).await;
    assert_eq!(condition_message(&unready, "ContainersReady"), "containers with unready status: [proxy]");
    within(60, "the sidecar restarted", handle.wait_for(|s| s.init_containers[0].restart_count >= 1)).await;
    assert_eq!(messages(&node, &uid, "Killing")[0], "Init container proxy failed liveness probe");
    assert_eq!(handle.status().containers[0].restart_count, 0, "the app is not touched");
    within(60, "probes keep running", until_probes(&node, "failed", 3)).await;
    handle.delete(Some(1));
    within(30, "termination", handle.finished()).await;
}
