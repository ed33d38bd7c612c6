//! The real kubectl reading logs: `-c`, `--tail`, `--timestamps`, `--since`,
//! `--limit-bytes`, `-f` (new lines as they are written, the command ends with the
//! container), and `--previous` refused with the reason.

use std::time::Duration;

use super::daemon_support::{text, write};
use super::{kubectl_binary, serving};

fn talker(go: &std::path::Path) -> String {
    format!(
        r#"
apiVersion: v1
kind: Pod
metadata: {{name: talker}}
spec:
  restartPolicy: Never
  terminationGracePeriodSeconds: 1
  containers:
  - name: app
    image: busybox
    command: [sh, -c, "echo first; echo oops >&2; while [ ! -f {} ]; do sleep 0.05; done; echo second"]
  - name: side
    image: busybox
    command: [sh, -c, "echo from side; exec sleep 300"]
"#,
        go.display()
    )
}

#[test]
fn kubectl_logs_selects_tails_and_follows() {
    let Some(binary) = kubectl_binary() else { return };
    let (dir, _guard, daemon, kubectl) = serving(binary, &[]);
    let go = dir.path().join("go");
    daemon.ok(&["apply", "-f", &write(dir.path(), "talker.yaml", &talker(&go))]);
    kubectl.ok(&["wait", "--for=condition=Ready", "pod/talker", "--timeout=30s"]);
    // Both lines of `app` are in its log once it is running and has printed them.
    let until = std::time::Instant::now() + Duration::from_secs(20);
    while !kubectl.ok(&["logs", "talker", "-c", "app"]).contains("oops") {
        assert!(std::time::Instant::now() < until, "app never logged");
        std::thread::sleep(Duration::from_millis(50));
    }

    assert_eq!(kubectl.ok(&["logs", "talker", "-c", "side"]), "from side\n");
    assert_eq!(kubectl.ok(&["logs", "talker", "-c", "app"]), "first\noops\n");
    assert_eq!(kubectl.ok(&["logs", "talker", "-c", "app", "--tail=1"]), "oops\n");
    assert_eq!(kubectl.ok(&["logs", "talker", "-c", "app", "--limit-bytes=3"]), "fir");
    assert_eq!(kubectl.ok(&["logs", "talker", "-c", "app", "--since=1h"]), "first\noops\n");
    assert_eq!(kubectl.ok(&["logs", "talker", "-c", "app", "--since-time=2999-01-01T00:00:00Z"]), "");
    let stamped = kubectl.ok(&["logs", "talker", "-c", "app", "--timestamps"]);
    let first = stamped.lines().next().unwrap();
    assert!(first.ends_with(" first") && humantime::parse_rfc3339(first.split(' ').next().unwrap()).is_ok(), "{stamped}");
    let err = kubectl.fails(&["logs", "talker", "-c", "app", "--previous"]);
    assert!(err.contains("previous is not supported by hooklet"), "{err}");
    let err = kubectl.fails(&["logs", "talker", "-c", "nope"]);
    assert!(err.contains("container nope is not valid for pod talker"), "{err}");

    // -f: what is there, then the line written later; kubectl ends with the container.
    let (follow, rx) = kubectl.spawn_lines(&["logs", "-f", "talker", "-c", "app"]);
    let next = || rx.recv_timeout(Duration::from_secs(20)).expect("kubectl logs -f printed a line");
    assert_eq!((next(), next()), ("first".to_string(), "oops".to_string()));
    std::fs::write(&go, "").unwrap();
    assert_eq!(next(), "second");
    assert!(rx.recv_timeout(Duration::from_secs(20)).is_err(), "the stream ends with the container");
    let out = follow.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
}
