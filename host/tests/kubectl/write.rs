//! The real kubectl changing pods: `apply` (client-side and server-side, validated
//! on the server through the OpenAPI documents), `create`, `delete --grace-period`
//! (the PreStop runs, the command returns once the pod is gone), `wait`, `get -w`;
//! and the bad requests a client can send: a Status each, never a stuck watch.

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use super::daemon_support::{self, request, text, write, Daemon};
use super::{kubectl_binary, row, serving};

/// A pod whose PreStop leaves a file behind (in the test's directory).
fn with_prestop(marker: &std::path::Path) -> String {
    format!(
        r#"
apiVersion: v1
kind: Pod
metadata: {{name: stopper}}
spec:
  terminationGracePeriodSeconds: 30
  containers:
  - name: app
    image: busybox
    command: [sh, -c, "trap 'exit 0' TERM; while true; do sleep 0.1; done"]
    lifecycle:
      preStop:
        exec: {{command: [sh, -c, "echo bye > {}"]}}
"#,
        marker.display()
    )
}

const INVALID: &str = "apiVersion: v1\nkind: Pod\nmetadata: {name: bad}\nspec:\n  containers:\n  - {name: app}\n";

#[test]
fn kubectl_applies_creates_waits_and_deletes() {
    let Some(binary) = kubectl_binary() else { return };
    let (dir, _guard, _daemon, kubectl) = serving(binary, &[]);
    let demo = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/lifecycle-demo.yaml");

    // The docs' lifecycle demo: created (validated on the server), then unchanged.
    let out = kubectl.run(&["apply", "-f", demo]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout).trim(), "pod/lifecycle-demo created");
    let waited = kubectl.ok(&["wait", "--for=condition=Ready", "pod/lifecycle-demo", "--timeout=30s"]);
    assert_eq!(waited.trim(), "pod/lifecycle-demo condition met");
    assert_eq!(kubectl.ok(&["apply", "-f", demo]).trim(), "pod/lifecycle-demo unchanged");
    // A changed file: refused, with the reason.
    let changed = std::fs::read_to_string(demo).unwrap().replace("sleep 1; done", "sleep 2; done");
    let err = kubectl.fails(&["apply", "-f", &write(dir.path(), "changed.yaml", &changed)]);
    assert!(err.contains("hooklet does not update pods in place"), "{err}");
    let err = kubectl.fails(&["create", "-f", demo]);
    assert!(err.contains(r#"Error from server (AlreadyExists)"#) && err.contains(r#"pods "lifecycle-demo" already exists"#), "{err}");

    // Server-side apply: created, then applied again unchanged.
    let web = write(dir.path(), "web.yaml", super::WEB);
    assert_eq!(kubectl.ok(&["apply", "--server-side", "-f", &web]).trim(), "pod/web serverside-applied");
    assert_eq!(kubectl.ok(&["apply", "--server-side", "-f", &web]).trim(), "pod/web serverside-applied");
    assert_eq!(row(&kubectl.ok(&["get", "pods"]), "web")[0], "web");

    // An invalid manifest: the apiserver's message with the field path.
    let err = kubectl.fails(&["apply", "-f", &write(dir.path(), "bad.yaml", INVALID)]);
    assert!(err.contains(r#"The Pod "bad" is invalid"#) && err.contains("spec.containers[0].image: Required value"), "{err}");
    // A field hooklet does not act on: a warning, and the pod is created.
    let ignored = super::WEB.replace("name: web,", "name: warned,").replace("  containers:", "  hostname: h1\n  containers:");
    let out = kubectl.run(&["create", "-f", &write(dir.path(), "warned.yaml", &ignored)]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("Warning: spec.hostname: hooklet does not act on this field"), "{}", text(&out.stderr));

    // delete --grace-period: the PreStop runs, and kubectl returns once the pod is gone.
    let marker = dir.path().join("prestop-ran");
    kubectl.ok(&["apply", "-f", &write(dir.path(), "stopper.yaml", &with_prestop(&marker))]);
    kubectl.ok(&["wait", "--for=condition=Ready", "pod/stopper", "--timeout=30s"]);
    assert_eq!(kubectl.ok(&["delete", "pod", "stopper", "--grace-period=5"]).trim(), r#"pod "stopper" deleted from default namespace"#);
    assert_eq!(std::fs::read_to_string(&marker).unwrap().trim(), "bye", "the PreStop ran before the pod was gone");
    let err = kubectl.fails(&["get", "pod", "stopper"]);
    assert!(err.contains(r#"pods "stopper" not found"#), "{err}");
    assert!(kubectl.ok(&["delete", "-f", demo]).contains(r#"pod "lifecycle-demo" deleted"#));
    let err = kubectl.fails(&["delete", "pod", "nosuch"]);
    assert!(err.contains(r#"pods "nosuch" not found"#), "{err}");
}

#[test]
fn kubectl_get_watch_sees_a_pod_start_and_a_closed_watch_ends() {
    let Some(binary) = kubectl_binary() else { return };
    let (dir, _guard, daemon, kubectl) = serving(binary, &[]);
    let (mut watching, rx) = kubectl.spawn_lines(&["get", "pods", "-w"]);
    // The watch is open before the pod is applied.
    wait_for_watches(&daemon, 1);
    daemon.ok(&["apply", "-f", &write(dir.path(), "web.yaml", super::WEB)]);
    let until = Instant::now() + Duration::from_secs(30);
    let mut seen = Vec::new();
    while !seen.iter().any(|l: &String| l.starts_with("web ") && l.contains("Running")) {
        let left = until.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => seen.push(line),
            Err(_) => panic!("kubectl get -w never showed web Running: {seen:#?}"),
        }
    }
    assert!(seen[0].starts_with("NAME") && seen[0].contains("STATUS"), "{seen:#?}");
    assert!(seen.iter().any(|l| l.starts_with("web ") && !l.contains("Running")), "the pending row first: {seen:#?}");
    // kubectl goes away: the server's watch ends with it.
    watching.kill().unwrap();
    watching.wait().unwrap();
    wait_for_watches(&daemon, 0);
}

/// Waits until `/metrics` shows `n` open watches.
fn wait_for_watches(daemon: &Daemon, n: usize) {
    let until = Instant::now() + Duration::from_secs(20);
    loop {
        let (status, body) = daemon.raw(&request("GET", "/metrics", &[], b""));
        assert_eq!(status, 200);
        let open = body.lines().find_map(|l| l.strip_prefix("hooklet_api_watches ")).map(|v| v.trim().to_string());
        if open.as_deref() == Some(n.to_string().as_str()) {
            return;
        }
        assert!(Instant::now() < until, "open watches stayed at {open:?}, not {n}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn bad_requests_get_a_status_and_an_abandoned_watch_ends() {
    let dir = tempfile::tempdir().unwrap();
    let _guard = daemon_support::ContainersGuard(dir.path().join("state"));
    let daemon = Daemon::start(dir.path(), &["--listen", "127.0.0.1:0"]);
    let token = std::fs::read_to_string(daemon.state.join("api-token")).unwrap();
    let auth = format!("Authorization: Bearer {}", token.trim());
    let pods = "/api/v1/namespaces/default/pods";
    let send = |method: &str, path: &str, headers: &[&str], body: &[u8]| {
        let mut all = vec![auth.as_str()];
        all.extend_from_slice(headers);
        let (status, body) = daemon.raw_tcp(&request(method, path, &all, body));
        let v: serde_json::Value = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{status}: not JSON ({e}): {body}"));
        (status, v)
    };
    let status_of = |(code, v): (u16, serde_json::Value)| {
        assert_eq!(v["kind"], "Status", "{v:#}");
        (code, v["reason"].as_str().unwrap_or_default().to_string(), v["message"].as_str().unwrap_or_default().to_string())
    };
    let (code, reason, message) = status_of(send("POST", pods, &[], b"{\"kind\": \"Pod\", "));
    assert_eq!((code, reason.as_str()), (400, "BadRequest"), "{message}");
    assert!(message.contains("not valid JSON"), "{message}");
    let (code, reason, message) = status_of(send("POST", pods, &["Content-Type: application/yaml"], b"kind: Pod\nmetadata: [unclosed\n"));
    assert_eq!((code, reason.as_str()), (400, "BadRequest"), "{message}");
    let (code, _, message) = status_of(send("POST", pods, &[], br#"{"kind": "Secret", "apiVersion": "v1", "metadata": {"name": "s"}}"#));
    assert!(code == 400 && message.contains("not a Pod"), "{message}");
    let (code, _, message) = status_of(send("POST", pods, &[], br#"{"kind": "Pod", "apiVersion": "v1", "metadata": {"name": "p", "namespace": "other"}}"#));
    assert!(code == 400 && message.contains("does not match the namespace"), "{message}");
    // An oversized body: refused on its declared length, before it is sent (a body
    // sent anyway would race the server's close).
    let mut stream = daemon.tls_stream();
    let head = format!("POST {pods} HTTP/1.1\r\nHost: x\r\n{auth}\r\nConnection: close\r\nContent-Length: {}\r\n\r\n", 2 * 1024 * 1024);
    stream.write_all(head.as_bytes()).unwrap();
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    assert!(answer.starts_with("HTTP/1.1 413") && answer.contains(r#""reason": "RequestEntityTooLarge""#), "{answer}");
    let (code, reason, _) = status_of(send("PATCH", &format!("{pods}/p"), &["Content-Type: application/json-patch+json"], b"[]"));
    assert_eq!((code, reason.as_str()), (415, "UnsupportedMediaType"));
    let (code, reason, _) = status_of(send("DELETE", &format!("{pods}/p"), &[], b"{\"gracePeriodSeconds\": \"soon\"}"));
    assert_eq!((code, reason.as_str()), (400, "BadRequest"));
    let (code, reason, message) = status_of(send("GET", &format!("{pods}/nosuch/log?tailLines=x"), &[], b""));
    assert!(code == 400 && reason == "BadRequest" && message.contains("tailLines"), "{message}");
    let (code, _, message) = status_of(send("GET", &format!("{pods}/nosuch/log"), &[], b""));
    assert!(code == 404 && message == r#"pods "nosuch" not found"#, "{message}");
    let (code, reason, _) = status_of(send("GET", &format!("{pods}?watch=true&resourceVersion=12"), &[], b""));
    assert_eq!((code, reason.as_str()), (410, "Expired"), "a revision older than the history");

    // A watch the client abandons: the server's side ends with the connection.
    let mut stream = daemon.tls_stream();
    let watch = format!("GET {pods}?watch=true HTTP/1.1\r\nHost: x\r\n{auth}\r\n\r\n");
    stream.write_all(watch.as_bytes()).unwrap();
    let mut first = [0u8; 12];
    stream.read_exact(&mut first).unwrap();
    assert_eq!(&first, b"HTTP/1.1 200");
    wait_for_watches(&daemon, 1);
    drop(stream);
    wait_for_watches(&daemon, 0);
}
