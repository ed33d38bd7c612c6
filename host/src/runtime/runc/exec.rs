//! Exec hooks: `runc exec` inside the container, in a cgroup of their own.
//!
//! The command runs in the container's namespaces with its user, environment (plus
//! the delivery's variables) and working directory, as `runc exec` gives them. It is
//! put in a fresh child cgroup of the container's, so its CPU time and peak memory
//! are read when it ends; dropping the future (a cancelled hook) kills `runc exec`
//! and everything in that cgroup. A command that cannot be started reports exit code
//! 126 with runc's reason on stdout, the shape the CRI gives the kubelet.

use std::path::Path;
use std::process::Stdio;

use anyhow::Context;

use super::cgroup::ContainerCgroups;
use super::cli::{self, Runc};
use crate::runtime::{ContainerId, ExecRequest, ExecResult, ExitStatus};

/// Runs `request` in container `id` (whose bundle is `bundle`) and waits for it.
pub async fn run(
    runc: &Runc,
    id: &ContainerId,
    bundle: &Path,
    cgroups: Option<&ContainerCgroups>,
    mut request: ExecRequest,
) -> anyhow::Result<ExecResult> {
    anyhow::ensure!(!request.argv.is_empty(), "exec needs a command");
    let name = format!("hook-{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
    let cgroup = match cgroups.map(|c| c.exec_cgroup(&name)).transpose() {
        Ok(cgroup) => cgroup,
        Err(err) => {
            tracing::warn!(container = %id, "exec without its own cgroup (no usage recorded): {err:#}");
            None
        }
    };
    let log = bundle.join(format!("{name}.log"));
    let _log_guard = RemoveOnDrop(&log);
    let mut cmd = runc.command(&log);
    cmd.arg("exec");
    for arg in cgroup.iter().flat_map(|c| c.runc_args()) {
        cmd.arg("--cgroup").arg(arg);
    }
    for (key, value) in &request.extra_env {
        cmd.arg("--env").arg(format!("{key}={value}"));
    }
    cmd.arg(&id.0).args(&request.argv).stdin(request.stdio.stdin()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().context("cannot run runc exec")?;
    let finished = request.stdio.run(&mut child, request.output_limit).await;
    let status = finished.status.context("waiting for runc exec")?;
    let usage = cgroup.as_ref().map(|c| c.usage());
    drop(cgroup);
    if !status.success() {
        if let Some(error) = cli::last_error(&log) {
            if error.starts_with("exec failed:") {
                return Ok(ExecResult { usage, ..request.stdio.cannot_run(error).await });
            }
            anyhow::bail!("runc exec in container {id}: {error}");
        }
    }
    let exit_code = ExitStatus::of(status).exit_code;
    Ok(ExecResult { exit_code, stdout: finished.stdout, stderr: finished.stderr, dropped_bytes: finished.dropped_bytes, usage })
}

/// Deletes runc's log of one exec when the exec ends or is cancelled.
struct RemoveOnDrop<'a>(&'a Path);

impl Drop for RemoveOnDrop<'_> {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(self.0);
    }
}
