//! Calling the `runc` binary.
//!
//! Every call passes `--root` (hooklet's own runc state directory, so hooklet never
//! sees or touches containers of other tools) and `--log FILE --log-format json`:
//! runc's own errors land in that file as JSON lines, apart from the container
//! process's stdout and stderr, so a failure of runc (`exec failed: …`) is never
//! confused with a process that printed something and exited non-zero.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use anyhow::Context;
use tokio::process::Command;

/// The runc binary and hooklet's state directory for it.
#[derive(Debug, Clone)]
pub struct Runc {
    pub binary: PathBuf,
    /// `runc --root`.
    pub root: PathBuf,
}

impl Runc {
    /// A `runc` command with the global flags; runc's errors go to `log`.
    pub fn command(&self, log: &Path) -> Command {
        let mut cmd = Command::new(&self.binary);
        cmd.arg("--root").arg(&self.root).arg("--log").arg(log).arg("--log-format").arg("json");
        cmd.stdin(Stdio::null()).kill_on_drop(true);
        cmd
    }

    /// Checks that the binary runs and returns its first version line.
    pub async fn version(&self) -> anyhow::Result<String> {
        let out = Command::new(&self.binary).arg("--version").output().await.with_context(|| {
            format!(
                "cannot run {} (the runc runtime needs Debian's runc package: apt-get install runc)",
                self.binary.display()
            )
        })?;
        let text = String::from_utf8_lossy(&out.stdout);
        Ok(text.lines().next().unwrap_or("runc").to_string())
    }

    /// Runs a runc subcommand to completion; its error (from the log) on failure.
    pub async fn run(&self, log: &Path, args: &[&str]) -> anyhow::Result<()> {
        let _ = std::fs::remove_file(log);
        let out = self
            .command(log)
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .output()
            .await
            .with_context(|| format!("cannot run {}", self.binary.display()))?;
        if out.status.success() {
            return Ok(());
        }
        let error = last_error(log).unwrap_or_else(|| String::from_utf8_lossy(&out.stderr).trim().to_string());
        anyhow::bail!("runc {} failed: {error}", args.first().copied().unwrap_or_default())
    }

    /// Ids of the containers in hooklet's runc state directory.
    pub async fn list(&self, log: &Path) -> anyhow::Result<Vec<String>> {
        let out = self
            .command(log)
            .args(["list", "--quiet"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .output()
            .await
            .with_context(|| format!("cannot run {}", self.binary.display()))?;
        Ok(String::from_utf8_lossy(&out.stdout).lines().map(str::to_string).filter(|l| !l.is_empty()).collect())
    }
}

/// The message of the last error runc logged in `log` (JSON lines), if any.
pub fn last_error(log: &Path) -> Option<String> {
    let text = std::fs::read_to_string(log).ok()?;
    text.lines().rev().find_map(|line| {
        let entry: serde_json::Value = serde_json::from_str(line).ok()?;
        (entry["level"] == "error" || entry["level"] == "fatal").then(|| entry["msg"].as_str().unwrap_or_default().to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_error_line_is_found() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("runc.log");
        std::fs::write(
            &log,
            "{\"level\":\"warning\",\"msg\":\"w\"}\n{\"level\":\"error\",\"msg\":\"exec failed: unable to start container process: exec: \\\"x\\\": executable file not found in $PATH\"}\n",
        )
        .unwrap();
        assert_eq!(
            last_error(&log).unwrap(),
            "exec failed: unable to start container process: exec: \"x\": executable file not found in $PATH"
        );
        std::fs::write(&log, "{\"level\":\"info\",\"msg\":\"fine\"}\n").unwrap();
        assert_eq!(last_error(&log), None);
    }
}
