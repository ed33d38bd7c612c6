//! The kubelet's lifecycle e2e cases (spec 8.1, 8.3, 8.6) under runc with the busybox
//! image, on pod network namespaces: httpGet hooks to a handler pod's IP (HTTP, and
//! HTTPS falling back to HTTP), the pod IP reachable from the node, the PreStop whose
//! server inside the pod records the hook before the TERM, and a sleep PreStop.

mod common;
mod runc_support;

use std::io::{Read, Write};
use std::net::IpAddr;
use std::sync::Arc;

use common::{messages, pod, reasons, test_config, within};
use hooklet::hooks::{HandlerKind, HookOutcome};
use hooklet::lifecycle::{Node, PodHandle};

/// A container that serves `/cgi-bin/echo?msg=…` with busybox httpd on port 8080: each
/// request appends `handled: QUERY` to the container's log, before the answer.
const HANDLER: &str = r#"
  - name: handler
    image: busybox
    imagePullPolicy: IfNotPresent
    command:
    - sh
    - -c
    - |
      mkdir -p /www/cgi-bin
      echo hello > /www/index.html
      printf '#!/bin/sh\necho "handled: $QUERY_STRING" >> /proc/1/fd/1\nprintf "Content-Type: text/plain\\r\\n\\r\\nok"\n' > /www/cgi-bin/echo
      chmod +x /www/cgi-bin/echo
      httpd -p 8080 -h /www
      trap 'echo "got TERM"; exit 0' TERM
      echo ready
      while true; do sleep 0.1; done
"#;

/// A plain HTTP GET from the node: the response.
fn get(ip: IpAddr, port: u16, path: &str) -> String {
    let mut stream = std::net::TcpStream::connect((ip, port)).expect("the pod IP is reachable from the node");
    write!(stream, "GET {path} HTTP/1.0\r\nHost: pod\r\n\r\n").unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    answer
}

/// Starts the handler pod and waits until its server answers; returns it and its IP.
async fn handler_pod(node: &Arc<Node>) -> (PodHandle, IpAddr) {
    let handle = node.start_pod(pod(&format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: pod-handle-http-request}}\nspec:\n  terminationGracePeriodSeconds: 5\n  containers:{HANDLER}"
    )));
    let status = within(60, "the handler pod", handle.wait_for(|s| s.containers[0].started)).await;
    let ip = status.pod_ip.expect("a runc pod has an IP");
    runc_support::wait_log(node, &handle, "handler", "ready").await;
    (handle, ip)
}

/// "should execute poststart http hook properly" and its HTTPS variant: the hook goes
/// to the handler pod's IP; HTTPS to a plain-HTTP server falls back to HTTP with a
/// `LifecycleHTTPFallback` event. The pod IP is on the pod network, reachable from the
/// node, and each pod has its own.
#[tokio::test]
async fn http_hooks_reach_a_pod_ip() {
    let Some((_dir, node, _guard)) = runc_support::setup(11, test_config).await else { return };
    let (handler, target) = handler_pod(&node).await;
    assert!(matches!(target, IpAddr::V4(v4) if v4.octets()[..3] == [10, 217, 11]), "{target}");
    assert!(get(target, 8080, "/index.html").contains("hello"), "the node reaches the pod at its IP");

    let hooked = node.start_pod(pod(&format!(
        r#"
apiVersion: v1
kind: Pod
metadata: {{name: pod-with-poststart-http-hook}}
spec:
  terminationGracePeriodSeconds: 5
  containers:
  - name: plain
    image: busybox
    imagePullPolicy: IfNotPresent
    command: [sleep, "300"]
    lifecycle:
      postStart:
        httpGet: {{host: "{target}", port: 8080, path: "/cgi-bin/echo?msg=poststart"}}
  - name: tls
    image: busybox
    imagePullPolicy: IfNotPresent
    command: [sleep, "300"]
    lifecycle:
      postStart:
        httpGet: {{host: "{target}", port: 8080, path: "/cgi-bin/echo?msg=poststart-https", scheme: HTTPS}}
"#
    )));
    let status = within(60, "both started", hooked.wait_for(|s| s.containers.iter().all(|c| c.started))).await;
    assert_ne!(status.pod_ip, Some(target), "each pod has its own IP");
    for c in &status.containers {
        assert_eq!((c.hooks[0].kind, &c.hooks[0].outcome), (HandlerKind::HttpGet, &HookOutcome::Succeeded), "{}", c.name);
    }
    assert_eq!(status.containers[1].hooks[0].http_fallback.as_deref(), Some(format!("{target}:8080").as_str()));
    let handled = runc_support::log(&node, &handler, "handler");
    assert!(handled.contains("handled: msg=poststart\n"), "{handled}");
    assert!(handled.contains("handled: msg=poststart-https\n"), "{handled}");
    assert!(reasons(&node, hooked.pod().uid()).contains(&"LifecycleHTTPFallback".to_string()));
    hooked.delete(Some(1));
    handler.delete(Some(1));
    within(60, "deletion", async { tokio::join!(hooked.finished(), handler.finished()) }).await;
}

/// "[sig-node] PreStop should call prestop when killing a pod": an httpGet PreStop
/// without `host` goes to the pod's own IP, where the server inside the pod records
/// it; the container's TERM comes after. A sleep PreStop on a second container delays
/// its TERM by its seconds.
#[tokio::test]
async fn prestop_reaches_the_server_in_the_pod_before_term() {
    let Some((_dir, node, _guard)) = runc_support::setup(12, test_config).await else { return };
    let handle = node.start_pod(pod(&format!(
        r#"
apiVersion: v1
kind: Pod
metadata: {{name: server}}
spec:
  terminationGracePeriodSeconds: 10
  containers:{HANDLER}    lifecycle:
      preStop:
        httpGet: {{port: 8080, path: "/cgi-bin/echo?msg=prestop"}}
  - name: sleeper
    image: busybox
    imagePullPolicy: IfNotPresent
    command: [sh, -c, 'trap "echo got TERM; exit 0" TERM; while true; do sleep 0.1; done']
    lifecycle:
      preStop:
        sleep: {{seconds: 1}}
"#
    )));
    within(60, "started", handle.wait_for(|s| s.containers.iter().all(|c| c.started))).await;
    runc_support::wait_log(&node, &handle, "handler", "ready").await;
    handle.delete(None);
    let status = within(60, "termination", handle.finished()).await;
    let handler = &status.containers[0].hooks[0];
    assert_eq!((handler.kind, &handler.outcome), (HandlerKind::HttpGet, &HookOutcome::Succeeded));
    let text = runc_support::log(&node, &handle, "handler");
    let hook_at = text.find("handled: msg=prestop").unwrap_or_else(|| panic!("the PreStop reached the pod's server: {text}"));
    let term_at = text.find("got TERM").unwrap_or_else(|| panic!("TERM arrived: {text}"));
    assert!(hook_at < term_at, "the hook ran before the TERM: {text}");
    let sleep = &status.containers[1].hooks[0];
    assert_eq!((sleep.kind, &sleep.outcome), (HandlerKind::Sleep, &HookOutcome::Succeeded));
    assert!(sleep.duration >= std::time::Duration::from_secs(1), "{:?}", sleep.duration);
    assert!(runc_support::log(&node, &handle, "sleeper").contains("got TERM"));
}

/// Spec 8.2 ("Restartable Init Container Lifecycle Hook"), httpGet variants: a sidecar
/// (an init container with `restartPolicy: Always`) sends its PostStart and PreStop to
/// the handler pod's IP, and the main container starts only after the sidecar's
/// PostStart is done.
#[tokio::test]
async fn sidecar_http_hooks_reach_the_handler_pod() {
    let Some((_dir, node, _guard)) = runc_support::setup(13, test_config).await else { return };
    let (handler, target) = handler_pod(&node).await;
    let hooked = node.start_pod(pod(&format!(
        r#"
apiVersion: v1
kind: Pod
metadata: {{name: pod-with-sidecar-http-hooks}}
spec:
  terminationGracePeriodSeconds: 5
  initContainers:
  - name: sidecar
    image: busybox
    imagePullPolicy: IfNotPresent
    restartPolicy: Always
    command: [sh, -c, 'trap "exit 0" TERM; while true; do sleep 0.1; done']
    lifecycle:
      postStart:
        httpGet: {{host: "{target}", port: 8080, path: "/cgi-bin/echo?msg=sidecar-poststart"}}
      preStop:
        httpGet: {{host: "{target}", port: 8080, path: "/cgi-bin/echo?msg=sidecar-prestop"}}
  containers:
  - name: main
    image: busybox
    imagePullPolicy: IfNotPresent
    command: [sh, -c, 'trap "exit 0" TERM; while true; do sleep 0.1; done']
"#
    )));
    within(60, "main started", hooked.wait_for(|s| s.containers[0].started)).await;
    let handled = runc_support::log(&node, &handler, "handler");
    assert!(handled.contains("handled: msg=sidecar-poststart\n"), "{handled}");
    let created = messages(&node, hooked.pod().uid(), "Created");
    assert_eq!(created, ["Created container: sidecar", "Created container: main"]);
    hooked.delete(None);
    let status = within(60, "deletion", hooked.finished()).await;
    let sidecar = &status.init_containers[0];
    assert_eq!((sidecar.hooks[1].kind, &sidecar.hooks[1].outcome), (HandlerKind::HttpGet, &HookOutcome::Succeeded));
    assert!(runc_support::log(&node, &handler, "handler").contains("handled: msg=sidecar-prestop\n"));
    handler.delete(Some(1));
    within(60, "handler deletion", handler.finished()).await;
}
