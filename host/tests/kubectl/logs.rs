//! The real kubectl reading logs: `-c`, `--tail`, `--timestamps`, `--since`,
//! `--limit-bytes`, `-f` (new lines as they are written, the command ends with the
//! container), and `--previous` (the last terminated instance; the kubelet's error
//! when there is none).

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
    let (dir, _guard, daemon, kubectl) = serving(binary, &["--backoff-initial", "50ms", "--backoff-max", "100ms"]);
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
    assert!(err.contains("Error from server (BadRequest): previous terminated container \"app\" in pod \"talker\" not found"), "{err}");
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

    // A restarted container: its log is the running instance's, --previous the one before.
    daemon.ok(&["apply", "-f", &write(dir.path(), "restarter.yaml", &restarter(&dir.path().join("mark")))]);
    daemon.wait_pod("restarter", 20, |v| v["status"]["containers"][0]["restartCount"] == 1 && super::daemon_support::started(v));
    assert_eq!(kubectl.ok(&["logs", "restarter"]), "second instance\n");
    assert_eq!(kubectl.ok(&["logs", "restarter", "--previous"]), "first instance\n");
}

/// Exits 3 in its first instance (marking `mark`), then runs; each instance says which it is.
fn restarter(mark: &std::path::Path) -> String {
    let m = mark.display();
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: restarter}}\nspec:\n  containers:\n  - name: app\n    image: busybox\n    \
         command: [sh, -c, 'if [ -f {m} ]; then echo second instance; exec sleep 300; fi; touch {m}; echo first instance; exit 3']\n"
    )
}
