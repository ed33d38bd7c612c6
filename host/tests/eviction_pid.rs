//! PID pressure with real processes: `pid.available` (the kernel's task limit minus
//! the tasks running) set relative to now, and a pod that forks hundreds of
//! processes. It is evicted (ranked by priority, then processes), the node reports
//! PIDPressure, and a neighbour with few processes stays.

mod daemon_support;

use daemon_support::{request, write, Daemon, GUARANTEED};

/// The kubelet's `pid.available`: min(pid_max, threads-max) − tasks running.
fn pid_available() -> u64 {
    let read = |p: &str| std::fs::read_to_string(p).unwrap().trim().parse::<u64>().unwrap();
    let max = read("/proc/sys/kernel/pid_max").min(read("/proc/sys/kernel/threads-max"));
    let loadavg = std::fs::read_to_string("/proc/loadavg").unwrap();
    let running: u64 = loadavg.split_whitespace().nth(3).unwrap().split('/').nth(1).unwrap().parse().unwrap();
    max - running
}

const FORKER: &str = r#"
apiVersion: v1
kind: Pod
metadata: {name: forker}
spec:
  containers:
  - name: forker
    image: busybox
    command: [sh, -c, 'i=0; while [ $i -lt 800 ]; do sleep 600 & i=$((i+1)); done; echo forked; wait']
    lifecycle:
      preStop:
        exec: {command: [sh, -c, "echo prestop of the forker"]}
"#;

#[test]
fn a_pod_forking_past_the_pid_threshold_is_evicted() {
    let dir = tempfile::tempdir().unwrap();
    let _guard = daemon_support::ContainersGuard(dir.path().join("state"));
    // Far more than the machine's own tasks come and go by in a few seconds.
    let threshold = format!("pid.available<{}", pid_available() - 400);
    let daemon = Daemon::start(dir.path(), &["--housekeeping-interval", "200ms", "--eviction-hard", &threshold]);
    daemon.ok(&["apply", "-f", &write(dir.path(), "steady.yaml", GUARANTEED)]);
    daemon.wait_pod("steady", 20, daemon_support::started);
    daemon.ok(&["apply", "-f", &write(dir.path(), "forker.yaml", FORKER)]);
    let forker = daemon.wait_pod("forker", 60, |v| v["status"]["reason"] == "Evicted" && v["status"]["finished"] == true);
    let message = forker["status"]["message"].as_str().unwrap();
    assert!(message.starts_with("The node was low on resource: pids. Threshold quantity: "), "{message}");
    assert!(message.ends_with(". ") && !message.contains("Container"), "no per-container part for pids: {message}");
    assert!(daemon.ok(&["logs", "forker", "--hooks"]).contains("prestop of the forker"));
    let steady = daemon.pod("steady");
    assert_eq!((steady["status"]["phase"].as_str(), steady["status"]["reason"].as_str()), (Some("Running"), None));
    let (_, body) = daemon.raw(&request("GET", "/v1/nodes", &[], b""));
    let node: serde_json::Value = serde_json::from_str(&body).unwrap();
    let pid = node["items"][0]["conditions"].as_array().unwrap().iter().find(|c| c["type"] == "PIDPressure").unwrap().clone();
    assert_eq!((pid["status"].as_str(), pid["reason"].as_str()), (Some("True"), Some("KubeletHasInsufficientPID")));
    let (_, metrics) = daemon.raw(&request("GET", "/metrics", &[], b""));
    assert!(metrics.contains("kubelet_evictions{eviction_signal=\"pid.available\"} 1"), "{metrics}");
}
