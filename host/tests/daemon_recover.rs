//! Start-up recovery from a state the crash tests reach only by chance: the daemon
//! was killed after a container's PostStart was journaled done but before the pod's
//! status snapshot (written behind the journal) named that container instance.

mod daemon_support;

use daemon_support::{started, write, Daemon};

const POD: &str = r#"
apiVersion: v1
kind: Pod
metadata: {name: unsaved}
spec:
  containers:
  - name: app
    image: busybox
    command: [sh, -c, "echo started once; exec sleep 600"]
    lifecycle:
      postStart:
        exec: {command: [sh, -c, "echo poststart"]}
"#;

/// The status snapshot of the pod as it was before its container started: no
/// instance named, the container waiting to be created.
fn forget_the_instance(db: &rusqlite::Connection) -> String {
    let text: String = db.query_row("SELECT status FROM pods WHERE name = 'unsaved'", [], |r| r.get(0)).unwrap();
    let mut status: serde_json::Value = serde_json::from_str(&text).unwrap();
    let container = status["containers"][0].as_object_mut().expect("a container status");
    let id = container.remove("containerId").and_then(|v| v.as_str().map(str::to_string)).expect("the snapshot names the instance");
    container.insert("state".into(), serde_json::json!({"waiting": {"reason": "ContainerCreating"}}));
    container.insert("started".into(), false.into());
    container.insert("hooks".into(), serde_json::json!([]));
    status["phase"] = "Pending".into();
    db.execute("UPDATE pods SET status = ?1 WHERE name = 'unsaved'", [status.to_string()]).unwrap();
    db.execute("UPDATE containers SET runtime_id = NULL, state = 'Waiting', started_at_ms = NULL", []).unwrap();
    id
}

#[test]
fn an_instance_known_only_from_its_journaled_post_start_is_adopted_not_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let _guard = daemon_support::ContainersGuard(dir.path().join("state"));
    let file = write(dir.path(), "pod.yaml", POD);
    let daemon = Daemon::start(dir.path(), &[]);
    daemon.ok(&["apply", "-f", &file]);
    let before = daemon.wait_pod("unsaved", 10, started);
    let id = before["status"]["containers"][0]["containerId"].clone();
    let state = daemon.state.clone();
    daemon.kill();

    let db = rusqlite::Connection::open(state.join("hooklet.db")).unwrap();
    assert_eq!(Some(forget_the_instance(&db).as_str()), id.as_str());
    let journaled: u32 = db.query_row("SELECT count(*) FROM deliveries WHERE phase = 'PostStart' AND state = 'done'", [], |r| r.get(0)).unwrap();
    assert_eq!(journaled, 1, "the PostStart is journaled done");
    drop(db);

    let daemon = Daemon::start(dir.path(), &[]);
    let after = daemon.wait_pod("unsaved", 10, |v| v["status"]["containers"][0]["state"]["running"].is_object());
    let c = &after["status"]["containers"][0];
    assert_eq!(c["containerId"], id, "the running instance is adopted: {after:#}");
    assert_eq!(c["restartCount"], 0);
    let log = daemon.ok(&["logs", "unsaved"]);
    assert_eq!(log.matches("started once").count(), 1, "not started a second time: {log}");
    let db = rusqlite::Connection::open(state.join("hooklet.db")).unwrap();
    let post_starts: u32 = db.query_row("SELECT count(*) FROM deliveries WHERE phase = 'PostStart'", [], |r| r.get(0)).unwrap();
    assert_eq!(post_starts, 1, "no second PostStart for a second instance");
    daemon.ok(&["delete", "pod", "unsaved", "--grace-period", "1", "--wait"]);
}
