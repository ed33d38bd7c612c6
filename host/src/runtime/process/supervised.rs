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
use std::process::Stdio;

use anyhow::{anyhow, Context};
use hooklet_monitor::cri::Rotation;
use hooklet_monitor::record::{ProcessRecord, EXIT_FILE, MONITOR_FILE, PID_FILE};
use hooklet_monitor::sync::SYNC_PIPE_ENV;
use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;
use tokio::sync::watch;

use super::{base_env, ProcessRuntime};
use crate::runtime::pidfd::PidFd;
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
    cmd.env_clear()
        .envs(base_env(config))
        .env(SYNC_PIPE_ENV, "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let mut child = cmd.spawn().with_context(|| format!("cannot run the container monitor {}", sup.monitor.display()))?;
    let stdout = child.stdout.take().expect("stdout is piped");
    let mut line = String::new();
    let read = BufReader::new(stdout).read_line(&mut line).await;
    // The monitor's first process exits at once (the monitor lives on detached).
    let _ = child.wait().await;
    read.context("reading the monitor's report")?;
    let pid = parse_report(&line).map_err(|message| anyhow!("failed to start container {:?}: {message}", config.name))?;
    let monitor = ProcessRecord::read(&dir, MONITOR_FILE).ok_or_else(|| anyhow!("the monitor of container {:?} left no record in {}", config.name, dir.display()))?;
    if !watch_monitor(dir.clone(), &monitor, pid, exit.clone()) {
        // It ended already: the container too, with its exit recorded (or not).
        exit.send_replace(Some(exit_of_dead_monitor(&dir, pid)));
    }
    Ok(pid)
}

/// The pid in a monitor's sync-pipe report, or why the container did not start.
fn parse_report(line: &str) -> Result<i32, String> {
    if line.trim().is_empty() {
        return Err("the monitor ended without a report".to_string());
    }
    let report: serde_json::Value = serde_json::from_str(line).map_err(|_| format!("the monitor reported {line:?}"))?;
    match report["data"].as_i64() {
        Some(pid) if pid > 0 => i32::try_from(pid).map_err(|_| format!("the monitor reported pid {pid}")),
        _ => Err(report["message"].as_str().unwrap_or("the monitor reported no pid").to_string()),
    }
}

/// Watches the monitor of `record` until it ends, then sends the container's exit.
/// `false` when the monitor does not run (any more).
fn watch_monitor(dir: PathBuf, record: &ProcessRecord, pgid: i32, exit: watch::Sender<Option<ExitStatus>>) -> bool {
    let Some(pidfd) = PidFd::open(record) else { return false };
    tokio::spawn(async move {
        pidfd.exited().await;
        exit.send_replace(Some(exit_of_dead_monitor(&dir, pgid)));
    });
    true
}

/// The exit status of a container whose monitor has ended: the recorded one, or, when
/// the monitor was killed before recording it, that of a container killed with its
/// monitor (SIGKILL, by its parent-death signal), after killing what it left in its
/// process group (the group id cannot be reused while any of them lives).
fn exit_of_dead_monitor(dir: &Path, pgid: i32) -> ExitStatus {
    read_exit(dir).unwrap_or_else(|| {
        let _ = killpg(Pid::from_raw(pgid), Signal::SIGKILL);
        killed_with_supervisor()
    })
}

/// Takes over a container started by an earlier hooklet; see [`crate::runtime::Runtime::adopt`].
pub(super) async fn adopt(runtime: &ProcessRuntime, sup: &Supervision, id: &ContainerId, config: ContainerConfig) -> anyhow::Result<Adopted> {
    let dir = sup.dir(id);
    let Some(pid) = dir.is_dir().then(|| ProcessRecord::read(&dir, PID_FILE)).flatten().map(|r| r.pid) else {
        // Never created, removed, or created but never started (no pid reported).
        return Ok(Adopted::Unknown);
    };
    let recorded = read_exit(&dir);
    let (exit, _) = watch::channel(recorded.clone());
    let adopted = match recorded {
        Some(status) => Adopted::Exited(status),
        None if ProcessRecord::read(&dir, MONITOR_FILE).is_some_and(|m| watch_monitor(dir.clone(), &m, pid, exit.clone())) => Adopted::Running,
        None => {
            let status = exit_of_dead_monitor(&dir, pid);
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
        if let Some(record) = live.filter(|_| read_exit(&entry.path()).is_none()) {
            let _ = killpg(Pid::from_raw(record.pid), Signal::SIGKILL);
        }
        let _ = std::fs::remove_dir_all(entry.path());
        reaped.push(id);
    }
    reaped
}

/// The exit status of a container whose monitor ended without recording one: the
/// monitor was killed, and the container with it (SIGKILL, by its parent-death signal).
pub fn killed_with_supervisor() -> ExitStatus {
    tracing::warn!("a container's monitor was killed without recording the exit; the container was killed with it");
    ExitStatus::now(None, Some(9))
}

/// The exit status recorded in `dir`, if the container has exited.
pub fn read_exit(dir: &Path) -> Option<ExitStatus> {
    let bytes = std::fs::read(dir.join(EXIT_FILE)).ok()?;
    serde_json::from_slice(&bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_are_read_as_conmon_writes_them() {
        assert_eq!(parse_report("{\"data\": 42}\n"), Ok(42));
        let err = parse_report("{\"data\": -1, \"message\": \"cannot run \\\"nope\\\"\"}\n").unwrap_err();
        assert_eq!(err, "cannot run \"nope\"");
        assert!(parse_report("").unwrap_err().contains("without a report"));
        assert!(parse_report("garbage").unwrap_err().contains("reported \"garbage\""));
    }

    #[test]
    fn the_monitors_exit_file_is_an_exit_status() {
        let dir = tempfile::tempdir().unwrap();
        let json = hooklet_monitor::record::exit_json(3, None, std::time::SystemTime::now());
        std::fs::write(dir.path().join(EXIT_FILE), json).unwrap();
        let status = read_exit(dir.path()).unwrap();
        assert_eq!((status.exit_code, status.signal, status.oom_killed), (3, None, false));
    }
}
