//! `hooklet-monitor`: the per-container monitor of `hooklet serve`.
//!
//! One monitor runs per container (a host process in `process` mode, a runc
//! container in `runc` mode), detached into a session of its own, so that the
//! container outlives the daemon (an upgrade, a crash, an OOM kill) and a restarted
//! daemon adopts it. The monitor holds what the daemon would otherwise lose while it
//! is down: the container's exit status (`exit.json` in the state directory, written
//! atomically before the monitor exits) and its output (the CRI log format, rotated
//! as the kubelet rotates it). The launch protocol is a subset of conmon's: the
//! `_OCI_SYNCPIPE` report, and an exit file. No async runtime and no allocation-heavy
//! dependencies: the monitor is small because a node runs a thousand of them.
//!
//! The daemon's side reads the same files through [`record`].

pub mod args;
pub mod cri;
pub mod oom;
mod process;
pub mod record;
pub mod runc;
mod session;
pub mod sync;
mod sys;

/// Runs the monitor with the process's arguments; returns its exit code.
pub fn main() -> i32 {
    let mut report = sync::take();
    match args::parse(std::env::args_os().skip(1).collect()) {
        Ok(args::Mode::Process(args)) => process::run(args, report),
        Ok(args::Mode::Runc(args)) => runc::run(args, report),
        Err(err) => {
            sync::failed(&mut report, &format!("hooklet-monitor: {err}"));
            2
        }
    }
}
