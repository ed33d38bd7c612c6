//! The kubelet's lifecycle e2e cases (spec section 8) for PostStart with exec hooks on
//! the process runtime: ordering, failure handling, back-off, timeouts.

mod common;

use std::time::Duration;

use common::{node, pod, reasons, within, RecordingServer};
use hooklet::events::EventType;
use hooklet::hooks::{HandlerKind, HookOutcome};
use hooklet::lifecycle::{ContainerState, PodPhase};

/// "should execute poststart exec hook properly"
#[tokio::test]
async fn poststart_exec_hook() {
    let dir = tempfile::tempdir().unwrap();
    let server = RecordingServer::start().await;
    let node = node(dir.path());
    let handle = node.start_pod(pod(&format!(
        r#"
apiVersion: v1
kind: Pod
metadata: {{name: pod-with-poststart-exec-hook}}
spec:
  containers:
  - name: app
    image: busybox
    command: [sleep, "300"]
    lifecycle:
      postStart:
        exec: {{command: [sh, -c, "curl -s {}/echo?msg=poststart"]}}
"#,
        server.url()
    )));
    within(60, "the poststart request", server.wait_for("/echo?msg=poststart")).await;
    let status = within(60, "started", handle.wait_for(|s| s.containers[0].started)).await;
    assert_eq!(status.phase, PodPhase::Running);
    let hook = &status.containers[0].hooks[0];
    assert_eq!((hook.kind, &hook.outcome), (HandlerKind::Exec, &HookOutcome::Succeeded));
    assert_eq!(hook.output, "ok", "the hook's stdout is kept (D4)");
    handle.delete(Some(5));
    within(60, "termination", handle.finished()).await;
    assert_eq!(reasons(&node, handle.pod().uid()), ["Created", "Started", "Killing"]);
}

/// PostStart runs after the start returns; the container is not `started` and the next
/// container does not start until the hook completes (spec 2.3, P1).
#[tokio::test]
async fn poststart_blocks_started_and_the_next_container() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("gate");
    assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    let node = node(dir.path());
    let handle = node.start_pod(pod(&format!(
        r#"
apiVersion: v1
kind: Pod
metadata: {{name: ordered}}
spec:
  containers:
  - name: first
    image: busybox
    command: [sleep, "300"]
    lifecycle:
      postStart:
        exec: {{command: [sh, -c, "read line < {}"]}}
  - name: second
    image: busybox
    command: [sleep, "300"]
"#,
        fifo.display()
    )));
    let started = node.events().wait_for(|e| e.reason == "Started").await;
    assert_eq!(started.object.container_name(), Some("first"));
    // The hook is blocked on the FIFO: the container runs but is not started.
    let status = handle.status();
    assert!(matches!(status.containers[0].state, ContainerState::Running { .. }));
    assert!(!status.containers[0].started);
    assert_eq!(status.phase, PodPhase::Pending);
    assert!(matches!(&status.containers[1].state, ContainerState::Waiting { reason, .. } if reason == "ContainerCreating"));
    assert_eq!(reasons(&node, handle.pod().uid()), ["Created", "Started"]);
    // Release the hook.
    let writer = std::thread::spawn(move || std::fs::write(&fifo, "go\n").unwrap());
    let status = within(60, "both started", handle.wait_for(|s| s.containers.iter().all(|c| c.started))).await;
    writer.join().unwrap();
    assert_eq!(status.phase, PodPhase::Running);
    let first_hook_end = status.containers[0].hooks[0].started_at + status.containers[0].hooks[0].duration;
    let second_started = match status.containers[1].state {
        ContainerState::Running { started_at } => started_at,
        ref s => panic!("{s:?}"),
    };
    assert!(second_started >= first_hook_end, "second container started before first's PostStart ended");
    handle.delete(Some(2));
    within(60, "termination", handle.finished()).await;
}

/// PostStart failure: FailedPostStartHook → Killing "FailedPostStartHook" (PreStop runs)
/// → restart with CrashLoopBackOff (shrunken) → BackOff events (spec 2.4, P2).
#[tokio::test]
async fn poststart_failure_kills_runs_prestop_and_restarts_with_back_off() {
    let dir = tempfile::tempdir().unwrap();
    let node = node(dir.path());
    let prestops = dir.path().join("prestops");
    let handle = node.start_pod(pod(&format!(
        r#"
apiVersion: v1
kind: Pod
metadata: {{name: failing-poststart}}
spec:
  containers:
  - name: app
    image: busybox
    command: [sleep, "300"]
    lifecycle:
      postStart:
        exec: {{command: [sh, -c, "echo nope; exit 3"]}}
      preStop:
        exec: {{command: [sh, -c, "echo x >> {}"]}}
"#,
        prestops.display()
    )));
    let status = within(60, "three restarts", handle.wait_for(|s| s.containers[0].restart_count >= 3)).await;
    assert!(!status.containers[0].started);
    let events = node.events().for_pod(handle.pod().uid());
    let find = |reason: &str| events.iter().find(|e| e.reason == reason).unwrap_or_else(|| panic!("no {reason} in {events:#?}"));
    let failed = find("FailedPostStartHook");
    assert_eq!(failed.event_type, EventType::Warning);
    assert!(failed.count >= 3, "identical failures merge: {failed:?}");
    assert!(failed.message.contains("command 'sh -c echo nope; exit 3' exited with 3"), "{}", failed.message);
    assert!(failed.message.ends_with("message: \"nope\\n\""), "{}", failed.message);
    assert_eq!(find("Killing").message, "FailedPostStartHook");
    let backoff = find("BackOff");
    assert_eq!(
        backoff.message,
        format!("Back-off restarting failed container app in pod {}", handle.pod().display_name())
    );
    assert!(find("Created").count >= 4);
    // PreStop ran for every kill (the code path is unconditional, spec 2.4).
    let kills = std::fs::read_to_string(&prestops).unwrap().lines().count();
    assert!(kills >= 3, "{kills}");
    assert!(matches!(status.containers[0].last_state, Some(ContainerState::Terminated { .. })));
    handle.delete(Some(2));
    within(60, "termination", handle.finished()).await;
}

/// With `restartPolicy: Never` a failed PostStart ends the pod: Failed, no restart.
#[tokio::test]
async fn poststart_failure_with_restart_never() {
    let dir = tempfile::tempdir().unwrap();
    let node = node(dir.path());
    let handle = node.start_pod(pod(
        r#"
apiVersion: v1
kind: Pod
metadata: {name: never}
spec:
  restartPolicy: Never
  containers:
  - name: app
    image: busybox
    command: [sleep, "300"]
    lifecycle:
      postStart:
        tcpSocket: {port: 8080}
"#,
    ));
    let status = within(60, "the pod to end", handle.finished()).await;
    assert_eq!(status.phase, PodPhase::Failed);
    assert_eq!(status.containers[0].restart_count, 0);
    let failed = node.events().wait_for(|e| e.reason == "FailedPostStartHook").await;
    assert!(failed.message.starts_with("Cannot run handler: invalid handler: tcpSocket (port 8080)"), "{}", failed.message);
}

/// D5: a hung PostStart holds the container not-started forever (as in Kubernetes)
/// unless `timeoutSeconds` is set; deletion always cancels it.
#[tokio::test]
async fn a_hung_poststart_is_cut_by_timeout_seconds_or_by_deletion() {
    let dir = tempfile::tempdir().unwrap();
    let node = node(dir.path());
    let manifest = |name: &str, timeout: &str| {
        format!(
            r#"
apiVersion: v1
kind: Pod
metadata: {{name: {name}}}
spec:
  restartPolicy: Never
  containers:
  - name: app
    image: busybox
    command: [sleep, "300"]
    lifecycle:
      postStart:
        exec: {{command: [sleep, "300"]}}
        {timeout}
"#
        )
    };
    // timeoutSeconds: the hook fails after 1 s and the container is killed.
    let timed = node.start_pod(pod(&manifest("timed", "timeoutSeconds: 1")));
    let status = within(60, "the pod to end", timed.finished()).await;
    let hook = &status.containers[0].hooks[0];
    assert!(matches!(hook.outcome, HookOutcome::TimedOut { .. }), "{:?}", hook.outcome);
    assert!(hook.duration >= Duration::from_secs(1));
    let failed = node.events().wait_for(|e| e.reason == "FailedPostStartHook" && e.object.name == "timed").await;
    assert!(failed.message.contains("timed out after 1s (timeoutSeconds: 1)"), "{}", failed.message);

    // No timeout: deletion cancels the hook, then the container is stopped.
    let hung = node.start_pod(pod(&manifest("hung", "")));
    node.events().wait_for(|e| e.reason == "Started" && e.object.name == "hung").await;
    assert!(!hung.status().containers[0].started);
    hung.delete(Some(30));
    let status = within(60, "the pod to end", hung.finished()).await;
    let hook = &status.containers[0].hooks[0];
    assert!(matches!(hook.outcome, HookOutcome::Cancelled { .. }), "{:?}", hook.outcome);
    let killing = node.events().wait_for(|e| e.reason == "Killing" && e.object.name == "hung").await;
    assert_eq!(killing.message, "Stopping container app");
}

/// The process runtime records `image` but needs `command`: a clear Failed event, no hang.
#[tokio::test]
async fn a_container_without_command_fails_with_a_clear_event() {
    let dir = tempfile::tempdir().unwrap();
    let node = node(dir.path());
    let handle = node.start_pod(pod(
        r#"
apiVersion: v1
kind: Pod
metadata: {name: image-only}
spec:
  restartPolicy: Never
  containers:
  - name: app
    image: nginx
"#,
    ));
    let status = within(60, "the pod to end", handle.finished()).await;
    assert_eq!(status.phase, PodPhase::Failed);
    let failed = node.events().wait_for(|e| e.reason == "Failed").await;
    assert_eq!(failed.event_type, EventType::Warning);
    assert!(failed.message.starts_with("Error: container \"app\" has no command"), "{}", failed.message);
    assert!(failed.message.contains("add `command:`"), "{}", failed.message);
    let ContainerState::Terminated { reason, exit_code, .. } = &status.containers[0].state else { panic!() };
    assert_eq!((reason.as_str(), *exit_code), ("StartError", 128));
}
