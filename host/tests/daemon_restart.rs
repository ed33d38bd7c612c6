//! Restarting and crashing the real daemon: containers are adopted, not restarted;
//! exits while it was down are recorded; hook deliveries are at least once (D2).

mod daemon_support;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use daemon_support::{started, text, write, Daemon};

const PODS: &str = r#"
apiVersion: v1
kind: Pod
metadata: {name: keeper}
spec:
  containers:
  - name: app
    image: busybox
    command: [sh, -c, "echo started once; exec sleep 600"]
    lifecycle:
      postStart:
        exec: {command: [sh, -c, "echo poststart"]}
---
apiVersion: v1
kind: Pod
metadata: {name: quitter}
spec:
  restartPolicy: Never
  containers:
  - name: app
    image: busybox
    command: [sh, -c, "read line < FIFO; exit 3"]
"#;

#[test]
fn restart_adopts_running_containers_and_records_exits_while_down() {
    let dir = tempfile::tempdir().unwrap();
    let _guard = daemon_support::ContainersGuard(dir.path().join("state"));
    let fifo = dir.path().join("fifo");
    assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    let file = write(dir.path(), "pods.yaml", &PODS.replace("FIFO", &fifo.display().to_string()));
    let daemon = Daemon::start(dir.path(), &[]);
    daemon.ok(&["apply", "-f", &file]);
    let keeper = daemon.wait_pod("keeper", 10, started);
    let quitter = daemon.wait_pod("quitter", 10, |v| v["status"]["containers"][0]["state"]["running"].is_object());
    let keeper_id = keeper["status"]["containers"][0]["containerId"].clone();

    let status = daemon.terminate();
    assert!(status.success(), "SIGTERM exits 0: {status:?}");
    // While hooklet is down, quitter's container exits with 3.
    std::fs::OpenOptions::new().write(true).open(&fifo).unwrap().write_all(b"go\n").unwrap();
    let quitter_id = quitter["status"]["containers"][0]["containerId"].as_str().unwrap().trim_start_matches("process://").to_string();
    let exit_file = dir.path().join("state/containers").join(&quitter_id).join("exit.json");
    let until = Instant::now() + Duration::from_secs(10);
    while !exit_file.exists() {
        assert!(Instant::now() < until, "the supervisor records the exit");
        std::thread::sleep(Duration::from_millis(20));
    }

    let daemon = Daemon::start(dir.path(), &[]);
    let keeper = daemon.wait_pod("keeper", 10, started);
    let c = &keeper["status"]["containers"][0];
    assert_eq!(c["containerId"], keeper_id, "the same container instance, adopted");
    assert_eq!(c["restartCount"], 0);
    assert_eq!(c["hooks"].as_array().unwrap().len(), 1, "PostStart is not run again");
    let log = daemon.ok(&["logs", "keeper"]);
    assert_eq!(log.matches("started once").count(), 1, "not restarted: {log}");
    let quitter = daemon.wait_pod("quitter", 10, |v| v["status"]["containers"][0]["state"]["terminated"].is_object());
    let terminated = &quitter["status"]["containers"][0]["state"]["terminated"];
    assert_eq!(terminated["exitCode"], 3, "{quitter:#}");
    assert_eq!(quitter["status"]["phase"], "Failed");
    daemon.ok(&["delete", "pod", "keeper", "--grace-period", "1", "--wait"]);
}

const INIT_POD: &str = r#"
apiVersion: v1
kind: Pod
metadata: {name: initialized}
spec:
  initContainers:
  - name: setup
    image: busybox
    command: [sh, -c, "echo setup ran; echo setup >> RUNS"]
  - name: proxy
    image: busybox
    restartPolicy: Always
    command: [sh, -c, "echo proxy >> RUNS; exec sleep 600"]
    lifecycle:
      postStart:
        exec: {command: [sh, -c, "echo poststart"]}
  containers:
  - name: app
    image: busybox
    command: [sh, -c, "echo app >> RUNS; exec sleep 600"]
"#;

/// After a restart, completed init containers are not run again and a running
/// sidecar is adopted like a regular container (its PostStart not run again).
#[test]
fn restart_keeps_completed_init_containers_and_adopts_sidecars() {
    let dir = tempfile::tempdir().unwrap();
    let _guard = daemon_support::ContainersGuard(dir.path().join("state"));
    let runs = dir.path().join("runs");
    let file = write(dir.path(), "init.yaml", &INIT_POD.replace("RUNS", &runs.display().to_string()));
    let daemon = Daemon::start(dir.path(), &[]);
    daemon.ok(&["apply", "-f", &file]);
    let before = daemon.wait_pod("initialized", 10, started);
    let proxy_id = before["status"]["initContainers"][1]["containerId"].clone();
    assert!(proxy_id.is_string(), "{before:#}");
    assert!(daemon.ok(&["logs", "initialized", "-c", "setup"]).contains("setup ran"));
    assert!(daemon.terminate().success());

    let daemon = Daemon::start(dir.path(), &[]);
    let after = daemon.wait_pod("initialized", 10, |v| started(v) && v["status"]["initContainers"][1]["started"] == true);
    let init = &after["status"]["initContainers"];
    assert_eq!(init[0]["state"]["terminated"]["exitCode"], 0, "{after:#}");
    assert_eq!(init[0]["restartCount"], 0);
    assert_eq!(init[1]["containerId"], proxy_id, "the same sidecar instance, adopted");
    assert_eq!(init[1]["restartCount"], 0);
    assert_eq!(init[1]["hooks"].as_array().unwrap().len(), 1, "PostStart is not run again");
    assert_eq!(after["status"]["phase"], "Running");
    assert_eq!(std::fs::read_to_string(&runs).unwrap(), "setup\nproxy\napp\n", "nothing ran twice");
    daemon.ok(&["delete", "pod", "initialized", "--grace-period", "1", "--wait"]);
}

/// A tiny HTTP server answering every request after `delay`; counts requests per path.
fn slow_http_server(delay: Duration) -> (u16, std::sync::Arc<std::sync::Mutex<BTreeMap<String, u32>>>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(BTreeMap::new()));
    let counts = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let counts = counts.clone();
            std::thread::spawn(move || {
                let mut stream = stream;
                let mut buf = [0u8; 4096];
                let n = stream.read(&mut buf).unwrap_or(0);
                let head = String::from_utf8_lossy(&buf[..n]).into_owned();
                let path = head.split(' ').nth(1).unwrap_or("").to_string();
                *counts.lock().unwrap().entry(path).or_insert(0) += 1;
                std::thread::sleep(delay);
                let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
            });
        }
    });
    (port, seen)
}

/// One pod per index, by `i % 3`: slow exec hooks that log their delivery id and
/// attempt; slow HTTP hooks; wasm hooks (the `marker` plugin, whose file records the
/// delivery id and attempt of its latest run).
fn crash_pod(i: usize, log: &Path, port: u16) -> String {
    let exec = |phase: &str, ms: u32| {
        format!(
            "exec: {{command: [sh, -c, 'echo \"start $HOOKLET_DELIVERY_ID $HOOKLET_ATTEMPT {phase}\" >> {log}; sleep 0.{ms:03}; echo \"end $HOOKLET_DELIVERY_ID $HOOKLET_ATTEMPT {phase}\" >> {log}']}}",
            log = log.display()
        )
    };
    let http = |phase: &str| format!("httpGet: {{host: 127.0.0.1, port: {port}, path: /p{i}/{phase}}}");
    let wasm = "wasm: {plugin: marker}".to_string();
    let (post, pre) = match i % 3 {
        0 => (exec("post", 150 + 70 * i as u32 % 500), exec("pre", 400)),
        1 => (http("post"), http("pre")),
        _ => (wasm.clone(), wasm),
    };
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: crash-{i}}}\nspec:\n  terminationGracePeriodSeconds: 60\n  containers:\n  - name: app\n    image: busybox\n    command: [sleep, '600']\n    lifecycle:\n      postStart:\n        {post}\n      preStop:\n        {pre}\n"
    )
}

#[test]
fn sigkill_during_deliveries_redelivers_every_pending_one_and_loses_none() {
    const PODS: usize = 9;
    let dir = tempfile::tempdir().unwrap();
    let _guard = daemon_support::ContainersGuard(dir.path().join("state"));
    // The marker plugin, granted one directory, in the daemon's plugin directory.
    let (plugins, markers) = (dir.path().join("plugins"), dir.path().join("markers"));
    std::fs::create_dir_all(&plugins).unwrap();
    std::fs::create_dir_all(&markers).unwrap();
    std::fs::copy(hooklet::testing::example_plugins_dir().join("marker.wasm"), plugins.join("marker.wasm")).unwrap();
    let grant = format!("[[capabilities.dirs]]\nhost = \"{}\"\nguest = \"/out\"\naccess = \"read-write\"\n", markers.display());
    std::fs::write(plugins.join("marker.toml"), grant).unwrap();
    let log = dir.path().join("hooks.log");
    let (port, http_counts) = slow_http_server(Duration::from_millis(300));
    let manifest: Vec<String> = (0..PODS).map(|i| crash_pod(i, &log, port)).collect();
    let file = write(dir.path(), "crash.yaml", &manifest.join("---\n"));
    let mut daemon = Daemon::start(dir.path(), &[]);
    daemon.ok(&["apply", "-f", &file]);
    let mut kills = 0;
    // PostStart deliveries in flight: kill at varied moments and restart.
    for pause in [60u64, 170, 90, 260, 130, 40] {
        std::thread::sleep(Duration::from_millis(pause));
        daemon.kill();
        kills += 1;
        daemon = Daemon::start(dir.path(), &[]);
    }
    for i in 0..PODS {
        daemon.wait_pod(&format!("crash-{i}"), 30, started);
    }
    // PreStop deliveries in flight: delete everything, kill during the hooks.
    for i in 0..PODS {
        daemon.ok(&["delete", "pod", &format!("crash-{i}")]);
    }
    for pause in [120u64, 50, 210, 80] {
        std::thread::sleep(Duration::from_millis(pause));
        daemon.kill();
        kills += 1;
        daemon = Daemon::start(dir.path(), &[]);
    }
    let until = Instant::now() + Duration::from_secs(60);
    while !daemon.cli(&["get", "pods"]).stderr.starts_with(b"No resources found") {
        assert!(Instant::now() < until, "pods never went away: {}", daemon.ok(&["get", "pods"]));
        std::thread::sleep(Duration::from_millis(100));
    }
    let state = daemon.state.clone();
    assert!(daemon.terminate().success());

    // The journal and the recorded (journaled-done) runs.
    let db = rusqlite::Connection::open(state.join("hooklet.db")).unwrap();
    let journal: BTreeMap<String, (u32, String, String)> = db
        .prepare("SELECT id, attempt, state, outcome FROM deliveries")
        .unwrap()
        .query_map([], |r| Ok((r.get::<_, String>(0)?, (r.get(1)?, r.get(2)?, r.get::<_, Option<String>>(3)?.unwrap_or_default()))))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let mut runs: BTreeMap<String, Vec<u32>> = BTreeMap::new();
    for row in db.prepare("SELECT delivery_id, attempt FROM hook_runs").unwrap().query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, u32>(1)?))).unwrap() {
        let (id, attempt) = row.unwrap();
        runs.entry(id).or_default().push(attempt);
    }
    // Deliveries to container instances that never started (a kill between their
    // creation and their start) were closed without running; all others succeeded.
    let (ran, closed): (BTreeMap<_, _>, BTreeMap<_, _>) = journal.iter().partition(|(_, (_, _, outcome))| outcome == "Succeeded");
    for (id, (_, state, outcome)) in &closed {
        assert_eq!(state.as_str(), "done", "delivery {id}");
        assert!(["ContainerGone", "ContainerNotStarted"].contains(&outcome.as_str()), "delivery {id}: {outcome}");
        assert!(!runs.contains_key(*id), "closed delivery {id} never ran");
    }
    let by_instance: Vec<(String, String, String, String, u32, String)> = db
        .prepare("SELECT pod_uid, runtime_id, phase, id, attempt, coalesce(outcome, '') FROM deliveries ORDER BY pod_uid, pending_at_ms")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(ran.len(), PODS * 2, "one PostStart and one PreStop per pod (pod, instance, phase, delivery, attempt, outcome): {by_instance:#?}");
    let mut duplicates = 0;
    for (id, (attempt, state, _)) in &ran {
        assert_eq!(state.as_str(), "done", "delivery {id}");
        // Journaled done exactly once, on its last attempt: a delivery whose end was
        // committed was never sent again.
        assert_eq!(runs.get(*id), Some(&vec![*attempt]), "delivery {id}");
        duplicates += attempt - 1;
    }
    // Exec hooks: each attempt 1..=n started with the same id, the last one ended.
    let text = std::fs::read_to_string(&log).unwrap();
    let mut seen: BTreeMap<String, (BTreeSet<u32>, BTreeSet<u32>)> = BTreeMap::new();
    let mut exec_runs_beyond_first = 0;
    for line in text.lines() {
        let parts: Vec<&str> = line.split(' ').collect();
        let entry = seen.entry(parts[1].to_string()).or_default();
        let attempt: u32 = parts[2].parse().unwrap();
        if parts[0] == "start" { entry.0.insert(attempt) } else { entry.1.insert(attempt) };
    }
    let pods_of = |kind: usize| (0..PODS).filter(move |i| i % 3 == kind);
    assert_eq!(seen.len(), pods_of(0).count() * 2, "every exec delivery ran (2 hooks per exec pod)");
    for (id, (starts, ends)) in &seen {
        let (last, _, _) = ran.get(id).unwrap_or_else(|| panic!("exec delivery {id} is journaled as succeeded"));
        // Attempt 1 of a PostStart is journaled before the container starts, so a
        // kill in between leaves no run of it; every run carries the same id.
        assert_eq!(starts.last(), Some(last), "delivery {id}: the last journaled attempt ran");
        assert!(starts.iter().all(|a| (1..=*last).contains(a)), "delivery {id}: {starts:?}");
        assert!(ends.contains(last), "delivery {id}: its last attempt completed");
        exec_runs_beyond_first += starts.len() as u32 - 1;
    }
    // HTTP hooks: every one received at least once.
    let http = http_counts.lock().unwrap().clone();
    for i in pods_of(1) {
        for phase in ["post", "pre"] {
            assert!(http.get(&format!("/p{i}/{phase}")).copied().unwrap_or(0) >= 1, "{http:?}");
        }
    }
    let http_duplicates: u32 = http.values().map(|n| n - 1).sum();
    // Wasm hooks: each marker file names a journaled delivery and its last attempt.
    let mut wasm_deliveries = 0;
    for i in pods_of(2) {
        for phase in ["post-start", "pre-stop"] {
            let file = markers.join(format!("crash-{i}_app.{phase}"));
            let text = std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
            let field = |key: &str| text.lines().find_map(|l| l.strip_prefix(&format!("{key}="))).unwrap_or_default().to_string();
            let (id, attempt): (String, u32) = (field("delivery-id"), field("attempt").parse().unwrap());
            let (last, _, _) = ran.get(&id).unwrap_or_else(|| panic!("wasm delivery {id} is journaled as succeeded"));
            assert_eq!(attempt, *last, "wasm delivery {id}: the last journaled attempt ran");
            wasm_deliveries += 1;
        }
    }
    assert_eq!(wasm_deliveries, pods_of(2).count() * 2);
    println!(
        "crash test: deliveries {} (exec {}, http {}, wasm {wasm_deliveries}), kills {kills}, redeliveries {duplicates} (duplicate runs: exec {exec_runs_beyond_first}, http {http_duplicates}), closed unstarted {}, lost 0",
        ran.len(),
        seen.len(),
        ran.len() - seen.len() - wasm_deliveries,
        closed.len()
    );
}

/// A pod whose exec PostStart fails after `ms` ms (so the container is killed, which
/// runs its failing PreStop); each failure names its delivery id and attempt.
fn failing_pod(i: usize, ms: u32) -> String {
    let hook = |phase: &str, ms: u32| {
        format!("exec: {{command: [sh, -c, 'sleep 0.{ms:03}; echo \"id=$HOOKLET_DELIVERY_ID attempt=$HOOKLET_ATTEMPT {phase}\"; exit 1']}}")
    };
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: failing-{i}}}\nspec:\n  restartPolicy: Never\n  containers:\n  - name: app\n    image: busybox\n    command: [sleep, '600']\n    lifecycle:\n      postStart:\n        {}\n      preStop:\n        {}\n",
        hook("post", ms),
        hook("pre", 300 - ms / 2)
    )
}

#[test]
fn sigkills_never_lose_the_events_of_a_completed_delivery() {
    const PODS: usize = 6;
    let dir = tempfile::tempdir().unwrap();
    let _guard = daemon_support::ContainersGuard(dir.path().join("state"));
    let manifest: Vec<String> = (0..PODS).map(|i| failing_pod(i, 120 + 60 * i as u32)).collect();
    let file = write(dir.path(), "failing.yaml", &manifest.join("---\n"));
    let mut daemon = Daemon::start(dir.path(), &[]);
    daemon.ok(&["apply", "-f", &file]);
    let mut kills = 0;
    for pause in [90u64, 160, 50, 230, 120, 70, 200, 140] {
        std::thread::sleep(Duration::from_millis(pause));
        daemon.kill();
        kills += 1;
        daemon = Daemon::start(dir.path(), &[]);
    }
    for i in 0..PODS {
        daemon.wait_pod(&format!("failing-{i}"), 30, |v| v["status"]["containers"][0]["state"]["terminated"].is_object());
    }
    let (_, metrics) = daemon.raw(&daemon_support::request("GET", "/metrics", &[], b""));
    let state = daemon.state.clone();
    daemon.kill();
    let counter = |name: &str| metrics.lines().find_map(|l| l.strip_prefix(name)?.trim().parse::<f64>().ok()).unwrap_or(0.0);
    let (stored, commits) = (counter("hooklet_events_stored_total "), counter("hooklet_event_commits_total "));
    println!("last daemon: {stored} events in {commits} commits");

    let db = rusqlite::Connection::open(state.join("hooklet.db")).unwrap();
    let deliveries: Vec<(String, u32, String, String, String)> = db
        .prepare("SELECT id, attempt, phase, pod_uid, coalesce(outcome, '') FROM deliveries WHERE state = 'done'")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let events: Vec<(String, String, String)> = db
        .prepare("SELECT pod_uid, json_extract(event, '$.reason'), json_extract(event, '$.message') FROM events")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let has = |uid: &str, reason: &str, text: &str| events.iter().any(|(u, r, m)| u == uid && r == reason && m.contains(text));
    let (mut failed, mut redelivered) = (0, 0);
    for (id, attempt, phase, uid, outcome) in &deliveries {
        if outcome == "Failed" {
            failed += 1;
            let named = format!("id={id} attempt={attempt}");
            assert!(has(uid, &format!("Failed{phase}Hook"), &named), "the failure event of {phase} delivery {id} attempt {attempt}: {events:#?}");
            if phase == "PostStart" {
                assert!(has(uid, "Killing", "FailedPostStartHook"), "the Killing event after PostStart delivery {id}");
            }
        }
        if *attempt > 1 {
            redelivered += 1;
            let named = format!("(delivery {id}, attempt {attempt})");
            assert!(has(uid, "HookRedelivered", &named), "the HookRedelivered event of delivery {id} attempt {attempt}: {events:#?}");
        }
    }
    // Every pod's PostStart and PreStop ended (failed) once the kills were over.
    assert_eq!(deliveries.iter().filter(|d| d.4 == "Failed").count(), PODS * 2, "{deliveries:#?}");
    println!("event durability: {} deliveries done ({failed} failed, {redelivered} redelivered), kills {kills}, events lost 0", deliveries.len());
}

/// The systemd unit of the repository (`host/dist/systemd/hooklet.service`) passes
/// `systemd-analyze verify` (with its ExecStart pointed at this build) and stops only
/// hooklet itself, so that `systemctl restart hooklet` leaves the containers running.
#[test]
fn the_systemd_unit_verifies_and_stops_hooklet_alone() {
    let unit = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/dist/systemd/hooklet.service")).unwrap();
    let service: Vec<&str> = unit.lines().skip_while(|l| *l != "[Service]").take_while(|l| *l != "[Install]").collect();
    for setting in ["KillMode=process", "Delegate=yes", "Restart=always"] {
        assert!(service.contains(&setting), "the unit's [Service] lacks {setting}");
    }
    let Some(analyze) = ["/usr/bin/systemd-analyze", "/bin/systemd-analyze"].into_iter().find(|p| std::path::Path::new(p).exists()) else {
        assert!(std::env::var_os("CI").is_none(), "systemd-analyze is missing: apt-get install systemd");
        eprintln!("skipped: systemd-analyze is missing (apt-get install systemd)");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let installed = dir.path().join("hooklet.service");
    std::fs::write(&installed, unit.replace("/usr/local/bin/hooklet ", &format!("{} ", daemon_support::hooklet()))).unwrap();
    let out = std::process::Command::new(analyze).arg("verify").arg(&installed).output().unwrap();
    assert!(out.status.success() && out.stderr.is_empty(), "systemd-analyze verify: {}{}", text(&out.stdout), text(&out.stderr));
}
