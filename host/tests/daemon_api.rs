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

/// The daemon's log (written by `Daemon::start_logged`) without colour codes.
fn plain_log(path: &std::path::Path) -> String {
    let raw = std::fs::read_to_string(path).unwrap_or_default();
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            chars.by_ref().take_while(|c| *c != 'm').for_each(drop);
        } else {
            out.push(c);
        }
    }
    out
}

/// Reads until the server closes: the bytes, or the error that ended the read
/// (never the client's own 20 s timeout: that would mean the server held on).
fn read_until_closed(stream: &mut impl std::io::Read) -> Result<Vec<u8>, std::io::Error> {
    let mut got = Vec::new();
    match stream.read_to_end(&mut got) {
        Err(err) if matches!(err.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {
            panic!("the server kept a slow client past its read timeout ({} bytes so far)", got.len())
        }
        Err(err) => Err(err),
        Ok(_) => Ok(got),
    }
}

/// A client that sends half its headers is disconnected after `--api-read-timeout`,
/// on the socket and on TCP; one that sends half its body gets a 408 naming the flag.
#[test]
fn a_slow_client_is_cut_off_by_the_read_timeout() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(dir.path(), &["--listen", "127.0.0.1:0", "--api-read-timeout", "300ms"]);
    let timeout = Some(std::time::Duration::from_secs(20));

    let mut unix = std::os::unix::net::UnixStream::connect(&daemon.socket).unwrap();
    unix.set_read_timeout(timeout).unwrap();
    unix.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n").unwrap();
    let got = read_until_closed(&mut unix).unwrap_or_default();
    assert!(!String::from_utf8_lossy(&got).contains("200 OK"), "half a request is not served");

    let mut tls = daemon.tls_stream();
    tls.sock.set_read_timeout(timeout).unwrap();
    tls.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n").unwrap();
    let got = read_until_closed(&mut tls).unwrap_or_default();
    assert!(!String::from_utf8_lossy(&got).contains("200 OK"), "half a request is not served over TCP either");

    let mut unix = std::os::unix::net::UnixStream::connect(&daemon.socket).unwrap();
    unix.set_read_timeout(timeout).unwrap();
    unix.write_all(b"POST /v1/pods HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"manif").unwrap();
    let got = String::from_utf8_lossy(&read_until_closed(&mut unix).unwrap()).into_owned();
    assert!(got.starts_with("HTTP/1.1 408"), "{got}");
    assert!(got.contains("did not arrive within 300ms (--api-read-timeout)"), "{got}");

    let (status, _) = daemon.raw(&request("GET", "/healthz", &[], b""));
    assert_eq!(status, 200, "the daemon goes on serving");
}

/// Past `--max-connections-per-client`, a client's new connection is closed at
/// once with a warning; its open ones are still served, and a closed one frees its
/// place.
#[test]
fn a_client_holds_at_most_its_connections() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("daemon.log");
    let daemon = Daemon::start_logged(dir.path(), &["--max-connections-per-client", "3"], &log);
    let connect = || std::os::unix::net::UnixStream::connect(&daemon.socket).unwrap();
    let mut held: Vec<_> = (0..3).map(|_| connect()).collect();
    let mut fourth = connect();
    fourth.set_read_timeout(Some(std::time::Duration::from_secs(20))).unwrap();
    let _ = fourth.write_all(&request("GET", "/healthz", &[], b""));
    let got = read_until_closed(&mut fourth).unwrap_or_default();
    assert!(got.is_empty(), "the fourth connection is closed unanswered: {}", String::from_utf8_lossy(&got));
    assert!(plain_log(&log).contains("closed a new API connection from uid 0 (unix socket): it already holds 3 (--max-connections-per-client)"));

    held[0].write_all(&request("GET", "/healthz", &[], b"")).unwrap();
    let got = String::from_utf8_lossy(&read_until_closed(&mut held[0]).unwrap()).into_owned();
    assert!(got.starts_with("HTTP/1.1 200"), "a held connection is served: {got}");
    // That request closed its connection: a new one gets its place once the server
    // has seen it end.
    let until = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let mut again = connect();
        let _ = again.write_all(&request("GET", "/healthz", &[], b""));
        if String::from_utf8_lossy(&read_until_closed(&mut again).unwrap_or_default()).starts_with("HTTP/1.1 200") {
            break;
        }
        assert!(std::time::Instant::now() < until, "the closed connection's place was never freed");
    }
    held.clear();
}

/// The unix socket serves root and hooklet's own user only, even when its mode
/// has been opened to everyone: another uid is refused by its peer credentials.
#[test]
fn the_socket_refuses_other_users_even_when_its_mode_lets_them_in() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("skipped: needs root to connect as another user");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("daemon.log");
    let daemon = Daemon::start_logged(dir.path(), &[], &log);
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(&daemon.socket, std::fs::Permissions::from_mode(0o666)).unwrap();
    let client = "import socket, sys\ns = socket.socket(socket.AF_UNIX)\ns.connect(sys.argv[1])\ntry:\n    s.sendall(b'GET /healthz HTTP/1.1\\r\\nHost: x\\r\\nConnection: close\\r\\n\\r\\n')\nexcept (BrokenPipeError, ConnectionResetError):\n    pass\ns.settimeout(20)\ndata = b''\nwhile True:\n    try:\n        chunk = s.recv(4096)\n    except ConnectionResetError:\n        break\n    if not chunk:\n        break\n    data += chunk\nprint(data.decode(errors='replace').split('\\r\\n')[0])\n";
    let as_user = |user: Option<&str>| {
        let mut command = match user {
            Some(uid) => {
                let mut c = std::process::Command::new("setpriv");
                c.args([&format!("--reuid={uid}"), &format!("--regid={uid}"), "--clear-groups", "/usr/bin/python3"]);
                c
            }
            None => std::process::Command::new("/usr/bin/python3"),
        };
        let out = command.args(["-c", client]).arg(&daemon.socket).output().unwrap();
        assert!(out.status.success(), "{}", text(&out.stderr));
        text(&out.stdout).trim().to_string()
    };
    assert_eq!(as_user(None), "HTTP/1.1 200 OK", "root is served");
    assert_eq!(as_user(Some("65534")), "", "another user gets no answer");
    assert!(plain_log(&log).contains("refused an API connection from uid 65534"), "{}", plain_log(&log));
}

/// Every request that changes something gets an audit line (who, what, result) in
/// the log, on the socket and on TCP; reads get none, and the token never shows.
#[test]
fn mutating_requests_are_audited_with_who_what_and_the_result() {
    let dir = tempfile::tempdir().unwrap();
    let _guard = daemon_support::ContainersGuard(dir.path().join("state"));
    let log = dir.path().join("daemon.log");
    let daemon = Daemon::start_logged(dir.path(), &["--listen", "127.0.0.1:0"], &log);
    let token = std::fs::read_to_string(daemon.state.join("api-token")).unwrap();
    daemon.ok(&["apply", "-f", &write(dir.path(), "web.yaml", WEB)]);
    daemon.ok(&["get", "pods"]);
    daemon.ok(&["delete", "pod", "web", "--grace-period", "1"]);
    let bearer = format!("Authorization: Bearer {}", token.trim());
    let (status, _) = daemon.raw_tcp(&request("DELETE", "/api/v1/namespaces/default/pods/nothing", &[&bearer], b""));
    assert_eq!(status, 404);
    let audit: Vec<String> = plain_log(&log).lines().filter(|l| l.contains("hooklet::audit")).map(str::to_string).collect();
    let has = |what: &str| audit.iter().any(|l| l.contains(what));
    assert!(has("client=uid 0 (unix socket) method=POST path=/v1/pods status=201"), "{audit:#?}");
    assert!(has("client=uid 0 (unix socket) method=DELETE path=/v1/namespaces/default/pods/web status=202"), "{audit:#?}");
    assert!(has("client=127.0.0.1 (TCP, bearer token) method=DELETE path=/api/v1/namespaces/default/pods/nothing status=404"), "{audit:#?}");
    assert!(!audit.iter().any(|l| l.contains("method=GET")), "reads are not audited: {audit:#?}");
    assert!(!plain_log(&log).contains(token.trim()), "the token never reaches the log");
}

/// `hooklet token rotate` replaces the TCP token in place: the file and the
/// kubeconfig get the new one, the old one is refused at once, no restart. Over TCP
/// the rotation is refused (it is done on the node), and a token given with
/// `--token` is the operator's to change.
#[test]
fn the_token_is_rotated_in_place_and_the_old_one_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(dir.path(), &["--listen", "127.0.0.1:0"]);
    let read_token = || std::fs::read_to_string(daemon.state.join("api-token")).unwrap().trim().to_string();
    let pods = |token: &str| daemon.raw_tcp(&request("GET", "/api/v1/namespaces/default/pods", &[&format!("Authorization: Bearer {token}")], b"")).0;
    let old = read_token();
    assert_eq!(pods(&old), 200);
    let said = daemon.ok(&["token", "rotate"]);
    assert!(said.contains("rotated the API token") && said.contains("api-token"), "{said}");
    let new = read_token();
    assert_ne!(new, old);
    assert_eq!(std::fs::metadata(daemon.state.join("api-token")).unwrap().permissions().mode() & 0o777, 0o600);
    let kubeconfig = std::fs::read_to_string(daemon.state.join("kubeconfig")).unwrap();
    assert!(kubeconfig.contains(&new) && !kubeconfig.contains(&old), "{kubeconfig}");
    assert_eq!(pods(&old), 401, "the old token is refused at once");
    assert_eq!(pods(&new), 200);
    let (status, body) = daemon.raw_tcp(&request("POST", "/v1/token/rotate", &[&format!("Authorization: Bearer {new}")], b""));
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("hooklet token rotate"), "{body}");
    assert_eq!(read_token(), new, "nothing rotated over TCP");
    drop(daemon);

    let other = tempfile::tempdir().unwrap();
    let given = Daemon::start(other.path(), &["--listen", "127.0.0.1:0", "--token", "an-operators-own-token-0123"]);
    let out = given.cli(&["token", "rotate"]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("the token was given with --token (or HOOKLET_TOKEN): change it there and restart hooklet serve"), "{}", text(&out.stderr));
    let bearer = "Authorization: Bearer an-operators-own-token-0123";
    assert_eq!(given.raw_tcp(&request("GET", "/api/v1/namespaces/default/pods", &[bearer], b"")).0, 200);
}
