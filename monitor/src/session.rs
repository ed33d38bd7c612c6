//! What every mode of the monitor does around its container: detach into a session
//! of its own (so it outlives whoever started it), record itself, open the CRI log,
//! watch SIGCHLD; then, once the container is started, copy its stdout and stderr
//! into the log until it has exited, sync the log and write the exit status
//! atomically before the monitor exits with the container's code. A full disk loses
//! output (counted, and reported in the log and the exit status), never the exit
//! status: the monitor retries writing it until there is space.

use std::fs::File;
use std::io::Read;
use std::os::fd::{AsRawFd, OwnedFd};
use std::time::{Duration, Instant, SystemTime};

use crate::args::Common;
use crate::cri::{CriLog, Stream};
use crate::oom::OomCounter;
use crate::record::{exit_json, write_atomically, write_record, ProcessRecord, EXIT_FILE, MONITOR_FILE, PID_FILE};
use crate::{sync, sys};

/// How long output is still copied after the container's exit: a process that left
/// the container and still holds its stdout cannot hold back the exit status.
const DRAIN: Duration = Duration::from_millis(250);

/// The longest pause between attempts to write the exit file when it cannot be written.
const EXIT_RETRY_MAX: Duration = Duration::from_secs(2);

/// A detached monitor with its log, before its container runs.
pub struct Session {
    pub common: Common,
    /// The monitor's own pid.
    pub me: i32,
    log: CriLog,
    children: sys::ChildSignals,
}

/// The container once started: its pid and output pipes.
pub struct Started {
    pub pid: i32,
    pub outputs: [Option<OwnedFd>; 2],
    /// Kill what is left of the container's process group when it exits (process
    /// mode; a runc container's pid namespace ends with its init).
    pub kill_group: bool,
    /// The container's OOM kill counter, if it has a memory cgroup.
    pub oom: Option<OomCounter>,
}

impl Session {
    /// Detaches and prepares; on failure, reports it and returns the exit code.
    pub fn begin(common: Common, report: &mut Option<File>) -> Result<Session, i32> {
        if let Err(err) = sys::detach() {
            sync::failed(report, &format!("cannot detach the monitor: {err}"));
            return Err(125);
        }
        let me = std::process::id() as i32;
        let recorded = ProcessRecord::of(me, true)
            .ok_or_else(|| std::io::Error::other("cannot read the monitor's own start time or boot id"))
            .and_then(|r| write_record(&common.dir, MONITOR_FILE, r.format().as_bytes()));
        if let Err(err) = recorded {
            sync::failed(report, &format!("cannot record the monitor in {}: {err}", common.dir.display()));
            return Err(125);
        }
        let log = CriLog::open(&common.log, common.rotation).map_err(|err| {
            sync::failed(report, &format!("cannot open container log {}: {err}", common.log.display()));
            125
        })?;
        let children = sys::ChildSignals::block().map_err(|err| {
            sync::failed(report, &format!("cannot watch for the container's exit: {err}"));
            125
        })?;
        Ok(Session { common, me, log, children })
    }

    /// Records the started container `pid` (with its start time: a later hooklet
    /// signals it only while that pid is still this process) and reports it.
    pub fn record_started(&self, pid: i32, report: &mut Option<File>) -> Result<(), i32> {
        let recorded = ProcessRecord::of(pid, false)
            .ok_or_else(|| std::io::Error::other("the container is gone"))
            .and_then(|r| write_record(&self.common.dir, PID_FILE, r.format().as_bytes()));
        if let Err(err) = recorded {
            sync::failed(report, &format!("cannot record the container pid: {err}"));
            return Err(125);
        }
        sync::started(report, pid);
        Ok(())
    }

    /// Copies the container's output until it has exited, then records the exit;
    /// returns the monitor's exit code (the container's).
    pub fn finish(mut self, started: Started) -> i32 {
        let Started { pid, outputs, kill_group, oom } = started;
        let (code, signal) = copy_until_exit(pid, outputs, kill_group, &self.children, &mut self.log);
        let _ = self.log.sync();
        let oom_killed = signal == Some(libc::SIGKILL) && oom.as_ref().is_some_and(|c| c.kills() > 0);
        let json = exit_json(code, signal, oom_killed, SystemTime::now(), self.log.lost());
        // The exit status is held until it is written: on a full disk the monitor
        // waits for space rather than lose it (the daemon reads nothing else).
        let mut pause = Duration::from_millis(50);
        while write_atomically(&self.common.dir, EXIT_FILE, json.as_bytes()).is_err() {
            if !self.common.dir.is_dir() {
                // Removed: nobody is left to read it.
                return code;
            }
            let _ = std::fs::remove_file(self.common.dir.join(format!(".{EXIT_FILE}.tmp")));
            std::thread::sleep(pause);
            pause = (pause * 2).min(EXIT_RETRY_MAX);
        }
        code
    }
}

/// Copies the container's output into `log` until it has exited and its output is
/// drained; returns its exit code (the code, or 128 + signal) and signal.
fn copy_until_exit(pid: i32, outputs: [Option<OwnedFd>; 2], kill_group: bool, children: &sys::ChildSignals, log: &mut CriLog) -> (i32, Option<i32>) {
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
                    if kill_group {
                        // What is left of the container's process group goes with it;
                        // later, the pid may belong to another process, so nobody
                        // signals it again.
                        // SAFETY: killpg has no memory effects.
                        unsafe { libc::killpg(pid, libc::SIGKILL) };
                    }
                    drain_until = Some(Instant::now() + DRAIN);
                }
            }
        }
    }
}
