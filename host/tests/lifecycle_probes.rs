//! The kubelet's probe e2e cases (`[sig-node] Probing container`, probe spec §8.1) on
//! the process runtime, with probe seconds of 100 ms and the e2e tests' numbers.

mod common;

use std::time::SystemTime;

use common::probes::{condition, condition_message, event_count, probe_node, until_events, until_probes, UNIT};
use common::{messages, pod, within, RecordingServer};
use hooklet::lifecycle::{ContainerState, PodPhase};

fn started_at(state: &ContainerState) -> SystemTime {
    match state {
        ContainerState::Running { started_at } => *started_at,
        other => panic!("not running: {other:?}"),
    }
}

/// 1. "with readiness probe should not be ready before initial delay and never restart"
#[tokio::test]
async fn readiness_waits_for_the_initial_delay() {
    let dir = tempfile::tempdir().unwrap();
    let server = RecordingServer::start().await;
    let node = probe_node(dir.path());
    let handle = node.start_pod(pod(&format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: ready-delay}}\nspec:\n  containers:\n  - name: web\n    image: busybox\n    command: [sleep, '300']\n    readinessProbe:\n      httpGet: {{host: 127.0.0.1, port: {}, path: /}}\n      initialDelaySeconds: 15\n      periodSeconds: 1\n",
        server.addr.port()
    )));
    let running = within(30, "running", handle.wait_for(|s| matches!(s.containers[0].state, ContainerState::Running { .. }))).await;
    assert!(!running.containers[0].ready, "not ready before the readiness probe succeeds");
    let ready = within(30, "ready", handle.wait_for(|s| condition(s, "Ready") == "True")).await;
    let became_ready = ready.condition("Ready").unwrap().last_transition_time;
    let waited = became_ready.duration_since(started_at(&ready.containers[0].state)).unwrap();
    assert!(waited >= UNIT * 15, "ready after {waited:?}, before the initial delay of 15 probe seconds");
    assert_eq!(condition(&ready, "ContainersReady"), "True");
    let probe = server.seen().remove(0);
    assert_eq!(probe.header("user-agent"), Some("kube-probe/1.34"));
    assert_eq!(probe.header("accept"), Some("*/*"));
    assert_eq!(probe.header("accept-encoding"), None, "DisableCompression");
    assert_eq!(ready.containers[0].restart_count, 0);
    handle.delete(Some(1));
    within(30, "termination", handle.finished()).await;
}

/// 2. "with readiness probe that fails should never be ready and never restart"
#[tokio::test]
async fn failing_readiness_never_ready_never_restarted() {
    let dir = tempfile::tempdir().unwrap();
    let node = probe_node(dir.path());
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let handle = node.start_pod(pod(&format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: never-ready}}\nspec:\n  containers:\n  - name: web\n    image: busybox\n    command: [sleep, '300']\n    readinessProbe:\n      httpGet: {{host: 127.0.0.1, port: {closed}}}\n      periodSeconds: 1\n      failureThreshold: 1\n"
    )));
    let uid = handle.pod().uid().to_string();
    within(30, "ten failed readiness probes", until_events(&node, &uid, "Unhealthy", 10)).await;
    let status = handle.status();
    assert!(!status.containers[0].ready);
    assert_eq!(status.phase, PodPhase::Running);
    assert_eq!(condition(&status, "Ready"), "False");
    assert_eq!(status.condition("Ready").unwrap().reason.as_deref(), Some("ContainersNotReady"));
    assert_eq!(condition_message(&status, "ContainersReady"), "containers with unready status: [web]");
    assert_eq!(status.containers[0].restart_count, 0);
    assert_eq!(
        messages(&node, &uid, "Unhealthy")[0],
        format!("Readiness probe failed: Get \"http://127.0.0.1:{closed}/\": dial tcp 127.0.0.1:{closed}: connect: connection refused")
    );
    assert_eq!(event_count(&node, &uid, "Killing"), 0);
    handle.delete(Some(1));
    within(30, "termination", handle.finished()).await;
}

/// 3. "should be restarted with a exec "cat /tmp/health" liveness probe", with a PreStop
/// that runs on the probe kill (the Kubernetes docs: PreStop runs for liveness kills).
#[tokio::test]
async fn exec_liveness_kill_runs_prestop_and_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let node = probe_node(dir.path());
    let health = dir.path().join("health");
    let marker = dir.path().join("prestop");
    let handle = node.start_pod(pod(&format!(
        r#"
apiVersion: v1
kind: Pod
metadata: {{name: liveness-exec}}
spec:
  containers:
  - name: liveness
    image: busybox
    command: [sh, -c, "echo ok > {h}; sleep 1; rm -f {h}; sleep 600"]
    livenessProbe:
      exec: {{command: [cat, "{h}"]}}
      initialDelaySeconds: 5
      timeoutSeconds: 5
      failureThreshold: 1
      periodSeconds: 1
    lifecycle:
      preStop:
        exec: {{command: [sh, -c, "echo ran >> {m}"]}}
"#,
        h = health.display(),
        m = marker.display()
    )));
    let uid = handle.pod().uid().to_string();
    let restarted = within(60, "a restart", handle.wait_for(|s| s.containers[0].restart_count >= 1)).await;
    let unhealthy = messages(&node, &uid, "Unhealthy");
    assert_eq!(
        unhealthy[0],
        format!("Liveness probe failed: cat: {}: No such file or directory", health.display())
    );
    assert_eq!(messages(&node, &uid, "Killing"), ["Container liveness failed liveness probe, will be restarted"]);
    assert_eq!(std::fs::read_to_string(&marker).unwrap(), "ran\n", "PreStop ran once, on the probe kill");
    let last = restarted.containers[0].last_state.clone().expect("the killed instance");
    assert!(matches!(last, ContainerState::Terminated { .. }), "{last:?}");
    handle.delete(Some(1));
    within(30, "termination", handle.finished()).await;
}

/// 4. "should *not* be restarted with a exec "cat /tmp/health" liveness probe"
#[tokio::test]
async fn healthy_exec_liveness_never_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let node = probe_node(dir.path());
    let health = dir.path().join("health");
    std::fs::write(&health, "ok").unwrap();
    let handle = node.start_pod(pod(&format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: healthy}}\nspec:\n  containers:\n  - name: c\n    image: busybox\n    command: [sleep, '300']\n    livenessProbe:\n      exec: {{command: [cat, {}]}}\n      periodSeconds: 1\n      failureThreshold: 1\n",
        health.display()
    )));
    within(60, "twenty successful probes", until_probes(&node, "successful", 20)).await;
    let status = handle.status();
    assert_eq!(status.containers[0].restart_count, 0);
    assert_eq!(event_count(&node, handle.pod().uid(), "Unhealthy"), 0);
    assert!(status.containers[0].ready, "no readiness probe: ready once started");
    handle.delete(Some(1));
    within(30, "termination", handle.finished()).await;
}

/// 5 and 6: an HTTP liveness probe that gets 500 restarts the container; a tcpSocket
/// probe on the same server does not (the socket stays open).
#[tokio::test]
async fn http_500_restarts_but_tcp_on_the_same_server_does_not() {
    let dir = tempfile::tempdir().unwrap();
    let server = RecordingServer::start().await;
    server.set_status(500);
    let node = probe_node(dir.path());
    let port = server.addr.port();
    let tcp = node.start_pod(pod(&format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: tcp}}\nspec:\n  containers:\n  - name: c\n    image: busybox\n    command: [sleep, '300']\n    livenessProbe:\n      tcpSocket: {{host: 127.0.0.1, port: {port}}}\n      periodSeconds: 1\n      failureThreshold: 1\n"
    )));
    let http = node.start_pod(pod(&format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: http}}\nspec:\n  terminationGracePeriodSeconds: 1\n  containers:\n  - name: c\n    image: busybox\n    command: [sleep, '300']\n    livenessProbe:\n      httpGet: {{host: 127.0.0.1, port: {port}, path: /healthz}}\n      periodSeconds: 1\n      failureThreshold: 1\n"
    )));
    within(60, "the HTTP probe's restart", http.wait_for(|s| s.containers[0].restart_count >= 1)).await;
    assert_eq!(
        messages(&node, http.pod().uid(), "Unhealthy")[0],
        "Liveness probe failed: HTTP probe failed with statuscode: 500"
    );
    within(60, "ten tcp probes", until_probes(&node, "successful", 10)).await;
    assert_eq!(tcp.status().containers[0].restart_count, 0);
    assert_eq!(event_count(&node, tcp.pod().uid(), "Unhealthy"), 0);
    for h in [&tcp, &http] {
        h.delete(Some(1));
        within(30, "termination", h.finished()).await;
    }
}

/// 7. "should have monotonically increasing restart count" (with back-off)
#[tokio::test]
async fn restart_count_increases_monotonically() {
    let dir = tempfile::tempdir().unwrap();
    let server = RecordingServer::start().await;
    server.set_status(500);
    let node = probe_node(dir.path());
    let handle = node.start_pod(pod(&format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: mono}}\nspec:\n  terminationGracePeriodSeconds: 1\n  containers:\n  - name: c\n    image: busybox\n    command: [sleep, '300']\n    livenessProbe:\n      httpGet: {{host: 127.0.0.1, port: {}, path: /healthz}}\n      initialDelaySeconds: 1\n      periodSeconds: 1\n      failureThreshold: 1\n",
        server.addr.port()
    )));
    let mut status = handle.subscribe();
    let mut last = 0;
    within(120, "five restarts", async {
        while last < 5 {
            status.changed().await.unwrap();
            let count = status.borrow().containers[0].restart_count;
            assert!(count >= last, "restart count went from {last} to {count}");
            last = count;
        }
    })
    .await;
    assert!(event_count(&node, handle.pod().uid(), "BackOff") >= 1, "restarts are subject to back-off");
    handle.delete(Some(1));
    within(30, "termination", handle.finished()).await;
}

/// 9 and 11: an exec liveness probe that outlives its timeout is a failure
/// (`command "…" timed out`); one that exits 1 while a child lives on counts its exit.
#[tokio::test]
async fn exec_probe_timeout_is_a_failure() {
    let dir = tempfile::tempdir().unwrap();
    let node = probe_node(dir.path());
    let spec = |name: &str, cmd: &str| {
        format!("apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}}}\nspec:\n  terminationGracePeriodSeconds: 1\n  containers:\n  - name: c\n    image: busybox\n    command: [sleep, '300']\n    livenessProbe:\n      exec: {{command: [sh, -c, '{cmd}']}}\n      timeoutSeconds: 1\n      periodSeconds: 2\n      failureThreshold: 1\n")
    };
    let slow = node.start_pod(pod(&spec("slow", "sleep 10")));
    let background = node.start_pod(pod(&spec("background", "sleep 10 & exit 1")));
    for h in [&slow, &background] {
        within(60, "a restart", h.wait_for(|s| s.containers[0].restart_count >= 1)).await;
    }
    assert_eq!(
        messages(&node, slow.pod().uid(), "Unhealthy")[0],
        "Liveness probe failed: command \"sh -c sleep 10\" timed out"
    );
    for h in [&slow, &background] {
        h.delete(Some(1));
        within(30, "termination", h.finished()).await;
    }
}

/// 12 and 13: a redirect to the same host is followed (and hits the 500); one to another
/// host is a success with a `ProbeWarning` event carrying the body.
#[tokio::test]
async fn redirects_local_followed_non_local_warned() {
    let dir = tempfile::tempdir().unwrap();
    let server = RecordingServer::start().await;
    server.set_status(500);
    let node = probe_node(dir.path());
    let spec = |name: &str, loc: &str| {
        format!("apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}}}\nspec:\n  terminationGracePeriodSeconds: 1\n  containers:\n  - name: c\n    image: busybox\n    command: [sleep, '300']\n    livenessProbe:\n      httpGet: {{host: 127.0.0.1, port: {}, path: '/redirect?loc={loc}'}}\n      periodSeconds: 1\n      failureThreshold: 1\n", server.addr.port())
    };
    let local = node.start_pod(pod(&spec("local", "%2Fhealthz")));
    let remote = node.start_pod(pod(&spec("remote", "http%3A%2F%2F0.0.0.0%2F")));
    within(60, "the local redirect's restart", local.wait_for(|s| s.containers[0].restart_count >= 1)).await;
    within(60, "three warnings", until_events(&node, remote.pod().uid(), "ProbeWarning", 3)).await;
    assert_eq!(
        messages(&node, remote.pod().uid(), "ProbeWarning")[0],
        "Liveness probe warning: Probe terminated redirects, Response body: <a href=\"http://0.0.0.0/\">Found</a>."
    );
    assert_eq!(remote.status().containers[0].restart_count, 0);
    for h in [&local, &remote] {
        h.delete(Some(1));
        within(30, "termination", h.finished()).await;
    }
}

/// 18. "should override timeoutGracePeriodSeconds when LivenessProbe field is set": the
/// probe's grace (1 s) bounds the kill of a container that ignores TERM, not the pod's 500.
#[tokio::test]
async fn probe_grace_overrides_the_pods() {
    let dir = tempfile::tempdir().unwrap();
    let node = probe_node(dir.path());
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let handle = node.start_pod(pod(&format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: tgps}}\nspec:\n  terminationGracePeriodSeconds: 500\n  containers:\n  - name: c\n    image: busybox\n    command: [sh, -c, \"trap '' TERM; while true; do sleep 1; done\"]\n    livenessProbe:\n      httpGet: {{host: 127.0.0.1, port: {closed}, path: /healthz}}\n      initialDelaySeconds: 1\n      periodSeconds: 1\n      failureThreshold: 1\n      terminationGracePeriodSeconds: 1\n"
    )));
    // Killed by KILL after the 2 s stop window; the pod's 500 s would time this out.
    let status = within(30, "a restart", handle.wait_for(|s| s.containers[0].restart_count >= 1)).await;
    match status.containers[0].last_state.clone() {
        Some(ContainerState::Terminated { exit_code, .. }) => assert_eq!(exit_code, 137, "KILLed"),
        other => panic!("{other:?}"),
    }
    handle.delete(Some(1));
    within(30, "termination", handle.finished()).await;
}

/// 20 and 21: a gRPC liveness probe against a real `grpc.health.v1` server that is
/// `SERVING` keeps the container; one on a port with no server restarts it. The server
/// then turning `NOT_SERVING` fails the first one too.
#[tokio::test]
async fn grpc_liveness() {
    let dir = tempfile::tempdir().unwrap();
    let node = probe_node(dir.path());
    let (addr, health) = common::grpc_server::spawn_health_server(common::grpc_server::ServingStatus::Serving).await;
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let spec = |name: &str, port: u16| {
        format!("apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}}}\nspec:\n  terminationGracePeriodSeconds: 1\n  containers:\n  - name: c\n    image: busybox\n    command: [sleep, '300']\n    livenessProbe:\n      grpc: {{port: {port}}}\n      timeoutSeconds: 5\n      periodSeconds: 1\n      failureThreshold: 1\n")
    };
    let serving = node.start_pod(pod(&spec("serving", addr.port())));
    let wrong = node.start_pod(pod(&spec("wrong-port", closed)));
    within(60, "the wrong port's restart", wrong.wait_for(|s| s.containers[0].restart_count >= 1)).await;
    assert_eq!(
        messages(&node, wrong.pod().uid(), "Unhealthy")[0],
        format!("Liveness probe failed: timeout: failed to connect service \"127.0.0.1:{closed}\" within 500ms: context deadline exceeded")
    );
    within(60, "ten healthy gRPC probes", until_probes(&node, "successful", 10)).await;
    assert_eq!(serving.status().containers[0].restart_count, 0);
    health.set_status(common::grpc_server::ServingStatus::NotServing).await;
    within(60, "the NOT_SERVING restart", serving.wait_for(|s| s.containers[0].restart_count >= 1)).await;
    assert!(messages(&node, serving.pod().uid(), "Unhealthy").contains(&"Liveness probe failed: service unhealthy (responded with \"NOT_SERVING\")".to_string()));
    for h in [&serving, &wrong] {
        h.delete(Some(1));
        within(30, "termination", h.finished()).await;
    }
}
