//! `hooklet run`, the real binary: output, describe view, exit codes, signals.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Output, Stdio};

const HOOKLET: &str = env!("CARGO_BIN_EXE_hooklet");

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

fn hooklet(dir: &Path, args: &[&str]) -> Output {
    Command::new(HOOKLET)
        .args(args)
        .args(["--log-dir", &dir.join("logs").display().to_string()])
        .args(["--plugins", &dir.display().to_string()])
        .output()
        .expect("hooklet runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

const SLEEPER: &str = r#"
apiVersion: v1
kind: Pod
metadata:
  name: sleeper
  labels: {app: demo}
spec:
  terminationGracePeriodSeconds: 5
  containers:
  - name: app
    image: busybox
    command: [sleep, "300"]
    securityContext: {runAsUser: 1000}
    lifecycle:
      postStart:
        exec: {command: [sh, -c, "echo hello from postStart"]}
      preStop:
        sleep: {seconds: 1}
"#;

#[test]
fn run_for_prints_events_then_describes_and_exits_0() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "pod.yaml", SLEEPER);
    let out = hooklet(dir.path(), &["run", "-f", &file, "--for", "1s"]);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "stdout:\n{stdout}\nstderr:\n{stderr}");
    // Fields hooklet does not act on are named, one warning each.
    assert!(stderr.contains("Warning: spec.containers[0].securityContext: hooklet does not act on this field"), "{stderr}");
    // Events as they happen, in order.
    let created = stdout.find("Created container: app").expect("Created");
    let started = stdout.find("Started container app").expect("Started");
    let killing = stdout.find("Stopping container app").expect("Killing");
    assert!(created < started && started < killing, "{stdout}");
    // The describe view.
    for expected in [
        "Name:         sleeper",
        "Namespace:    default",
        "app=demo",
        "IP:           127.0.0.1",
        "State:          Terminated",
        "Restart Count:  0",
        "PostStart   exec",
        "PreStop     sleep",
        "| hello from postStart",
        "Type     Reason    Age",
        "Normal   Killing",
    ] {
        assert!(stdout.contains(expected), "missing {expected:?} in:\n{stdout}");
    }
}

#[test]
fn an_invalid_manifest_exits_2_naming_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let bad = SLEEPER.replace("sleep: {seconds: 1}", "sleep: {seconds: 6}");
    let file = write(dir.path(), "bad.yaml", &bad);
    let out = hooklet(dir.path(), &["run", "-f", &file]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(
            "Pod \"sleeper\" is invalid: spec.containers[0].lifecycle.preStop.sleep: Invalid value: 6: \
             must be non-negative and less than terminationGracePeriodSeconds (5)"
        ),
        "{stderr}"
    );
    assert!(stderr.contains("bad.yaml"), "names the file: {stderr}");
    assert!(out.stdout.is_empty(), "nothing ran");
}

#[test]
fn a_missing_file_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let out = hooklet(dir.path(), &["run", "-f", "/no/such/pod.yaml"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("/no/such/pod.yaml"));
}

#[test]
fn a_failed_poststart_exits_1_with_a_one_line_reason() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = SLEEPER
        .replace("  terminationGracePeriodSeconds: 5", "  restartPolicy: Never\n  terminationGracePeriodSeconds: 5")
        .replace("echo hello from postStart", "echo broken; exit 4");
    let file = write(dir.path(), "pod.yaml", &manifest);
    let out = hooklet(dir.path(), &["run", "-f", &file]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
    let stderr = text(&out.stderr);
    let reason = stderr.lines().find(|l| l.starts_with("error: ")).expect("a reason line");
    assert!(reason.contains("pod sleeper: PostStart hook of container app failed: Exec lifecycle hook"), "{reason}");
    assert!(reason.contains("exited with 4"), "{reason}");
    let stdout = text(&out.stdout);
    assert!(stdout.contains("FailedPostStartHook") && stdout.contains("--- all containers finished"), "{stdout}");
}

#[test]
fn a_pod_that_completes_ends_the_run_by_itself() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = SLEEPER
        .replace("  terminationGracePeriodSeconds: 5", "  restartPolicy: Never")
        .replace("command: [sleep, \"300\"]", "command: [sh, -c, \"echo done\"]");
    let file = write(dir.path(), "pod.yaml", &manifest);
    let out = hooklet(dir.path(), &["run", "-f", &file]);
    assert_eq!(out.status.code(), Some(0), "{}{}", text(&out.stdout), text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("Status:       Succeeded"), "{stdout}");
    assert!(!stdout.contains("Killing"), "no PreStop/kill for a completed container: {stdout}");
}

#[test]
fn sigterm_deletes_the_pods_with_their_grace() {
    let dir = tempfile::tempdir().unwrap();
    let trace = dir.path().join("trace");
    // No PostStart here: a SIGTERM during PostStart cancels the hook (D5), another test's matter.
    let manifest = SLEEPER
        .replace("      postStart:\n        exec: {command: [sh, -c, \"echo hello from postStart\"]}\n", "")
        .replace("sleep: {seconds: 1}", &format!("exec: {{command: [sh, -c, \"echo prestop > {}\"]}}", trace.display()));
    assert!(!manifest.contains("postStart"));
    let file = write(dir.path(), "pod.yaml", &manifest);
    let mut child = Command::new(HOOKLET)
        .args(["run", "-f", &file, "--log-dir", &dir.path().join("logs").display().to_string()])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    // Wait for the container to start (an event, not a sleep), then SIGTERM hooklet.
    let mut seen = Vec::new();
    for line in lines.by_ref() {
        let line = line.unwrap();
        let started = line.contains("Started container app");
        seen.push(line);
        if started {
            break;
        }
    }
    assert!(seen.last().is_some_and(|l| l.contains("Started")), "{seen:?}");
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), nix::sys::signal::Signal::SIGTERM).unwrap();
    let rest: Vec<String> = lines.map(|l| l.unwrap()).collect();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0), "{rest:#?}");
    assert!(rest.iter().any(|l| l.contains("--- SIGTERM: deleting pods")), "{rest:#?}");
    assert_eq!(std::fs::read_to_string(&trace).unwrap(), "prestop\n", "PreStop ran on SIGTERM");
}

#[test]
fn help_documents_run() {
    let out = Command::new(HOOKLET).args(["run", "--help"]).output().unwrap();
    let help = text(&out.stdout);
    for flag in ["--filename", "--plugins", "--for", "--grace-period", "--redact-hook-messages", "Exit codes"] {
        assert!(help.contains(flag), "missing {flag} in:\n{help}");
    }
}

const JOB_WITH_INIT: &str = r#"
apiVersion: v1
kind: Pod
metadata: {name: job}
spec:
  restartPolicy: Never
  terminationGracePeriodSeconds: 5
  initContainers:
  - name: setup
    image: busybox
    command: [sh, -c, "exit CODE"]
  - name: proxy
    image: busybox
    restartPolicy: Always
    command: [sleep, "300"]
  containers:
  - name: app
    image: busybox
    command: [sh, -c, "echo done"]
"#;

#[test]
fn init_containers_and_a_sidecar_run_and_are_described() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "pod.yaml", &JOB_WITH_INIT.replace("CODE", "0"));
    let out = hooklet(dir.path(), &["run", "-f", &file]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
    let order: Vec<usize> = ["Created container: setup", "Created container: proxy", "Created container: app", "Stopping container proxy"]
        .iter()
        .map(|m| stdout.find(m).unwrap_or_else(|| panic!("{m}: {stdout}")))
        .collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "{stdout}");
    let init = stdout.find("Init Containers:\n  setup:").expect("init containers described");
    assert!(init < stdout.find("Containers:\n  app:").unwrap(), "{stdout}");
    assert!(stdout.contains("    Restart Policy: Always"), "the sidecar's policy: {stdout}");
}

#[test]
fn a_failed_init_container_exits_1_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "pod.yaml", &JOB_WITH_INIT.replace("CODE", "3"));
    let out = hooklet(dir.path(), &["run", "-f", &file]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("pod job: init container setup failed (exit code 3)"), "{stderr}");
    assert!(!text(&out.stdout).contains("Created container: app"));
}
