//! The container monitor (`hooklet-monitor process`) on its own, as the daemon runs
//! it: the sync-pipe report, detaching, the records, the CRI log with rotation, the
//! exit file, and a monitor killed on its own.

mod daemon_support;

use std::io::{BufRead, BufReader};
use std::os::fd::{FromRawFd, OwnedFd};
use std::path::Path;
use std::process::{Command, Stdio};

use daemon_support::Tmpfs;
use hooklet_monitor::record::{ProcessRecord, EXIT_FILE, MONITOR_FILE, PID_FILE};

/// Runs the monitor with `flags` and `argv`; returns its sync-pipe report once its
/// first process has exited (the monitor lives on, detached) with `code`.
fn launch_with(dir: &Path, flags: &[&str], argv: &[&str], code: i32) -> serde_json::Value {
    let log = dir.join("app.log");
    let mut child = Command::new(env!("CARGO_BIN_EXE_hooklet-monitor"))
        .args(["process", "--dir", &dir.display().to_string(), "--log", &log.display().to_string()])
        .args(flags)
        .arg("--")
        .args(argv)
        .env("_OCI_SYNCPIPE", "1")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    assert_eq!(child.wait().unwrap().code(), Some(code), "the launching process exits at once");
    serde_json::from_str(&line).unwrap_or_else(|e| panic!("{line:?}: {e}"))
}

fn launch(dir: &Path, flags: &[&str], argv: &[&str]) -> serde_json::Value {
    launch_with(dir, flags, argv, 0)
}

/// Whether process `pid` has ended (gone, or a zombie not yet reaped by init).
fn ended(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat.rsplit_once(')').unwrap().1.split_whitespace().next() == Some("Z"),
        Err(_) => true,
    }
}

/// Waits (at most 20 s) until process `record` has ended, through a pidfd.
fn wait_ended(record: &ProcessRecord) {
    // SAFETY: pidfd_open returns a new descriptor or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, record.pid, 0) };
    if fd < 0 || !record.is_live() {
        return; // already gone
    }
    let fd = unsafe { OwnedFd::from_raw_fd(fd as i32) };
    let mut poll = libc::pollfd { fd: std::os::fd::AsRawFd::as_raw_fd(&fd), events: libc::POLLIN, revents: 0 };
    // SAFETY: one valid pollfd.
    let n = unsafe { libc::poll(&mut poll, 1, 20_000) };
    assert_eq!(n, 1, "process {} did not end", record.pid);
}

fn monitor(dir: &Path) -> ProcessRecord {
    ProcessRecord::read(dir, MONITOR_FILE).expect("the monitor records itself")
}

fn exit(dir: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(dir.join(EXIT_FILE)).expect("exit.json")).unwrap()
}

#[test]
fn the_monitor_detaches_reports_the_pid_logs_in_cri_format_and_records_the_exit() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("go");
    assert!(Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    let script = format!("read x < {}; echo out; echo err >&2; printf tail; exit 3", fifo.display());
    let report = launch(dir.path(), &[], &["sh", "-c", &script]);
    let pid = report["data"].as_i64().unwrap();
    let container = ProcessRecord::read(dir.path(), PID_FILE).unwrap();
    assert_eq!(i64::from(container.pid), pid);
    let m = monitor(dir.path());
    assert!(m.is_live() && m.boot_id.is_some(), "{m:?}");
    let stat = std::fs::read_to_string(format!("/proc/{}/stat", m.pid)).unwrap();
    let fields: Vec<&str> = stat.rsplit_once(')').unwrap().1.split_whitespace().collect();
    assert_eq!(fields[3], m.pid.to_string(), "the monitor leads a session of its own");
    std::fs::write(&fifo, "go\n").unwrap();
    wait_ended(&m);
    let status = exit(dir.path());
    assert_eq!((status["exit_code"].as_i64(), status["signal"].as_i64()), (Some(3), None), "{status}");
    let log = std::fs::read_to_string(dir.path().join("app.log")).unwrap();
    let entries: Vec<(&str, &str)> = log.lines().map(|l| {
        let mut f = l.splitn(3, ' ');
        let ts = f.next().unwrap();
        assert!(ts.ends_with('Z') && ts.len() == 30, "RFC 3339 UTC with nanoseconds: {ts}");
        (f.next().unwrap(), f.next().unwrap())
    }).collect();
    let mut sorted = entries.clone();
    sorted.sort();
    assert_eq!(sorted, [("stderr", "F err"), ("stdout", "F out"), ("stdout", "P tail")], "{log}");
}

#[test]
fn signals_give_128_plus_the_signal_and_the_log_rotates() {
    let dir = tempfile::tempdir().unwrap();
    let script = "i=0; while [ $i -lt 300 ]; do echo line $i; i=$((i+1)); done; kill -TERM $$";
    launch(dir.path(), &["--log-max-size", "2048", "--log-max-files", "3"], &["sh", "-c", script]);
    wait_ended(&monitor(dir.path()));
    let status = exit(dir.path());
    assert_eq!((status["exit_code"].as_i64(), status["signal"].as_i64()), (Some(143), Some(15)), "{status}");
    let log = dir.path().join("app.log");
    let files = [log.clone(), dir.path().join("app.log.1"), dir.path().join("app.log.2")];
    for f in &files {
        let len = std::fs::metadata(f).unwrap_or_else(|e| panic!("{}: {e}", f.display())).len();
        assert!(len > 0 && len <= 2048, "{}: {len} bytes", f.display());
    }
    assert!(!dir.path().join("app.log.3").exists(), "3 files at most");
    assert!(std::fs::read_to_string(&log).unwrap().ends_with(" stdout F line 299\n"));
}

#[test]
fn a_command_that_cannot_run_is_reported_on_the_sync_pipe() {
    let dir = tempfile::tempdir().unwrap();
    let report = launch(dir.path(), &[], &["/no/such/binary"]);
    assert_eq!(report["data"], -1, "{report}");
    let message = report["message"].as_str().unwrap();
    assert!(message.contains("cannot run \"/no/such/binary\"") && message.contains("No such file"), "{message}");
    assert!(!dir.path().join(EXIT_FILE).exists(), "nothing ran, nothing exited");

    // Bad arguments: refused before the monitor detaches.
    let bad = launch_with(dir.path(), &["--log-max-files", "1"], &["true"], 2);
    assert!(bad["message"].as_str().unwrap().contains("--log-max-files must be at least 2"), "{bad}");
}

#[test]
fn a_monitor_killed_on_its_own_takes_its_container_with_it() {
    let dir = tempfile::tempdir().unwrap();
    launch(dir.path(), &[], &["sleep", "600"]);
    let container = ProcessRecord::read(dir.path(), PID_FILE).unwrap();
    assert!(container.is_live());
    let m = monitor(dir.path());
    assert!(m.is_live());
    // SAFETY: kill has no memory effects; the pid is the live monitor's.
    unsafe { libc::kill(m.pid, libc::SIGKILL) };
    wait_ended(&container);
    assert!(ended(container.pid), "the container died with its monitor");
    assert!(!dir.path().join(EXIT_FILE).exists(), "a killed monitor records nothing");
}

/// A full disk under the monitor's directory and log: output is lost and counted,
/// the log keeps whole entries only and says what was lost once space returns, and
/// the exit status is held (the monitor retries) until it can be written.
#[test]
fn a_full_disk_loses_output_but_never_a_whole_entry_or_the_exit_status() {
    let holder = tempfile::tempdir().unwrap();
    let Some(disk) = Tmpfs::on(holder.path(), "64k") else {
        eprintln!("skipped: mounting a tmpfs needs root");
        return;
    };
    let dir = holder.path();
    let outside = tempfile::tempdir().unwrap();
    let (filled, go, exit_now) = (outside.path().join("filled"), outside.path().join("go"), outside.path().join("exit"));
    for fifo in [&go, &exit_now] {
        assert!(Command::new("mkfifo").arg(fifo).status().unwrap().success());
    }
    let fill = "head -c 200000 /dev/zero | tr '\\0' x | fold -w 99";
    let script = format!("{fill}; touch {}; read x < {}; echo after; read x < {}; exit 4", filled.display(), go.display(), exit_now.display());
    launch(dir, &[], &["sh", "-c", &script]);
    let m = monitor(dir);
    // The 200 kB go through a 64 KiB pipe: at least 136 kB of them reached a log
    // that holds 64 KiB.
    while !filled.exists() {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    disk.resize("1m");
    std::fs::write(&go, "go\n").unwrap();
    let log = dir.join("app.log");
    while !std::fs::read_to_string(&log).unwrap().contains(" stdout F after\n") {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    // The disk full to the last byte, then the container exits: the exit file cannot
    // be written, and the monitor waits between attempts instead of giving it up.
    let ballast = dir.join("ballast");
    let mut file = std::fs::File::create(&ballast).unwrap();
    while std::io::Write::write_all(&mut file, &[0u8; 4096]).is_ok() {}
    drop(file);
    std::fs::write(&exit_now, "go\n").unwrap();
    loop {
        assert!(m.is_live(), "the monitor ended without its exit status written");
        let wchan = std::fs::read_to_string(format!("/proc/{}/wchan", m.pid)).unwrap_or_default();
        if wchan.contains("nanosleep") {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(!dir.join(EXIT_FILE).exists());
    std::fs::remove_file(&ballast).unwrap();
    wait_ended(&m);
    let status = exit(dir);
    assert_eq!(status["exit_code"], 4, "{status}");
    let lost = status["log_bytes_lost"].as_u64().unwrap_or_default();
    assert!(lost >= 136_000, "{status}");
    assert!(status["log_error"].as_str().unwrap_or_default().contains("No space left on device"), "{status}");

    let log = std::fs::read_to_string(&log).unwrap();
    assert!(log.ends_with('\n'), "no entry is cut");
    let lines: Vec<&str> = log.lines().collect();
    let mut noted = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let f: Vec<&str> = line.splitn(4, ' ').collect();
        assert!(f.len() == 4 && f[0].len() == 30 && ["stdout", "stderr"].contains(&f[1]) && ["F", "P"].contains(&f[2]), "a whole CRI entry: {line:?}");
        if let Some(note) = f[3].strip_prefix("hooklet-monitor: ") {
            let bytes = note.strip_suffix(" bytes of output lost: No space left on device (os error 28)").unwrap_or_else(|| panic!("{line:?}"));
            noted.push((i, bytes.parse::<u64>().unwrap()));
            assert!(lines.get(i + 1).is_some_and(|next| !next.contains("hooklet-monitor: ")), "a note comes with the output it precedes: {line:?}");
        } else {
            assert!(f[3].bytes().all(|b| b == b'x') || f[3] == "after", "{line:?}");
        }
    }
    // Output lost while the disk was full is reported once space returns: by the time
    // `after` is written, every byte lost has been noted.
    let after = lines.iter().position(|l| l.ends_with(" stdout F after")).expect("output written once space returned");
    let before_after: u64 = noted.iter().filter(|(i, _)| *i < after).map(|(_, n)| n).sum();
    assert!(before_after >= 136_000, "{noted:?}");
    assert_eq!(noted.iter().map(|(_, n)| n).sum::<u64>(), lost, "{noted:?}");
}
