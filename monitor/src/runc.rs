//! The runc mode, as conmon runs runc: the monitor runs
//! `runc --root ROOT --log DIR/runc.log --log-format json create --bundle BUNDLE
//! --pid-file DIR/runc.pid ID` with pipes as its stdout and stderr (the container's
//! init inherits them) and `PR_SET_PDEATHSIG=SIGKILL` on runc. Once runc has created
//! the container, its init is the monitor's child (the monitor is a child subreaper),
//! so the recorded pid cannot be stale; the monitor reports it on the sync pipe and
//! the caller runs `runc start ID`. The monitor never starts the container itself.
//! On the init's exit it reads the container's OOM kill counter (`OOMKilled`).

use std::fs::File;
use std::os::fd::OwnedFd;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};

use crate::args::RuncArgs;
use crate::oom::OomCounter;
use crate::session::{Session, Started};
use crate::{sync, sys};

/// runc's own log (JSON lines) in the container's directory: why `create` failed.
pub const RUNC_LOG_FILE: &str = "runc.log";
/// runc's `--pid-file` (a bare pid; the monitor's `pid` record adds the start time).
pub const RUNC_PID_FILE: &str = "runc.pid";

/// Creates the container of `args` and monitors it; returns the monitor's exit code.
pub fn run(args: RuncArgs, mut report: Option<File>) -> i32 {
    let session = match Session::begin(args.common.clone(), &mut report) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let dir = &args.common.dir;
    let pid_file = dir.join(RUNC_PID_FILE);
    let mut cmd = Command::new(&args.runc);
    cmd.arg("--root").arg(&args.root).arg("--log").arg(dir.join(RUNC_LOG_FILE)).args(["--log-format", "json"]);
    cmd.arg("create").arg("--bundle").arg(&args.bundle).arg("--pid-file").arg(&pid_file).arg(&args.id);
    cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    // SAFETY: the child only calls prctl (async-signal-safe) before exec.
    unsafe { cmd.pre_exec(sys::die_with_parent) };
    let mut child = match cmd.spawn() {
        Ok(child) => child,
        Err(err) => {
            sync::failed(&mut report, &format!("cannot run {}: {err}", args.runc.display()));
            return 127;
        }
    };
    let outputs = [child.stdout.take().map(OwnedFd::from), child.stderr.take().map(OwnedFd::from)];
    let created = child.wait();
    let pid = std::fs::read_to_string(&pid_file).ok().and_then(|t| t.trim().parse::<i32>().ok()).filter(|p| *p > 0);
    let pid = match (created, pid) {
        (Ok(status), Some(pid)) if status.success() => pid,
        (Ok(status), _) => {
            sync::failed(&mut report, &format!("runc create failed ({status}; see {})", dir.join(RUNC_LOG_FILE).display()));
            return 1;
        }
        (Err(err), _) => {
            sync::failed(&mut report, &format!("waiting for runc create: {err}"));
            return 1;
        }
    };
    session.record_started(pid, &mut report).map_or_else(|code| code, |()| {
        drop(report);
        let oom = OomCounter::of(pid);
        session.finish(Started { pid, outputs, kill_group: false, oom })
    })
}
