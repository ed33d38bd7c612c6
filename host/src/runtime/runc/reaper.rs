//! Observing the exits of container init processes.
//!
//! `runc create` leaves the container's init process behind and exits; the init is
//! re-parented to the nearest *child subreaper*. hooklet makes itself one
//! (`PR_SET_CHILD_SUBREAPER`), so every container init becomes its child and its exit
//! status can be collected with `waitid`, driven by `SIGCHLD` rather than polling.
//!
//! The exit is first *observed* without reaping (`WNOWAIT`), handed to the
//! registered callback, and only then reaped: while the callback runs (it records the
//! exit and reads the container's cgroup for an OOM kill) the pid cannot be reused, so
//! a signal sent by the runtime before the exit was recorded never reaches another
//! process. Only registered pids are ever waited for, so tokio's own children (and
//! their exit statuses) are left alone.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use nix::sys::wait::{waitid, waitpid, Id, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::Notify;

/// Called once with the exit of a registered pid, before the pid is reaped; `None`
/// when the pid cannot be waited for (it is not a child of this process).
pub type OnExit = Box<dyn FnOnce(Option<WaitStatus>) + Send>;

/// Collects the exits of registered child pids. See the module docs.
#[derive(Clone)]
pub struct Reaper {
    watched: Arc<Mutex<HashMap<i32, OnExit>>>,
    check: Arc<Notify>,
}

impl Reaper {
    /// Makes this process a child subreaper and starts the task that collects exits.
    /// Must run inside a tokio runtime.
    pub fn start() -> anyhow::Result<Reaper> {
        nix::sys::prctl::set_child_subreaper(true)
            .map_err(|err| anyhow::anyhow!("cannot become a child subreaper (prctl PR_SET_CHILD_SUBREAPER): {err}"))?;
        let mut sigchld = signal(SignalKind::child())
            .map_err(|err| anyhow::anyhow!("cannot listen for SIGCHLD: {err}"))?;
        let reaper = Reaper { watched: Arc::default(), check: Arc::new(Notify::new()) };
        let task = reaper.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    got = sigchld.recv() => if got.is_none() { return },
                    _ = task.check.notified() => {}
                }
                task.collect();
                if Arc::strong_count(&task.watched) == 1 {
                    return; // every handle is gone
                }
            }
        });
        Ok(reaper)
    }

    /// Calls `on_exit` when `pid` (a child of this process) exits, or soon if it
    /// already has.
    pub fn watch(&self, pid: i32, on_exit: OnExit) {
        self.watched.lock().unwrap_or_else(|e| e.into_inner()).insert(pid, on_exit);
        self.check.notify_one();
    }

    /// Observes, reports and reaps every watched pid that has exited.
    fn collect(&self) {
        let mut watched = self.watched.lock().unwrap_or_else(|e| e.into_inner());
        let pids: Vec<i32> = watched.keys().copied().collect();
        for pid in pids {
            let flags = WaitPidFlag::WEXITED | WaitPidFlag::WNOHANG | WaitPidFlag::WNOWAIT;
            match waitid(Id::Pid(Pid::from_raw(pid)), flags) {
                Ok(WaitStatus::StillAlive) => {}
                Ok(status) => {
                    if let Some(on_exit) = watched.remove(&pid) {
                        on_exit(Some(status));
                    }
                    let _ = waitpid(Pid::from_raw(pid), Some(WaitPidFlag::WNOHANG));
                }
                Err(err) => {
                    // Not our child (ECHILD): it can never be waited for.
                    tracing::warn!(pid, "cannot wait for container process: {err}");
                    if let Some(on_exit) = watched.remove(&pid) {
                        on_exit(None);
                    }
                }
            }
        }
    }
}
