//! Container runtimes behind one trait.
//!
//! The lifecycle code only talks to [`Runtime`]; the `process` runtime
//! ([`process::ProcessRuntime`]) is the embedded default and needs no root. A runc
//! runtime can implement the same trait: every operation here has a direct OCI
//! equivalent (`create`, `start`, `exec`, `kill`, `state`/wait, `delete`), and pod-level
//! resources (the network namespace, the pod IP) live in [`Runtime::create_sandbox`].

pub mod network;
pub mod process;

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::SystemTime;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

pub use nix::sys::signal::Signal;

/// A container's identity within a runtime.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ContainerId(pub String);

impl std::fmt::Display for ContainerId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Which pod a sandbox or container belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
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

/// Everything a runtime needs to create one container.
#[derive(Debug, Clone)]
pub struct ContainerConfig {
    pub pod: PodRef,
    pub name: String,
    pub image: String,
    /// `command` followed by `args` (the process runtime has no image entrypoint).
    pub argv: Vec<String>,
    pub env: Vec<(String, String)>,
    pub working_dir: Option<PathBuf>,
}

/// A command to run in a container's context (an exec hook).
#[derive(Debug, Clone)]
pub struct ExecRequest {
    pub argv: Vec<String>,
    /// Variables added to the container's environment for this exec only.
    pub extra_env: Vec<(String, String)>,
    /// Bytes kept of stdout and of stderr each; the rest is counted and dropped.
    pub output_limit: usize,
}

/// The result of an exec that ran (whatever its exit code).
#[derive(Debug, Clone, Default)]
pub struct ExecResult {
    pub exit_code: i32,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    /// Output bytes dropped beyond `output_limit`.
    pub dropped_bytes: u64,
}

/// How a container's main process ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExitStatus {
    /// The exit code as Kubernetes reports it: the code, or 128 + signal.
    pub exit_code: i32,
    /// The signal that killed it, if any.
    pub signal: Option<i32>,
    pub finished_at: SystemTime,
}

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

    /// Creates a container (not yet running).
    async fn create(&self, config: ContainerConfig) -> anyhow::Result<ContainerId>;

    /// Starts a created container; returns once its process runs.
    async fn start(&self, id: &ContainerId) -> anyhow::Result<()>;

    /// Runs a command in the container's context and waits for it.
    async fn exec(&self, id: &ContainerId, request: ExecRequest) -> anyhow::Result<ExecResult>;

    /// Sends a signal to the container's processes.
    async fn signal(&self, id: &ContainerId, signal: Signal) -> anyhow::Result<()>;

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
