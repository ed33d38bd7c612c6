//! Probes under the real `hooklet serve`: a liveness kill whose PreStop is running when
//! the daemon is SIGKILLed completes after the restart (the PreStop redelivered, then
//! the stop and the restart), and the prober's metrics on `/metrics`.

mod daemon_support;

use std::path::Path;
use std::time::{Duration, Instant};

use daemon_support::{write, ContainersGuard, Daemon};

/// Waits (bounded) until `path` contains `text` `n` times: the hook is another
/// process's child, so its progress shows only in the file it writes.
fn wait_file(path: &Path, text: &str, n: usize) {
    let until = Instant::now() + Duration::from_secs(60);
    while std::fs::read_to_string(path).unwrap_or_default().matches(text).count() < n {
        assert!(Instant::now() < until, "{} never had {n}× {text:?}", path.display());
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The kubelet's message for a liveness kill.
const LIVENESS_KILL: &str = "Container app failed liveness probe, will be restarted";

#[test]
fn liveness_kill_survives_a_daemon_crash() {
    let dir = tempfile::tempdir().unwrap();
    let _guard = ContainersGuard(dir.path().join("state"));
    let (alive, log, go) = (dir.path().join("alive"), dir.path().join("prestop.log"), dir.path().join("go"));
    std::fs::write(&alive, "").unwrap();
    let file = write(
        dir.path(),
        "pod.yaml",
        &format!(
            r#"
apiVersion: v1
kind: Pod
metadata: {{name: probed}}
spec:
  terminationGracePeriodSeconds: 60
  containers:
  - name: app
    image: busybox
    command: [sh, -c, "trap 'exit 0' TERM; while true; do sleep 0.1; done"]
    livenessProbe:
      exec: {{command: [cat, "{alive}"]}}
      periodSeconds: 1
      failureThreshold: 1
    lifecycle:
      preStop:
        exec: {{command: [sh, -c, "echo prestop $HOOKLET_ATTEMPT >> {log}; while [ ! -e {go} ]; do sleep 0.05; done"]}}
"#,
            alive = alive.display(),
            log = log.display(),
            go = go.display()
        ),
    );
    let unit = ["--probe-time-unit", "100ms"];
    let daemon = Daemon::start(dir.path(), &unit);
    daemon.ok(&["apply", "-f", &file]);
    daemon.wait_pod("probed", 30, daemon_support::started);
    std::fs::remove_file(&alive).unwrap();
    wait_file(&log, "prestop 1", 1);
    // Events reach the database through the event writer's queue, not before the hook
    // runs (the kubelet's events are best-effort too): wait until the kill's event is
    // committed, so that the crash below tests the kill's recovery, not that race.
    let db = rusqlite::Connection::open(daemon.state.join("hooklet.db")).unwrap();
    let until = Instant::now() + Duration::from_secs(30);
    loop {
        let stored: i64 = db
            .query_row("SELECT count(*) FROM events WHERE event LIKE ?1", [format!("%{LIVENESS_KILL}%")], |r| r.get(0))
            .unwrap();
        if stored > 0 {
            break;
        }
        assert!(Instant::now() < until, "the liveness kill's event was never stored: {}", daemon.ok(&["events"]));
        std::thread::sleep(Duration::from_millis(20));
    }
    drop(db);
    daemon.kill();

    std::fs::write(&alive, "").unwrap();
    let daemon = Daemon::start(dir.path(), &unit);
    wait_file(&log, "prestop 2", 1);
    std::fs::write(&go, "").unwrap();
    let pod = daemon.wait_pod("probed", 60, |v| {
        v["status"]["containers"][0]["restartCount"] == 1 && v["status"]["containers"][0]["ready"] == true
    });
    let events = daemon.ok(&["events"]);
    assert!(events.contains(LIVENESS_KILL), "the event recorded before the crash is kept: {events}");
    assert!(events.contains("HookRedelivered"), "{events}");
    let last = &pod["status"]["containers"][0]["lastState"]["terminated"];
    assert_eq!(last["exitCode"], 0, "the container exited on its TERM after the PreStop: {pod:#}");
    // The new instance's first liveness probe runs one period after its start.
    let until = Instant::now() + Duration::from_secs(30);
    loop {
        let (code, metrics) = daemon.raw(&daemon_support::request("GET", "/metrics", &[], b""));
        assert_eq!(code, 200);
        if metrics.contains("prober_probe_total{probe_type=\"Liveness\",container=\"app\",pod=\"probed\",namespace=\"default\",result=\"successful\"}") {
            break;
        }
        assert!(Instant::now() < until, "no successful liveness probe of the restarted container counted: {metrics}");
        std::thread::sleep(Duration::from_millis(50));
    }
    daemon.ok(&["delete", "pod", "probed", "--grace-period", "1", "--wait"]);
}
