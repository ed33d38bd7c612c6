//! The process mode: one host process as a container. The monitor detaches into a
//! session of its own (so it outlives whoever started it), records itself, starts
//! the container in a process group of its own with `PR_SET_PDEATHSIG=SIGKILL` (a
//! monitor killed on its own takes its container with it), reports the pid on the
//! sync pipe, copies the container's stdout and stderr into the CRI log, and on the
//! container's exit kills what is left of its process group, drains the pipes, syncs
//! the log and writes the exit status atomically before exiting with its code.

use std::fs::File;
use std::io::Read;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use crate::args::ProcessArgs;
use crate::cri::{CriLog, Stream};
use crate::record::{exit_json, write_atomically, ProcessRecord, EXIT_FILE, MONITOR_FILE, PID_FILE};
use crate::{sync, sys};

/// How long output is still copied after the container's exit: a process that left
/// the container's group and still holds its stdout cannot hold back the exit status.
const DRAIN: Duration = Duration::from_millis(250);

/// Runs the container of `args`; returns the monitor's exit code.
pub fn run(args: ProcessArgs, mut report: Option<File>) -> i32 {
    if let Err(err) = sys::detach() {
        sync::failed(&mut report, &format!("cannot detach the monitor: {err}"));
        return 125;
    }
    let me = std::process::id() as i32;
    let recorded = ProcessRecord::of(me, true)
        .ok_or_else(|| std::io::Error::other("cannot read the monitor's own start time or boot id"))
        .and_then(|r| write_atomically(&args.dir, MONITOR_FILE, r.format().as_bytes()));
    if let Err(err) = recorded {
        sync::failed(&mut report, &format!("cannot record the monitor in {}: {err}", args.dir.display()));
        return 125;
    }
    let mut log = match CriLog::open(&args.log, args.rotation) {
        Ok(log) => log,
        Err(err) => {
            sync::failed(&mut report, &format!("cannot open container log {}: {err}", args.log.display()));
            return 125;
        }
    };
    let children = match sys::ChildSignals::block() {
        Ok(s) => s,
        Err(err) => {
            sync::failed(&mut report, &format!("cannot watch for the container's exit: {err}"));
            return 125;
        }
    };
    let mut cmd = Command::new(&args.argv[0]);
    cmd.args(&args.argv[1..]).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).process_group(0);
    if let Some(dir) = &args.workdir {
        cmd.current_dir(dir);
    }
    // SAFETY: between fork and exec the child only calls prctl and getppid, which are
    // async-signal-safe, and allocates nothing.
    unsafe {
        cmd.pre_exec(move || {
            sys::die_with_parent()?;
            // The monitor died before the prctl took effect.
            if libc::getppid() != me {
                return Err(std::io::Error::other("the container's monitor is gone"));
            }
            Ok(())
        });
    }
    let mut child = match cmd.spawn() {
        Ok(child) => child,
        Err(err) => {
            let place = args.workdir.as_ref().map(|d| format!(" in working directory {}", d.display())).unwrap_or_default();
            sync::failed(&mut report, &format!("cannot run {:?}{place}: {err}", args.argv[0]));
            return 127;
        }
    };
    let pid = child.id() as i32;
    // The start time with the pid: a later hooklet signals the group only while the
    // process with that pid is still this one (pids are reused).
    let recorded = ProcessRecord::of(pid, false)
        .ok_or_else(|| std::io::Error::other("the container is gone"))
        .and_then(|r| write_atomically(&args.dir, PID_FILE, r.format().as_bytes()));
    if let Err(err) = recorded {
        let _ = child.kill();
        sync::failed(&mut report, &format!("cannot record the container pid: {err}"));
        return 125;
    }
    sync::started(&mut report, pid);
    drop(report);
    let outputs = [child.stdout.take().map(OwnedFd::from), child.stderr.take().map(OwnedFd::from)];
    let (code, signal) = copy_until_exit(pid, outputs, &children, &mut log);
    let _ = log.sync();
    let json = exit_json(code, signal, SystemTime::now());
    match write_atomically(&args.dir, EXIT_FILE, json.as_bytes()) {
        Ok(()) => code,
        Err(_) => 125,
    }
}

/// Copies the container's output into `log` until it has exited and its output is
/// drained; returns its exit code (the code, or 128 + signal) and signal.
fn copy_until_exit(pid: i32, outputs: [Option<OwnedFd>; 2], children: &sys::ChildSignals, log: &mut CriLog) -> (i32, Option<i32>) {
    let mut outputs = outputs.map(|fd| fd.map(File::from));
    let mut exit: Option<(i32, Option<i32>)> = None;
    let mut drain_until: Option<Instant> = None;
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let open = outputs.iter().any(Option::is_some);
        match (exit, drain_until) {
            (Some(status), Some(until)) if !open || Instant::now() >= until => return status,
            _ => {}
        }
        let timeout = drain_until.map(|u| u.saturating_duration_since(Instant::now()));
        let fds: Vec<i32> = outputs.iter().map(|o| o.as_ref().map_or(-1, |f| f.as_raw_fd())).chain([children.fd()]).collect();
        let ready = sys::poll_readable(&fds, timeout);
        for (i, slot) in outputs.iter_mut().enumerate() {
            if !ready[i] {
                continue;
            }
            let Some(file) = slot else { continue };
            match file.read(&mut buf) {
                Ok(0) | Err(_) => *slot = None,
                // A full disk loses output, never the container or its exit status.
                Ok(n) => {
                    let _ = log.write(if i == 0 { Stream::Stdout } else { Stream::Stderr }, &buf[..n]);
                }
            }
        }
        if ready[2] {
            children.clear();
            for (reaped, status) in sys::reap_all() {
                if reaped == pid {
                    exit = Some(sys::exit_code(status));
                    // What is left of the container's process group goes with it; later,
                    // the pid may belong to another process, so nobody signals it again.
                    // SAFETY: killpg has no memory effects.
                    unsafe { libc::killpg(pid, libc::SIGKILL) };
                    drain_until = Some(Instant::now() + DRAIN);
                }
            }
        }
    }
}
