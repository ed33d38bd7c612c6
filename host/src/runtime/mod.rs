//! Container runtimes behind one trait.
//!
//! The lifecycle code only talks to [`Runtime`]; the `process` runtime
//! ([`process::ProcessRuntime`]) is the embedded default and needs no root. A runc
//! runtime can implement the same trait: every operation here has a direct OCI
//! equivalent (`create`, `start`, `exec`, `kill`, `state`/wait, `delete`), and pod-level
//! resources (the network namespace, the pod IP) live in [`Runtime::create_sandbox`].

pub mod network;
pub mod output;
pub mod logs;
pub mod monitor;
pub mod pidfd;
pub mod process;
pub mod runc;
pub mod usage;
pub mod stdio;

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::SystemTime;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

pub use nix::sys::signal::Signal;
pub use stdio::{ExecStdio, ExecStreams};

/// The base `PATH` of containers and exec hooks (an image's `Env` may replace it).
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// A container's identity within a runtime.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ContainerId(pub String);

impl std::fmt::Display for ContainerId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Which pod a sandbox or container belongs to.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct PodRef {
    pub namespace: String,
    pub name: String,
    pub uid: String,
}

/// Pod-level runtime state (network).
#[derive(Debug, Clone)]
pub struct Sandbox {
    /// The pod IP (`status.podIP`), the default host of httpGet hooks.
    pub ip: Option<IpAddr>,
}

/// Everything a runtime needs to create one container. `Debug` shows the names of
/// the environment variables and the number of arguments only (values may come from
/// Secrets, and `$(VAR)` puts them in arguments).
#[derive(Clone, Default)]
pub struct ContainerConfig {
    pub pod: PodRef,
    pub name: String,
    pub image: String,
    /// `command` followed by `args` (the process runtime has no image entrypoint).
    pub argv: Vec<String>,
    /// How many leading entries of `argv` are the manifest's `command`; the rest are
    /// its `args`. Runtimes with images fill in what is missing from the image's
    /// entrypoint and cmd, as Kubernetes does.
    pub command_len: usize,
    pub env: Vec<(String, String)>,
    pub working_dir: Option<PathBuf>,
    /// `resources.limits`, for runtimes that enforce them.
    pub limits: ResourceLimits,
}

impl std::fmt::Debug for ContainerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let env: Vec<&str> = self.env.iter().map(|(name, _)| name.as_str()).collect();
        f.debug_struct("ContainerConfig")
            .field("pod", &self.pod)
            .field("name", &self.name)
            .field("image", &self.image)
            .field("args", &self.argv.len())
            .field("env", &env)
            .field("working_dir", &self.working_dir)
            .field("limits", &self.limits)
            .finish()
    }
}

impl ContainerConfig {
    /// The manifest's `command` (empty: the image's entrypoint).
    pub fn command(&self) -> &[String] {
        &self.argv[..self.command_len.min(self.argv.len())]
    }

    /// The manifest's `args` (empty: the image's cmd, unless `command` is set).
    pub fn args(&self) -> &[String] {
        &self.argv[self.command_len.min(self.argv.len())..]
    }
}

/// A container's resource limits.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ResourceLimits {
    /// `limits.memory` in bytes.
    pub memory_bytes: Option<u64>,
    /// `limits.cpu` in millicores.
    pub cpu_millis: Option<u64>,
}

/// A command to run in a container's context (an exec hook, a probe, `kubectl exec`).
#[derive(Debug)]
pub struct ExecRequest {
    pub argv: Vec<String>,
    /// Variables added to the container's environment for this exec only.
    pub extra_env: Vec<(String, String)>,
    /// Bytes kept of stdout and of stderr each; the rest is counted and dropped.
    pub output_limit: usize,
    /// Collected output, or streams attached to a client.
    pub stdio: ExecStdio,
}

/// The result of an exec that ran (whatever its exit code).
#[derive(Debug, Clone, Default)]
pub struct ExecResult {
    pub exit_code: i32,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    /// Output bytes dropped beyond `output_limit`.
    pub dropped_bytes: u64,
    /// CPU and memory the exec used, charged to the container's cgroup (D8); `None`
    /// where the runtime has no cgroups (the process runtime).
    pub usage: Option<ExecUsage>,
}

/// What one exec consumed, read from its own cgroup inside the container's.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExecUsage {
    /// CPU time (user + system) in nanoseconds.
    pub cpu_nanos: u64,
    /// Peak memory in bytes, where the cgroup layout reports it (cgroup v1; v2 with
    /// `memory.peak`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_peak_bytes: Option<u64>,
}

/// How a container's main process ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExitStatus {
    /// The exit code as Kubernetes reports it: the code, or 128 + signal.
    pub exit_code: i32,
    /// The signal that killed it, if any.
    pub signal: Option<i32>,
    pub finished_at: SystemTime,
    /// The kernel's OOM killer ended it (reason `OOMKilled`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub oom_killed: bool,
    /// Bytes of the container's output its log lost (a full disk), counted by the
    /// monitor; 0 when nothing was lost.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub log_bytes_lost: u64,
    /// Why the log lost output (the last write error).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_error: Option<String>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl ExitStatus {
    /// An exit seen now: its `code`, or 128 + the `signal` that ended it, as
    /// Kubernetes reports a signal.
    pub fn now(code: Option<i32>, signal: Option<i32>) -> ExitStatus {
        let exit_code = code.unwrap_or_else(|| 128 + signal.unwrap_or(0));
        ExitStatus { exit_code, signal, finished_at: SystemTime::now(), oom_killed: false, log_bytes_lost: 0, log_error: None }
    }

    /// A bare exit code seen now: a start error (128), an exit nobody saw (137, 255).
    pub fn code(code: i32) -> ExitStatus {
        Self::now(Some(code), None)
    }

    /// How a child process ended.
    pub fn of(status: std::process::ExitStatus) -> ExitStatus {
        use std::os::unix::process::ExitStatusExt;
        Self::now(status.code(), status.signal())
    }
}

/// Exit code of an exec whose binary could not be run (as runc and the CRI report it).
pub const EXEC_CANNOT_RUN: i32 = 126;

/// What a runtime found when asked to adopt a container it did not start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Adopted {
    /// The container's process is still running; it is now managed again.
    Running,
    /// The container exited while nobody watched; this is how.
    Exited(ExitStatus),
    /// Nothing is known about this container (never started, or removed).
    Unknown,
}

/// A container runtime. All methods are cancel-safe: dropping a future abandons
/// the operation (an `exec` that is dropped kills its process).
#[async_trait]
pub trait Runtime: Send + Sync + 'static {
    /// A short name for messages and container ids (`process`, `runc`).
    fn name(&self) -> &'static str;

    /// Creates pod-level resources and reports the pod IP.
    async fn create_sandbox(&self, pod: &PodRef) -> anyhow::Result<Sandbox>;

    /// Releases pod-level resources. Idempotent.
    async fn remove_sandbox(&self, pod: &PodRef) -> anyhow::Result<()>;

    /// The image manager of a runtime that runs images (runc), which the lifecycle asks
    /// to make a container's image present before creating it; `None` for runtimes
    /// without images (the process runtime records `image` only).
    fn image_manager(&self) -> Option<&crate::image::manager::ImageManager> {
        None
    }

    /// Creates a container (not yet running).
    async fn create(&self, config: ContainerConfig) -> anyhow::Result<ContainerId>;

    /// Starts a created container; returns once its process runs.
    async fn start(&self, id: &ContainerId) -> anyhow::Result<()>;

    /// Runs a command in the container's context and waits for it.
    async fn exec(&self, id: &ContainerId, request: ExecRequest) -> anyhow::Result<ExecResult>;

    /// Sends a signal to the container's processes.
    async fn signal(&self, id: &ContainerId, signal: Signal) -> anyhow::Result<()>;

    /// The signal that asks the container to stop: its image's `STOPSIGNAL`, or TERM.
    fn stop_signal(&self, id: &ContainerId) -> Signal {
        let _ = id;
        Signal::SIGTERM
    }

    /// Where the container's stdout and stderr are kept, if this runtime keeps them.
    fn log_path(&self, pod: &PodRef, container: &str) -> Option<PathBuf> {
        let _ = (pod, container);
        None
    }

    /// At start-up, after adoption: removes every container an earlier hooklet left
    /// whose id is not in `known`, and pod-level resources of pods whose uid is not in
    /// `pods`. Returns the container ids removed.
    async fn reap_orphans(&self, known: &HashSet<String>, pods: &HashSet<String>) -> Vec<String> {
        let _ = (known, pods);
        Vec::new()
    }

    /// What each of `ids` uses now (eviction ranking). Containers the runtime cannot
    /// measure are absent; runtimes without usage report nothing.
    async fn usage(&self, ids: &[ContainerId]) -> HashMap<ContainerId, usage::ContainerUsage> {
        let _ = ids;
        HashMap::new()
    }

    /// Resolves when the container's main process has exited (at once if it has).
    /// Exits are observed, not polled. Any number of callers may wait.
    async fn wait(&self, id: &ContainerId) -> anyhow::Result<ExitStatus>;

    /// Removes a container, killing anything left of it. Idempotent.
    async fn remove(&self, id: &ContainerId) -> anyhow::Result<()>;

    /// Takes over a container started by an earlier hooklet process (re-adoption
    /// after a restart or crash). After `Running` or `Exited` the container can be
    /// waited for, signalled, exec'd into and removed as if this process started it.
    /// Runtimes whose containers do not outlive hooklet report `Unknown`.
    async fn adopt(&self, id: &ContainerId, config: ContainerConfig) -> anyhow::Result<Adopted> {
        let _ = (id, config);
        Ok(Adopted::Unknown)
    }
}
