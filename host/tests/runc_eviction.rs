//! Memory eviction under `hooklet serve --runtime runc`: the pods' usage comes from
//! their containers' memory cgroups. A busybox container that fills memory (16 MiB
//! shell variables, one after another) past a threshold set relative to what this
//! machine has available now is evicted, its PreStop run inside the container; a
//! Guaranteed neighbour stays.

mod daemon_support;
mod runc_support;

use daemon_support::{memory_available, write, Daemon, GUARANTEED, MEMORY_MARGIN as MARGIN};

const HOG: &str = r#"
apiVersion: v1
kind: Pod
metadata: {name: hog}
spec:
  containers:
  - name: hog
    image: busybox
    imagePullPolicy: IfNotPresent
    command: [sh, -c, 'b=x; i=0; while [ $i -lt 24 ]; do b="$b$b"; i=$((i+1)); done; i=0; while [ $i -lt 400 ]; do eval "v$i=\$b"; i=$((i+1)); done; echo held; while true; do sleep 600; done']
    lifecycle:
      preStop:
        exec: {command: [sh, -c, "echo prestop inside the container"]}
"#;

#[test]
fn runc_pods_are_ranked_by_their_cgroup_usage_and_the_hog_is_evicted() {
    if !runc_support::can_run() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let state = runc_support::state_with_busybox(dir.path());
    let _guard = runc_support::RuncGuard::new(&state.join("runc"), 23);
    let threshold = format!("memory.available<{}Ki", (memory_available() - MARGIN) / 1024);
    let daemon = Daemon::start(
        dir.path(),
        &["--runtime", "runc", "--pod-bridge", "hkt-rc23", "--pod-subnet", "10.217.23.0/24", "--housekeeping-interval", "200ms", "--eviction-hard", &threshold],
    );
    daemon.ok(&["apply", "-f", &write(dir.path(), "steady.yaml", GUARANTEED)]);
    daemon.wait_pod("steady", 60, daemon_support::started);
    daemon.ok(&["apply", "-f", &write(dir.path(), "hog.yaml", HOG)]);
    let hog = daemon.wait_pod("hog", 120, |v| v["status"]["reason"] == "Evicted" && v["status"]["finished"] == true);
    let message = hog["status"]["message"].as_str().unwrap();
    assert!(message.starts_with("The node was low on resource: memory. Threshold quantity: "), "{message}");
    assert!(message.contains("Container hog was using ") && message.ends_with(", request is 0, has larger consumption of memory. "), "{message}");
    assert_eq!(hog["status"]["nodeKill"]["graceSeconds"], 1);
    assert!(daemon.ok(&["logs", "hog", "--hooks"]).contains("prestop inside the container"));
    let steady = daemon.pod("steady");
    assert_eq!((steady["status"]["phase"].as_str(), steady["status"]["reason"].as_str()), (Some("Running"), None));
    daemon.ok(&["delete", "pod", "steady", "--grace-period", "1", "--wait"]);
}
