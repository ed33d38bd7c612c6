//! `kubectl exec` over the WebSocket (`v5.channel.k8s.io`): stdout and stderr apart,
//! the exit code, stdin, `-c`, the errors a user sees, a client killed mid-exec (its
//! command killed and reaped), the 401 without a token and the 400 without an upgrade.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::daemon_support::{request, text, write};
use super::{kubectl_binary, with_web};

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
    let mut child = Command::new(&kubectl.binary)
        .arg("--kubeconfig")
        .arg(&kubectl.kubeconfig)
        .args(["exec", "-i", "web", "--", "sh", "-c", "tr a-z A-Z"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(b"piped input\n").unwrap();
    let out = child.wait_with_output().unwrap();
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
