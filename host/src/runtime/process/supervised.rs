//! The process runtime's supervised mode: containers run under `hooklet __supervise`
//! (see [`super::supervisor`]) so they outlive hooklet and can be adopted again.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{anyhow, bail, Context};
use nix::unistd::Pid;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;
use tokio::sync::watch;

use super::supervisor::{killed_with_supervisor, read_exit, read_live_pid, read_pid};
use super::{base_env, ProcessRuntime};
use crate::runtime::{Adopted, ContainerConfig, ContainerId, ExitStatus};

/// How often an adopted container (not hooklet's child) is checked for its exit.
const ADOPTED_POLL: Duration = Duration::from_millis(50);

/// Where supervisors keep their state, and the program to run as one.
#[derive(Debug, Clone)]
pub struct Supervision {
    pub run_dir: PathBuf,
    pub exe: PathBuf,
}

impl Supervision {
    fn dir(&self, id: &ContainerId) -> PathBuf {
        self.run_dir.join(&id.0)
    }
}

/// Starts `config` under a supervisor; returns the container's process group.
pub(super) async fn start(sup: &Supervision, id: &ContainerId, config: &ContainerConfig, log: &Path, exit: watch::Sender<Option<ExitStatus>>) -> anyhow::Result<i32> {
    let dir = sup.dir(id);
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create supervisor directory {}", dir.display()))?;
    let mut cmd = Command::new(&sup.exe);
    cmd.arg("__supervise").arg("--dir").arg(&dir).arg("--log").arg(log);
    if let Some(w) = &config.working_dir {
        cmd.arg("--workdir").arg(w);
    }
    cmd.arg("--").args(&config.argv);
    cmd.env_clear()
        .envs(base_env(config))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .process_group(0);
    let mut child = cmd.spawn().with_context(|| format!("cannot run the container supervisor {}", sup.exe.display()))?;
    let stdout = child.stdout.take().expect("stdout is piped");
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).await.context("reading the supervisor's report")?;
    let pid = match line.trim_end().split_once(' ') {
        Some(("started", pid)) => pid.parse::<i32>().map_err(|_| anyhow!("supervisor reported {line:?}"))?,
        Some(("error", message)) => bail!("failed to start container {:?}: {message}", config.name),
        _ => bail!("failed to start container {:?}: the supervisor ended without a report", config.name),
    };
    tokio::spawn(async move {
        let _ = child.wait().await;
        let status = read_exit(&dir).unwrap_or_else(|| {
            // Killed on its own: the container died with it, but what it started in its
            // process group did not. The group id cannot be reused while any of them lives.
            let _ = nix::sys::signal::killpg(Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
            killed_with_supervisor()
        });
        exit.send_replace(Some(status));
    });
    Ok(pid)
}

/// Takes over a container started by an earlier hooklet; see [`crate::runtime::Runtime::adopt`].
pub(super) async fn adopt(runtime: &ProcessRuntime, sup: &Supervision, id: &ContainerId, config: ContainerConfig) -> anyhow::Result<Adopted> {
    let dir = sup.dir(id);
    if !dir.is_dir() {
        return Ok(Adopted::Unknown);
    }
    let Some(pid) = read_pid(&dir) else {
        // Created but never started (its supervisor never reported a pid).
        return Ok(Adopted::Unknown);
    };
    let (exit, _) = watch::channel(read_exit(&dir));
    let current = exit.borrow().clone();
    let adopted = match current {
        Some(status) => Adopted::Exited(status),
        None if read_live_pid(&dir).is_some() => Adopted::Running,
        None => {
            // The supervisor may be writing the status right now.
            tokio::time::sleep(Duration::from_millis(200)).await;
            let status = read_exit(&dir).unwrap_or_else(killed_with_supervisor);
            exit.send_replace(Some(status.clone()));
            Adopted::Exited(status)
        }
    };
    if adopted == Adopted::Running {
        let (tx, dir) = (exit.clone(), dir.clone());
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(ADOPTED_POLL).await;
                if let Some(status) = read_exit(&dir) {
                    tx.send_replace(Some(status));
                    return;
                }
                if read_live_pid(&dir).is_none() {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    tx.send_replace(Some(read_exit(&dir).unwrap_or_else(killed_with_supervisor)));
                    return;
                }
            }
        });
    }
    runtime.insert(id.clone(), config, Some(pid), exit);
    Ok(adopted)
}

/// Removes a container's supervisor state.
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
        if let Some(pid) = read_live_pid(&entry.path()).filter(|_| read_exit(&entry.path()).is_none()) {
            let _ = nix::sys::signal::killpg(Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
        }
        let _ = std::fs::remove_dir_all(entry.path());
        reaped.push(id);
    }
    reaped
}
