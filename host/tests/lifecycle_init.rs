//! Init containers and sidecars (restartable init containers) on the process runtime:
//! init order, failure and retry per restart policy, sidecar PostStart blocking the
//! next init container, sidecar hooks (spec 8.2), the order of stop signals on
//! deletion (spec 3.7) and sidecars stopped when the pod completes.

mod common;

use std::path::Path;

use std::sync::Arc;

use common::{exit_code, messages, node, pod, reasons, test_config, within, RecordingServer};
use hooklet::hooks::{HandlerKind, HookOutcome};
use hooklet::lifecycle::{ContainerState, MemoryJournal, Node, PodPhase, PodStatus};
use hooklet::runtime::process::ProcessRuntime;
use hooklet::spec::parse::parse_manifests;
use hooklet::spec::HookPhase;

/// Appends `line` to `file` (a shell fragment).
fn append(line: &str, file: &Path) -> String {
    format!("echo {line} >> {}", file.display())
}

/// Lines of a trace file.
fn lines(file: &Path) -> Vec<String> {
    std::fs::read_to_string(file).unwrap_or_default().lines().map(str::to_string).collect()
}

/// Polls until a trace file written by a container or hook has `n` lines.
async fn wait_lines(file: &Path, n: usize) {
    within(60, &format!("{n} lines in {}", file.display()), async {
        while lines(file).len() < n {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    })
    .await;
}

fn all_started(s: &PodStatus) -> bool {
    s.containers.iter().all(|c| c.started)
}

#[tokio::test]
async fn init_containers_run_in_order_before_the_regular_containers() {
    let dir = tempfile::tempdir().unwrap();
    let node = node(dir.path());
    let trace = dir.path().join("trace");
    let handle = node.start_pod(pod(&format!(
        r#"
apiVersion: v1
kind: Pod
metadata: {{name: ordered}}
spec:
  initContainers:
  - name: first
    image: busybox
    command: [sh, -c, "sleep 0.2; {first}"]
  - name: second
    image: busybox
    command: [sh, -c, "{second}"]
  containers:
  - name: app
    image: busybox
    command: [sh, -c, "{app}; exec sleep 300"]
"#,
        first = append("first", &trace),
        second = append("second", &trace),
        app = append("app", &trace),
    )));
    let pending = handle.status();
    assert_eq!(pending.phase, PodPhase::Pending);
    let status = within(60, "app started", handle.wait_for(all_started)).await;
    assert_eq!(status.phase, PodPhase::Running);
    for c in &status.init_containers {
        let ContainerState::Terminated { exit_code: 0, reason, .. } = &c.state else { panic!("{}: {:?}", c.name, c.state) };
        assert_eq!(reason, "Completed");
    }
    wait_lines(&trace, 3).await;
    assert_eq!(lines(&trace), ["first", "second", "app"]);
    // Events name init containers by their field path.
    let events = node.events().for_pod(handle.pod().uid());
    let created: Vec<(String, String)> = events
        .iter()
        .filter(|e| e.reason == "Created")
        .map(|e| (e.object.field_path.clone().unwrap(), e.message.clone()))
        .collect();
    assert_eq!(
        created,
        [
            ("spec.initContainers{first}".to_string(), "Created container: first".to_string()),
            ("spec.initContainers{second}".to_string(), "Created container: second".to_string()),
            ("spec.containers{app}".to_string(), "Created container: app".to_string()),
        ]
    );
    handle.delete(Some(1));
    within(60, "termination", handle.finished()).await;
}

#[tokio::test]
async fn a_failed_init_container_fails_a_never_pod_and_nothing_else_starts() {
    let dir = tempfile::tempdir().unwrap();
    let node = node(dir.path());
    let handle = node.start_pod(pod(
        r#"
apiVersion: v1
kind: Pod
metadata: {name: init-fails}
spec:
  restartPolicy: Never
  initContainers:
  - name: setup
    image: busybox
    command: [sh, -c, "exit 3"]
  - name: never-runs
    image: busybox
    command: [true]
  containers:
  - name: app
    image: busybox
    command: [sleep, "300"]
"#,
    ));
    let status = within(60, "the pod to finish", handle.finished()).await;
    assert_eq!(status.phase, PodPhase::Failed);
    assert_eq!(exit_code(&status.init_containers[0].state), Some(3));
    for c in [&status.init_containers[1], &status.containers[0]] {
        assert_eq!(c.state, ContainerState::waiting("PodInitializing", None), "{}", c.name);
        assert_eq!(c.container_id, None, "{} never created", c.name);
    }
    let created = messages(&node, handle.pod().uid(), "Created");
    assert_eq!(created, ["Created container: setup"]);
}

#[tokio::test]
async fn a_failed_init_container_of_an_on_failure_pod_is_retried_with_back_off() {
    let dir = tempfile::tempdir().unwrap();
    let node = node(dir.path());
    let attempts = dir.path().join("attempts");
    // Fails twice, then succeeds.
    let handle = node.start_pod(pod(&format!(
        r#"
apiVersion: v1
kind: Pod
metadata: {{name: init-retries}}
spec:
  restartPolicy: OnFailure
  initContainers:
  - name: flaky
    image: busybox
    command: [sh, -c, "{append}; [ $(wc -l < {file}) -ge 3 ]"]
  containers:
  - name: app
    image: busybox
    command: [sleep, "300"]
"#,
        append = append("try", &attempts),
        file = attempts.display(),
    )));
    let status = within(60, "app started", handle.wait_for(all_started)).await;
    let init = &status.init_containers[0];
    assert_eq!(init.restart_count, 2);
    assert_eq!(exit_code(&init.state), Some(0));
    assert_eq!(exit_code(init.last_state.as_ref().unwrap()), Some(1));
    assert_eq!(lines(&attempts).len(), 3);
    // The second restart waited in CrashLoopBackOff (the first is immediate).
    let backoff = node.events().wait_for(|e| e.reason == "BackOff").await;
    assert_eq!(backoff.object.field_path.as_deref(), Some("spec.initContainers{flaky}"));
    assert_eq!(backoff.message, format!("Back-off restarting failed container flaky in pod {}", handle.pod().display_name()));
    handle.delete(Some(1));
    within(60, "termination", handle.finished()).await;
}

#[tokio::test]
async fn a_sidecar_keeps_running_beside_the_main_container_and_restarts_when_it_exits() {
    let dir = tempfile::tempdir().unwrap();
    let node = node(dir.path());
    let runs = dir.path().join("runs");
    // The pod's Never does not apply to a sidecar: it is restarted whenever it exits.
    let handle = node.start_pod(pod(&format!(
        r#"
apiVersion: v1
kind: Pod
metadata: {{name: with-sidecar}}
spec:
  restartPolicy: Never
  initContainers:
  - name: proxy
    image: busybox
    restartPolicy: Always
    command: [sh, -c, "{append}; if [ $(wc -l < {file}) -lt 3 ]; then exit 1; fi; exec sleep 300"]
  containers:
  - name: app
    image: busybox
    command: [sleep, "300"]
"#,
        append = append("run", &runs),
        file = runs.display(),
    )));
    let status = within(60, "the sidecar restarted twice", handle.wait_for(|s| s.init_containers[0].restart_count == 2 && s.init_containers[0].started)).await;
    assert!(matches!(status.init_containers[0].state, ContainerState::Running { .. }), "{:?}", status.init_containers[0].state);
    let status = within(60, "app started", handle.wait_for(all_started)).await;
    assert_eq!(status.phase, PodPhase::Running);
    assert!(status.init_containers[0].started, "the sidecar still runs");
    handle.delete(Some(2));
    let status = within(60, "termination", handle.finished()).await;
    assert!(status.init_containers.iter().chain(&status.containers).all(|c| c.state.name() == "Terminated"), "{status:#?}");
}

/// A sidecar's PostStart blocks the next init container (spec 2.3): a hook that waits
/// for a gate file; the next init container starts only after the test opens it.
#[tokio::test]
async fn a_sidecar_post_start_blocks_the_next_init_container() {
    let dir = tempfile::tempdir().unwrap();
    let node = node(dir.path());
    let (trace, gate) = (dir.path().join("trace"), dir.path().join("gate"));
    let handle = node.start_pod(pod(&format!(
        r#"
apiVersion: v1
kind: Pod
metadata: {{name: blocking-sidecar}}
spec:
  initContainers:
  - name: proxy
    image: busybox
    restartPolicy: Always
    command: [sleep, "300"]
    lifecycle:
      postStart:
        exec: {{command: [sh, -c, "{waiting}; until [ -e {gate} ]; do sleep 0.05; done; {done}"]}}
  - name: next
    image: busybox
    command: [sh, -c, "{next}"]
  containers:
  - name: app
    image: busybox
    command: [sleep, "300"]
"#,
        waiting = append("poststart-waiting", &trace),
        done = append("poststart-done", &trace),
        next = append("next", &trace),
        gate = gate.display(),
    )));
    wait_lines(&trace, 1).await;
    let status = handle.status();
    assert!(matches!(status.init_containers[0].state, ContainerState::Running { .. }));
    assert!(!status.init_containers[0].started, "not started while PostStart runs");
    assert_eq!(status.init_containers[1].container_id, None, "the next init container waits");
    assert_eq!(status.phase, PodPhase::Pending);
    std::fs::write(&gate, "").unwrap();
    let status = within(60, "app started", handle.wait_for(all_started)).await;
    assert_eq!(exit_code(&status.init_containers[1].state), Some(0));
    assert_eq!(lines(&trace), ["poststart-waiting", "poststart-done", "next"]);
    handle.delete(Some(1));
    within(60, "termination", handle.finished()).await;
}

/// Spec 8.2 "Restartable Init Container Lifecycle Hook": exec and HTTP PostStart and
/// PreStop hooks on a sidecar, beside a main container.
#[tokio::test]
async fn sidecar_exec_and_http_hooks_run() {
    let dir = tempfile::tempdir().unwrap();
    let server = RecordingServer::start().await;
    let node = node(dir.path());
    let port = server.addr.port();
    let handle = node.start_pod(pod(&format!(
        r#"
apiVersion: v1
kind: Pod
metadata: {{name: sidecar-hooks}}
spec:
  initContainers:
  - name: exec-hooks
    image: busybox
    restartPolicy: Always
    command: [sleep, "300"]
    lifecycle:
      postStart:
        exec: {{command: [sh, -c, "curl -s {url}/echo?msg=poststart-exec"]}}
      preStop:
        exec: {{command: [sh, -c, "curl -s {url}/echo?msg=prestop-exec"]}}
  - name: http-hooks
    image: busybox
    restartPolicy: Always
    command: [sleep, "300"]
    lifecycle:
      postStart:
        httpGet: {{host: 127.0.0.1, port: {port}, path: "/echo?msg=poststart-http"}}
      preStop:
        httpGet: {{host: 127.0.0.1, port: {port}, path: "/echo?msg=prestop-http"}}
  containers:
  - name: main
    image: busybox
    command: [sleep, "300"]
"#,
        url = server.url()
    )));
    within(60, "poststart (exec)", server.wait_for("/echo?msg=poststart-exec")).await;
    within(60, "poststart (http)", server.wait_for("/echo?msg=poststart-http")).await;
    within(60, "main started", handle.wait_for(all_started)).await;
    handle.delete(Some(15));
    within(60, "prestop (exec)", server.wait_for("/echo?msg=prestop-exec")).await;
    within(60, "prestop (http)", server.wait_for("/echo?msg=prestop-http")).await;
    let status = within(60, "termination", handle.finished()).await;
    for c in &status.init_containers {
        let phases: Vec<&str> = c.hooks.iter().map(|h| h.phase.as_str()).collect();
        assert_eq!(phases, ["PostStart", "PreStop"], "{}", c.name);
    }
    let killing: Vec<String> = node.events().for_pod(handle.pod().uid()).into_iter().filter(|e| e.reason == "Killing").map(|e| e.message).collect();
    assert_eq!(killing.len(), 3, "{killing:?}");
}

/// A wasm hook on a sidecar goes through the same dispatch, and the journal names
/// each delivery's container (names are unique across init and regular containers).
#[tokio::test]
async fn sidecar_wasm_hook_and_journal_entries_name_the_container() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(hooklet::testing::example_plugins_dir().join("noop.wasm"), dir.path().join("noop.wasm")).unwrap();
    let journal = Arc::new(MemoryJournal::default());
    let runtime = Arc::new(ProcessRuntime::new(dir.path().join("logs")));
    let node = Node::with_journal(runtime, test_config(dir.path()), journal.clone()).unwrap();
    let handle = node.start_pod(pod(
        r#"
apiVersion: v1
kind: Pod
metadata: {name: wasm-sidecar}
spec:
  initContainers:
  - name: proxy
    image: busybox
    restartPolicy: Always
    command: [sleep, "300"]
    lifecycle:
      postStart: {wasm: {plugin: noop}}
  containers:
  - name: app
    image: busybox
    command: [sleep, "300"]
    lifecycle:
      postStart: {exec: {command: [sh, -c, "echo app"]}}
"#,
    ));
    let status = within(60, "app started", handle.wait_for(all_started)).await;
    let hook = &status.init_containers[0].hooks[0];
    assert_eq!((hook.kind, &hook.outcome), (HandlerKind::Wasm, &HookOutcome::Succeeded));
    let done: Vec<(String, HookPhase)> = journal.calls().into_iter().filter(|(_, run)| run.is_some()).map(|(e, _)| (e.container, e.phase)).collect();
    assert_eq!(done, [("proxy".to_string(), HookPhase::PostStart), ("app".to_string(), HookPhase::PostStart)]);
    handle.delete(Some(1));
    within(60, "termination", handle.finished()).await;
}

/// Spec 3.7: every PreStop (sidecars included) starts at once; the stop signal goes
/// to the main container first, then to the sidecars in reverse init order, each
/// once the previous one has exited.
#[tokio::test]
async fn deletion_stops_the_main_container_first_then_sidecars_in_reverse_order() {
    let dir = tempfile::tempdir().unwrap();
    let node = node(dir.path());
    let trace = dir.path().join("trace");
    // Each container traps TERM, records it, lingers, records its exit.
    let container = |name: &str, init: bool| {
        let policy = if init { "\n    restartPolicy: Always" } else { "" };
        format!(
            r#"
  - name: {name}
    image: busybox{policy}
    command: [sh, -c, "trap '{term}; sleep 0.4; {exit}; exit 0' TERM; touch {trace}.{name}; while true; do sleep 0.05; done"]
    lifecycle:
      postStart:  # started once the trap is installed
        exec: {{command: [sh, -c, "until [ -e {trace}.{name} ]; do sleep 0.02; done"]}}
      preStop:  # ends once all three PreStops have begun: they run together
        exec: {{command: [sh, -c, "{prestop}; until [ $(grep -c prestop {trace}) -ge 3 ]; do sleep 0.02; done"]}}"#,
            term = append(&format!("term-{name}"), &trace),
            exit = append(&format!("exit-{name}"), &trace),
            prestop = append(&format!("prestop-{name}"), &trace),
            trace = trace.display(),
        )
    };
    let handle = node.start_pod(pod(&format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: ordered-stop}}\nspec:\n  initContainers:{}{}\n  containers:{}\n",
        container("side-a", true),
        container("side-b", true),
        container("main", false),
    )));
    within(60, "main started", handle.wait_for(all_started)).await;
    handle.delete(Some(20));
    let status = within(60, "termination", handle.finished()).await;
    let trace = lines(&trace);
    let mut prestops: Vec<&str> = trace[..3].iter().map(String::as_str).collect();
    prestops.sort();
    assert_eq!(prestops, ["prestop-main", "prestop-side-a", "prestop-side-b"], "every PreStop first: {trace:?}");
    assert_eq!(trace[3..], ["term-main", "exit-main", "term-side-b", "exit-side-b", "term-side-a", "exit-side-a"]);
    for c in status.init_containers.iter().chain(&status.containers) {
        assert_eq!(exit_code(&c.state), Some(0), "{} exited by its TERM trap, not KILL", c.name);
    }
}

/// The main container completes in a Never pod: the sidecar is stopped (with its
/// Killing event) and the pod Succeeds.
#[tokio::test]
async fn pod_completion_stops_the_sidecar() {
    let dir = tempfile::tempdir().unwrap();
    let node = node(dir.path());
    let trace = dir.path().join("trace");
    let handle = node.start_pod(pod(&format!(
        r#"
apiVersion: v1
kind: Pod
metadata: {{name: job-with-sidecar}}
spec:
  restartPolicy: Never
  initContainers:
  - name: proxy
    image: busybox
    restartPolicy: Always
    command: [sh, -c, "trap '{term}; exit 0' TERM; while true; do sleep 0.05; done"]
  containers:
  - name: job
    image: busybox
    command: [sh, -c, "{job}"]
"#,
        term = append("term-proxy", &trace),
        job = append("job-done", &trace),
    )));
    let status = within(60, "the pod to finish by itself", handle.finished()).await;
    assert_eq!(status.phase, PodPhase::Succeeded);
    assert_eq!(status.deletion_requested_at, None);
    assert_eq!(exit_code(&status.containers[0].state), Some(0));
    assert!(exit_code(&status.init_containers[0].state).is_some(), "{:?}", status.init_containers[0].state);
    assert_eq!(lines(&trace)[0], "job-done");
    let killing = node.events().wait_for(|e| e.reason == "Killing").await;
    assert_eq!(killing.object.field_path.as_deref(), Some("spec.initContainers{proxy}"));
    assert_eq!(killing.message, "Stopping container proxy");
}

/// Deleted while an init container runs: it is stopped, nothing further starts.
#[tokio::test]
async fn deletion_during_initialization_stops_the_init_container() {
    let dir = tempfile::tempdir().unwrap();
    let node = node(dir.path());
    let handle = node.start_pod(pod(
        r#"
apiVersion: v1
kind: Pod
metadata: {name: deleted-early}
spec:
  initContainers:
  - name: slow
    image: busybox
    command: [sleep, "300"]
  - name: later
    image: busybox
    command: [true]
  containers:
  - name: app
    image: busybox
    command: [sleep, "300"]
"#,
    ));
    within(60, "the init container running", handle.wait_for(|s| matches!(s.init_containers[0].state, ContainerState::Running { .. }))).await;
    handle.delete(Some(1));
    let status = within(60, "termination", handle.finished()).await;
    assert!(exit_code(&status.init_containers[0].state).is_some());
    assert_eq!(status.init_containers[1].container_id, None);
    assert_eq!(status.containers[0].container_id, None);
    let reasons = reasons(&node, handle.pod().uid());
    assert_eq!(reasons, ["Created", "Started", "Killing"]);
}

/// Spec 1.2: `lifecycle` on a plain init container is rejected with the apiserver's
/// message; a sidecar may have it.
#[test]
fn lifecycle_on_a_plain_init_container_is_rejected() {
    let manifest = |policy: &str| {
        format!("apiVersion: v1\nkind: Pod\nmetadata: {{name: p}}\nspec:\n  initContainers:\n  - name: setup\n    image: busybox\n{policy}    lifecycle:\n      postStart: {{exec: {{command: [true]}}}}\n  containers:\n  - {{name: app, image: busybox}}\n")
    };
    let err = parse_manifests(&manifest(""), "p.yaml").unwrap_err().to_string();
    assert!(
        err.contains("spec.initContainers[0].lifecycle: Forbidden: may not be set for init containers without restartPolicy=Always"),
        "{err}"
    );
    assert!(parse_manifests(&manifest("    restartPolicy: Always\n"), "p.yaml").is_ok());
}
