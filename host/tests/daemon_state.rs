//! The daemon's durable state across restarts, with the real binary: the event list
//! and watch, metrics, CrashLoopBackOff timing, pruning of deleted pods, and a
//! supervisor killed on its own.

mod daemon_support;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use daemon_support::{request, started, text, write, ContainersGuard, Daemon};

/// A pod whose container sleeps, with an exec PostStart (and PreStop).
fn sleeper(name: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}}}\nspec:\n  containers:\n  - name: app\n    image: busybox\n    command: [sleep, '600']\n    lifecycle:\n      postStart: {{exec: {{command: [sh, -c, 'echo post']}}}}\n      preStop: {{exec: {{command: [sh, -c, 'echo pre']}}}}\n"
    )
}

/// The value of one exact series in the daemon's `/metrics`.
fn metric(daemon: &Daemon, series: &str) -> Option<f64> {
    let (status, body) = daemon.raw(&request("GET", "/metrics", &[], b""));
    assert_eq!(status, 200);
    body.lines().find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

/// Milliseconds since the epoch of a serialised `SystemTime`.
fn ms(v: &serde_json::Value) -> i64 {
    let secs = v["secs_since_epoch"].as_i64().unwrap_or_else(|| panic!("not a time: {v}"));
    secs * 1000 + v["nanos_since_epoch"].as_i64().unwrap() / 1_000_000
}

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as i64
}

/// The events of one pod, from the API.
fn events(daemon: &Daemon, pod: &str) -> Vec<serde_json::Value> {
    let (status, body) = daemon.raw(&request("GET", &format!("/v1/events?pod={pod}"), &[], b""));
    assert_eq!(status, 200, "{body}");
    serde_json::from_str::<serde_json::Value>(&body).unwrap()["items"].as_array().unwrap().clone()
}

fn count_of(events: &[serde_json::Value], reason: &str) -> u64 {
    events.iter().filter(|e| e["reason"] == reason).map(|e| e["count"].as_u64().unwrap()).sum()
}

#[test]
fn events_watch_and_metrics_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let _guard = ContainersGuard(dir.path().join("state"));
    let daemon = Daemon::start(dir.path(), &[]);
    daemon.ok(&["apply", "-f", &write(dir.path(), "before.yaml", &sleeper("before"))]);
    daemon.wait_pod("before", 10, started);
    let succeeded = "hooklet_hook_deliveries_total{kind=\"exec\",plugin=\"\",outcome=\"Succeeded\"}";
    assert_eq!(metric(&daemon, succeeded), Some(1.0));
    let first_start = metric(&daemon, "process_start_time_seconds").unwrap();
    daemon.kill();

    let daemon = Daemon::start(dir.path(), &[]);
    // Events recorded by the killed daemon are listed by the new one.
    let listed = daemon.ok(&["events"]);
    assert!(listed.contains("pod/before (app)") && listed.contains("Started container app"), "{listed}");
    // Counters start at zero with the new process (Prometheus' counter reset), and
    // process_start_time_seconds says so.
    assert_eq!(metric(&daemon, succeeded), None, "no delivery ended in this process yet");
    assert!(metric(&daemon, "process_start_time_seconds").unwrap() > first_start);
    assert_eq!(metric(&daemon, "hooklet_container_restarts_total"), Some(0.0), "an adopted container was not restarted");

    // A watch on the new daemon replays the stored events, then streams new ones.
    let mut watch = Command::new(daemon_support::hooklet())
        .args(["events", "--watch"])
        .env("HOOKLET_SERVER", format!("unix://{}", daemon.socket.display()))
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, lines) = mpsc::channel();
    let stdout = watch.stdout.take().unwrap();
    std::thread::spawn(move || BufReader::new(stdout).lines().map_while(Result::ok).try_for_each(|l| tx.send(l)));
    let await_line = |what: &dyn Fn(&str) -> bool| {
        let until = Instant::now() + Duration::from_secs(20);
        loop {
            let line = lines.recv_timeout(until.saturating_duration_since(Instant::now())).expect("the watch printed the line");
            if what(&line) {
                return line;
            }
        }
    };
    await_line(&|l| l.contains("pod/before (app)") && l.contains("Started container app"));
    daemon.ok(&["apply", "-f", &write(dir.path(), "after.yaml", &sleeper("after"))]);
    await_line(&|l| l.contains("pod/after (app)") && l.contains("Started container app"));
    daemon.wait_pod("after", 10, started);
    let _ = watch.kill();
    let _ = watch.wait();
    assert_eq!(metric(&daemon, succeeded), Some(1.0), "the new pod's PostStart only");
    let (stored, commits) = (metric(&daemon, "hooklet_events_stored_total").unwrap(), metric(&daemon, "hooklet_event_commits_total").unwrap());
    // Created and Started (a PostStart that succeeds records no event).
    assert!(stored >= 2.0 && commits >= 1.0, "{stored} events in {commits} commits");
    println!("events: {stored} stored in {commits} commits ({:.1} per commit)", stored / commits);
}

#[test]
fn a_back_off_wait_resumes_at_its_original_time_after_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let _guard = ContainersGuard(dir.path().join("state"));
    let backoff = ["--backoff-initial", "4s", "--backoff-max", "4s"];
    let daemon = Daemon::start(dir.path(), &backoff);
    let pod = "apiVersion: v1\nkind: Pod\nmetadata: {name: crashy}\nspec:\n  containers:\n  - name: app\n    image: busybox\n    command: [sh, -c, 'sleep 1; exit 1']\n";
    daemon.ok(&["apply", "-f", &write(dir.path(), "crashy.yaml", pod)]);
    // Exit, immediate restart, exit, then a 4 s back-off.
    let waiting = |v: &serde_json::Value| {
        let c = &v["status"]["containers"][0];
        c["restartCount"] == 1 && c["state"]["waiting"]["reason"] == "CrashLoopBackOff"
    };
    daemon.wait_pod("crashy", 20, waiting);
    let db = rusqlite::Connection::open(daemon.state.join("hooklet.db")).unwrap();
    let restart_at = || -> Option<i64> {
        db.query_row("SELECT backoff_restart_at_ms FROM containers WHERE name = 'app'", [], |r| r.get(0)).unwrap()
    };
    let until = Instant::now() + Duration::from_secs(5);
    let restart_at = loop {
        if let Some(at) = restart_at() {
            break at;
        }
        assert!(Instant::now() < until, "the restart time is saved with the container");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(restart_at > now_ms() + 2500, "a 4 s wait just began: {restart_at} vs {}", now_ms());
    assert_eq!(count_of(&events(&daemon, "crashy"), "BackOff"), 1);
    daemon.kill();
    // hooklet is down for a while: the restart must neither come at once (2.5 s early)
    // nor after a fresh 4 s (1.5 s late at the least).
    std::thread::sleep(Duration::from_millis(1500));

    let daemon = Daemon::start(dir.path(), &backoff);
    let v = daemon.wait_pod("crashy", 10, |v| {
        let c = &v["status"]["containers"][0];
        c["restartCount"] == 2 && c["state"]["running"].is_object()
    });
    let running = &v["status"]["containers"][0]["state"]["running"];
    let started_at = ms(&running["startedAt"]);
    assert!(
        started_at >= restart_at - 20 && started_at < restart_at + 1200,
        "restarted at {started_at}, {} ms from the original time {restart_at}",
        started_at - restart_at
    );
    assert_eq!(count_of(&events(&daemon, "crashy"), "BackOff"), 1, "the resumed wait is the same back-off");
    // The next crash backs off again, and its event merges into the stored one.
    daemon.wait_pod("crashy", 10, waiting_again);
    let until = Instant::now() + Duration::from_secs(5);
    while count_of(&events(&daemon, "crashy"), "BackOff") != 2 {
        assert!(Instant::now() < until, "BackOff x2: {:#?}", events(&daemon, "crashy"));
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(events(&daemon, "crashy").iter().filter(|e| e["reason"] == "BackOff").count(), 1, "one merged event");
}

fn waiting_again(v: &serde_json::Value) -> bool {
    let c = &v["status"]["containers"][0];
    c["restartCount"] == 2 && c["state"]["waiting"]["reason"] == "CrashLoopBackOff"
}

#[test]
fn a_deleted_pods_rows_are_pruned_and_a_live_pods_stay() {
    let dir = tempfile::tempdir().unwrap();
    let _guard = ContainersGuard(dir.path().join("state"));
    // No retention: the rows go with the pod (the default keeps them 1 h).
    let daemon = Daemon::start(dir.path(), &["--deleted-pod-retention", "0s"]);
    let file = write(dir.path(), "pods.yaml", &format!("{}---\n{}", sleeper("gone"), sleeper("kept")));
    daemon.ok(&["apply", "-f", &file]);
    let uid = |v: serde_json::Value| v["pod"]["metadata"]["uid"].as_str().unwrap().to_string();
    let gone = uid(daemon.wait_pod("gone", 10, started));
    let kept = uid(daemon.wait_pod("kept", 10, started));
    // The recorder's memory: the deleted pod's events leave it, the live pod's stay.
    let in_memory = || metric(&daemon, "hooklet_events_in_memory").expect("the gauge");
    let others = in_memory() - events(&daemon, "gone").len() as f64;
    daemon.ok(&["delete", "pod", "gone", "--grace-period", "2", "--wait"]);
    let until = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while in_memory() != others {
        assert!(std::time::Instant::now() < until, "the recorder holds {} events, not {others}", in_memory());
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(others >= events(&daemon, "kept").len() as f64);
    let state = daemon.state.clone();
    assert!(daemon.terminate().success());

    let db = rusqlite::Connection::open(state.join("hooklet.db")).unwrap();
    let rows = |table: &str, uid: &str| -> i64 {
        let column = if ["pods", "deleted_pods"].contains(&table) { "uid" } else { "pod_uid" };
        db.query_row(&format!("SELECT count(*) FROM {table} WHERE {column} = ?1"), [uid], |r| r.get(0)).unwrap()
    };
    for table in ["pods", "containers", "events", "hook_runs", "deliveries", "deleted_pods"] {
        assert_eq!(rows(table, &gone), 0, "{table} rows of the deleted pod");
    }
    assert_eq!((rows("pods", &kept), rows("containers", &kept)), (1, 1));
    assert_eq!((rows("hook_runs", &kept), rows("deliveries", &kept)), (1, 1), "the live pod's PostStart");
    assert_eq!(rows("events", &kept), 2, "Created, Started");
}

#[test]
fn a_supervisor_killed_on_its_own_takes_its_container_with_it() {
    let dir = tempfile::tempdir().unwrap();
    let _guard = ContainersGuard(dir.path().join("state"));
    let daemon = Daemon::start(dir.path(), &[]);
    let pod = "apiVersion: v1\nkind: Pod\nmetadata: {name: lonely}\nspec:\n  restartPolicy: Never\n  containers:\n  - name: app\n    image: busybox\n    command: [sh, -c, 'sleep 600; true']\n";
    daemon.ok(&["apply", "-f", &write(dir.path(), "lonely.yaml", pod)]);
    let v = daemon.wait_pod("lonely", 10, started);
    let id = v["status"]["containers"][0]["containerId"].as_str().unwrap().trim_start_matches("process://").to_string();
    let record = std::fs::read_to_string(daemon.state.join("containers").join(&id).join("pid")).unwrap();
    let pid = record.split_whitespace().next().unwrap().to_string(); // `PID STARTTIME`
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let supervisor = stat.rsplit(')').next().unwrap().split_whitespace().nth(1).unwrap().to_string();
    let supervisor: u32 = supervisor.parse().unwrap();
    assert!(supervisor > 1, "the container's parent is its supervisor");
    daemon_support::signal(supervisor, "KILL");

    let v = daemon.wait_pod("lonely", 10, |v| v["status"]["containers"][0]["state"]["terminated"].is_object());
    let terminated = &v["status"]["containers"][0]["state"]["terminated"];
    assert_eq!((terminated["exitCode"].as_i64(), terminated["signal"].as_i64()), (Some(137), Some(9)), "{v:#}");
    // Nothing of the container's process group (sh and its sleep) is left running.
    let until = Instant::now() + Duration::from_secs(5);
    let group = nix::unistd::Pid::from_raw(pid.parse().unwrap());
    while nix::sys::signal::killpg(group, None).is_ok() {
        assert!(Instant::now() < until, "the container's process group outlived its supervisor");
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = daemon.cli(&["get", "pods", "lonely"]);
    assert!(text(&out.stdout).contains("lonely"), "{}", text(&out.stderr));
}
