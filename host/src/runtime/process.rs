//! The `process` runtime: each container is a host process in its own process group.
//!
//! It needs no root and no images: a container runs its manifest `command` + `args`
//! with the manifest's `env` (over a minimal base environment, never hooklet's own)
//! in its `workingDir` (hooklet's working directory when unset). stdout and stderr go
//! to a log file per container under the runtime's log directory. The pod IP is
//! `127.0.0.1`. Exits are observed through the child's wait future (SIGCHLD), not by
//! polling. Exec hooks run as processes with the container's environment and working
//! directory; a dropped exec kills its whole process group.
//!
//! In **supervised** mode ([`ProcessRuntime::supervised`], used by `hooklet serve`)
//! each container runs under its own `hooklet-monitor` process ([`supervised`]), in a
//! session of its own, which records the container's pid and exit status in a
//! per-container directory and writes its output as a CRI log: containers outlive
//! hooklet, and a restarted hooklet adopts them ([`Runtime::adopt`]) with their exit
//! status and log.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Mutex;

use anyhow::{anyhow, bail, Context};
use async_trait::async_trait;
use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use tokio::process::Command;
use tokio::sync::watch;

use super::DEFAULT_PATH;
use super::{
    Adopted, ContainerConfig, ContainerId, ExecRequest, ExecResult, ExitStatus, PodRef, Runtime,
    Sandbox,
};
pub use supervised::Supervision;

pub mod supervised;


struct Entry {
    config: ContainerConfig,
    /// Process group id once started.
    pgid: Option<i32>,
    exit: watch::Sender<Option<ExitStatus>>,
}

/// Runs containers as host processes. See the module docs.
pub struct ProcessRuntime {
    log_dir: PathBuf,
    containers: Mutex<HashMap<ContainerId, Entry>>,
    /// Supervised mode: containers outlive hooklet and can be adopted.
    supervision: Option<Supervision>,
}

impl ProcessRuntime {
    /// A runtime that writes container logs under `log_dir` (created on demand).
    pub fn new(log_dir: impl Into<PathBuf>) -> Self {
        ProcessRuntime {
            log_dir: log_dir.into(),
            containers: Mutex::new(HashMap::new()),
            supervision: None,
        }
    }

    /// A runtime whose containers run under a per-container monitor process
    /// (`hooklet-monitor`, state under `run_dir`, CRI logs rotated as `rotation`
    /// says), so that they keep running when hooklet stops or crashes, and a later
    /// hooklet can [`Runtime::adopt`] them.
    pub fn supervised(log_dir: impl Into<PathBuf>, run_dir: impl Into<PathBuf>, monitor: impl Into<PathBuf>, rotation: hooklet_monitor::cri::Rotation) -> Self {
        ProcessRuntime {
            supervision: Some(Supervision { run_dir: run_dir.into(), monitor: monitor.into(), rotation }),
            ..Self::new(log_dir)
        }
    }

    /// Supervised mode: kills and forgets every supervised container whose id is not
    /// in `known` (instances a crashed hooklet started but never recorded). Returns them.
    pub fn reap_orphans(&self, known: &std::collections::HashSet<String>) -> Vec<String> {
        match &self.supervision {
            Some(sup) => supervised::reap_orphans(sup, known),
            None => Vec::new(),
        }
    }

    fn insert(&self, id: ContainerId, config: ContainerConfig, pgid: Option<i32>, exit: watch::Sender<Option<ExitStatus>>) {
        let entry = Entry { config, pgid, exit };
        self.containers.lock().unwrap_or_else(|e| e.into_inner()).insert(id, entry);
    }

    /// The log file of a container (stdout and stderr, appended across restarts).
    pub fn log_path(&self, pod: &PodRef, container: &str) -> PathBuf {
        super::output::container_log_path(&self.log_dir, pod, container)
    }

    fn with_entry<T>(
        &self,
        id: &ContainerId,
        f: impl FnOnce(&mut Entry) -> anyhow::Result<T>,
    ) -> anyhow::Result<T> {
        let mut map = self.containers.lock().unwrap_or_else(|e| e.into_inner());
        let entry = map
            .get_mut(id)
            .ok_or_else(|| anyhow!("no such container {id} in the process runtime"))?;
        f(entry)
    }
}

fn base_env(config: &ContainerConfig) -> Vec<(String, String)> {
    let mut env = vec![
        ("PATH".to_string(), DEFAULT_PATH.to_string()),
        ("HOSTNAME".to_string(), config.pod.name.clone()),
    ];
    env.extend(config.env.iter().cloned());
    env
}

fn command_for(argv: &[String], env: &[(String, String)], dir: Option<&Path>) -> Command {
    let mut cmd = Command::new(&argv[0]);
    cmd.args(&argv[1..]).env_clear().envs(env.iter().cloned()).process_group(0);
    if let Some(dir) = dir {
        cmd.current_dir(dir);
    }
    cmd
}

/// Kills a process group when dropped: cancelling an exec by dropping its future
/// takes the hook's children with it.
struct GroupGuard(Option<i32>);

impl Drop for GroupGuard {
    fn drop(&mut self) {
        if let Some(pgid) = self.0 {
            let _ = killpg(Pid::from_raw(pgid), Signal::SIGKILL);
        }
    }
}

#[async_trait]
impl Runtime for ProcessRuntime {
    fn name(&self) -> &'static str {
        "process"
    }

    async fn create_sandbox(&self, _pod: &PodRef) -> anyhow::Result<Sandbox> {
        Ok(Sandbox {
            ip: Some(IpAddr::V4(Ipv4Addr::LOCALHOST)),
        })
    }

    async fn remove_sandbox(&self, _pod: &PodRef) -> anyhow::Result<()> {
        Ok(())
    }

    async fn create(&self, config: ContainerConfig) -> anyhow::Result<ContainerId> {
        if config.argv.is_empty() {
            bail!(
                "container {:?} has no command: the process runtime runs the manifest's \
                 `command` and `args` as a host process and cannot run the entrypoint of \
                 image {:?}; add `command:` to the container",
                config.name,
                config.image
            );
        }
        let id = ContainerId(uuid::Uuid::new_v4().simple().to_string());
        let (exit, _) = watch::channel(None);
        self.insert(id.clone(), config, None, exit);
        Ok(id)
    }

    async fn start(&self, id: &ContainerId) -> anyhow::Result<()> {
        let config = self.with_entry(id, |e| Ok(e.config.clone()))?;
        let log_path = self.log_path(&config.pod, &config.name);
        if let Some(dir) = log_path.parent() {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create log directory {}", dir.display()))?;
        }
        if let Some(sup) = &self.supervision {
            let exit = self.with_entry(id, |e| Ok(e.exit.clone()))?;
            let pgid = supervised::start(sup, id, &config, &log_path, exit).await?;
            return self.with_entry(id, |e| {
                e.pgid = Some(pgid);
                Ok(())
            });
        }
        let log = super::output::open_log(&log_path)?;
        let mut cmd = command_for(&config.argv, &base_env(&config), config.working_dir.as_deref());
        cmd.stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log);
        let mut child = cmd.spawn().map_err(|err| {
            anyhow!(
                "failed to start container {:?}: cannot run {:?}{}: {err}",
                config.name,
                config.argv[0],
                config
                    .working_dir
                    .as_ref()
                    .map(|d| format!(" in working directory {}", d.display()))
                    .unwrap_or_default()
            )
        })?;
        let pgid = child.id().map(|pid| pid as i32);
        let exit_tx = self.with_entry(id, |e| {
            e.pgid = pgid;
            Ok(e.exit.clone())
        })?;
        tokio::spawn(async move {
            let status = match child.wait().await {
                Ok(status) => ExitStatus::of(status),
                Err(err) => {
                    tracing::error!("waiting for container process failed: {err}");
                    ExitStatus::code(255)
                }
            };
            // What is left of the container's process group goes with it, now: once the
            // exit is recorded nobody signals this pgid again (the pid may be reused).
            if let Some(pgid) = pgid {
                let _ = killpg(Pid::from_raw(pgid), Signal::SIGKILL);
            }
            exit_tx.send_replace(Some(status));
        });
        Ok(())
    }

    async fn exec(&self, id: &ContainerId, mut request: ExecRequest) -> anyhow::Result<ExecResult> {
        let config = self.with_entry(id, |e| Ok(e.config.clone()))?;
        let Some(program) = request.argv.first() else {
            bail!("exec needs a command");
        };
        let mut env = base_env(&config);
        env.extend(request.extra_env.iter().cloned());
        let mut cmd = command_for(&request.argv, &env, config.working_dir.as_deref());
        cmd.stdin(request.stdio.stdin())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = match cmd.spawn() {
            Ok(child) => child,
            Err(err) => {
                // The shape runc gives a missing binary: exit 126 and the reason on stdout.
                let reason = match err.kind() {
                    std::io::ErrorKind::NotFound => "executable file not found in $PATH".to_string(),
                    _ => err.to_string(),
                };
                let message = format!("exec failed: unable to start container process: exec: {program:?}: {reason}");
                return Ok(request.stdio.cannot_run(message).await);
            }
        };
        // Fires on cancellation (drop) and after the exec ends, reaping stragglers of
        // the hook's process group, as a container runtime does when an exec ends.
        let _guard = GroupGuard(child.id().map(|pid| pid as i32));
        let finished = request.stdio.run(&mut child, request.output_limit).await;
        let status = finished.status.context("waiting for exec process")?;
        Ok(ExecResult {
            exit_code: ExitStatus::of(status).exit_code,
            stdout: finished.stdout,
            stderr: finished.stderr,
            dropped_bytes: finished.dropped_bytes,
            usage: None,
        })
    }

    async fn signal(&self, id: &ContainerId, signal: Signal) -> anyhow::Result<()> {
        let (pgid, exited) = self.with_entry(id, |e| Ok((e.pgid, e.exit.borrow().is_some())))?;
        let Some(pgid) = pgid else {
            bail!("container {id} was never started");
        };
        if exited {
            // It was reaped (by its supervisor or by us) and its group killed: the pid may
            // belong to another process by now.
            return Ok(());
        }
        match killpg(Pid::from_raw(pgid), signal) {
            Ok(()) | Err(nix::errno::Errno::ESRCH) => Ok(()),
            Err(err) => Err(anyhow!("sending {signal} to container {id}: {err}")),
        }
    }

    async fn wait(&self, id: &ContainerId) -> anyhow::Result<ExitStatus> {
        let mut rx = self.with_entry(id, |e| Ok(e.exit.subscribe()))?;
        let status = rx
            .wait_for(|s| s.is_some())
            .await
            .map_err(|_| anyhow!("container {id} was removed while waiting for it"))?;
        Ok(status.clone().expect("waited for Some"))
    }

    async fn remove(&self, id: &ContainerId) -> anyhow::Result<()> {
        let entry = self
            .containers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(id);
        // An exited container's group was killed when it was reaped; its pid may be reused.
        if let Some(pgid) = entry.filter(|e| e.exit.borrow().is_none()).and_then(|e| e.pgid) {
            let _ = killpg(Pid::from_raw(pgid), Signal::SIGKILL);
        }
        if let Some(sup) = &self.supervision {
            supervised::forget(sup, id);
        }
        Ok(())
    }

    fn log_path(&self, pod: &PodRef, container: &str) -> Option<PathBuf> {
        Some(ProcessRuntime::log_path(self, pod, container))
    }

    async fn usage(&self, ids: &[ContainerId]) -> std::collections::HashMap<ContainerId, super::usage::ContainerUsage> {
        // Each running container is its own process group.
        let groups: Vec<(ContainerId, i32)> = {
            let map = self.containers.lock().unwrap_or_else(|e| e.into_inner());
            ids.iter()
                .filter_map(|id| map.get(id).filter(|e| e.exit.borrow().is_none()).and_then(|e| e.pgid).map(|g| (id.clone(), g)))
                .collect()
        };
        let pgids: Vec<i32> = groups.iter().map(|(_, g)| *g).collect();
        let usage = tokio::task::spawn_blocking(move || super::usage::process_groups(&pgids)).await.unwrap_or_default();
        groups.into_iter().filter_map(|(id, g)| usage.get(&g).map(|u| (id, *u))).collect()
    }

    async fn reap_orphans(&self, known: &std::collections::HashSet<String>, _pods: &std::collections::HashSet<String>) -> Vec<String> {
        ProcessRuntime::reap_orphans(self, known)
    }

    async fn adopt(&self, id: &ContainerId, config: ContainerConfig) -> anyhow::Result<Adopted> {
        match &self.supervision {
            Some(sup) => supervised::adopt(self, sup, id, config).await,
            None => Ok(Adopted::Unknown),
        }
    }
}

#[cfg(test)]
mod tests;
