//! The dispatch rules, on the process runtime with real processes.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use super::deadline::deadline;
use super::*;
use crate::runtime::process::ProcessRuntime;
use crate::runtime::{ContainerConfig, PodRef, Runtime};
use crate::spec::{ExecAction, IntOrString, ObjectMeta, PodSpec, SleepAction, TcpSocketAction};
use crate::wasm::{WasmConfig, WasmHost};

struct Fixture {
    runtime: Arc<ProcessRuntime>,
    runner: HookRunner,
    target: HookTarget,
    _dir: tempfile::TempDir,
}

/// A running container (`sleep 300`, or `argv`) and a runner for its hooks.
async fn fixture(argv: &[&str]) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let runtime = Arc::new(ProcessRuntime::new(dir.path()));
    let pod = Pod {
        api_version: "v1".into(),
        kind: "Pod".into(),
        metadata: ObjectMeta { name: "web".into(), namespace: Some("default".into()), uid: Some("uid-1".into()), ..Default::default() },
        spec: PodSpec::default(),
    };
    let container = Container { name: "app".into(), image: "busybox".into(), ..Default::default() };
    let id = runtime
        .create(ContainerConfig {
            pod: PodRef { namespace: "default".into(), name: "web".into(), uid: "uid-1".into() },
            name: "app".into(),
            image: "busybox".into(),
            argv: argv.iter().map(|s| s.to_string()).collect(),
            env: vec![],
            working_dir: None,
            ..Default::default()
        })
        .await
        .unwrap();
    runtime.start(&id).await.unwrap();
    let wasm = WasmHost::new(WasmConfig { plugin_dir: dir.path().to_path_buf(), ..WasmConfig::default() }).unwrap();
    let runner = HookRunner::new(runtime.clone(), HttpHookClient::new("kube-lifecycle/1.34".into()), wasm);
    let target = HookTarget {
        pod: Arc::new(pod),
        container: Arc::new(container),
        container_id: id,
        pod_ip: None,
        phase: HookPhase::PostStart,
        delivery: Delivery { id: "d-1".into(), attempt: 2 },
    };
    Fixture { runtime, runner, target, _dir: dir }
}

fn exec(argv: &[&str]) -> LifecycleHandler {
    LifecycleHandler {
        exec: Some(ExecAction { command: argv.iter().map(|s| s.to_string()).collect() }),
        ..Default::default()
    }
}

fn sleep(seconds: i64) -> LifecycleHandler {
    LifecycleHandler { sleep: Some(SleepAction { seconds }), ..Default::default() }
}

#[tokio::test]
async fn exec_success_keeps_output_and_sees_the_delivery() {
    let f = fixture(&["sleep", "300"]).await;
    let run = f
        .runner
        .run(&f.target, &exec(&["sh", "-c", "echo $HOOKLET_DELIVERY_ID $HOOKLET_ATTEMPT $HOOKLET_HOOK_PHASE"]), HookLimits::default())
        .await;
    assert_eq!(run.outcome, HookOutcome::Succeeded);
    assert_eq!(run.output, "d-1 2 PostStart\n");
    assert_eq!((run.kind, run.detail.as_str()), (HandlerKind::Exec, "[sh -c echo $HOOKLET_DELIVERY_ID $HOOKLET_ATTEMPT $HOOKLET_HOOK_PHASE]"));
    f.runtime.remove(&f.target.container_id).await.unwrap();
}

#[tokio::test]
async fn exec_failure_has_the_kubelet_message() {
    let f = fixture(&["sleep", "300"]).await;
    let run = f.runner.run(&f.target, &exec(&["sh", "-c", "echo out; echo err >&2; exit 3"]), HookLimits::default()).await;
    assert_eq!(
        run.outcome.failure(),
        Some(
            "Exec lifecycle hook ([sh -c echo out; echo err >&2; exit 3]) for Container \"app\" in Pod \
             \"web_default(uid-1)\" failed - error: command 'sh -c echo out; echo err >&2; exit 3' exited \
             with 3: err\n, message: \"out\\nerr\\n\""
        )
    );
    f.runtime.remove(&f.target.container_id).await.unwrap();
}

#[tokio::test]
async fn tcp_socket_fails_at_run_time() {
    let f = fixture(&["sleep", "300"]).await;
    let handler = LifecycleHandler {
        tcp_socket: Some(TcpSocketAction { port: IntOrString::Int(8080), host: None }),
        ..Default::default()
    };
    let run = f.runner.run(&f.target, &handler, HookLimits::default()).await;
    assert_eq!(run.kind, HandlerKind::Invalid);
    let msg = run.outcome.failure().unwrap();
    assert!(msg.starts_with("Cannot run handler: invalid handler: tcpSocket (port 8080)"), "{msg}");
    f.runtime.remove(&f.target.container_id).await.unwrap();
}

#[tokio::test]
async fn timeout_seconds_cuts_a_hung_hook() {
    let f = fixture(&["sleep", "300"]).await;
    let mut handler = exec(&["sleep", "300"]);
    handler.timeout_seconds = Some(1);
    let run = f.runner.run(&f.target, &handler, HookLimits::default()).await;
    let HookOutcome::TimedOut { message } = &run.outcome else { panic!("{:?}", run.outcome) };
    assert!(message.ends_with("failed - error: timed out after 1s (timeoutSeconds: 1), message: \"\""), "{message}");
    assert!(run.duration >= Duration::from_secs(1) && run.duration < Duration::from_secs(30));
    f.runtime.remove(&f.target.container_id).await.unwrap();
}

#[tokio::test]
async fn cancellation_stops_a_running_hook() {
    let f = fixture(&["sleep", "300"]).await;
    let limits = HookLimits::default();
    let cancel = limits.cancel.clone();
    let handler = exec(&["sleep", "300"]);
    let run = f.runner.run(&f.target, &handler, limits);
    let (run, ()) = tokio::join!(run, async { cancel.cancel() });
    let HookOutcome::Cancelled { message } = &run.outcome else { panic!("{:?}", run.outcome) };
    assert!(message.contains("cancelled: the pod is being deleted"), "{message}");
    f.runtime.remove(&f.target.container_id).await.unwrap();
}

#[tokio::test]
async fn a_prestop_past_the_grace_deadline_is_abandoned_without_failure() {
    let f = fixture(&["sleep", "300"]).await;
    let limits = HookLimits { deadline: Some(Deadline::fixed(Instant::now() + Duration::from_millis(300))), ..Default::default() };
    let run = f.runner.run(&f.target, &exec(&["sleep", "300"]), limits).await;
    assert_eq!(run.outcome, HookOutcome::GraceExpired);
    assert_eq!(run.outcome.failure(), None);
    f.runtime.remove(&f.target.container_id).await.unwrap();
}

#[tokio::test]
async fn sleep_zero_returns_at_once_and_sleep_waits() {
    let f = fixture(&["sleep", "300"]).await;
    let run = f.runner.run(&f.target, &sleep(0), HookLimits::default()).await;
    assert_eq!(run.outcome, HookOutcome::Succeeded);
    assert!(run.duration < Duration::from_secs(1));
    let run = f.runner.run(&f.target, &sleep(1), HookLimits::default()).await;
    assert_eq!(run.outcome, HookOutcome::Succeeded);
    assert!(run.duration >= Duration::from_secs(1));
    f.runtime.remove(&f.target.container_id).await.unwrap();
}

#[tokio::test]
async fn a_shortened_grace_cuts_a_sleep_with_the_kubelet_error() {
    let f = fixture(&["sleep", "300"]).await;
    let (setter, d) = deadline(Instant::now() + Duration::from_secs(100));
    let limits = HookLimits { deadline: Some(d), ..Default::default() };
    let handler = sleep(50);
    let run = f.runner.run(&f.target, &handler, limits);
    let shorten = async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        setter.shorten_to(Instant::now());
    };
    let (run, ()) = tokio::join!(run, shorten);
    assert_eq!(
        run.outcome.failure(),
        Some("Sleep lifecycle hook (50) for Container \"app\" in Pod \"web_default(uid-1)\" failed - error: container terminated before sleep hook finished")
    );
    assert!(run.duration < Duration::from_secs(10));
    f.runtime.remove(&f.target.container_id).await.unwrap();
}

#[tokio::test]
async fn sleep_ends_when_the_container_exits() {
    // D7: the container exits after ~0.3 s; a 60 s PreStop sleep ends with it.
    let f = fixture(&["sleep", "0.3"]).await;
    let run = f.runner.run(&f.target, &sleep(60), HookLimits::default()).await;
    assert_eq!(run.outcome, HookOutcome::Succeeded);
    assert_eq!(run.output, "sleep ended early: the container exited with code 0");
    assert!(run.duration < Duration::from_secs(30));
}
