//! The kubelet's lifecycle e2e cases (spec section 8) for termination on the process
//! runtime: PreStop exec and sleep hooks, grace periods, TERM then KILL.

mod common;

use std::time::{Duration, Instant};

use common::{node, pod, reasons, within, RecordingServer};
use hooklet::hooks::{HandlerKind, HookOutcome};
use hooklet::lifecycle::{ContainerState, PodPhase};

/// "should execute prestop exec hook properly", and the hook runs before the TERM.
#[tokio::test]
async fn prestop_exec_hook_runs_before_the_stop_signal() {
    let dir = tempfile::tempdir().unwrap();
    let server = RecordingServer::start().await;
    let node = node(dir.path());
    let trace = dir.path().join("trace");
    let handle = node.start_pod(pod(&format!(
        r#"
apiVersion: v1
kind: Pod
metadata: {{name: pod-with-prestop-exec-hook}}
spec:
  containers:
  - name: app
    image: busybox
    command: [sh, -c, "trap 'echo term >> {trace}; exit 0' TERM; touch {trace}.ready; while true; do sleep 0.1; done"]
    lifecycle:
      postStart:  # `started` only once the TERM trap is installed
        exec: {{command: [sh, -c, "until [ -e {trace}.ready ]; do sleep 0.05; done"]}}
      preStop:
        exec: {{command: [sh, -c, "echo prestop >> {trace}; curl -s {url}/echo?msg=prestop"]}}
"#,
        trace = trace.display(),
        url = server.url()
    )));
    within(60, "started", handle.wait_for(|s| s.containers[0].started)).await;
    handle.delete(Some(15));
    within(60, "the prestop request", server.wait_for("/echo?msg=prestop")).await;
    let status = within(60, "termination", handle.finished()).await;
    assert_eq!(std::fs::read_to_string(&trace).unwrap(), "prestop\nterm\n");
    let ContainerState::Terminated { exit_code, reason, .. } = &status.containers[0].state else {
        panic!("{:?}", status.containers[0].state)
    };
    assert_eq!((*exit_code, reason.as_str()), (0, "Completed"));
    let killing = node.events().wait_for(|e| e.reason == "Killing").await;
    assert_eq!(killing.message, "Stopping container app");
}

/// "valid prestop hook using sleep action": the sleep runs inside the grace.
#[tokio::test]
async fn prestop_sleep_within_grace() {
    let dir = tempfile::tempdir().unwrap();
    let node = node(dir.path());
    let handle = node.start_pod(pod(
        r#"
apiVersion: v1
kind: Pod
metadata: {name: sleeper}
spec:
  terminationGracePeriodSeconds: 10
  containers:
  - name: app
    image: busybox
    command: [sleep, "300"]
    lifecycle:
      preStop:
        sleep: {seconds: 2}
"#,
    ));
    within(60, "started", handle.wait_for(|s| s.containers[0].started)).await;
    let t0 = Instant::now();
    handle.delete(None);
    let status = within(60, "termination", handle.finished()).await;
    let took = t0.elapsed();
    assert!(took >= Duration::from_secs(2) && took < Duration::from_secs(10), "{took:?}");
    let hook = &status.containers[0].hooks[0];
    assert_eq!((hook.kind, &hook.outcome), (HandlerKind::Sleep, &HookOutcome::Succeeded));
}

/// "prestop hook using sleep action with zero duration".
#[tokio::test]
async fn prestop_sleep_zero() {
    let dir = tempfile::tempdir().unwrap();
    let node = node(dir.path());
    let handle = node.start_pod(pod(
        r#"
apiVersion: v1
kind: Pod
metadata: {name: sleep-zero}
spec:
  containers:
  - name: app
    image: busybox
    command: [sleep, "300"]
    lifecycle:
      preStop:
        sleep: {seconds: 0}
"#,
    ));
    within(60, "started", handle.wait_for(|s| s.containers[0].started)).await;
    let t0 = Instant::now();
    handle.delete(None);
    let status = within(60, "termination", handle.finished()).await;
    assert!(t0.elapsed() < Duration::from_secs(30));
    assert!(status.containers[0].hooks[0].duration < Duration::from_secs(1));
}

/// "ignore terminated container": no PreStop sleep for a container that exited.
#[tokio::test]
async fn no_prestop_for_a_container_that_exited_by_itself() {
    let dir = tempfile::tempdir().unwrap();
    let node = node(dir.path());
    let handle = node.start_pod(pod(
        r#"
apiVersion: v1
kind: Pod
metadata: {name: exits}
spec:
  restartPolicy: Never
  containers:
  - name: app
    image: busybox
    command: [sh, -c, "sleep 1"]
    lifecycle:
      preStop:
        sleep: {seconds: 10}
"#,
    ));
    let status = within(60, "the pod to complete", handle.finished()).await;
    assert_eq!(status.phase, PodPhase::Succeeded);
    let ContainerState::Terminated { started_at: Some(start), finished_at, .. } = status.containers[0].state else {
        panic!("{:?}", status.containers[0].state)
    };
    assert!(finished_at.duration_since(start).unwrap() < Duration::from_secs(10));
    assert!(status.containers[0].hooks.is_empty(), "no PreStop ran: {:?}", status.containers[0].hooks);
    assert!(!reasons(&node, handle.pod().uid()).contains(&"Killing".to_string()));
}

/// "reduce GracePeriodSeconds during runtime": a second delete with a shorter grace
/// cuts the running PreStop sleep.
#[tokio::test]
async fn a_second_delete_with_a_shorter_grace_cuts_prestop() {
    let dir = tempfile::tempdir().unwrap();
    let node = node(dir.path());
    let handle = node.start_pod(pod(
        r#"
apiVersion: v1
kind: Pod
metadata: {name: long-sleep}
spec:
  terminationGracePeriodSeconds: 100
  containers:
  - name: app
    image: busybox
    command: [sleep, "300"]
    lifecycle:
      preStop:
        sleep: {seconds: 50}
"#,
    ));
    within(60, "started", handle.wait_for(|s| s.containers[0].started)).await;
    handle.delete(None);
    node.events().wait_for(|e| e.reason == "Killing").await;
    let t1 = Instant::now();
    handle.delete(Some(2));
    let status = within(60, "termination", handle.finished()).await;
    let took = t1.elapsed();
    assert!(took >= Duration::from_secs(2) && took < Duration::from_secs(20), "{took:?}");
    assert_eq!(status.deletion_grace_seconds, Some(2));
    let failure = status.containers[0].hooks[0].outcome.failure().unwrap().to_string();
    assert!(failure.ends_with("failed - error: container terminated before sleep hook finished"), "{failure}");
    let event = node.events().wait_for(|e| e.reason == "FailedPreStopHook").await;
    assert_eq!(event.message, failure);
}

/// "graceful pod terminated should wait until preStop hook completes the process"
/// (grace shrunk from 30 s to 4 s): the pod keeps Running while the hook loops, and the
/// hook is abandoned at the grace without a failure event.
#[tokio::test]
async fn termination_waits_for_a_looping_prestop_until_the_grace_ends() {
    let dir = tempfile::tempdir().unwrap();
    let node = node(dir.path());
    let handle = node.start_pod(pod(
        r#"
apiVersion: v1
kind: Pod
metadata: {name: graceful}
spec:
  containers:
  - name: app
    image: busybox
    command: [sleep, "300"]
    lifecycle:
      preStop:
        exec: {command: [sh, -c, "while true; do echo preStop; sleep 1; done"]}
"#,
    ));
    within(60, "started", handle.wait_for(|s| s.containers[0].started)).await;
    let t0 = Instant::now();
    handle.delete(Some(4));
    node.events().wait_for(|e| e.reason == "Killing").await;
    let status = handle.status();
    assert_eq!(status.phase, PodPhase::Running, "still running while PreStop loops");
    let status = within(60, "termination", handle.finished()).await;
    assert!(t0.elapsed() >= Duration::from_secs(4), "{:?}", t0.elapsed());
    assert_eq!(status.containers[0].hooks[0].outcome, HookOutcome::GraceExpired);
    assert!(!reasons(&node, handle.pod().uid()).contains(&"FailedPreStopHook".to_string()));
}

/// A container whose process ignores TERM is killed when the remaining grace (at
/// least 2 s after the hook, D6) runs out.
#[tokio::test]
async fn kill_follows_the_stop_signal_when_the_grace_runs_out() {
    let dir = tempfile::tempdir().unwrap();
    let node = node(dir.path());
    let ready = dir.path().join("ready");
    let handle = node.start_pod(pod(&format!(
        r#"
apiVersion: v1
kind: Pod
metadata: {{name: stubborn}}
spec:
  terminationGracePeriodSeconds: 3
  containers:
  - name: app
    image: busybox
    command: [sh, -c, "trap '' TERM; touch {ready}; while true; do sleep 0.1; done"]
    lifecycle:
      postStart:  # `started` only once TERM is ignored
        exec: {{command: [sh, -c, "until [ -e {ready} ]; do sleep 0.05; done"]}}
"#,
        ready = ready.display()
    )));
    within(60, "started", handle.wait_for(|s| s.containers[0].started)).await;
    let t0 = Instant::now();
    handle.delete(None);
    let status = within(60, "termination", handle.finished()).await;
    assert!(t0.elapsed() >= Duration::from_secs(3), "{:?}", t0.elapsed());
    let ContainerState::Terminated { exit_code, signal, .. } = status.containers[0].state else { panic!() };
    assert_eq!((exit_code, signal), (137, Some(9)));
}
