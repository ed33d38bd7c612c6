//! The daemon's side of a container monitor (`hooklet-monitor`, one per container,
//! in either runtime): launching it and reading its report from the sync pipe
//! (conmon's `_OCI_SYNCPIPE`, here the monitor's stdout), watching it through a pidfd
//! (the same way for a container this daemon started and for one it adopted), and
//! reading the exit file it leaves. Once the monitor has ended, the exit file is
//! complete, or missing because the monitor was killed on its own.

use std::future::Future;
use std::path::Path;
use std::process::Stdio;

use anyhow::Context;
use hooklet_monitor::record::{ProcessRecord, EXIT_FILE, MONITOR_FILE};
use hooklet_monitor::sync::SYNC_PIPE_ENV;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

use super::pidfd::PidFd;
use super::ExitStatus;

/// Exit code of a container whose exit file is damaged: the monitor recorded an exit
/// nobody can read (containerd's `UnknownExitStatus`).
pub const UNKNOWN_EXIT_CODE: i32 = 255;

/// What a monitor reported on its sync pipe.
#[derive(Debug)]
pub enum Launch {
    /// The container's process runs (or, under runc, is created) as `pid`, under
    /// the monitor of `monitor`.
    Started { pid: i32, monitor: ProcessRecord },
    /// Why the container could not be started.
    Failed(String),
}

/// Runs the monitor command `cmd` (its mode and flags set), whose state directory is
/// `dir`, and reads its report.
pub async fn launch(mut cmd: Command, dir: &Path) -> anyhow::Result<Launch> {
    cmd.env(SYNC_PIPE_ENV, "1").stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::null());
    let program = cmd.as_std().get_program().to_owned();
    let mut child = cmd.spawn().with_context(|| format!("cannot run the container monitor {}", Path::new(&program).display()))?;
    let stdout = child.stdout.take().expect("stdout is piped");
    let mut line = String::new();
    let read = BufReader::new(stdout).read_line(&mut line).await;
    // The monitor's first process exits at once (the monitor lives on detached).
    let _ = child.wait().await;
    read.context("reading the monitor's report")?;
    let pid = match parse_report(&line) {
        Ok(pid) => pid,
        Err(message) => return Ok(Launch::Failed(message)),
    };
    let monitor = ProcessRecord::read(dir, MONITOR_FILE).ok_or_else(|| anyhow::anyhow!("the container's monitor left no record in {}", dir.display()))?;
    Ok(Launch::Started { pid, monitor })
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

/// Runs `then` once the monitor of `record` has ended. `false` (and `then` dropped)
/// when it does not run (any more). Must run inside a tokio runtime.
pub fn watch(record: &ProcessRecord, then: impl Future<Output = ()> + Send + 'static) -> bool {
    let Some(pidfd) = PidFd::open(record) else { return false };
    tokio::spawn(async move {
        pidfd.exited().await;
        then.await;
    });
    true
}

/// A monitor's exit file.
#[derive(Debug, Clone, PartialEq)]
pub enum ExitFile {
    /// The container's exit, as the monitor recorded it.
    Recorded(ExitStatus),
    /// No exit recorded (yet): a monitor that ended without one was killed.
    Missing,
    /// A file that is not an exit status (truncated, overwritten): why.
    Damaged(String),
}

impl ExitFile {
    /// The exit file in `dir`.
    pub fn read(dir: &Path) -> ExitFile {
        let path = dir.join(EXIT_FILE);
        match std::fs::read(&path) {
            Ok(bytes) => match serde_json::from_slice(&bytes) {
                Ok(status) => ExitFile::Recorded(status),
                Err(err) => ExitFile::Damaged(format!("{} is not an exit status ({err})", path.display())),
            },
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => ExitFile::Missing,
            Err(err) => ExitFile::Damaged(format!("cannot read {}: {err}", path.display())),
        }
    }

    /// The exit status of a container whose monitor has ended: the recorded one; for a
    /// missing file, that of a container killed with its monitor (137: the caller
    /// kills what is left); for a damaged one, an unknown exit (255). The last two are
    /// logged as warnings naming the container.
    pub fn status_after_monitor(self, container: &str) -> ExitStatus {
        match self {
            ExitFile::Recorded(status) => status,
            ExitFile::Missing => {
                tracing::warn!(container, "the container's monitor ended without recording the exit (it was killed); the container was killed with it (exit code 137)");
                ExitStatus::now(None, Some(9))
            }
            ExitFile::Damaged(why) => {
                tracing::warn!(container, "the container's exit file is damaged: {why}; its exit is recorded as unknown (exit code {UNKNOWN_EXIT_CODE})");
                ExitStatus::code(UNKNOWN_EXIT_CODE)
            }
        }
    }
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
    fn exit_files_are_read_missing_or_damaged() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(ExitFile::read(dir.path()), ExitFile::Missing);
        assert_eq!(ExitFile::Missing.status_after_monitor("c").exit_code, 137);
        let json = hooklet_monitor::record::exit_json(137, Some(9), true, std::time::SystemTime::now(), &Default::default());
        std::fs::write(dir.path().join(EXIT_FILE), json).unwrap();
        let ExitFile::Recorded(status) = ExitFile::read(dir.path()) else { panic!("not recorded") };
        assert_eq!((status.exit_code, status.signal, status.oom_killed), (137, Some(9), true));
        std::fs::write(dir.path().join(EXIT_FILE), "{\"exit_code\":3,\"sig").unwrap();
        let damaged = ExitFile::read(dir.path());
        assert!(matches!(&damaged, ExitFile::Damaged(why) if why.contains("exit.json is not an exit status")), "{damaged:?}");
        assert_eq!(damaged.status_after_monitor("c").exit_code, UNKNOWN_EXIT_CODE);
    }
}
