//! The process runtime's supervised mode: each container runs under its own
//! `hooklet-monitor process` (the `hooklet_monitor` crate), detached in a session of
//! its own, so containers outlive hooklet and are adopted again by a later one.
//!
//! The monitor reports the container's pid on its sync pipe (conmon's `_OCI_SYNCPIPE`,
//! here the monitor's stdout), records itself (`monitor`: pid, start time, boot id)
//! and the container (`pid`: pid, start time) in the container's directory, writes the
//! container's output to its CRI log and, before it exits, the exit status to
//! `exit.json`. hooklet waits for the monitor through a pidfd, the same way for a
//! container it started and for one it adopted: once the monitor has ended, the exit
//! file is complete, or missing because the monitor was killed (and the container
//! with it, by its parent-death signal).

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use hooklet_monitor::cri::Rotation;
use hooklet_monitor::record::{ProcessRecord, MONITOR_FILE, PID_FILE};
use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use tokio::process::Command;
use tokio::sync::watch;

use super::{base_env, ProcessRuntime};
use crate::runtime::monitor::{self, ExitFile, Launch};
use crate::runtime::{Adopted, ContainerConfig, ContainerId, ExitStatus};

/// Where monitors keep their state, the monitor program, and log rotation.
#[derive(Debug, Clone)]
pub struct Supervision {
    pub run_dir: PathBuf,
    /// The `hooklet-monitor` binary.
    pub monitor: PathBuf,
    pub rotation: Rotation,
}

impl Supervision {
    fn dir(&self, id: &ContainerId) -> PathBuf {
        self.run_dir.join(&id.0)
    }
}

/// Starts `config` under a monitor; returns the container's process group.
pub(super) async fn start(sup: &Supervision, id: &ContainerId, config: &ContainerConfig, log: &Path, exit: watch::Sender<Option<ExitStatus>>) -> anyhow::Result<i32> {
    let dir = sup.dir(id);
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create monitor directory {}", dir.display()))?;
    let mut cmd = Command::new(&sup.monitor);
    cmd.arg("process").arg("--dir").arg(&dir).arg("--log").arg(log);
    cmd.arg("--log-max-size").arg(sup.rotation.max_size.to_string());
    cmd.arg("--log-max-files").arg(sup.rotation.max_files.to_string());
    if let Some(w) = &config.working_dir {
        cmd.arg("--workdir").arg(w);
    }
    cmd.arg("--").args(&config.argv);
    cmd.env_clear().envs(base_env(config));
    let (pid, monitor) = match monitor::launch(cmd, &dir).await? {
        Launch::Started { pid, monitor } => (pid, monitor),
        Launch::Failed(message) => bail!("failed to start container {:?}: {message}", config.name),
    };
    if !watch_monitor(dir.clone(), id, &monitor, pid, exit.clone()) {
        // It ended already: the container too, with its exit recorded (or not).
        exit.send_replace(Some(exit_of_dead_monitor(&dir, id, pid)));
    }
    Ok(pid)
}

/// Watches the monitor of `record` until it ends, then sends the container's exit.
/// `false` when the monitor does not run (any more).
fn watch_monitor(dir: PathBuf, id: &ContainerId, record: &ProcessRecord, pgid: i32, exit: watch::Sender<Option<ExitStatus>>) -> bool {
    let id = id.clone();
    monitor::watch(record, async move {
        exit.send_replace(Some(exit_of_dead_monitor(&dir, &id, pgid)));
    })
}

/// The exit status of a container whose monitor has ended; when the monitor was killed
/// before recording it (the container was killed with it, by its parent-death signal),
/// what it left in its process group is killed (the group id cannot be reused while
/// any of them lives).
fn exit_of_dead_monitor(dir: &Path, id: &ContainerId, pgid: i32) -> ExitStatus {
    let file = ExitFile::read(dir);
    if !matches!(file, ExitFile::Recorded(_)) {
        let _ = killpg(Pid::from_raw(pgid), Signal::SIGKILL);
    }
    file.status_after_monitor(&id.0)
}

/// Takes over a container started by an earlier hooklet; see [`crate::runtime::Runtime::adopt`].
pub(super) async fn adopt(runtime: &ProcessRuntime, sup: &Supervision, id: &ContainerId, config: ContainerConfig) -> anyhow::Result<Adopted> {
    let dir = sup.dir(id);
    let Some(pid) = dir.is_dir().then(|| ProcessRecord::read(&dir, PID_FILE)).flatten().map(|r| r.pid) else {
        // Never created, removed, or created but never started (no pid reported).
        return Ok(Adopted::Unknown);
    };
    let (exit, _) = watch::channel(None);
    let adopted = match ExitFile::read(&dir) {
        ExitFile::Missing if ProcessRecord::read(&dir, MONITOR_FILE).is_some_and(|m| watch_monitor(dir.clone(), id, &m, pid, exit.clone())) => Adopted::Running,
        // Exited (the monitor with it), or the monitor was killed on its own.
        _ => {
            let status = exit_of_dead_monitor(&dir, id, pid);
            exit.send_replace(Some(status.clone()));
            Adopted::Exited(status)
        }
    };
    runtime.insert(id.clone(), config, Some(pid), exit);
    Ok(adopted)
}

/// Removes a container's monitor state.
pub(super) fn forget(sup: &Supervision, id: &ContainerId) {
    let _ = std::fs::remove_dir_all(sup.dir(id));
}

/// See [`ProcessRuntime::reap_orphans`].
pub(super) fn reap_orphans(sup: &Supervision, known: &std::collections::HashSet<String>) -> Vec<String> {
    let mut reaped = Vec::new();
    for entry in std::fs::read_dir(&sup.run_dir).into_iter().flatten().flatten() {
        let Some(id) = entry.file_name().to_str().map(str::to_string) else { continue };
        if known.contains(&id) {
            continue;
        }
        // Only a container that still runs: a recorded pid may be another process's now.
        let live = ProcessRecord::read(&entry.path(), PID_FILE).filter(|r| r.is_live());
        if let Some(record) = live.filter(|_| ExitFile::read(&entry.path()) == ExitFile::Missing) {
            let _ = killpg(Pid::from_raw(record.pid), Signal::SIGKILL);
        }
        let _ = std::fs::remove_dir_all(entry.path());
        reaped.push(id);
    }
    reaped
}

