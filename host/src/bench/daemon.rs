//! A `hooklet serve` child process on a private state directory, for benchmarks.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use hyper::Method;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::api::types::PluginList;
use crate::cli::client::Client;

/// How the bench daemon runs (flags of `hooklet serve`).
#[derive(Debug, Clone, Default)]
pub struct DaemonFlags {
    /// Pods it must admit: `--max-pods` is this or the kubelet's 110, whichever is more
    /// (admission refuses pods beyond it with `OutOfpods`).
    pub max_pods: usize,
    /// Also serve HTTPS on 127.0.0.1 (and write `STATE/kubeconfig`).
    pub https: bool,
    /// `--runtime runc` with pods on this bridge and subnet (else the process runtime).
    pub runc: Option<crate::runtime::runc::PodNetworkOptions>,
}

/// A running daemon. Dropping it kills the daemon (if still running) and the
/// containers left under its state directory (verified to be its own).
pub struct BenchDaemon {
    child: Child,
    pid: u32,
    /// Whether dropping it kills the containers it left (not after a [`BenchDaemon::crash`]:
    /// the next daemon adopts them).
    reap_on_drop: bool,
    pub state: PathBuf,
    pub client: Arc<Client>,
    /// `STATE/kubeconfig`, when started with the HTTPS listener.
    pub kubeconfig: Option<PathBuf>,
}

impl BenchDaemon {
    /// Starts `hooklet serve` with state, socket and log under `dir`, plugins from
    /// `plugins` and `flags`; returns once it listens.
    pub async fn start(hooklet: &Path, dir: &Path, plugins: &Path, flags: &DaemonFlags) -> anyhow::Result<BenchDaemon> {
        let state = dir.join("state");
        let socket = dir.join("h.sock");
        let log = std::fs::File::create(dir.join("daemon.log")).context("creating the daemon's log")?;
        let mut command = Command::new(hooklet);
        command.arg("serve");
        // The node's disk is not what a bench measures: see TEST_EVICTION_HARD.
        command.arg("--eviction-hard").arg(crate::testing::TEST_EVICTION_HARD);
        // The bench pods request no cpu, memory or storage (BestEffort), so the pod
        // count is the only allocatable they can exhaust.
        let max_pods = (flags.max_pods as u64).max(crate::nodestatus::DEFAULT_MAX_PODS);
        command.arg("--max-pods").arg(max_pods.to_string());
        for (flag, value) in [("--state-dir", state.as_path()), ("--socket", &socket), ("--plugins", plugins)] {
            command.arg(flag).arg(value);
        }
        if flags.https {
            command.args(["--listen", "127.0.0.1:0"]);
        }
        if let Some(net) = &flags.runc {
            command.args(["--runtime", "runc", "--pod-bridge", &net.bridge]).arg("--pod-subnet").arg(net.subnet.to_string());
        }
        let mut child = command
            .env("HOOKLET_LOG", std::env::var("HOOKLET_LOG").unwrap_or_else(|_| "warn".into()))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("cannot run {} serve", hooklet.display()))?;
        let pid = child.id().context("the daemon exited at once")?;
        let mut lines = BufReader::new(child.stdout.take().expect("stdout is piped")).lines();
        for _ in 0..if flags.https { 2 } else { 1 } {
            let line = tokio::time::timeout(Duration::from_secs(60), lines.next_line()).await;
            match line {
                Ok(Ok(Some(line))) if line.starts_with("hooklet serving on ") => {}
                other => bail!(
                    "hooklet serve did not start ({other:?}); see {}",
                    dir.join("daemon.log").display()
                ),
            }
        }
        // Keep draining stdout so the daemon never blocks on it.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        let client = Client::new(Some(&format!("unix://{}", socket.display())), None).map_err(|e| anyhow::anyhow!(e.0))?;
        let kubeconfig = flags.https.then(|| state.join("kubeconfig"));
        Ok(BenchDaemon { child, pid, reap_on_drop: true, state, client: Arc::new(client), kubeconfig })
    }

    /// The daemon's pid (valid until [`BenchDaemon::stop`]: it is our unreaped child).
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Waits until plugin `name` is compiled and serving (plugins load in the background).
    pub async fn wait_plugin(&self, name: &str, timeout: Duration) -> anyhow::Result<()> {
        let until = tokio::time::Instant::now() + timeout;
        loop {
            let list: PluginList = self.client.json(Method::GET, "/v1/plugins", None).await.map_err(|e| anyhow::anyhow!(e.0))?;
            let plugin = list.items.iter().find(|p| p.name == name);
            if let Some(p) = plugin.filter(|p| p.compiled == "loaded") {
                anyhow::ensure!(p.problem.is_none(), "plugin {name} is not usable: {:?}", p.problem);
                return Ok(());
            }
            if tokio::time::Instant::now() > until {
                bail!("plugin {name} was not loaded within {timeout:?} (the daemon reports {plugin:?})");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// SIGTERM (the daemon flushes its state and exits 0), then waits for the exit.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        // Our child and not yet reaped, so the pid cannot have been reused.
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(self.pid as i32), nix::sys::signal::Signal::SIGTERM)
            .context("signalling the daemon")?;
        let status = tokio::time::timeout(Duration::from_secs(30), self.child.wait())
            .await
            .context("the daemon did not exit within 30 s of SIGTERM")??;
        anyhow::ensure!(status.success(), "the daemon exited with {status}");
        Ok(())
    }

    /// SIGKILL (a crash: the containers keep running under their monitors), then
    /// waits for the exit.
    pub async fn crash(mut self) -> anyhow::Result<()> {
        self.reap_on_drop = false;
        self.child.start_kill().context("killing the daemon")?;
        self.child.wait().await.context("waiting for the killed daemon")?;
        Ok(())
    }
}

impl Drop for BenchDaemon {
    fn drop(&mut self) {
        if !self.reap_on_drop {
            return;
        }
        let killed = super::procfs::kill_leftover_containers(&self.state);
        if killed > 0 {
            tracing::warn!("killed {killed} containers the benchmark left running");
        }
    }
}
