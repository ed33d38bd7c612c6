//! Per-container usage under runc, as the eviction manager ranks pods: the working
//! set and process count read from each container's memory cgroup
//! (`usage − inactive_file`, `cgroup.procs`), on a real container holding memory.

mod common;
mod runc_support;

use hooklet::lifecycle::ContainerState;
use hooklet::runtime::ContainerId;

/// Doubles a shell string 24 times (16 MiB), then holds it (a loop keeps the shell:
/// busybox would exec a last plain command in its place).
const HOLDER: &str = r#"
apiVersion: v1
kind: Pod
metadata: {name: holder}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: big
    image: busybox
    imagePullPolicy: IfNotPresent
    command: [sh, -c, 'a=x; i=0; while [ $i -lt 24 ]; do a="$a$a"; i=$((i+1)); done; echo held; while true; do sleep 600; done']
  - name: small
    image: busybox
    imagePullPolicy: IfNotPresent
    command: [sh, -c, 'sleep 600 & sleep 600 & echo started; wait']
"#;

fn runtime_id(state: &ContainerState, id: &Option<String>) -> ContainerId {
    assert!(matches!(state, ContainerState::Running { .. }), "{state:?}");
    ContainerId(id.as_deref().unwrap().strip_prefix("runc://").unwrap().to_string())
}

#[tokio::test]
async fn the_working_set_and_processes_come_from_the_container_cgroup() {
    let Some((dir, node, _guard)) = runc_support::setup(22, common::test_config).await else { return };
    let _ = &dir;
    let handle = node.start_pod(common::pod(HOLDER));
    handle.wait_for(|s| s.containers.iter().all(|c| c.started)).await;
    runc_support::wait_log(&node, &handle, "big", "held").await;
    runc_support::wait_log(&node, &handle, "small", "started").await;
    let status = handle.status();
    let big = runtime_id(&status.containers[0].state, &status.containers[0].container_id);
    let small = runtime_id(&status.containers[1].state, &status.containers[1].container_id);
    let usage = node.runtime().usage(&[big.clone(), small.clone(), ContainerId("nonexistent".into())]).await;
    let (b, s) = (usage[&big], usage[&small]);
    assert!(b.working_set_bytes >= 16 << 20, "the shell holds a 16 MiB string: {b:?}");
    assert!(s.working_set_bytes < b.working_set_bytes / 2, "{s:?} vs {b:?}");
    assert_eq!(b.processes, 2, "sh and its sleep: {b:?}");
    assert_eq!(s.processes, 3, "sh and two sleeps: {s:?}");
    assert!(!usage.contains_key(&ContainerId("nonexistent".into())));
    handle.delete(Some(1));
    handle.finished().await;
}
