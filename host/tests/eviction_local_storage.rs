//! A pod over its `limits.ephemeral-storage` (its container's log) is evicted at
//! once, whatever the node's thresholds, with the kubelet's message; its PreStop runs.

mod daemon_support;

use daemon_support::{request, write, Daemon};

const CHATTY: &str = r#"
apiVersion: v1
kind: Pod
metadata: {name: chatty}
spec:
  containers:
  - name: writer
    image: busybox
    command: [sh, -c, "head -c 4194304 /dev/zero | tr '\\0' x; echo; exec sleep 600"]
    resources: {limits: {ephemeral-storage: 2Mi}}
    lifecycle:
      preStop:
        exec: {command: [sh, -c, "echo prestop of the chatty one"]}
"#;

#[test]
fn a_pod_over_its_ephemeral_storage_limit_is_evicted() {
    evicted_with(&[]);
}

#[test]
fn the_rotated_log_files_count_toward_the_limit() {
    // 4 MiB of output in files of at most 1 MiB: no single file is over the 2Mi limit.
    evicted_with(&["--container-log-max-size", "1Mi"]);
}

fn evicted_with(flags: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    let _guard = daemon_support::ContainersGuard(dir.path().join("state"));
    let daemon = Daemon::start(dir.path(), &[&["--housekeeping-interval", "200ms"][..], flags].concat());
    daemon.ok(&["apply", "-f", &write(dir.path(), "chatty.yaml", CHATTY)]);
    let pod = daemon.wait_pod("chatty", 30, |v| v["status"]["reason"] == "Evicted" && v["status"]["finished"] == true);
    assert_eq!(pod["status"]["message"], "Pod ephemeral local storage usage exceeds the total limit of containers 2Mi. ");
    assert_eq!(pod["status"]["nodeKill"]["graceSeconds"], 1);
    assert!(daemon.ok(&["logs", "chatty", "--hooks"]).contains("prestop of the chatty one"));
    let (_, metrics) = daemon.raw(&request("GET", "/metrics", &[], b""));
    assert!(metrics.contains("kubelet_evictions{eviction_signal=\"ephemeralpodfs.limit\"} 1"), "{metrics}");
}
