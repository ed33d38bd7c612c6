//! Init containers and sidecars under the runc runtime with the busybox image: the
//! init sequence, a sidecar's exec PostStart and PreStop inside its container, and
//! the stop order on deletion, observed through the pod's shared network namespace.

mod common;
mod runc_support;

use common::{exit_code, messages, pod, test_config, within};

use hooklet::hooks::HookOutcome;
use hooklet::lifecycle::PodPhase;

/// An init container runs to completion, a sidecar starts (its PostStart inside it),
/// then the main container. On deletion the main container serves HTTP on the pod's
/// loopback until it exits; the sidecar's TERM trap checks the port and exits 0 only
/// if the main container is gone: the sidecar got TERM after the main container exited.
#[tokio::test]
async fn init_container_and_sidecar_in_runc() {
    let Some((_dir, node, _guard)) = runc_support::setup(21, test_config).await else { return };
    let handle = node.start_pod(pod(
        r#"
apiVersion: v1
kind: Pod
metadata: {name: runc-init}
spec:
  terminationGracePeriodSeconds: 20
  initContainers:
  - name: setup
    image: busybox
    imagePullPolicy: IfNotPresent
    command: [sh, -c, "echo setup done"]
  - name: proxy
    image: busybox
    imagePullPolicy: IfNotPresent
    restartPolicy: Always
    command: [sh, -c, 'trap "if wget -q -O /dev/null http://127.0.0.1:8080/; then exit 1; else exit 0; fi" TERM; while true; do sleep 0.05; done']
    lifecycle:
      postStart:
        exec: {command: [sh, -c, "echo in-sidecar > /tmp/mark; hostname"]}
      preStop:
        exec: {command: [cat, /tmp/mark]}
  containers:
  - name: main
    image: busybox
    imagePullPolicy: IfNotPresent
    command: [sh, -c, 'echo up > /var/www/index.html; httpd -f -p 127.0.0.1:8080 -h /var/www & trap "sleep 0.5; exit 0" TERM; until wget -q -O /dev/null http://127.0.0.1:8080/; do sleep 0.05; done; touch /tmp/ready; while true; do sleep 0.05; done']
    lifecycle:
      postStart:  # started once the server answers
        exec: {command: [sh, -c, "until [ -e /tmp/ready ]; do sleep 0.05; done"]}
"#,
    ));
    let status = within(120, "main started", handle.wait_for(|s| s.containers[0].started)).await;
    assert_eq!(status.phase, PodPhase::Running);
    assert_eq!(exit_code(&status.init_containers[0].state), Some(0));
    let proxy = &status.init_containers[1];
    assert!(proxy.started && proxy.container_id.as_deref().is_some_and(|id| id.starts_with("runc://")), "{proxy:?}");
    assert_eq!(proxy.hooks[0].outcome, HookOutcome::Succeeded);
    assert_eq!(proxy.hooks[0].output.trim(), "runc-init", "the PostStart ran in the pod's UTS namespace");

    handle.delete(None);
    let status = within(120, "termination", handle.finished()).await;
    let proxy = &status.init_containers[1];
    assert_eq!(proxy.hooks[1].output.trim(), "in-sidecar", "PreStop read what PostStart wrote in the sidecar");
    assert_eq!(exit_code(&status.containers[0].state), Some(0));
    assert_eq!(exit_code(&proxy.state), Some(0), "the sidecar got TERM only after the main container exited");
    let created = messages(&node, handle.pod().uid(), "Created");
    assert_eq!(created, ["Created container: setup", "Created container: proxy", "Created container: main"]);
}
