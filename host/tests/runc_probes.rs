//! Probes under runc with the busybox image: an exec probe runs inside the container
//! (its filesystem), an httpGet probe reaches a server in the pod at the pod IP, and a
//! liveness kill runs the PreStop inside the container before the stop signal.

mod common;
mod runc_support;

use common::probes::{condition, UNIT};
use common::{messages, pod, test_config, within};
use hooklet::lifecycle::NodeConfig;

fn config(dir: &std::path::Path) -> NodeConfig {
    NodeConfig { probe_time_unit: UNIT, ..test_config(dir) }
}

/// Readiness through busybox httpd at the pod IP; liveness `cat` of a file only the
/// container sees. Removing that file (inside the container) fails liveness: the PreStop
/// logs into the container's log, then the container is restarted.
#[tokio::test]
async fn probes_inside_the_container_and_the_liveness_kill() {
    let Some((_dir, node, _guard)) = runc_support::setup(30, config).await else { return };
    let handle = node.start_pod(pod(
        r#"
apiVersion: v1
kind: Pod
metadata: {name: runc-probes}
spec:
  terminationGracePeriodSeconds: 5
  containers:
  - name: web
    image: busybox
    imagePullPolicy: IfNotPresent
    ports: [{name: http, containerPort: 8080}]
    command:
    - sh
    - -c
    - |
      mkdir -p /www && echo hello > /www/index.html && touch /tmp/alive
      httpd -p 8080 -h /www
      trap 'echo "got TERM"; exit 0' TERM
      echo ready
      while true; do sleep 0.1; done
    readinessProbe:
      httpGet: {port: http, path: /index.html}
      periodSeconds: 1
    livenessProbe:
      exec: {command: [cat, /tmp/alive]}
      periodSeconds: 1
      failureThreshold: 2
    lifecycle:
      preStop:
        exec: {command: [sh, -c, 'echo "prestop ran" >> /proc/1/fd/1']}
"#,
    ));
    let uid = handle.pod().uid().to_string();
    let ready = within(60, "ready", handle.wait_for(|s| condition(s, "Ready") == "True")).await;
    let ip = ready.pod_ip.expect("a pod IP");
    assert!(ip.to_string().starts_with("10.217.30."), "the pod's own IP: {ip}");
    let exec = node.runtime().clone();
    let id = ready.containers[0].container_id.clone().unwrap();
    let id = hooklet::runtime::ContainerId(id.strip_prefix("runc://").unwrap().to_string());
    let request = hooklet::runtime::ExecRequest { argv: vec!["rm".into(), "/tmp/alive".into()], extra_env: vec![], output_limit: 1024, stdio: hooklet::runtime::ExecStdio::Collect };
    assert_eq!(exec.exec(&id, request).await.unwrap().exit_code, 0);
    within(60, "a restart", handle.wait_for(|s| s.containers[0].restart_count >= 1)).await;
    let unhealthy = messages(&node, &uid, "Unhealthy");
    assert!(unhealthy.iter().any(|m| m == "Liveness probe failed: cat: can't open '/tmp/alive': No such file or directory"), "{unhealthy:?}");
    assert_eq!(messages(&node, &uid, "Killing")[0], "Container web failed liveness probe, will be restarted");
    let log = runc_support::log(&node, &handle, "web");
    let (prestop, term) = (log.find("prestop ran").expect("PreStop ran"), log.find("got TERM").expect("TERM"));
    assert!(prestop < term, "PreStop before the stop signal: {log}");
    // The new instance has its own /tmp/alive again and becomes ready again.
    within(60, "ready again", handle.wait_for(|s| s.containers[0].restart_count >= 1 && s.containers[0].ready)).await;
    handle.delete(Some(1));
    // Once seen hanging under heavy machine load: on a timeout, say where it stood.
    let finished = tokio::time::timeout(std::time::Duration::from_secs(60), handle.finished()).await;
    assert!(finished.is_ok(), "no termination in 60s: {:#?}\nevents: {:#?}", handle.status(), node.events().for_pod(&uid));
}
