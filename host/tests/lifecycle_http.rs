//! The kubelet's HTTP lifecycle e2e cases (spec 8.1 #3–#6) on the process runtime: the
//! pod IP is 127.0.0.1, so httpGet hooks without `host` reach a real loopback server.

mod common;

use common::{node, pod, within, RecordingServer};
use hooklet::events::EventType;
use hooklet::hooks::{HandlerKind, HookOutcome};

/// A pod whose `app` container has `hook_yaml` (indented for `lifecycle:`).
fn pod_with(name: &str, hook_yaml: &str) -> String {
    format!(
        r#"
apiVersion: v1
kind: Pod
metadata: {{name: {name}}}
spec:
  containers:
  - name: app
    image: registry.k8s.io/pause
    command: [sleep, "300"]
    ports: [{{name: hook-port, containerPort: 1}}]
    lifecycle:
{hook_yaml}
"#
    )
}

/// Runs a pod with a PostStart hook, waits for `prefix` at the server, deletes it.
async fn poststart_reaches(server: &RecordingServer, scheme: &str) {
    let dir = tempfile::tempdir().unwrap();
    let node = node(dir.path());
    let hook = format!(
        "      postStart:\n        httpGet: {{path: \"/echo?msg=poststart\", port: {}, scheme: {scheme}}}",
        server.addr.port()
    );
    let handle = node.start_pod(pod(&pod_with("pod-with-poststart-http-hook", &hook)));
    let seen = within(60, "the poststart request", server.wait_for("/echo?msg=poststart")).await;
    assert_eq!(seen.method, "GET");
    assert_eq!(seen.header("user-agent"), Some("kube-lifecycle/1.34"));
    assert_eq!(seen.header("accept"), Some("*/*"));
    let status = within(60, "started", handle.wait_for(|s| s.containers[0].started)).await;
    let hook = &status.containers[0].hooks[0];
    assert_eq!((hook.kind, &hook.outcome), (HandlerKind::HttpGet, &HookOutcome::Succeeded));
    assert_eq!(hook.output, "HTTP/1.1 200 OK");
    handle.delete(Some(2));
    within(60, "termination", handle.finished()).await;
}

/// "should execute poststart http hook properly"
#[tokio::test]
async fn poststart_http_hook() {
    poststart_reaches(&RecordingServer::start().await, "HTTP").await;
}

/// "should execute poststart https hook properly" (self-signed: verification skipped)
#[tokio::test]
async fn poststart_https_hook() {
    poststart_reaches(&RecordingServer::start_https().await, "HTTPS").await;
}

/// "should execute prestop http hook properly", HTTP and HTTPS.
#[tokio::test]
async fn prestop_http_and_https_hooks() {
    for (server, scheme) in [
        (RecordingServer::start().await, "HTTP"),
        (RecordingServer::start_https().await, "HTTPS"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let node = node(dir.path());
        let hook = format!(
            "      preStop:\n        httpGet: {{path: \"/echo?msg=prestop\", port: {}, scheme: {scheme}}}",
            server.addr.port()
        );
        let handle = node.start_pod(pod(&pod_with("pod-with-prestop-http-hook", &hook)));
        within(60, "started", handle.wait_for(|s| s.containers[0].started)).await;
        assert!(server.seen().is_empty(), "no request before the delete");
        handle.delete(Some(15));
        within(60, "the prestop request", server.wait_for("/echo?msg=prestop")).await;
        let status = within(60, "termination", handle.finished()).await;
        assert_eq!(status.containers[0].hooks[0].outcome, HookOutcome::Succeeded, "{scheme}");
    }
}

/// HTTPS to a plain-HTTP server: retried over HTTP without `Authorization`, success,
/// and a `LifecycleHTTPFallback` warning on the pod (spec section 4).
#[tokio::test]
async fn https_to_a_plain_http_server_falls_back_with_an_event() {
    let server = RecordingServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let node = node(dir.path());
    let hook = format!(
        "      postStart:\n        httpGet:\n          path: /fallback\n          port: {}\n          scheme: HTTPS\n          httpHeaders:\n          - {{name: Authorization, value: Bearer secret}}\n          - {{name: X-Kept, value: yes}}",
        server.addr.port()
    );
    let handle = node.start_pod(pod(&pod_with("fallback", &hook)));
    let seen = within(60, "the fallback request", server.wait_for("/fallback")).await;
    assert_eq!(seen.header("authorization"), None);
    assert_eq!(seen.header("x-kept"), Some("yes"));
    let event = within(60, "the fallback event", node.events().wait_for(|e| e.reason == "LifecycleHTTPFallback")).await;
    assert_eq!(event.event_type, EventType::Warning);
    assert_eq!(event.object.field_path, None, "the event is on the pod");
    assert_eq!(
        event.message,
        format!("request to HTTPS lifecycle hook 127.0.0.1:{} got HTTP response, retry with HTTP succeeded", server.addr.port())
    );
    let status = within(60, "started", handle.wait_for(|s| s.containers[0].started)).await;
    assert_eq!(status.containers[0].hooks[0].outcome, HookOutcome::Succeeded);
    handle.delete(Some(2));
    within(60, "termination", handle.finished()).await;
}

/// An unreachable hook target is a transport failure: FailedPostStartHook carrying the
/// kubelet's message (D3), then the kill.
#[tokio::test]
async fn an_unreachable_http_hook_fails_poststart() {
    // A port with nothing listening: bind, note the port, close.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let dir = tempfile::tempdir().unwrap();
    let node = node(dir.path());
    let hook = format!("      postStart:\n        httpGet: {{path: /x, port: {port}}}");
    let mut manifest = pod_with("unreachable", &hook);
    manifest = manifest.replace("  containers:", "  restartPolicy: Never\n  containers:");
    let handle = node.start_pod(pod(&manifest));
    let event = within(60, "the failure", node.events().wait_for(|e| e.reason == "FailedPostStartHook")).await;
    assert_eq!(
        event.message,
        format!(
            "HTTP lifecycle hook (/x) for Container \"app\" in Pod \"{}\" failed - error: Get \"http://127.0.0.1:{port}/x\": dial tcp 127.0.0.1:{port}: connect: connection refused",
            handle.pod().display_name()
        )
    );
    let killing = node.events().wait_for(|e| e.reason == "Killing").await;
    assert_eq!(killing.message, "FailedPostStartHook");
    within(60, "the pod to end", handle.finished()).await;
}

/// A named port resolves against the same container's `ports` (spec 1.3).
#[tokio::test]
async fn a_named_port_resolves_against_the_container() {
    let server = RecordingServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let node = node(dir.path());
    let hook = "      postStart:\n        httpGet: {path: /named, port: hook-port}";
    let manifest = pod_with("named", hook).replace("containerPort: 1", &format!("containerPort: {}", server.addr.port()));
    let handle = node.start_pod(pod(&manifest));
    within(60, "the request", server.wait_for("/named")).await;
    within(60, "started", handle.wait_for(|s| s.containers[0].started)).await;
    handle.delete(Some(2));
    within(60, "termination", handle.finished()).await;
}
