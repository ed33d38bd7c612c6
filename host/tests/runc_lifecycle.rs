//! The lifecycle under the runc runtime with the busybox image: exec hooks inside the
//! container (its filesystem, its cgroup), the stop signal and grace, OOM kills, a
//! missing image, and cleanup after delete and after a crash.

mod common;
mod runc_support;

use common::{pod, reasons, test_config, within};

use hooklet::hooks::{HandlerKind, HookOutcome};
use hooklet::lifecycle::{ContainerState, PodPhase};
use hooklet::runtime::{ContainerConfig, PodRef, Runtime};

/// Exec hooks run inside the container: PostStart writes into the container's
/// filesystem, PreStop reads it back, the host never sees the file, and each hook's
/// CPU time and memory are read from its cgroup inside the container's (D8).
#[tokio::test]
async fn exec_hooks_run_inside_the_container() {
    let Some((_dir, node, _guard)) = runc_support::setup(1, test_config).await else { return };
    let marker = format!("/tmp/hooklet-marker-{}", std::process::id());
    let handle = node.start_pod(pod(&format!(
        r#"
apiVersion: v1
kind: Pod
metadata: {{name: runc-exec-hooks}}
spec:
  terminationGracePeriodSeconds: 10
  containers:
  - name: app
    image: busybox
    imagePullPolicy: IfNotPresent
    command: [sh, -c, 'trap "exit 0" TERM; while true; do sleep 0.1; done']
    lifecycle:
      postStart:
        exec: {{command: [sh, -c, 'echo poststart > {marker}; i=0; while [ $i -lt 3000 ]; do i=$((i+1)); done; cat /proc/self/cgroup; hostname']}}
      preStop:
        exec: {{command: [cat, {marker}]}}
"#
    )));
    let status = within(60, "started", handle.wait_for(|s| s.containers[0].started)).await;
    assert_eq!(status.phase, PodPhase::Running);
    let post_start = &status.containers[0].hooks[0];
    assert_eq!((post_start.kind, &post_start.outcome), (HandlerKind::Exec, &HookOutcome::Succeeded));
    let id = status.containers[0].container_id.clone().unwrap();
    let id = id.strip_prefix("runc://").unwrap();
    assert!(post_start.output.contains(&format!("/hooklet/{id}/hook-")), "the hook ran in a cgroup of the container's: {}", post_start.output);
    assert!(post_start.output.ends_with("runc-exec-hooks\n"), "the pod's UTS namespace: {}", post_start.output);
    let usage = post_start.exec.expect("exec usage is recorded");
    assert!(usage.cpu_nanos > 0, "{usage:?}");
    assert!(!std::path::Path::new(&marker).exists(), "the hook wrote into the container, not the host");

    handle.delete(None);
    let status = within(60, "termination", handle.finished()).await;
    let pre_stop = &status.containers[0].hooks[1];
    assert_eq!(pre_stop.outcome, HookOutcome::Succeeded);
    assert_eq!(pre_stop.output.trim(), "poststart", "PreStop read what PostStart wrote in the container");
    match &status.containers[0].state {
        ContainerState::Terminated { exit_code, reason, .. } => assert_eq!((*exit_code, reason.as_str()), (0, "Completed")),
        other => panic!("{other:?}"),
    }
    assert_eq!(reasons(&node, handle.pod().uid()), ["Pulled", "Created", "Started", "Killing"]);
}

/// The image's `StopSignal` (here SIGUSR1, from `STOP_SIGNAL` of the image script) is
/// what a deletion sends first, not TERM.
#[tokio::test]
async fn the_image_stop_signal_stops_the_container() {
    let Some((dir, node, _guard)) = runc_support::setup(5, test_config).await else { return };
    let archive = dir.path().join("usr1.tar");
    runc_support::build_image(&archive, &[("STOP_SIGNAL", "SIGUSR1"), ("IMAGE_REF", "busybox:usr1")]);
    hooklet::image::ImageStore::open(dir.path().join("state/images")).unwrap().import(&archive).unwrap();
    let handle = node.start_pod(pod(r#"
apiVersion: v1
kind: Pod
metadata: {name: runc-stopsignal}
spec:
  terminationGracePeriodSeconds: 10
  containers:
  - name: app
    image: busybox:usr1
    command: [sh, -c, 'trap "echo got USR1; exit 3" USR1; trap "echo got TERM; exit 4" TERM; echo ready; while true; do sleep 0.1; done']
"#));
    runc_support::wait_log(&node, &handle, "app", "ready").await;
    handle.delete(None);
    let status = within(60, "termination", handle.finished()).await;
    match &status.containers[0].state {
        ContainerState::Terminated { exit_code, .. } => assert_eq!(*exit_code, 3, "{}", runc_support::log(&node, &handle, "app")),
        other => panic!("{other:?}"),
    }
    assert!(runc_support::log(&node, &handle, "app").contains("got USR1"));
}

/// A missing binary in an exec hook: exit 126 and runc's reason, in the kubelet's
/// message shape (spec 5); the PostStart failure kills the container.
#[tokio::test]
async fn missing_binary_in_an_exec_hook() {
    let Some((_dir, node, _guard)) = runc_support::setup(2, test_config).await else { return };
    let handle = node.start_pod(pod(r#"
apiVersion: v1
kind: Pod
metadata: {name: runc-badcommand}
spec:
  restartPolicy: Never
  terminationGracePeriodSeconds: 2
  containers:
  - name: app
    image: busybox
    imagePullPolicy: IfNotPresent
    command: [sleep, "300"]
    lifecycle:
      postStart:
        exec: {command: [badcommand]}
"#));
    let status = within(60, "finished", handle.finished()).await;
    let hook = &status.containers[0].hooks[0];
    let message = hook.outcome.failure().expect("the hook failed").to_string();
    assert!(
        message.starts_with("Exec lifecycle hook ([badcommand]) for Container \"app\" in Pod \"runc-badcommand_default("),
        "{message}"
    );
    assert!(message.contains("error: command 'badcommand' exited with 126: , message: \"exec failed: unable to start container process: exec: \\\"badcommand\\\": executable file not found in $PATH\\n\""), "{message}");
    assert!(reasons(&node, handle.pod().uid()).contains(&"FailedPostStartHook".to_string()));
}

/// A container over its memory limit is killed by the kernel: `OOMKilled`, 137.
#[tokio::test]
async fn memory_limit_gives_oomkilled() {
    let Some((_dir, node, _guard)) = runc_support::setup(3, test_config).await else { return };
    let handle = node.start_pod(pod(r#"
apiVersion: v1
kind: Pod
metadata: {name: runc-oom}
spec:
  restartPolicy: Never
  containers:
  - name: hog
    image: busybox
    imagePullPolicy: IfNotPresent
    command: [dd, "if=/dev/zero", "of=/dev/null", "bs=96M", "count=1"]
    resources: {limits: {memory: 16Mi}}
"#));
    let status = within(60, "finished", handle.finished()).await;
    match &status.containers[0].state {
        ContainerState::Terminated { exit_code, reason, signal, .. } => {
            assert_eq!((*exit_code, reason.as_str(), *signal), (137, "OOMKilled", Some(9)))
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(status.phase, PodPhase::Failed);
}

/// An image that is not in the store: `ErrImageNeverPull` with how to import it, the
/// container waits (no restart counted), and deletion ends it.
#[tokio::test]
async fn missing_image_waits_with_err_image_never_pull() {
    let Some((_dir, node, _guard)) = runc_support::setup(4, test_config).await else { return };
    let handle = node.start_pod(pod(r#"
apiVersion: v1
kind: Pod
metadata: {name: runc-noimage}
spec:
  containers:
  - name: app
    image: example.org/not/here:1.0
    imagePullPolicy: Never
    command: [sleep, "300"]
"#));
    let status = within(60, "ErrImageNeverPull", handle.wait_for(|s| {
        matches!(&s.containers[0].state, ContainerState::Waiting { reason, .. } if reason == "ErrImageNeverPull")
    }))
    .await;
    let ContainerState::Waiting { message: Some(message), .. } = &status.containers[0].state else { unreachable!() };
    assert!(message.starts_with("Container image \"example.org/not/here:1.0\" is not present with pull policy of Never"), "{message}");
    assert_eq!(status.phase, PodPhase::Pending);
    // Tried again after the back-off, still without counting a restart.
    let uid = handle.pod().uid().to_string();
    within(60, "a second attempt", node.events().wait_for(|e| e.object.uid == uid && e.reason == "ErrImageNeverPull" && e.count >= 2)).await;
    assert_eq!(handle.status().containers[0].restart_count, 0);
    handle.delete(Some(1));
    within(60, "deletion", handle.finished()).await;
}

/// After a delete nothing is left: no runc container, no bundle, no mount, no cgroup.
/// After a crash (the runtime dropped with containers running), the next runtime on
/// the same state directory removes what is left.
#[tokio::test]
async fn cleanup_after_delete_and_after_a_crash() {
    if !runc_support::can_run() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let state = runc_support::state_with_busybox(dir.path());
    let _guard = runc_support::RuncGuard::new(&state.join("runc"), 9);
    let runtime = runc_support::runtime(&state, 9).await;
    let pod = PodRef { namespace: "default".into(), name: "leftover".into(), uid: "0f1e2d3c-aaaa".into() };
    runtime.create_sandbox(&pod).await.unwrap();
    let config = |name: &str| ContainerConfig {
        pod: pod.clone(),
        name: name.into(),
        image: "busybox".into(),
        argv: vec!["sleep".into(), "300".into()],
        command_len: 2,
        ..Default::default()
    };
    let deleted = runtime.create(config("deleted")).await.unwrap();
    runtime.start(&deleted).await.unwrap();
    let crashed = runtime.create(config("crashed")).await.unwrap();
    runtime.start(&crashed).await.unwrap();
    assert!(!runc_support::cgroup_dirs(&deleted.0).is_empty(), "runc made cgroups");

    runtime.remove(&deleted).await.unwrap();
    assert_eq!(runc_support::runc_list(&state), [crashed.0.clone()]);
    assert!(runc_support::cgroup_dirs(&deleted.0).is_empty(), "cgroups removed");
    assert!(!state.join("runc/bundles").join(&deleted.0).exists(), "bundle removed");

    // A crash: nobody removes `crashed`.
    drop(runtime);
    let next = runc_support::runtime(&state, 9).await;
    let removed = next.reap_orphans(&Default::default(), &Default::default()).await;
    assert_eq!(removed, [crashed.0.clone()]);
    assert!(runc_support::runc_list(&state).is_empty());
    assert!(runc_support::cgroup_dirs(&crashed.0).is_empty(), "cgroups removed");
    let ns_dir = state.join("runc/network/ns").display().to_string();
    let left: Vec<String> = runc_support::mounts_under(&state).into_iter().filter(|m| *m != ns_dir).collect();
    assert!(left.is_empty(), "no rootfs or namespace mount is left: {left:?}");
    assert!(std::fs::read_dir(state.join("runc/bundles")).unwrap().next().is_none());
    assert!(std::fs::read_dir(state.join("runc/network/pods")).unwrap().next().is_none(), "the pod's network was swept");
}

/// Without its container monitor the runtime does not open, and a monitor that
/// disappears later (a botched upgrade) fails each create clearly, leaving nothing.
#[tokio::test]
async fn a_missing_monitor_is_a_clear_error() {
    if !runc_support::can_run() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let state = runc_support::state_with_busybox(dir.path());
    let _guard = runc_support::RuncGuard::new(&state.join("runc"), 10);
    let mut config = runc_support::config(&state, 10);
    config.monitor.program = dir.path().join("nowhere/hooklet-monitor");
    let err = hooklet::runtime::runc::RuncRuntime::open(config.clone()).await.err().expect("no monitor, no runtime");
    assert!(format!("{err:#}").contains("the container monitor") && format!("{err:#}").contains("nowhere/hooklet-monitor is missing"), "{err:#}");

    let copy = dir.path().join("hooklet-monitor");
    std::fs::copy(env!("CARGO_BIN_EXE_hooklet-monitor"), &copy).unwrap();
    config.monitor.program = copy.clone();
    let runtime = hooklet::runtime::runc::RuncRuntime::open(config).await.unwrap();
    let pod = PodRef { namespace: "default".into(), name: "unmonitored".into(), uid: "5a5a5a5a-bbbb".into() };
    runtime.create_sandbox(&pod).await.unwrap();
    std::fs::remove_file(&copy).unwrap();
    let config = ContainerConfig { pod: pod.clone(), name: "app".into(), image: "busybox".into(), argv: vec!["true".into()], command_len: 1, ..Default::default() };
    let err = runtime.create(config).await.expect_err("no monitor, no container");
    assert!(format!("{err:#}").contains(&format!("cannot run the container monitor {}", copy.display())), "{err:#}");
    assert!(runc_support::runc_list(&state).is_empty());
    assert!(std::fs::read_dir(state.join("runc/bundles")).unwrap().next().is_none(), "the bundle was removed");
    runtime.remove_sandbox(&pod).await.unwrap();
}
