//! Running the node tools the pod network is made with: iproute2's `ip` and
//! util-linux's `unshare`, `nsenter`, `mount` and `umount`. These calls block; the
//! module runs them on blocking threads only. hooklet itself never enters a
//! namespace: `nsenter` and `unshare` do, in child processes.

use std::ffi::OsStr;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use anyhow::{bail, Context};

/// The programs needed and the Debian package of each.
const TOOLS: &[(&str, &str)] = &[
    ("ip", "iproute2"),
    ("unshare", "util-linux"),
    ("nsenter", "util-linux"),
    ("mount", "mount"),
    ("umount", "mount"),
];

/// Checks that hooklet runs as root and that every tool is on `PATH`; the error names
/// what is missing and how to get it.
pub(super) fn check_prerequisites() -> anyhow::Result<()> {
    if !nix::unistd::Uid::effective().is_root() {
        bail!(
            "the pod network needs root (it creates network namespaces, veths and a bridge): \
             run hooklet as root, or use the `process` runtime"
        );
    }
    check_tools(&std::env::var_os("PATH").unwrap_or_default())
}

/// Checks that every tool is in a directory of `path` (a `PATH` value).
fn check_tools(path: &OsStr) -> anyhow::Result<()> {
    let missing: Vec<_> = TOOLS
        .iter()
        .filter(|(tool, _)| !std::env::split_paths(&path).any(|dir| is_executable(&dir.join(tool))))
        .collect();
    if !missing.is_empty() {
        let tools: Vec<_> = missing.iter().map(|(t, _)| format!("`{t}`")).collect();
        let mut packages: Vec<_> = missing.iter().map(|(_, p)| *p).collect();
        packages.dedup();
        bail!(
            "the pod network needs {} on PATH: install them (Debian: `apt-get install {}`)",
            tools.join(", "),
            packages.join(" ")
        );
    }
    Ok(())
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata().is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// A command line that failed: what ran, how it ended, and its stderr.
#[derive(Debug, thiserror::Error)]
#[error("`{command}` failed ({status}): {stderr}")]
pub(super) struct CommandFailed {
    pub command: String,
    pub status: String,
    pub stderr: String,
}

/// Runs `program args…` (with `stdin` fed to it, if any) and returns its stdout. A
/// non-zero exit is a [`CommandFailed`] naming the command and its stderr.
pub(super) fn run(program: &str, args: &[&str], stdin: Option<&str>) -> anyhow::Result<String> {
    let command = std::iter::once(program).chain(args.iter().copied()).collect::<Vec<_>>().join(" ");
    tracing::debug!(%command, "pod network: running");
    let mut child = Command::new(program)
        .args(args)
        .stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot run `{program}`: is it installed and on PATH?"))?;
    if let (Some(input), Some(mut pipe)) = (stdin, child.stdin.take()) {
        // A failure to write shows in the exit status and stderr below.
        let _ = pipe.write_all(input.as_bytes());
    }
    let out = child.wait_with_output().with_context(|| format!("waiting for `{command}`"))?;
    if !out.status.success() {
        let mut stderr = String::from_utf8_lossy(&out.stderr).trim().to_string();
        if let Some(input) = stdin {
            stderr.push_str(&format!(" [input: {}]", input.trim().replace('\n', "; ")));
        }
        return Err(CommandFailed { command, status: out.status.to_string(), stderr }.into());
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Runs `ip args…`.
pub(super) fn ip(args: &[&str]) -> anyhow::Result<String> {
    run("ip", args, None)
}

/// Runs the `ip` commands in `batch` (one per line, stopping at the first failure) in
/// the network namespace `netns`, or in hooklet's own when `None`.
pub(super) fn ip_batch(netns: Option<&Path>, batch: &str) -> anyhow::Result<()> {
    match netns {
        None => run("ip", &["-batch", "-"], Some(batch)),
        Some(ns) => {
            let net = format!("--net={}", ns.display());
            run("nsenter", &[&net, "ip", "-batch", "-"], Some(batch))
        }
    }
    .map(drop)
}

/// Whether an error is `ip`'s "no such device".
pub(super) fn is_no_such_device(err: &anyhow::Error) -> bool {
    err.downcast_ref::<CommandFailed>().is_some_and(|f| {
        f.stderr.contains("does not exist") || f.stderr.contains("Cannot find device")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_tools_are_named_with_their_packages() {
        let e = check_tools(OsStr::new("/nonexistent")).unwrap_err().to_string();
        assert!(e.contains("`ip`, `unshare`, `nsenter`, `mount`, `umount`"), "{e}");
        assert!(e.contains("apt-get install iproute2 util-linux mount"), "{e}");
    }

    #[test]
    fn failures_name_the_command_and_its_stderr() {
        let e = run("sh", &["-c", "echo oops >&2; exit 3"], None).unwrap_err();
        let failed = e.downcast_ref::<CommandFailed>().unwrap();
        assert_eq!(failed.stderr, "oops");
        assert!(e.to_string().starts_with("`sh -c echo oops >&2; exit 3` failed (exit status: 3): oops"), "{e}");
        assert_eq!(run("sh", &["-c", "cat"], Some("in")).unwrap(), "in");
    }
}
