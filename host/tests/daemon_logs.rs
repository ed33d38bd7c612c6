//! Container logs under `hooklet serve`: the monitors write CRI files, rotated as
//! `--container-log-max-size` / `--container-log-max-files` say, and `hooklet logs`
//! reads them back (`--tail`, `--timestamps`, `--stream`), with no gap across a crash
//! of the daemon.

mod daemon_support;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use daemon_support::{started, text, wait_logs, write, Daemon, Tmpfs};

fn pod(name: &str, script: &str) -> String {
    format!("apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}}}\nspec:\n  containers:\n  - name: app\n    image: busybox\n    command: [sh, -c, '{script}']\n")
}

/// The container log file of the only pod under `state`.
fn log_file(state: &Path) -> PathBuf {
    std::fs::read_dir(state.join("logs")).unwrap().flatten().next().unwrap().path().join("app.log")
}

/// The numbers of `out`'s lines, which must be consecutive.
fn consecutive(out: &str) -> Vec<u64> {
    let numbers: Vec<u64> = out.lines().map(|l| l.trim_start_matches("out ").parse().unwrap_or_else(|_| panic!("{l:?} in {out}"))).collect();
    for pair in numbers.windows(2) {
        assert_eq!(pair[1], pair[0] + 1, "a gap in the log: {out}");
    }
    numbers
}

#[test]
fn logs_are_cri_files_rotated_and_read_back_with_tail_timestamps_and_streams() {
    let dir = tempfile::tempdir().unwrap();
    let _guard = daemon_support::ContainersGuard(dir.path().join("state"));
    let daemon = Daemon::start(dir.path(), &["--container-log-max-size", "4Ki", "--container-log-max-files", "3"]);
    let script = "i=0; while [ $i -lt 1000 ]; do echo out $i; i=$((i+1)); done; echo err once >&2; exec sleep 600";
    daemon.ok(&["apply", "-f", &write(dir.path(), "chatty.yaml", &pod("chatty", script))]);
    daemon.wait_pod("chatty", 10, started);
    assert_eq!(wait_logs(&daemon, &["logs", "chatty", "--stream", "Stderr"], |o| !o.is_empty()), "err once\n");
    assert_eq!(daemon.ok(&["logs", "chatty", "--stream", "Stdout", "--tail", "2"]), "out 998\nout 999\n");

    // Rotated: three files of at most 4 KiB, the oldest output gone.
    let log = log_file(&daemon.state);
    for n in ["", ".1", ".2"] {
        let file = PathBuf::from(format!("{}{n}", log.display()));
        let len = std::fs::metadata(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display())).len();
        assert!(len > 0 && len <= 4096, "{}: {len} bytes", file.display());
    }
    assert!(!PathBuf::from(format!("{}.3", log.display())).exists(), "at most 3 files");
    let all = daemon.ok(&["logs", "chatty", "--stream", "Stdout"]);
    let numbers = consecutive(&all);
    assert!(numbers[0] > 0 && numbers.last() == Some(&999), "the oldest lines rotated away, the rest in order");

    let stamped = daemon.ok(&["logs", "chatty", "--timestamps", "--tail", "3"]);
    assert_eq!(stamped.lines().count(), 3, "{stamped}");
    for line in stamped.lines() {
        let (ts, rest) = line.split_once(' ').unwrap();
        assert!(ts.len() == 30 && ts.ends_with('Z') && ts.as_bytes()[10] == b'T', "an RFC 3339 timestamp: {line}");
        assert!(rest.starts_with("out ") || rest == "err once", "{line}");
    }

    let bad = daemon.cli(&["logs", "chatty", "--stream", "both"]);
    assert!(!bad.status.success());
    assert!(text(&bad.stderr).contains("stream must be Stdout, Stderr or All"), "{}", text(&bad.stderr));
}

#[test]
fn bad_log_rotation_flags_stop_serve_with_the_flag_named() {
    let dir = tempfile::tempdir().unwrap();
    for (flag, value) in [("--container-log-max-files", "1"), ("--container-log-max-size", "0"), ("--container-log-max-size", "ten")] {
        let out = std::process::Command::new(daemon_support::hooklet())
            .args(["serve", "--state-dir", &dir.path().join("state").display().to_string(), flag, value])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{flag} {value}");
        assert!(text(&out.stderr).contains(flag), "{flag} {value}: {}", text(&out.stderr));
    }
    assert!(!dir.path().join("state").exists(), "nothing was created");
}

#[test]
fn output_written_while_the_daemon_is_down_is_in_the_log_without_a_gap() {
    let dir = tempfile::tempdir().unwrap();
    let _guard = daemon_support::ContainersGuard(dir.path().join("state"));
    let daemon = Daemon::start(dir.path(), &[]);
    let script = "i=0; while true; do echo out $i; i=$((i+1)); sleep 0.02; done";
    daemon.ok(&["apply", "-f", &write(dir.path(), "counter.yaml", &pod("counter", script))]);
    let before = wait_logs(&daemon, &["logs", "counter"], |o| o.lines().count() >= 5).lines().count();
    let log = log_file(&daemon.state);
    daemon.kill();
    // The monitor goes on writing while no daemon runs.
    let until = Instant::now() + Duration::from_secs(20);
    let grown = |p: &Path| std::fs::read_to_string(p).map(|s| s.lines().count()).unwrap_or(0);
    while grown(&log) < before + 20 {
        assert!(Instant::now() < until, "the log stopped growing with the daemon down");
        std::thread::sleep(Duration::from_millis(20));
    }

    let daemon = Daemon::start(dir.path(), &[]);
    let v = daemon.wait_pod("counter", 10, started);
    assert_eq!(v["status"]["containers"][0]["restartCount"], 0, "adopted, not restarted");
    let out = daemon.ok(&["logs", "counter"]);
    let numbers = consecutive(&out);
    assert_eq!(numbers[0], 0, "from the first line: {out}");
    assert!(numbers.len() >= before + 20, "the lines written while the daemon was down: {out}");
}

/// A container that says which instance it is (1, 2, 3: a count kept in `dir`),
/// holds its first instance until `dir/go` exists, and exits 3 but for the third.
fn instances(dir: &Path) -> String {
    let (count, go) = (dir.join("count"), dir.join("go"));
    let script = format!(
        "n=$(cat {c} 2>/dev/null || echo 0); n=$((n+1)); echo $n > {c}; echo instance $n; \
         if [ $n = 1 ]; then while [ ! -f {g} ]; do sleep 0.05; done; fi; [ $n -ge 3 ] && exit 0; exit 3",
        c = count.display(),
        g = go.display()
    );
    format!("apiVersion: v1\nkind: Pod\nmetadata: {{name: thrice}}\nspec:\n  restartPolicy: OnFailure\n  containers:\n  - name: app\n    image: busybox\n    command: [sh, -c, '{script}']\n")
}

#[test]
fn logs_show_the_latest_instance_previous_the_one_before_and_follow_goes_on_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let _guard = daemon_support::ContainersGuard(dir.path().join("state"));
    let args = ["--backoff-initial", "50ms", "--backoff-max", "100ms"];
    let daemon = Daemon::start(dir.path(), &args);
    daemon.ok(&["apply", "-f", &write(dir.path(), "thrice.yaml", &instances(dir.path()))]);
    wait_logs(&daemon, &["logs", "thrice"], |o| o == "instance 1\n");
    let err = daemon.cli(&["logs", "thrice", "--previous"]);
    assert!(!err.status.success());
    assert!(text(&err.stderr).contains("previous terminated container \"app\" in pod \"thrice\" not found"), "{}", text(&err.stderr));

    // -f from the first instance on: each instance's lines as they come, and the end
    // when the pod has succeeded.
    let (mut follow, lines) = daemon_support::spawn_lines(daemon.command(&["logs", "-f", "thrice"]));
    let next = || lines.recv_timeout(Duration::from_secs(20)).expect("hooklet logs -f printed a line");
    assert_eq!(next(), "instance 1");
    std::fs::write(dir.path().join("go"), "").unwrap();
    assert_eq!((next(), next()), ("instance 2".to_string(), "instance 3".to_string()));
    assert!(lines.recv_timeout(Duration::from_secs(20)).is_err(), "the stream ends when the pod has succeeded");
    assert!(follow.wait().unwrap().success());
    let v = daemon.wait_pod("thrice", 10, |v| v["status"]["phase"] == "Succeeded");
    assert_eq!(v["status"]["containers"][0]["restartCount"], 2);

    // Plain: the latest instance only; --previous: the one before; --since narrows.
    assert_eq!(daemon.ok(&["logs", "thrice"]), "instance 3\n");
    assert_eq!(daemon.ok(&["logs", "thrice", "-p"]), "instance 2\n");
    assert_eq!(daemon.ok(&["logs", "thrice", "--previous", "--since", "1h"]), "instance 2\n");
    // A daemon killed and started again still tells the instances apart.
    daemon.kill();
    let daemon = Daemon::start(dir.path(), &args);
    assert_eq!(daemon.ok(&["logs", "thrice", "--previous"]), "instance 2\n");
    assert_eq!(daemon.ok(&["logs", "thrice", "--timestamps"]).split_once(' ').map(|(_, line)| line.to_string()), Some("instance 3\n".into()));
}

/// A full disk where the logs are kept: the container runs to its end with its exit
/// code recorded, the daemon keeps serving, and the lost output is said in a Warning
/// event and in the container's terminated state, with the fix.
#[test]
fn output_lost_to_a_full_log_disk_is_reported_in_an_event_and_the_exit_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    let Some(_disk) = Tmpfs::on(&dir.path().join("state/logs"), "64k") else {
        eprintln!("skipped: mounting a tmpfs needs root");
        return;
    };
    let daemon = Daemon::start(dir.path(), &[]);
    let manifest = "apiVersion: v1\nkind: Pod\nmetadata: {name: chatty}\nspec:\n  restartPolicy: Never\n  containers:\n  - name: app\n    image: busybox\n    command: [sh, -c, 'head -c 200000 /dev/zero | tr \"\\0\" x | fold -w 99; exit 3']\n";
    daemon.ok(&["apply", "-f", &write(dir.path(), "chatty.yaml", manifest)]);
    let pod = daemon.wait_pod("chatty", 30, |p| p["status"]["phase"] == "Failed");
    let terminated = &pod["status"]["containers"][0]["state"]["terminated"];
    assert_eq!(terminated["exitCode"], 3, "{pod:#}");
    let message = terminated["message"].as_str().unwrap_or_default();
    let lost: u64 = message.split(' ').next().unwrap().parse().unwrap_or_else(|_| panic!("{pod:#}"));
    assert!(lost >= 136_000, "at least what did not fit: {message}");
    let said = "bytes of output lost writing its log (No space left on device (os error 28)); free space where the container logs are kept";
    assert_eq!(message, format!("{lost} {said}"));
    let describe = daemon.ok(&["describe", "pod", "chatty"]);
    let event = describe.lines().find(|l| l.contains("LogOutputLost")).unwrap_or_else(|| panic!("{describe}"));
    assert!(event.contains("Warning") && event.ends_with(&format!("Container app: {lost} {said}")), "{event}");
    assert!(daemon.ok(&["get", "pods"]).contains("chatty"), "the daemon keeps serving");
    assert!(daemon.terminate().success());
}
