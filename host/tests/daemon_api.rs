//! `hooklet serve` end to end: the real binary, its API and the CLI client.

mod daemon_support;

use std::os::unix::fs::{MetadataExt, PermissionsExt};

use daemon_support::{hooklet, request, text, Daemon};

const WEB: &str = r#"
apiVersion: v1
kind: Pod
metadata: {name: web, labels: {app: web}}
spec:
  terminationGracePeriodSeconds: 5
  containers:
  - name: app
    image: busybox
    command: [sh, -c, "echo hello from app; exec sleep 300"]
    lifecycle:
      postStart:
        exec: {command: [sh, -c, 'echo "poststart id=$HOOKLET_DELIVERY_ID attempt=$HOOKLET_ATTEMPT"']}
      preStop:
        exec: {command: [sh, -c, "echo prestop"]}
"#;

fn write(dir: &std::path::Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

fn running(v: &serde_json::Value) -> bool {
    v["status"]["containers"][0]["started"] == true
}

#[test]
fn api_and_cli_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let _guard = daemon_support::ContainersGuard(dir.path().join("state"));
    let daemon = Daemon::start(dir.path(), &[]);
    std::fs::copy(hooklet::testing::example_plugins_dir().join("noop.wasm"), daemon.plugins.join("demo.wasm")).unwrap();
    std::fs::write(daemon.plugins.join("demo.toml"), "description = \"a demo plugin\"\nversion = \"1.2.3\"\n").unwrap();
    let file = write(dir.path(), "web.yaml", WEB);

    assert_eq!(daemon.ok(&["apply", "-f", &file]).trim(), "pod/web created");
    assert_eq!(daemon.ok(&["apply", "-f", &file]).trim(), "pod/web unchanged");
    let changed = write(dir.path(), "web2.yaml", &WEB.replace("sleep 300", "sleep 301"));
    let out = daemon.cli(&["apply", "-f", &changed]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("Error from server (Conflict)") && stderr.contains("already exists with a different spec") && stderr.contains("does not update pods in place"), "{stderr}");

    let view = daemon.wait_pod("web", 10, running);
    assert_eq!(view["status"]["phase"], "Running");
    let table = daemon.ok(&["get", "pods"]);
    let row = table.lines().find(|l| l.starts_with("web ")).unwrap_or_else(|| panic!("{table}"));
    assert!(row.contains("1/1") && row.contains("Running"), "{table}");
    assert!(daemon.ok(&["get", "pods", "-o", "wide"]).contains("127.0.0.1"));
    assert!(daemon.ok(&["get", "pods", "web", "-o", "yaml"]).contains("phase: Running"));
    let describe = daemon.ok(&["describe", "pod", "web"]);
    for expected in ["Name:         web", "app=web", "Restart Count:  0", "PostStart   exec", "Started container app"] {
        assert!(describe.contains(expected), "missing {expected:?}:\n{describe}");
    }
    assert!(daemon.ok(&["logs", "web"]).contains("hello from app"));
    let hooks = daemon.ok(&["logs", "web", "--hooks", "-c", "app"]);
    let delivery = view["status"]["containers"][0]["hooks"][0]["delivery"]["id"].as_str().unwrap().to_string();
    assert!(hooks.contains(&format!("poststart id={delivery} attempt=1")), "{hooks}");
    assert!(hooks.contains(&format!("delivery={delivery} attempt=1")), "{hooks}");
    let out = daemon.cli(&["logs", "web", "-c", "nope"]);
    assert!(text(&out.stderr).contains("container \"nope\" is not valid for pod \"web\": choose one of [app]"), "{}", text(&out.stderr));
    assert!(daemon.ok(&["events"]).contains("Started container app"));
    let plugins = daemon.ok(&["plugin", "list"]);
    assert!(plugins.contains("demo") && plugins.contains("1.2.3") && plugins.contains("a demo plugin"), "{plugins}");
    let out = daemon.cli(&["get", "pods", "-n", "other"]);
    assert!(out.status.success() && text(&out.stderr).contains("No resources found in other namespace."));

    let (status, health) = daemon.raw(&request("GET", "/healthz", &[], b""));
    assert_eq!((status, health.contains("\"ok\"")), (200, true));

    assert_eq!(daemon.ok(&["delete", "pod", "web", "--grace-period", "3", "--wait"]).trim(), "pod \"web\" deleted");
    let out = daemon.cli(&["get", "pods", "web"]);
    assert!(text(&out.stderr).contains("(NotFound)"), "{}", text(&out.stderr));
    let events = daemon.ok(&["events"]);
    assert!(events.contains("Stopping container app"), "{events}");
    let (_, metrics) = daemon.raw(&request("GET", "/metrics", &[], b""));
    for expected in [
        "hooklet_hook_deliveries_total{kind=\"exec\",plugin=\"\",outcome=\"Succeeded\"} 2",
        "hooklet_hook_duration_seconds_count{kind=\"exec\"} 2",
        "hooklet_container_restarts_total 0",
        "# TYPE hooklet_hook_duration_seconds histogram",
    ] {
        assert!(metrics.contains(expected), "missing {expected:?}:\n{metrics}");
    }
    // The pod can be applied again once gone.
    assert_eq!(daemon.ok(&["apply", "-f", &file]).trim(), "pod/web created");
    daemon.wait_pod("web", 10, running);
}

#[test]
fn tcp_needs_the_bearer_token_and_the_socket_is_private() {
    let dir = tempfile::tempdir().unwrap();
    let _guard = daemon_support::ContainersGuard(dir.path().join("state"));
    let daemon = Daemon::start(dir.path(), &["--listen", "127.0.0.1:0"]);
    let token = std::fs::read_to_string(daemon.state.join("api-token")).unwrap();
    assert!(token.len() >= 32);

    for headers in [vec![], vec!["Authorization: Bearer wrong-token-wrong-token".to_string()], vec![format!("Authorization: Basic {token}")]] {
        let headers: Vec<&str> = headers.iter().map(String::as_str).collect();
        let (status, body) = daemon.raw_tcp(&request("GET", "/v1/pods", &headers, b""));
        assert_eq!((status, body.as_str()), (401, ""), "401 and nothing else");
        let (status, body) = daemon.raw_tcp(&request("POST", "/v1/pods", &headers, b"{}"));
        assert_eq!((status, body.as_str()), (401, ""));
    }
    let auth = format!("Authorization: Bearer {token}");
    let (status, body) = daemon.raw_tcp(&request("GET", "/v1/pods", &[&auth], b""));
    assert_eq!(status, 200, "{body}");

    let server = format!("https://{}", daemon.tcp.as_ref().unwrap());
    let ca = daemon.state.join("tls/ca.crt");
    let ca = ca.to_str().unwrap();
    let out = std::process::Command::new(hooklet()).args(["get", "pods", "--server", &server, "--certificate-authority", ca]).env_remove("HOOKLET_TOKEN").output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("Unauthorized"), "{}", text(&out.stderr));
    let out = std::process::Command::new(hooklet()).args(["get", "pods", "--server", &server, "--certificate-authority", ca]).env("HOOKLET_TOKEN", &token).output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    // Plain HTTP is refused with the fix named; the generated keys are private.
    let out = std::process::Command::new(hooklet()).args(["get", "pods", "--server", &server.replace("https", "http")]).output().unwrap();
    assert!(text(&out.stderr).contains("speaks HTTPS; use https://"), "{}", text(&out.stderr));
    for key in ["tls/ca.key", "tls/serving.key", "kubeconfig"] {
        assert_eq!(std::fs::metadata(daemon.state.join(key)).unwrap().permissions().mode() & 0o777, 0o600, "{key}");
    }

    // The unix socket: mode 0600, owned by the running user; the state dir 0700.
    let meta = std::fs::metadata(&daemon.socket).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    assert_eq!(meta.uid(), nix::unistd::Uid::effective().as_raw());
    assert_eq!(std::fs::metadata(&daemon.state).unwrap().permissions().mode() & 0o777, 0o700);
    assert_eq!(std::fs::metadata(daemon.state.join("api-token")).unwrap().permissions().mode() & 0o777, 0o600);
}

#[test]
fn malformed_and_oversize_requests_get_4xx_naming_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let _guard = daemon_support::ContainersGuard(dir.path().join("state"));
    let daemon = Daemon::start(dir.path(), &[]);
    let invalid = serde_json::json!({
        "manifest": WEB.replace("- name: app", "- name: Bad_Name"),
        "filename": "web.yaml"
    });
    let huge = vec![b'x'; 2 * 1024 * 1024];
    let cases: Vec<(Vec<u8>, u16, &str)> = vec![
        (request("POST", "/v1/pods", &[], b"{not json"), 400, "body"),
        (request("POST", "/v1/pods", &[], b"[1]"), 400, "body"),
        (request("POST", "/v1/pods", &[], b"{\"filename\": \"x\"}"), 400, "manifest"),
        (request("POST", "/v1/pods", &[], b"{\"manifest\": 3}"), 400, "manifest"),
        (request("POST", "/v1/pods", &[], b"{\"manifest\": \"\", \"extra\": 1}"), 400, "extra"),
        (request("POST", "/v1/pods", &[], invalid.to_string().as_bytes()), 422, "spec.containers[0].name"),
        (request("POST", "/v1/pods", &[], b"{\"manifest\": \"kind: [\"}"), 422, "manifest"),
        (request("POST", "/v1/pods", &[], &huge), 413, "body"),
        (request("DELETE", "/v1/namespaces/default/pods/web?gracePeriodSeconds=soon", &[], b""), 400, "gracePeriodSeconds"),
        (request("GET", "/v1/pods?colour=blue", &[], b""), 400, "colour"),
        (request("GET", "/v1/events?watch=maybe", &[], b""), 400, "watch"),
        (request("GET", "/v1/namespaces/default/pods/ghost", &[], b""), 404, "name"),
        (request("GET", "/v2/things", &[], b""), 404, "path"),
        (request("PUT", "/v1/pods", &[], b""), 405, "method"),
    ];
    for (req, status, field) in cases {
        let (got, body) = daemon.raw(&req);
        let summary = String::from_utf8_lossy(&req[..req.len().min(80)]).into_owned();
        assert_eq!(got, status, "{summary}: {body}");
        let error: serde_json::Value = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{summary}: {e}: {body}"));
        assert_eq!(error["field"], field, "{summary}: {body}");
        assert!(!error["error"].as_str().unwrap().is_empty());
    }
    // A declared length over the limit is refused before the body is read.
    let (status, _) = daemon.raw(b"POST /v1/pods HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 99999999\r\n\r\n");
    assert_eq!(status, 413);
    // Still serving.
    assert_eq!(daemon.raw(&request("GET", "/healthz", &[], b"")).0, 200);
}

#[test]
fn the_client_says_when_no_daemon_runs_and_how_to_start_one() {
    let dir = tempfile::tempdir().unwrap();
    let _guard = daemon_support::ContainersGuard(dir.path().join("state"));
    let socket = format!("unix://{}", dir.path().join("none.sock").display());
    let out = std::process::Command::new(hooklet()).args(["get", "pods", "--server", &socket]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("cannot reach the hooklet daemon at") && stderr.contains("Start it with `hooklet serve`"), "{stderr}");
}

#[test]
fn a_corrupt_state_file_stops_the_daemon_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let _guard = daemon_support::ContainersGuard(dir.path().join("state"));
    let state = dir.path().join("state");
    std::fs::create_dir_all(&state).unwrap();
    std::fs::write(state.join("hooklet.db"), b"garbage that is not sqlite".repeat(300)).unwrap();
    let out = std::process::Command::new(hooklet())
        .args(["serve", "--state-dir"])
        .arg(&state)
        .arg("--socket")
        .arg(dir.path().join("h.sock"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("hooklet.db is corrupt") && stderr.contains("did not modify it"), "{stderr}");
}
