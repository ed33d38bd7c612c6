//! The process mode: one host process as a container, started in a process group of
//! its own with `PR_SET_PDEATHSIG=SIGKILL` (a monitor killed on its own takes its
//! container with it). The rest is the [`Session`]'s.

use std::fs::File;
use std::os::fd::OwnedFd;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};

use crate::args::ProcessArgs;
use crate::session::{Session, Started};
use crate::{sync, sys};

/// Runs the container of `args`; returns the monitor's exit code.
pub fn run(args: ProcessArgs, mut report: Option<File>) -> i32 {
    let session = match Session::begin(args.common, &mut report) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let me = session.me;
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
    if let Err(code) = session.record_started(pid, &mut report) {
        let _ = child.kill();
        return code;
    }
    drop(report);
    let outputs = [child.stdout.take().map(OwnedFd::from), child.stderr.take().map(OwnedFd::from)];
    session.finish(Started { pid, outputs, kill_group: true, oom: None })
}
