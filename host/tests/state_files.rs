//! The files of a running `hooklet serve` taken away from it: the database deleted
//! (written back from the open handle), replaced (changes refused until a restart),
//! made immutable (changes refused until it is writable again), the plugin directory
//! removed and restored, and a SIGKILL in the middle of a schema migration.

mod daemon_support;

use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use daemon_support::{request, started, text, write, ContainersGuard, Daemon};

/// A pod that sleeps, with `lifecycle` (YAML under `lifecycle:`, or empty).
fn pod(name: &str, lifecycle: &str) -> String {
    format!("apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}}}\nspec:\n  containers:\n  - name: app\n    image: busybox\n    command: [sleep, '600']\n{lifecycle}")
}

/// `hooklet apply` of pod `name` over hooklet's API: (status, body).
fn apply(daemon: &Daemon, name: &str) -> (u16, String) {
    let body = serde_json::json!({"manifest": pod(name, ""), "filename": format!("{name}.yaml")}).to_string();
    daemon.raw(&request("POST", "/v1/pods", &["Content-Type: application/json"], body.as_bytes()))
}

fn names(daemon: &Daemon) -> String {
    daemon.ok(&["get", "pods"])
}

/// Waits (20 s at most) until `done` holds.
fn wait_for(what: &str, done: impl Fn() -> bool) {
    let until = Instant::now() + Duration::from_secs(20);
    while !done() {
        assert!(Instant::now() < until, "never: {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_database_deleted_under_the_daemon_is_written_back_and_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let _guard = ContainersGuard(dir.path().join("state"));
    let log = dir.path().join("serve.log");
    let daemon = Daemon::start_logged(dir.path(), &[], &log);
    assert_eq!(apply(&daemon, "first").0, 201);
    daemon.wait_pod("first", 20, started);
    let db = daemon.state.join("hooklet.db");
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
    }
    assert!(names(&daemon).contains("first"), "reads go on from the open file");
    let (status, body) = apply(&daemon, "second");
    assert_eq!(status, 201, "{body}");
    assert!(db.exists(), "the file is back");
    let said = std::fs::read_to_string(&log).unwrap();
    assert!(said.contains("the state file was written back; nothing committed was lost"), "{said}");
    daemon.wait_pod("second", 20, started);
    daemon.kill();
    let daemon = Daemon::start(dir.path(), &[]);
    let listed = names(&daemon);
    assert!(listed.contains("first") && listed.contains("second"), "{listed}");
    assert_eq!(daemon.pod("first")["status"]["containers"][0]["restartCount"], 0, "adopted");
}

#[test]
fn a_database_replaced_under_the_daemon_refuses_changes_and_a_restart_uses_the_new_file() {
    let dir = tempfile::tempdir().unwrap();
    let _guard = ContainersGuard(dir.path().join("state"));
    let daemon = Daemon::start(dir.path(), &[]);
    assert_eq!(apply(&daemon, "kept").0, 201);
    daemon.wait_pod("kept", 20, started);
    // A copy taken now (it holds `kept`), renamed over the file.
    let db = daemon.state.join("hooklet.db");
    let copy = daemon.state.join("copy.db");
    rusqlite::Connection::open(&db).unwrap().execute("VACUUM INTO ?1", [copy.to_str().unwrap()]).unwrap();
    std::fs::rename(&copy, &db).unwrap();

    let (status, body) = apply(&daemon, "refused");
    assert_eq!(status, 503, "{body}");
    let error = serde_json::from_str::<serde_json::Value>(&body).unwrap()["error"].as_str().unwrap().to_string();
    assert!(error.contains(&format!("state file {} was replaced by another file while hooklet was running", db.display())), "{error}");
    assert!(error.contains("refuses changes, which would be lost") && error.contains("restart hooklet to use it"), "{error}");
    let (status, body) = daemon.raw(&request("POST", "/api/v1/namespaces/default/pods", &["Content-Type: application/json"], br#"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"k"},"spec":{"containers":[{"name":"app","image":"busybox"}]}}"#));
    assert_eq!(status, 503, "{body}");
    let answer: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!((answer["reason"].as_str(), answer["message"].as_str()), (Some("ServiceUnavailable"), Some(error.as_str())), "{body}");
    let listed = names(&daemon);
    assert!(listed.contains("kept") && !listed.contains("refused"), "{listed}");

    daemon.kill();
    let daemon = Daemon::start(dir.path(), &[]);
    assert!(names(&daemon).contains("kept"), "the new file is used, and a killed daemon left it no WAL to replay");
    assert_eq!(apply(&daemon, "after").0, 201);
}

/// `chattr` on `files` (`+i` / `-i`).
fn chattr(flag: &str, files: &[&Path]) -> bool {
    std::process::Command::new("chattr").arg(flag).args(files).status().is_ok_and(|s| s.success())
}

#[test]
fn an_immutable_database_refuses_changes_clearly_until_it_is_writable_again() {
    let dir = tempfile::tempdir().unwrap();
    let _guard = ContainersGuard(dir.path().join("state"));
    let mut daemon = Daemon::start(dir.path(), &[]);
    assert_eq!(apply(&daemon, "before").0, 201);
    daemon.wait_pod("before", 20, started);
    let db = daemon.state.join("hooklet.db");
    let wal = daemon.state.join("hooklet.db-wal");
    if !chattr("+i", &[&db, &wal]) {
        eprintln!("skipped: chattr +i needs root and a file system with the immutable flag");
        return;
    }
    let (status, body) = apply(&daemon, "during");
    chattr("-i", &[&db, &wal]);
    assert_eq!(status, 503, "{body}");
    assert!(body.contains(&format!("state database {} cannot be written", db.display())) && body.contains("Operation not permitted"), "{body}");
    assert!(body.contains(&format!("chattr -i {}", db.display())) && body.contains("without a restart"), "{body}");
    assert!(names(&daemon).contains("before"));
    assert!(daemon.child.try_wait().unwrap().is_none(), "the daemon runs on");
    // Writable again: the next change works.
    assert_eq!(apply(&daemon, "during").0, 201);

    // An immutable file at start: serve stops, saying what to do.
    assert!(daemon.terminate().success());
    assert!(chattr("+i", &[&db]));
    let out = daemon_support::serve_command(dir.path(), &[]).output().unwrap();
    chattr("-i", &[&db]);
    assert_eq!(out.status.code(), Some(1));
    let said = text(&out.stderr);
    assert!(said.contains(&format!("chattr -i {}", db.display())), "{said}");
    let daemon = Daemon::start(dir.path(), &[]);
    let listed = names(&daemon);
    assert!(listed.contains("before") && listed.contains("during"), "{listed}");
}

/// The reasons and messages of a pod's events.
fn events(daemon: &Daemon, name: &str) -> Vec<(String, String)> {
    let (status, body) = daemon.raw(&request("GET", &format!("/v1/events?pod={name}"), &[], b""));
    assert_eq!(status, 200, "{body}");
    let items = serde_json::from_str::<serde_json::Value>(&body).unwrap()["items"].as_array().unwrap().clone();
    items.iter().map(|e| (e["reason"].as_str().unwrap().to_string(), e["message"].as_str().unwrap().to_string())).collect()
}

#[test]
fn wasm_hooks_fail_naming_a_removed_plugin_directory_and_work_again_when_it_is_back() {
    let dir = tempfile::tempdir().unwrap();
    let _guard = ContainersGuard(dir.path().join("state"));
    let noop = hooklet::testing::example_plugins_dir().join("noop.wasm");
    let plugins = dir.path().join("plugins");
    std::fs::create_dir_all(&plugins).unwrap();
    std::fs::copy(&noop, plugins.join("noop.wasm")).unwrap();
    let log = dir.path().join("serve.log");
    let daemon = Daemon::start_logged(dir.path(), &[], &log);
    let hooked = |name: &str| write(dir.path(), &format!("{name}.yaml"), &pod(name, "    lifecycle:\n      postStart: {wasm: {plugin: noop}}\n"));
    let failed = |name: &str| events(&daemon, name).into_iter().filter(|(reason, _)| reason == "FailedPostStartHook").map(|(_, m)| m).collect::<Vec<_>>();
    daemon.ok(&["apply", "-f", &hooked("first")]);
    daemon.wait_pod("first", 20, started);

    std::fs::remove_dir_all(&plugins).unwrap();
    // Until the watcher has seen the directory go, the loaded plugin keeps serving.
    let said = || std::fs::read_to_string(&log).unwrap();
    wait_for("the daemon notices the removal", || said().contains("the plugin directory was removed or moved"));
    daemon.ok(&["apply", "-f", &hooked("gone")]);
    wait_for("the hook of `gone` fails", || !failed("gone").is_empty());
    let message = &failed("gone")[0];
    assert!(message.contains(&format!("the plugin directory {} does not exist", plugins.display())), "{message}");
    assert!(message.contains("restore it") && message.contains("without a restart"), "{message}");

    std::fs::create_dir_all(&plugins).unwrap();
    std::fs::copy(&noop, plugins.join("noop.wasm")).unwrap();
    daemon.ok(&["apply", "-f", &hooked("back")]);
    daemon.wait_pod("back", 20, started);
    assert!(failed("back").is_empty(), "{:?}", failed("back"));
    wait_for("hot reload resumes", || said().contains("the plugin directory is back; hot reload resumes"));
    assert!(daemon.terminate().success());
}

/// Makes the version 2 file at `db` a version 1 file, as hooklet 1 wrote it, with
/// `events` more events of pod `uid`.
fn downgrade_to_v1(db: &Path, uid: &str, events: usize) {
    let mut conn = rusqlite::Connection::open(db).unwrap();
    let tx = conn.transaction().unwrap();
    tx.execute_batch(
        "DROP INDEX events_by_pod; DROP INDEX deliveries_by_pod; DROP TABLE deleted_pods;
         ALTER TABLE containers DROP COLUMN backoff_next_ms; ALTER TABLE containers DROP COLUMN backoff_last_restart_ms;
         ALTER TABLE containers DROP COLUMN backoff_restart_at_ms; PRAGMA user_version = 1;",
    )
    .unwrap();
    {
        // Copies of one of the pod's own events, each with its own message.
        let text: String = tx.query_row("SELECT event FROM events WHERE pod_uid = ?1 LIMIT 1", [uid], |r| r.get(0)).unwrap();
        let mut event: serde_json::Value = serde_json::from_str(&text).unwrap();
        event["reason"] = "Old".into();
        tx.execute(
            "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i + 1 < ?3)
             INSERT INTO events (key, seq, pod_uid, namespace, pod_name, event)
             SELECT 'old-' || i, 1000000 + i, ?1, 'default', 'old', json_set(?2, '$.message', 'event ' || i || ' of a long history') FROM n",
            rusqlite::params![uid, event.to_string(), events as i64],
        )
        .unwrap();
    }
    tx.commit().unwrap();
}

#[test]
fn a_sigkill_during_a_schema_migration_leaves_the_old_schema_and_the_next_start_migrates_it_whole() {
    const EVENTS: usize = 200_000;
    let dir = tempfile::tempdir().unwrap();
    let _guard = ContainersGuard(dir.path().join("state"));
    let daemon = Daemon::start(dir.path(), &[]);
    assert_eq!(apply(&daemon, "old").0, 201);
    let uid = daemon.wait_pod("old", 20, started)["pod"]["metadata"]["uid"].as_str().unwrap().to_string();
    assert!(daemon.terminate().success());
    let db = dir.path().join("state/hooklet.db");
    downgrade_to_v1(&db, &uid, EVENTS);

    // Killed as soon as it says it is migrating (a migration of this many rows takes
    // a while: a kill that came after its commit fails the check below).
    let mut serve = daemon_support::serve_command(dir.path(), &[]).env("HOOKLET_LOG", "info").stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
    let stderr = BufReader::new(serve.stderr.take().unwrap());
    let mut said = String::new();
    for line in stderr.lines().map_while(Result::ok) {
        said.push_str(&line);
        if line.contains("migrating the state schema to version 2") {
            serve.kill().unwrap();
            break;
        }
    }
    serve.wait().unwrap();
    assert!(said.contains("migrating the state schema to version 2"), "{said}");

    // The next start migrates again (the killed one committed nothing), then serves
    // everything.
    let log = dir.path().join("serve.log");
    let daemon = Daemon::start_logged(dir.path(), &[], &log);
    let again = std::fs::read_to_string(&log).unwrap();
    assert!(again.contains("migrating the state schema to version 2"), "the killed migration was not committed: {again}");
    let listed = names(&daemon);
    assert!(listed.lines().any(|l| l.starts_with("old ") && l.contains("Running")), "adopted: {listed}");
    assert!(daemon.terminate().success());
    let conn = rusqlite::Connection::open(&db).unwrap();
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0)).unwrap();
    let all: i64 = conn.query_row("SELECT count(*) FROM events WHERE json_extract(event, '$.reason') = 'Old'", [], |r| r.get(0)).unwrap();
    assert_eq!((version, all), (2, EVENTS as i64));
    let check: String = conn.query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
    assert_eq!(check, "ok");
}
