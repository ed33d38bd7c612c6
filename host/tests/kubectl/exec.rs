//! `kubectl exec` over the WebSocket (`v5.channel.k8s.io`): stdout and stderr apart,
//! the exit code, stdin, `-c`, the errors a user sees, a client killed mid-exec (its
//! command killed and reaped), the 401 without a token and the 400 without an upgrade;
//! a client offering only `v4.channel.k8s.io`; `-t` refused; kubectl 1.27 (SPDY only)
//! told why; the streams kept out of the daemon's log, the events and the container's
//! log; and the same exec into a runc container (`serve --runtime runc`, as root).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::daemon_support::{request, started, text, write, ContainersGuard, Daemon};
use super::{kubectl_binary, runc_support, with_web, Kubectl, WEB};

const TWO: &str = r#"
apiVersion: v1
kind: Pod
metadata: {name: two}
spec:
  restartPolicy: Never
  terminationGracePeriodSeconds: 1
  containers:
  - {name: app, image: busybox, command: [sh, -c, "exec sleep 300"]}
  - {name: done, image: busybox, command: [sh, -c, "exit 0"]}
"#;

#[test]
fn kubectl_exec_runs_commands_with_their_output_and_exit_code() {
    let Some(binary) = kubectl_binary() else { return };
    let (dir, _guard, daemon, kubectl) = with_web(binary);

    let out = kubectl.run(&["exec", "web", "--", "sh", "-c", "echo hi; echo err >&2; exit 3"]);
    assert_eq!(text(&out.stdout), "hi\n");
    assert!(text(&out.stderr).starts_with("err\n"), "{}", text(&out.stderr));
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));

    assert_eq!(kubectl.ok(&["exec", "web", "-c", "app", "--", "sh", "-c", "echo ok"]), "ok\n");

    // stdin (-i): the client's end of input ends the command's.
    let out = kubectl.run_with_stdin(&["exec", "-i", "web", "--", "sh", "-c", "tr a-z A-Z"], b"piped input\n");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "PIPED INPUT\n");

    // The errors a user sees.
    let err = kubectl.fails(&["exec", "nosuch", "--", "true"]);
    assert!(err.contains(r#"pods "nosuch" not found"#), "{err}");
    // kubectl checks the container name against the pod it read first.
    let err = kubectl.fails(&["exec", "web", "-c", "nosuch", "--", "true"]);
    assert!(err.contains("container nosuch is not valid for pod web"), "{err}");
    daemon.ok(&["apply", "-f", &write(dir.path(), "two.yaml", TWO)]);
    daemon.wait_pod("two", 20, |v| v["status"]["containers"].as_array().is_some_and(|c| c.iter().any(|c| c["state"]["terminated"].is_object())));
    let err = kubectl.fails(&["exec", "two", "-c", "done", "--", "true"]);
    assert!(err.contains("cannot exec in a stopped state") && err.contains(r#"container "done" of pod "two""#), "{err}");

    // Without the token: 401; without an upgrade (an SPDY client): 400 saying why.
    let path = "/api/v1/namespaces/default/pods/web/exec?command=true&stdout=true";
    let (status, body) = daemon.raw_tcp(&request("GET", path, &[], b""));
    assert_eq!(status, 401, "{body}");
    let token = std::fs::read_to_string(daemon.state.join("api-token")).unwrap();
    let auth = format!("Authorization: Bearer {}", token.trim());
    let (status, body) = daemon.raw_tcp(&request("POST", path, &[&auth, "Upgrade: SPDY/3.1", "Connection: Upgrade"], b""));
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("Upgrade request required") && body.contains("WebSocket"), "{body}");
    let (status, body) = daemon.raw_tcp(&request("GET", "/api/v1/namespaces/default/pods/web/exec?stdout=true", &[&auth], b""));
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("you must specify at least 1 command"), "{body}");
}

/// The pid of a process whose command line is exactly `argv`, if one runs.
fn pid_of(argv: &[&str]) -> Option<u32> {
    let wanted: Vec<u8> = argv.iter().flat_map(|a| a.bytes().chain([0])).collect();
    std::fs::read_dir("/proc").ok()?.filter_map(Result::ok).find_map(|e| {
        let pid: u32 = e.file_name().to_str()?.parse().ok()?;
        (std::fs::read(e.path().join("cmdline")).ok()? == wanted).then_some(pid)
    })
}

#[test]
fn a_client_killed_mid_exec_takes_its_command_with_it() {
    let Some(binary) = kubectl_binary() else { return };
    let (_dir, _guard, _daemon, kubectl) = with_web(binary);
    let (mut child, lines) = kubectl.spawn_lines(&["exec", "web", "--", "sh", "-c", "echo running; exec sleep 6061"]);
    assert_eq!(lines.recv_timeout(Duration::from_secs(20)).unwrap(), "running");
    let until = Instant::now() + Duration::from_secs(20);
    let pid = loop {
        if let Some(pid) = pid_of(&["sleep", "6061"]) {
            break pid;
        }
        assert!(Instant::now() < until, "the exec'd sleep never showed");
        std::thread::sleep(Duration::from_millis(20));
    };
    child.kill().unwrap();
    child.wait().unwrap();
    // The WebSocket breaking kills the command, and it is reaped (gone from /proc).
    let until = Instant::now() + Duration::from_secs(20);
    while std::path::Path::new(&format!("/proc/{pid}")).exists() {
        assert!(Instant::now() < until, "the exec'd process {pid} outlived its client");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A remote-command client that offers only `v4.channel.k8s.io` (websocket-client, from
/// the Python client's venv): for each request (a path and query, and stdin to send)
/// one JSON line with the protocol chosen, stdout, stderr and the channel-3 Status.
/// v4 has no way to end stdin, so a command reading it must stop by itself.
const V4_CLIENT: &str = r#"
import json, ssl, sys, websocket
base, token, ca = sys.argv[1:4]
for path, stdin in json.loads(sys.argv[4]):
    ws = websocket.create_connection(base + path, header=["Authorization: Bearer " + token],
        subprotocols=["v4.channel.k8s.io"], sslopt={"ca_certs": ca, "cert_reqs": ssl.CERT_REQUIRED})
    if stdin:
        ws.send_binary(b"\x00" + stdin.encode())
    got = {"protocol": ws.getsubprotocol(), "1": "", "2": "", "3": None}
    while True:
        try:
            opcode, data = ws.recv_data()
        except websocket.WebSocketConnectionClosedException:
            break
        if opcode == websocket.ABNF.OPCODE_CLOSE:
            break
        if data[0] == 3:
            got["3"] = json.loads(data[1:])
        else:
            got[str(data[0])] += data[1:].decode()
    print(json.dumps(got), flush=True)
"#;

#[test]
fn a_v4_client_gets_the_exit_status_as_a_status_on_channel_3() {
    let (Some(binary), Some(python)) = (kubectl_binary(), super::python::python()) else { return };
    let (_dir, _guard, daemon, _kubectl) = with_web(binary);
    let exec = "/api/v1/namespaces/default/pods/web/exec?";
    let requests = serde_json::json!([
        [format!("{exec}command=sh&command=-c&command=echo%20out%3B%20echo%20err%20%3E%262%3B%20exit%203&stdout=true&stderr=true"), ""],
        [format!("{exec}command=head&command=-n1&stdin=true&stdout=true"), "one line\nnot read\n"],
    ]);
    let token = std::fs::read_to_string(daemon.state.join("api-token")).unwrap();
    let out = Command::new(python)
        .arg("-c")
        .arg(V4_CLIENT)
        .arg(format!("wss://{}", daemon.tcp.as_deref().unwrap()))
        .arg(token.trim())
        .arg(daemon.state.join("tls/ca.crt"))
        .arg(requests.to_string())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let results: Vec<serde_json::Value> = text(&out.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let [failed, ok] = &results[..] else { panic!("two results: {results:?}") };
    assert_eq!(failed["protocol"], "v4.channel.k8s.io");
    assert_eq!((failed["1"].as_str(), failed["2"].as_str()), (Some("out\n"), Some("err\n")));
    let status = &failed["3"];
    assert_eq!((status["status"].as_str(), status["reason"].as_str()), (Some("Failure"), Some("NonZeroExitCode")), "{status}");
    assert_eq!(status["details"]["causes"], serde_json::json!([{"reason": "ExitCode", "message": "3"}]));
    assert_eq!(ok["protocol"], "v4.channel.k8s.io");
    assert_eq!(ok["1"], "one line\n");
    assert_eq!(ok["3"], serde_json::json!({"metadata": {}, "status": "Success"}));
}

#[test]
fn a_tty_is_refused_and_an_spdy_only_kubectl_is_told_why() {
    let Some(binary) = kubectl_binary() else { return };
    let (_dir, _guard, daemon, kubectl) = with_web(binary);
    // The Status, before any upgrade (kubectl 1.37 then retries over SPDY, refused alike).
    let token = std::fs::read_to_string(daemon.state.join("api-token")).unwrap();
    let auth = format!("Authorization: Bearer {}", token.trim());
    let path = "/api/v1/namespaces/default/pods/web/exec?command=sh&stdin=true&stdout=true&tty=true";
    let upgrade = ["Connection: Upgrade", "Upgrade: websocket", "Sec-WebSocket-Version: 13", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Protocol: v5.channel.k8s.io"];
    let (status, body) = daemon.raw_tcp(&request("GET", path, &[&[auth.as_str()][..], &upgrade[..]].concat(), b""));
    assert_eq!(status, 400, "{body}");
    let body: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!((body["kind"].as_str(), body["reason"].as_str()), (Some("Status"), Some("BadRequest")), "{body}");
    assert!(body["message"].as_str().unwrap().contains("tty is not supported by hooklet's exec"), "{body}");

    // The real kubectl on a terminal (util-linux `script` gives it one) sends tty=true.
    let line = format!(
        "{} --kubeconfig {} --cache-dir {} exec -ti web -- sh",
        kubectl.binary.display(),
        kubectl.kubeconfig.display(),
        kubectl.cache.display()
    );
    let out = Command::new("script").args(["-qec", &line, "/dev/null"]).stdin(Stdio::null()).output().unwrap();
    assert!(!out.status.success(), "{}", text(&out.stdout));
    assert!(text(&out.stdout).contains("tty is not supported by hooklet's exec") && text(&out.stdout).contains("without -t"), "{}", text(&out.stdout));
    // Without a terminal kubectl drops -t itself (and with -i says so): the command runs.
    let out = kubectl.run(&["exec", "-ti", "web", "--", "echo", "no tty"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "no tty\n");
    assert!(text(&out.stderr).contains("Unable to use a TTY"), "{}", text(&out.stderr));

    // kubectl 1.27 speaks SPDY only: the 400 names the way out.
    let Some(old) = super::old_kubectl_binary() else { return };
    let old = super::Kubectl { binary: old, ..kubectl };
    let err = old.fails(&["exec", "web", "--", "echo", "hi"]);
    assert!(err.contains("Error from server (BadRequest): Upgrade request required") && err.contains("use kubectl 1.30 or newer"), "{err}");
}

/// The files under `dir` (every depth) whose bytes contain `needle`.
fn files_containing(dir: &Path, needle: &[u8]) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let (path, kind) = (entry.path(), entry.file_type().unwrap());
        if kind.is_dir() {
            found.extend(files_containing(&path, needle));
        } else if kind.is_file() && std::fs::read(&path).unwrap().windows(needle.len()).any(|w| w == needle) {
            found.push(path);
        }
    }
    found
}

#[test]
fn exec_streams_reach_only_the_client_not_the_log_events_or_container_log() {
    let Some(binary) = kubectl_binary() else { return };
    let dir = tempfile::tempdir().unwrap();
    let _guard = ContainersGuard(dir.path().join("state"));
    // The daemon's log at its most verbose, every library's trace included.
    let log = dir.path().join("daemon.log");
    let daemon = Daemon::start_traced(dir.path(), &["--listen", "127.0.0.1:0"], &log);
    let kubectl = Kubectl::new(binary, dir.path(), &daemon);
    daemon.ok(&["apply", "-f", &write(dir.path(), "web.yaml", WEB)]);
    daemon.wait_pod("web", 20, started);

    assert_eq!(kubectl.ok(&["exec", "web", "--", "echo", "SECRET-MARKER"]), "SECRET-MARKER\n");
    let out = kubectl.run_with_stdin(&["exec", "-i", "web", "--", "sh", "-c", "cat; echo SECRET-MARKER-ERR >&2"], b"SECRET-MARKER-IN\n");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "SECRET-MARKER-IN\n");
    assert!(text(&out.stderr).contains("SECRET-MARKER-ERR"), "{}", text(&out.stderr));

    // Not in the events (kubectl's and hooklet's view), nor in the container's log.
    let events = kubectl.ok(&["get", "events", "-o", "json"]) + &daemon.ok(&["get", "events"]) + &daemon.ok(&["describe", "pod", "web"]);
    assert!(events.contains("Started") && !events.contains("SECRET"), "{events}");
    let logs = kubectl.ok(&["logs", "web"]);
    assert!(logs.contains("hello") && !logs.contains("SECRET"), "{logs}");
    // Nor anywhere on disk: the daemon's log, the state (events, pods, the container's
    // log file). The log did record the exec requests.
    assert!(daemon.terminate().success());
    let written = std::fs::read_to_string(&log).unwrap();
    assert!(written.contains("TRACE") && written.contains("/pods/web/exec"), "the log was written at trace");
    assert_eq!(files_containing(dir.path(), b"SECRET-MARKER"), Vec::<PathBuf>::new());
}

/// `serve --runtime runc` on test network 47 (`runc_support::network`).
const RUNC: &[&str] = &["--listen", "127.0.0.1:0", "--runtime", "runc", "--pod-bridge", "hkt-rc47", "--pod-subnet", "10.217.47.0/24"];

const RUNC_WEB: &str = r#"
apiVersion: v1
kind: Pod
metadata: {name: boxed}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - {name: app, image: busybox, imagePullPolicy: IfNotPresent, command: [sh, -c, "exec sleep 300"]}
"#;

#[test]
fn kubectl_exec_runs_in_a_runc_container() {
    let Some(binary) = kubectl_binary() else { return };
    if !runc_support::can_run() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let state = runc_support::state_with_busybox(dir.path());
    let _guard = runc_support::RuncGuard::new(&state.join("runc"), 47);
    let daemon = Daemon::start(dir.path(), RUNC);
    let kubectl = Kubectl::new(binary, dir.path(), &daemon);
    daemon.ok(&["apply", "-f", &write(dir.path(), "boxed.yaml", RUNC_WEB)]);
    let pod = daemon.wait_pod("boxed", 60, started);
    assert!(pod["status"]["containers"][0]["containerId"].as_str().unwrap().starts_with("runc://"), "{pod:#}");

    // Inside the container: its own /etc/hostname and PID namespace.
    assert_eq!(kubectl.ok(&["exec", "boxed", "--", "cat", "/etc/hostname"]), "boxed\n");
    assert_eq!(kubectl.ok(&["exec", "boxed", "--", "cat", "/proc/1/comm"]), "sleep\n");
    let out = kubectl.run(&["exec", "boxed", "--", "sh", "-c", "echo hi; echo err >&2; exit 3"]);
    assert_eq!(text(&out.stdout), "hi\n");
    assert!(text(&out.stderr).starts_with("err\n"), "{}", text(&out.stderr));
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    let out = kubectl.run_with_stdin(&["exec", "-i", "boxed", "--", "tr", "a-z", "A-Z"], b"through runc\n");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "THROUGH RUNC\n");
}
