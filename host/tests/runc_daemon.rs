//! `hooklet serve --runtime runc` and `hooklet run --runtime runc`, the real binary:
//! pods in runc containers with logs, a hooklet crash cleaned up at the next start,
//! and a clear refusal without root.

mod daemon_support;
mod runc_support;

use std::os::unix::fs::PermissionsExt;
use std::process::Command;

use daemon_support::{hooklet, started, text, write, Daemon};

const WEB: &str = r#"
apiVersion: v1
kind: Pod
metadata: {name: web}
spec:
  terminationGracePeriodSeconds: 5
  containers:
  - name: app
    image: busybox
    imagePullPolicy: IfNotPresent
    command: [sh, -c, 'echo serving from $(hostname); trap "echo stopping; exit 0" TERM; while true; do sleep 0.1; done']
    lifecycle:
      postStart:
        exec: {command: [sh, -c, 'echo started > /tmp/poststart']}
      preStop:
        exec: {command: [cat, /tmp/poststart]}
"#;

/// `serve --runtime runc` on test network 20 (`runc_support::network`).
const RUNC: &[&str] = &["--runtime", "runc", "--pod-bridge", "hkt-rc20", "--pod-subnet", "10.217.20.0/24"];

/// Imports the busybox image into `STATE/images` with the CLI.
fn import_busybox(state: &std::path::Path) {
    let out = Command::new(hooklet())
        .args(["image", "import", "--state-dir"])
        .arg(state)
        .arg(runc_support::busybox_archive())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
}

/// The runc container id in a pod's JSON view (`runc://ID`).
fn container_id(pod: &serde_json::Value) -> String {
    let id = pod["status"]["containers"][0]["containerId"].as_str().unwrap_or_default();
    id.strip_prefix("runc://").unwrap_or_else(|| panic!("not a runc container: {pod:#}")).to_string()
}

#[test]
fn serve_runs_pods_in_runc_and_cleans_up_after_a_crash() {
    if !runc_support::can_run() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    import_busybox(&state);
    let _guard = runc_support::RuncGuard::new(&state.join("runc"), 20);
    let daemon = Daemon::start(dir.path(), RUNC);
    daemon.ok(&["apply", "-f", &write(dir.path(), "web.yaml", WEB)]);
    let pod = daemon.wait_pod("web", 60, started);
    let first = container_id(&pod);
    assert_eq!(runc_support::runc_list(&state), [first.clone()]);
    let logs = daemon.ok(&["logs", "web"]);
    assert!(logs.contains("serving from"), "{logs}");

    // A crash: the next daemon removes the old container and starts the pod again.
    daemon.kill();
    let daemon = Daemon::start(dir.path(), RUNC);
    let pod = daemon.wait_pod("web", 60, |p| started(p) && container_id(p) != first);
    let second = container_id(&pod);
    assert_eq!(runc_support::runc_list(&state), [second.clone()], "the crashed daemon's container was removed");
    assert!(runc_support::cgroup_dirs(&first).is_empty(), "its cgroups too");

    daemon.ok(&["delete", "pod", "web", "--wait"]);
    assert!(runc_support::runc_list(&state).is_empty());
    let ns_dir = state.join("runc/network/ns").display().to_string();
    let left: Vec<String> = runc_support::mounts_under(&state).into_iter().filter(|m| *m != ns_dir).collect();
    assert!(left.is_empty(), "no rootfs or namespace mount is left: {left:?}");
    let logs = std::fs::read_to_string(
        std::fs::read_dir(state.join("logs")).unwrap().flatten().next().unwrap().path().join("app.log"),
    )
    .unwrap();
    assert!(logs.contains("stopping"), "the container got its stop signal: {logs}");
    assert!(daemon.terminate().success());
}

/// Without root, `--runtime runc` stops at start-up with what to do, and creates nothing.
#[test]
fn runc_without_root_fails_clearly() {
    if !runc_support::can_run() {
        return; // needs root to switch to another user
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let manifest = write(dir.path(), "web.yaml", WEB);
    std::fs::set_permissions(&manifest, std::fs::Permissions::from_mode(0o644)).unwrap();
    let state = dir.path().join("state");
    let out = Command::new("setpriv")
        .args(["--reuid", "65534", "--regid", "65534", "--clear-groups", "--"])
        .arg(hooklet())
        .args(["run", "--runtime", "runc", "--state-dir"])
        .arg(&state)
        .args(["--plugins", "/nonexistent", "--log-dir", "/tmp", "-f", &manifest])
        .output()
        .unwrap();
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("--runtime runc needs root"), "{stderr}");
    assert!(stderr.contains("--runtime process"), "{stderr}");
    assert!(!state.exists(), "nothing was created");

    let out = Command::new("setpriv")
        .args(["--reuid", "65534", "--regid", "65534", "--clear-groups", "--"])
        .arg(hooklet())
        .args(["serve", "--runtime", "runc", "--state-dir"])
        .arg(&state)
        .output()
        .unwrap();
    let stderr = text(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("--runtime runc needs root"), "{stderr}");
    assert!(!state.exists(), "serve created nothing either");
}
