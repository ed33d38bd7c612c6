//! runc containers under their monitors (`hooklet-monitor runc`, one per container,
//! as conmon runs runc for CRI-O): the monitor runs `runc create` with pipes for the
//! container's stdout and stderr, is the init's parent (a child subreaper in a
//! session of its own, so the container outlives the daemon), reports the init's pid
//! on the sync pipe, writes the CRI log and, when the init exits, `exit.json` with the
//! exit code, signal and OOM kill. The daemon runs `runc start`, waits for the monitor
//! through a pidfd and signals the init through another.
//!
//! Files in the bundle directory, besides the bundle: `monitor` (the monitor's pid,
//! start time, boot id), `pid` (the init's pid and start time), `exit.json`,
//! `runc.log` / `runc.pid` (runc's own), and `meta.json` (the daemon's: the stop
//! signal, so that adoption does not depend on the image still being stored).

use std::path::Path;

use anyhow::{anyhow, bail, Context};
use hooklet_monitor::cri::Rotation;
use hooklet_monitor::record::{ProcessRecord, MONITOR_FILE, PID_FILE};
use hooklet_monitor::runc::RUNC_LOG_FILE;
use nix::sys::signal::Signal;
use serde::{Deserialize, Serialize};
use tokio::process::Command;
use tokio::sync::watch;

use super::cli::{self, Runc};
use crate::runtime::monitor::{self, ExitFile, Launch};
use crate::runtime::pidfd::PidFd;
use crate::runtime::{ExitStatus, DEFAULT_PATH};

/// What the daemon keeps about a container for a later daemon.
const META_FILE: &str = "meta.json";

#[derive(Debug, Serialize, Deserialize)]
struct Meta {
    stop_signal: i32,
}

/// The monitor program and how it rotates logs.
#[derive(Debug, Clone)]
pub struct MonitorConfig {
    /// The `hooklet-monitor` binary.
    pub program: std::path::PathBuf,
    pub rotation: Rotation,
}

/// Records what a later daemon needs to adopt the container of `bundle`.
pub fn write_meta(bundle: &Path, stop_signal: Signal) -> anyhow::Result<()> {
    let text = serde_json::to_vec(&Meta { stop_signal: stop_signal as i32 })?;
    std::fs::write(bundle.join(META_FILE), text).with_context(|| format!("cannot write {}", bundle.join(META_FILE).display()))
}

/// The stop signal recorded for the container of `bundle` (TERM, with a warning, when
/// the record is missing or damaged).
pub fn read_stop_signal(bundle: &Path) -> Signal {
    let path = bundle.join(META_FILE);
    let meta = std::fs::read(&path).map_err(|e| e.to_string()).and_then(|b| serde_json::from_slice::<Meta>(&b).map_err(|e| e.to_string()));
    match meta.and_then(|m| Signal::try_from(m.stop_signal).map_err(|e| e.to_string())) {
        Ok(signal) => signal,
        Err(err) => {
            tracing::warn!(file = %path.display(), "the container's stop signal is unreadable ({err}); using SIGTERM");
            Signal::SIGTERM
        }
    }
}

/// Creates container `id` from `bundle` under a new monitor writing `log`; returns the
/// init's record once runc has created it (it waits for `runc start`).
pub async fn create(config: &MonitorConfig, runc: &Runc, bundle: &Path, id: &str, log: &Path) -> anyhow::Result<(ProcessRecord, ProcessRecord)> {
    if let Some(dir) = log.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create log directory {}", dir.display()))?;
    }
    let mut cmd = Command::new(&config.program);
    cmd.arg("runc").arg("--dir").arg(bundle).arg("--log").arg(log);
    cmd.arg("--log-max-size").arg(config.rotation.max_size.to_string());
    cmd.arg("--log-max-files").arg(config.rotation.max_files.to_string());
    cmd.arg("--runc").arg(&runc.binary).arg("--root").arg(&runc.root).arg("--bundle").arg(bundle).arg("--id").arg(id);
    cmd.env_clear().env("PATH", DEFAULT_PATH);
    match monitor::launch(cmd, bundle).await? {
        Launch::Started { monitor, .. } => {
            let init = ProcessRecord::read(bundle, PID_FILE).ok_or_else(|| anyhow!("the monitor of container {id} recorded no init pid"))?;
            Ok((monitor, init))
        }
        Launch::Failed(message) => match cli::last_error(&bundle.join(RUNC_LOG_FILE)) {
            Some(error) => bail!("runc create failed: {error}"),
            None => bail!("the container's monitor failed: {message}"),
        },
    }
}

/// Sends the container's exit once its monitor (`record`) has ended: the recorded
/// exit, or, when the monitor was killed on its own, 137 after killing the container
/// (it must not run unsupervised). `false` when the monitor does not run.
pub fn watch(runc: &Runc, bundle: &Path, id: &str, record: &ProcessRecord, exit: watch::Sender<Option<ExitStatus>>) -> bool {
    let (runc, bundle, id) = (runc.clone(), bundle.to_path_buf(), id.to_string());
    monitor::watch(record, async move {
        exit.send_replace(Some(exit_after_monitor(&runc, &bundle, &id).await));
    })
}

/// The exit of a container whose monitor has ended (see [`watch`]).
pub async fn exit_after_monitor(runc: &Runc, bundle: &Path, id: &str) -> ExitStatus {
    let file = ExitFile::read(bundle);
    if !matches!(file, ExitFile::Recorded(_)) {
        match runc.run(&bundle.join("kill.log"), &["kill", id, "KILL"]).await {
            Err(err) if format!("{err:#}").contains("does not exist") => {
                tracing::warn!(container = %id, "runc no longer knows the container, and its monitor is gone without recording the exit")
            }
            Err(err) => tracing::debug!(container = %id, "killing the container of a dead monitor: {err:#}"),
            Ok(()) => {}
        }
    }
    file.status_after_monitor(id)
}

/// What an earlier daemon's container is now.
pub enum Found {
    /// Its monitor runs; the init's pid and pidfd, if the init still runs.
    Running { monitor: ProcessRecord, init: Option<(i32, PidFd)> },
    /// It has exited (or was killed with its monitor); this is how.
    Exited(ExitStatus),
    /// Nothing to adopt: no monitor was ever recorded.
    Unknown,
}

/// Finds the container of `bundle` as an earlier daemon left it.
pub async fn find(runc: &Runc, bundle: &Path, id: &str) -> Found {
    let Some(monitor) = ProcessRecord::read(bundle, MONITOR_FILE) else { return Found::Unknown };
    match ExitFile::read(bundle) {
        ExitFile::Missing if monitor.is_live() => {
            let init = ProcessRecord::read(bundle, PID_FILE).and_then(|r| Some((r.pid, PidFd::open(&r)?)));
            Found::Running { monitor, init }
        }
        _ => Found::Exited(exit_after_monitor(runc, bundle, id).await),
    }
}
