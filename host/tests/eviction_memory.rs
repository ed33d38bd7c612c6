//! Node-pressure eviction for memory, with real pressure: thresholds set relative
//! to what this machine has available now, and a container that allocates memory
//! until it is evicted. The pod over its request goes; a Guaranteed neighbour
//! stays; the evicted pod's PreStop runs within the eviction grace; the node
//! reports MemoryPressure and refuses BestEffort pods meanwhile.
//!
//! The tests of this file take turns (each fills memory).

mod daemon_support;

use std::sync::Mutex;

use daemon_support::{memory_available, request, write, Daemon, GUARANTEED, MEMORY_MARGIN as MARGIN};

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// The most the hog allocates (it is evicted long before).
const CAP_MIB: u64 = 8192;

fn python() -> &'static str {
    if std::path::Path::new("/usr/bin/python3").exists() { "/usr/bin/python3" } else { "python3" }
}

/// A BestEffort pod that allocates 32 MiB every 20 ms up to `cap_mib` and holds
/// it; its PreStop sleeps `prestop_sleep` seconds, then says so.
fn hog(cap_mib: u64, prestop_sleep: &str, tgps: u32) -> String {
    hog_with(cap_mib, prestop_sleep, tgps, "")
}

/// [`hog`], with `prelude` (Python) run first.
fn hog_with(cap_mib: u64, prestop_sleep: &str, tgps: u32, prelude: &str) -> String {
    let program = format!("{prelude}import time\\nheld = []\\nwhile len(held) * 32 < {cap_mib}:\\n    held.append(b'x' * (32 << 20))\\n    time.sleep(0.02)\\ntime.sleep(600)\\n");
    format!(
        r#"
apiVersion: v1
kind: Pod
metadata: {{name: hog}}
spec:
  terminationGracePeriodSeconds: {tgps}
  containers:
  - name: hog
    image: busybox
    command: [{python}, -c, "{program}"]
    lifecycle:
      preStop:
        exec: {{command: [sh, -c, "sleep {prestop_sleep}; echo prestop of the evicted hog"]}}
"#,
        python = python()
    )
}

const BEST_EFFORT: &str = r#"
apiVersion: v1
kind: Pod
metadata: {name: newcomer}
spec:
  containers:
  - {name: app, image: busybox, command: [sleep, "600"]}
"#;

fn json(daemon: &Daemon, path: &str) -> serde_json::Value {
    let (status, body) = daemon.raw(&request("GET", path, &[], b""));
    assert_eq!(status, 200, "{path}: {body}");
    serde_json::from_str(&body).unwrap()
}

/// Starts a daemon whose threshold is `margin` below what is available now
/// (pressure conditions kept 60 s unless `flags` set the transition period).
fn start(dir: &std::path::Path, margin: u64, flags: &[&str], hard: bool) -> Daemon {
    let threshold = format!("memory.available<{}Ki", (memory_available() - margin) / 1024);
    let mut args = vec!["--housekeeping-interval", "200ms"];
    if !flags.contains(&"--eviction-pressure-transition-period") {
        args.extend(["--eviction-pressure-transition-period", "60s"]);
    }
    if hard {
        args.extend(["--eviction-hard", &threshold]);
    } else {
        args.extend(["--eviction-hard", "pid.available<10", "--eviction-soft", &threshold]);
    }
    args.extend(flags);
    Daemon::start(dir, &args)
}

fn evicted(v: &serde_json::Value) -> bool {
    v["status"]["reason"] == "Evicted" && v["status"]["finished"] == true
}

#[test]
fn a_hard_threshold_evicts_the_pod_over_its_request_and_keeps_the_guaranteed_one() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let _guard = daemon_support::ContainersGuard(dir.path().join("state"));
    let daemon = start(dir.path(), MARGIN, &[], true);
    daemon.ok(&["apply", "-f", &write(dir.path(), "steady.yaml", GUARANTEED)]);
    daemon.wait_pod("steady", 20, daemon_support::started);
    daemon.ok(&["apply", "-f", &write(dir.path(), "hog.yaml", &hog(CAP_MIB, "0.2", 30))]);

    let hog = daemon.wait_pod("hog", 90, evicted);
    let status = &hog["status"];
    assert_eq!(status["phase"], "Failed");
    let message = status["message"].as_str().unwrap();
    assert!(message.starts_with("The node was low on resource: memory. Threshold quantity: "), "{message}");
    // The available quantity is in its canonical form: the largest binary suffix
    // that divides it (the kubelet's resource.Quantity), so Ki, Mi or Gi.
    let available = message.split(", available: ").nth(1).and_then(|rest| rest.split(". Container hog was using ").next()).unwrap_or("");
    assert!(["Ki", "Mi", "Gi"].iter().any(|s| available.strip_suffix(s).is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))), "{message}");
    assert!(message.contains(". Container hog was using "), "{message}");
    assert!(message.ends_with(", request is 0, has larger consumption of memory. "), "{message}");
    // Hard: the kubelet's 1 s override; PreStop ran (its output), then the stop.
    assert_eq!(status["nodeKill"]["graceSeconds"], 1);
    let hooks = daemon.ok(&["logs", "hog", "--hooks"]);
    assert!(hooks.contains("PreStop exec") && hooks.contains("prestop of the evicted hog"), "{hooks}");
    assert_eq!(status["containers"][0]["state"]["terminated"]["exitCode"], 143, "{status:#}");
    assert_eq!(status["containers"][0]["restartCount"], 0, "an evicted pod is not restarted");
    let conditions = status["conditions"].as_array().expect("conditions");
    let has = |t: &str, s: &str, r: &str| conditions.iter().any(|c| c["type"] == t && c["status"] == s && c["reason"] == r);
    assert!(has("DisruptionTarget", "True", "TerminationByKubelet"), "{status:#}");
    assert!(has("Ready", "False", "PodFailed"), "{status:#}");
    // The neighbour under its request stays.
    let steady = daemon.pod("steady");
    assert_eq!((steady["status"]["phase"].as_str(), steady["status"]["reason"].as_str()), (Some("Running"), None));

    let events = json(&daemon, "/v1/events?namespace=default&pod=hog");
    let event = events["items"].as_array().unwrap().iter().find(|e| e["reason"] == "Evicted").expect("an Evicted event");
    assert_eq!(event["type"], "Warning");
    assert_eq!(event["annotations"]["offending_containers"], "hog");
    assert_eq!(event["annotations"]["starved_resource"], "memory");
    assert!(event["annotations"]["offending_containers_usage"].as_str().unwrap().ends_with("Ki"), "{event:#}");
    assert!(daemon.ok(&["get", "pods"]).lines().any(|l| l.starts_with("hog ") && l.contains("Evicted")));

    // The node reports the pressure (it stays for the transition period) and
    // refuses BestEffort pods meanwhile.
    let node = &json(&daemon, "/v1/nodes")["items"][0];
    let memory = node["conditions"].as_array().unwrap().iter().find(|c| c["type"] == "MemoryPressure").unwrap().clone();
    assert_eq!((memory["status"].as_str(), memory["reason"].as_str()), (Some("True"), Some("KubeletHasInsufficientMemory")));
    let name = node["name"].as_str().unwrap();
    let node_events = daemon.ok(&["describe", "node", name]);
    assert!(node_events.contains("NodeHasInsufficientMemory") && node_events.contains(&format!("Node {name} status is now: NodeHasInsufficientMemory")), "{node_events}");
    daemon.ok(&["apply", "-f", &write(dir.path(), "newcomer.yaml", BEST_EFFORT)]);
    let newcomer = daemon.wait_pod("newcomer", 10, |v| v["status"]["phase"] == "Failed");
    assert_eq!(newcomer["status"]["reason"], "Evicted");
    assert_eq!(newcomer["status"]["message"], "Pod was rejected: The node had condition: [MemoryPressure]. ");
    let (_, metrics) = daemon.raw(&request("GET", "/metrics", &[], b""));
    assert!(metrics.contains("kubelet_evictions{eviction_signal=\"memory.available\"} 1"), "{metrics}");
    assert!(metrics.contains("hooklet_node_pressure{condition=\"MemoryPressure\"} 1"), "{metrics}");
}

#[test]
fn a_soft_threshold_waits_its_grace_and_gives_the_lesser_grace() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let _guard = daemon_support::ContainersGuard(dir.path().join("state"));
    let soft = [
        "--eviction-soft-grace-period",
        "memory.available=1s",
        "--eviction-max-pod-grace-period",
        "4",
        "--eviction-pressure-transition-period",
        "1s",
    ];
    let daemon = start(dir.path(), MARGIN, &soft, false);
    // The pod asks for 20 s; the eviction gives min(4, 20) = 4 s, enough for a 2 s PreStop.
    daemon.ok(&["apply", "-f", &write(dir.path(), "hog.yaml", &hog(CAP_MIB, "2", 20))]);
    let hog = daemon.wait_pod("hog", 90, evicted);
    assert_eq!(hog["status"]["nodeKill"]["graceSeconds"], 4);
    let hooks = daemon.ok(&["logs", "hog", "--hooks"]);
    assert!(hooks.contains("prestop of the evicted hog") && hooks.contains("Succeeded"), "{hooks}");
    // The pressure is gone with the hog: the condition clears once the transition
    // period (1 s) has passed without the threshold met, with the node's event.
    let until = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let node = &json(&daemon, "/v1/nodes")["items"][0];
        let memory = node["conditions"].as_array().unwrap().iter().find(|c| c["type"] == "MemoryPressure").unwrap().clone();
        if memory["status"] == "False" {
            assert_eq!(memory["reason"], "KubeletHasSufficientMemory");
            let name = node["name"].as_str().unwrap();
            let events = json(&daemon, &format!("/v1/events?namespace=default&pod={name}"));
            let reasons: Vec<&str> = events["items"].as_array().unwrap().iter().filter_map(|e| e["reason"].as_str()).collect();
            assert_eq!(reasons, ["NodeHasInsufficientMemory", "NodeHasSufficientMemory"], "{events:#}");
            break;
        }
        assert!(std::time::Instant::now() < until, "MemoryPressure never cleared: {node:#}");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

#[test]
fn an_eviction_under_way_when_the_daemon_is_killed_completes_after_restart() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let _guard = daemon_support::ContainersGuard(dir.path().join("state"));
    let daemon = start(dir.path(), MARGIN, &[], true);
    // The hog ignores SIGTERM: its kill lasts the 1 s PreStop window plus the 2 s stop window.
    let ignore_term = "import signal\\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\\n";
    daemon.ok(&["apply", "-f", &write(dir.path(), "hog.yaml", &hog_with(CAP_MIB, "0.5", 30, ignore_term))]);
    daemon.wait_pod("hog", 90, |v| v["status"]["reason"] == "Evicted" && v["status"]["finished"] == false);
    daemon.kill();

    // Restarted without the tight threshold: the kill goes on with its deadline.
    let daemon = Daemon::start(dir.path(), &["--housekeeping-interval", "200ms"]);
    let hog = daemon.wait_pod("hog", 30, |v| v["status"]["finished"] == true);
    let status = &hog["status"];
    assert_eq!((status["phase"].as_str(), status["reason"].as_str()), (Some("Failed"), Some("Evicted")));
    assert_eq!(status["containers"][0]["state"]["terminated"]["exitCode"], 137, "KILL after the stop window: {status:#}");
    assert_eq!(status["containers"][0]["restartCount"], 0);
    let events = json(&daemon, "/v1/events?namespace=default&pod=hog");
    let evicted: Vec<_> = events["items"].as_array().unwrap().iter().filter(|e| e["reason"] == "Evicted").collect();
    assert_eq!(evicted.len(), 1, "{events:#}");
    assert_eq!(evicted[0]["count"], 1);
}
