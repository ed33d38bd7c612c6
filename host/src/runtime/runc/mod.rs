//! The `runc` runtime: real containers from local images (`--runtime runc`).
//!
//! Each container is a runc container made from a generated OCI bundle
//! ([`bundle`]): the image's rootfs under a writable overlay ([`rootfs`]), the
//! manifest's command, env and working directory over the image config, and its
//! `resources.limits`. A pod's containers join the pod's network, IPC and UTS
//! namespaces, which [`network::PodNetwork`](crate::runtime::network) creates with the
//! pod's IP. Exec hooks run with `runc exec` inside the container, each in a child
//! cgroup of the container's so that their CPU time and memory are charged to the
//! container and recorded with the hook ([`cgroup`]).
//!
//! Each container runs under its own monitor (`hooklet-monitor runc`, [`monitor`]),
//! which runs `runc create`, is the init's parent, writes the CRI log and records the
//! exit (code, signal, OOM kill) in the bundle. hooklet is neither the parent nor the
//! subreaper of containers: they outlive it, and a restarted hooklet adopts them
//! ([`Runtime::adopt`]) with their ids, waiting for and signalling them through
//! pidfds. What it cannot account for it removes ([`Runtime::reap_orphans`]).
//!
//! Layout under the state directory: `runc/` (runc's `--root`), `bundles/ID/`
//! (`config.json`, `rootfs/`, `upper/`, `work/`, `hosts`, `hostname`, the monitor's
//! records), and the logs under the log directory.

mod bundle;
mod cgroup;
mod cli;
mod exec;
mod monitor;
mod rootfs;

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use anyhow::{anyhow, bail, Context};
use async_trait::async_trait;
use nix::sys::signal::Signal;
use tokio::sync::watch;

use super::output::container_log_path;
use super::pidfd::PidFd;
use super::{ContainerConfig, ContainerId, ExecRequest, ExecResult, ExitStatus, PodRef, Runtime, Sandbox};
use super::network::{Ipv4Subnet, NetworkConfig, PodNamespaces, PodNetwork};
use crate::image::manager::{ImageManager, ImageManagerConfig};
use crate::image::ImageStore;
use cgroup::{ContainerCgroups, Layout};
use cli::Runc;
pub use monitor::MonitorConfig;
use monitor::Found;

/// Where the runc runtime keeps its state.
#[derive(Debug, Clone)]
pub struct RuncConfig {
    /// Bundles and runc's own state (`bundles/`, `runc/`).
    pub state_dir: PathBuf,
    /// Container logs.
    pub log_dir: PathBuf,
    /// The image store pods' images resolve against.
    pub image_dir: PathBuf,
    /// The runc binary (`runc` on `PATH` by default).
    pub runc: PathBuf,
    /// The pod network: bridge, subnet, namespace files and IP allocations.
    pub network: NetworkConfig,
    /// Pulling images: registries, credentials, back-off.
    pub images: ImageManagerConfig,
    /// The container monitor and log rotation.
    pub monitor: MonitorConfig,
}

/// Which runtime a node runs its containers on (`--runtime`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RuntimeChoice {
    /// Host processes ([`ProcessRuntime`](crate::runtime::process::ProcessRuntime)).
    Process,
    /// runc containers on this pod network.
    Runc(PodNetworkOptions),
}

/// The pod network's bridge and subnet (`--pod-bridge`, `--pod-subnet`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodNetworkOptions {
    pub bridge: String,
    pub subnet: Ipv4Subnet,
}

impl RuncConfig {
    /// The runtime's layout under a hooklet state directory: runc state, bundles and
    /// the pod network's state in `STATE_DIR/SUBDIR`, images from `STATE_DIR/images`,
    /// the `runc` on `PATH`, the `hooklet-monitor` next to this executable, the
    /// kubelet's log rotation.
    pub fn under(state_dir: &std::path::Path, subdir: &str, log_dir: PathBuf, network: &PodNetworkOptions) -> RuncConfig {
        let dir = state_dir.join(subdir);
        RuncConfig {
            network: NetworkConfig { bridge: network.bridge.clone(), subnet: network.subnet, state_dir: dir.join("network") },
            state_dir: dir,
            log_dir,
            image_dir: state_dir.join("images"),
            runc: PathBuf::from("runc"),
            images: ImageManagerConfig::default(),
            monitor: MonitorConfig {
                program: std::env::current_exe().unwrap_or_default().with_file_name("hooklet-monitor"),
                rotation: hooklet_monitor::cri::DEFAULT_ROTATION,
            },
        }
    }
}

struct Entry {
    stop_signal: Signal,
    /// The init, while it runs (signals go through the pidfd: never to a reused pid).
    init: Option<PidFd>,
    cgroups: Option<ContainerCgroups>,
    exit: watch::Sender<Option<ExitStatus>>,
}

type Containers = Arc<Mutex<HashMap<ContainerId, Entry>>>;

/// Runs containers with runc. See the module docs.
pub struct RuncRuntime {
    config: RuncConfig,
    runc: Runc,
    images: ImageStore,
    manager: ImageManager,
    layout: Layout,
    containers: Containers,
    network: PodNetwork,
    /// The namespaces of each pod with a sandbox, by pod uid.
    pods: Mutex<HashMap<String, PodNamespaces>>,
}

impl RuncRuntime {
    /// Checks that hooklet can run containers here (root, the runc binary, the
    /// directories) and prepares the runtime. Fails before creating anything when it
    /// cannot. Must run inside a tokio runtime.
    pub async fn open(config: RuncConfig) -> anyhow::Result<RuncRuntime> {
        let version = Self::preflight(&config.runc).await?;
        if !config.monitor.program.is_file() {
            bail!(
                "the container monitor {} is missing: it ships next to hooklet (`cargo build` builds both; install both binaries together)",
                config.monitor.program.display()
            );
        }
        let runc = Runc { binary: config.runc.clone(), root: config.state_dir.join("runc") };
        let images = ImageStore::open(&config.image_dir).map_err(|err| anyhow!("the image store: {err}"))?;
        let manager = ImageManager::new(images.clone(), config.images.clone()).map_err(|err| anyhow!("pulling images: {err}"))?;
        for dir in [&runc.root, &config.state_dir.join("bundles"), &config.log_dir] {
            std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        }
        let network = PodNetwork::open(config.network.clone()).await.context("the pod network")?;
        let layout = Layout::detect();
        tracing::info!(%version, cgroups = ?layout, "runc runtime ready");
        Ok(RuncRuntime {
            network,
            runc,
            images,
            manager,
            layout,
            containers: Arc::default(),
            pods: Mutex::default(),
            config,
        })
    }

    /// What the runtime needs before anything is created: root and a runc binary that
    /// runs. Returns runc's version line. Callers that create state of their own first
    /// (the daemon's state directory) call this before they do.
    pub async fn preflight(runc: &std::path::Path) -> anyhow::Result<String> {
        if !nix::unistd::geteuid().is_root() {
            bail!(
                "--runtime runc needs root: runc creates namespaces, cgroups and mounts. Run hooklet as root, or use \
                 --runtime process (the default), which runs containers as host processes without root"
            );
        }
        Runc { binary: runc.to_path_buf(), root: PathBuf::new() }.version().await
    }

    fn bundle_dir(&self, id: &str) -> PathBuf {
        self.config.state_dir.join("bundles").join(id)
    }

    /// Registers a container with its init (pid and pidfd) while it runs.
    fn insert(&self, id: &ContainerId, stop_signal: Signal, init: Option<(i32, PidFd)>, exit: watch::Sender<Option<ExitStatus>>) {
        let cgroups = init.as_ref().and_then(|(pid, _)| {
            ContainerCgroups::of_pid(self.layout, *pid).map_err(|err| tracing::warn!(container = %id, "no cgroup accounting: {err:#}")).ok()
        });
        let entry = Entry { stop_signal, init: init.map(|(_, fd)| fd), cgroups, exit };
        self.containers.lock().unwrap_or_else(|e| e.into_inner()).insert(id.clone(), entry);
    }

    fn entry<T>(&self, id: &ContainerId, f: impl FnOnce(&Entry) -> T) -> anyhow::Result<T> {
        let map = self.containers.lock().unwrap_or_else(|e| e.into_inner());
        let entry = map.get(id).ok_or_else(|| anyhow!("no such container {id} in the runc runtime"))?;
        Ok(f(entry))
    }
}

/// The image's `StopSignal` (`SIGQUIT`, `QUIT`, `3`), or TERM.
fn parse_stop_signal(text: Option<&str>) -> Signal {
    let Some(text) = text else { return Signal::SIGTERM };
    let name = text.trim().to_ascii_uppercase();
    if let Ok(n) = name.parse::<i32>() {
        return Signal::try_from(n).unwrap_or(Signal::SIGTERM);
    }
    let name = if name.starts_with("SIG") { name } else { format!("SIG{name}") };
    name.parse().unwrap_or_else(|_| {
        tracing::warn!(signal = %text, "the image's StopSignal is not a signal name; using SIGTERM");
        Signal::SIGTERM
    })
}

/// A runc container id: `PODUID8-CONTAINER-RANDOM`, in runc's allowed characters.
fn container_id(config: &ContainerConfig) -> String {
    let uid: String = config.pod.uid.chars().filter(|c| c.is_ascii_alphanumeric()).take(8).collect();
    let random = uuid::Uuid::new_v4().simple().to_string();
    format!("{uid}-{}-{}", config.name, &random[..12])
}

#[async_trait]
impl Runtime for RuncRuntime {
    fn name(&self) -> &'static str {
        "runc"
    }

    async fn create_sandbox(&self, pod: &PodRef) -> anyhow::Result<Sandbox> {
        let namespaces = self.network.setup(pod).await?;
        let ip = Some(IpAddr::V4(namespaces.ip));
        self.pods.lock().unwrap_or_else(|e| e.into_inner()).insert(pod.uid.clone(), namespaces);
        Ok(Sandbox { ip })
    }

    async fn remove_sandbox(&self, pod: &PodRef) -> anyhow::Result<()> {
        self.network.teardown(pod).await?;
        self.pods.lock().unwrap_or_else(|e| e.into_inner()).remove(&pod.uid);
        Ok(())
    }

    fn image_manager(&self) -> Option<&ImageManager> {
        Some(&self.manager)
    }

    async fn create(&self, config: ContainerConfig) -> anyhow::Result<ContainerId> {
        let image = self.images.resolve(&config.image)?;
        let namespaces = self.pods.lock().unwrap_or_else(|e| e.into_inner()).get(&config.pod.uid).cloned();
        let namespaces = namespaces.ok_or_else(|| anyhow!("pod {} has no sandbox in the runc runtime", config.pod.name))?;
        let id = container_id(&config);
        let bundle = self.bundle_dir(&id);
        let stop_signal = parse_stop_signal(image.config.stop_signal.as_deref());
        let log = container_log_path(&self.config.log_dir, &config.pod, &config.name);
        let prepared = async {
            rootfs::mount_overlay(&image.rootfs(), &bundle)?;
            bundle::write_config(&bundle, &id, &config, &image, &namespaces)?;
            monitor::write_meta(&bundle, stop_signal)?;
            monitor::create(&self.config.monitor, &self.runc, &bundle, &id, &log).await
        };
        let (monitor, init) = match prepared.await {
            Ok(records) => records,
            Err(err) => {
                let _ = self.runc.run(&bundle.join("delete.log"), &["delete", "--force", &id]).await;
                if let Err(cleanup) = rootfs::remove_bundle(&bundle) {
                    tracing::warn!("{cleanup:#}");
                }
                return Err(err);
            }
        };
        let (exit, _) = watch::channel(None);
        if !monitor::watch(&self.runc, &bundle, &id, &monitor, exit.clone()) {
            exit.send_replace(Some(monitor::exit_after_monitor(&self.runc, &bundle, &id).await));
        }
        let id = ContainerId(id);
        self.insert(&id, stop_signal, PidFd::open(&init).map(|fd| (init.pid, fd)), exit);
        Ok(id)
    }

    async fn start(&self, id: &ContainerId) -> anyhow::Result<()> {
        let log = self.bundle_dir(&id.0).join("runc.log");
        self.runc.run(&log, &["start", &id.0]).await
    }

    async fn exec(&self, id: &ContainerId, request: ExecRequest) -> anyhow::Result<ExecResult> {
        let (cgroups, exited) = self.entry(id, |e| (e.cgroups.clone(), e.exit.borrow().is_some()))?;
        if exited {
            bail!("cannot exec in a stopped container: container {id} has exited");
        }
        exec::run(&self.runc, id, &self.bundle_dir(&id.0), cgroups.as_ref(), request).await
    }

    async fn signal(&self, id: &ContainerId, signal: Signal) -> anyhow::Result<()> {
        let map = self.containers.lock().unwrap_or_else(|e| e.into_inner());
        let entry = map.get(id).ok_or_else(|| anyhow!("no such container {id} in the runc runtime"))?;
        match &entry.init {
            Some(init) if entry.exit.borrow().is_none() => init.signal(signal as i32).map_err(|err| anyhow!("sending {signal} to container {id}: {err}")),
            _ => Ok(()),
        }
    }

    fn stop_signal(&self, id: &ContainerId) -> Signal {
        self.entry(id, |e| e.stop_signal).unwrap_or(Signal::SIGTERM)
    }

    async fn wait(&self, id: &ContainerId) -> anyhow::Result<ExitStatus> {
        let mut rx = self.entry(id, |e| e.exit.subscribe())?;
        let status = rx.wait_for(|s| s.is_some()).await.map_err(|_| anyhow!("container {id} was removed while waiting for it"))?;
        Ok(status.clone().expect("waited for Some"))
    }

    async fn remove(&self, id: &ContainerId) -> anyhow::Result<()> {
        let bundle = self.bundle_dir(&id.0);
        let log = bundle.join("delete.log");
        if bundle.exists() {
            self.runc.run(&log, &["delete", "--force", &id.0]).await?;
            // runc delete killed the init; its exit is recorded before the entry goes.
            if let Ok(mut rx) = self.entry(id, |e| e.exit.subscribe()) {
                let _ = rx.wait_for(|s| s.is_some()).await;
            }
            rootfs::remove_bundle(&bundle)?;
        }
        self.containers.lock().unwrap_or_else(|e| e.into_inner()).remove(id);
        Ok(())
    }

    async fn usage(&self, ids: &[ContainerId]) -> HashMap<ContainerId, crate::runtime::usage::ContainerUsage> {
        let cgroups: Vec<(ContainerId, ContainerCgroups)> = {
            let map = self.containers.lock().unwrap_or_else(|e| e.into_inner());
            ids.iter().filter_map(|id| map.get(id).and_then(|e| e.cgroups.clone()).map(|c| (id.clone(), c))).collect()
        };
        cgroups.into_iter().filter_map(|(id, c)| c.current_usage().map(|u| (id, u))).collect()
    }

    fn log_path(&self, pod: &PodRef, container: &str) -> Option<PathBuf> {
        Some(container_log_path(&self.config.log_dir, pod, container))
    }

    async fn adopt(&self, id: &ContainerId, _config: ContainerConfig) -> anyhow::Result<super::Adopted> {
        use super::Adopted;
        let bundle = self.bundle_dir(&id.0);
        if !bundle.is_dir() {
            return Ok(Adopted::Unknown);
        }
        let (exit, _) = watch::channel(None);
        let (adopted, init) = match monitor::find(&self.runc, &bundle, &id.0).await {
            Found::Unknown => return Ok(Adopted::Unknown),
            Found::Exited(status) => (Adopted::Exited(status), None),
            Found::Running { monitor, init } if monitor::watch(&self.runc, &bundle, &id.0, &monitor, exit.clone()) => (Adopted::Running, init),
            // It ended just now.
            Found::Running { .. } => (Adopted::Exited(monitor::exit_after_monitor(&self.runc, &bundle, &id.0).await), None),
        };
        if let Adopted::Exited(status) = &adopted {
            exit.send_replace(Some(status.clone()));
        }
        self.insert(id, monitor::read_stop_signal(&bundle), init, exit);
        if adopted == Adopted::Running {
            // Exec hooks of the dead daemon may still run: before any is redelivered.
            if let Ok(Some(cgroups)) = self.entry(id, |e| e.cgroups.clone()) {
                cgroups.remove_exec_cgroups();
            }
        }
        Ok(adopted)
    }

    async fn reap_orphans(&self, known: &HashSet<String>, pods: &HashSet<String>) -> Vec<String> {
        let log = self.config.state_dir.join("reap.log");
        let mut ids: HashSet<String> = self.runc.list(&log).await.unwrap_or_default().into_iter().collect();
        if let Ok(dir) = std::fs::read_dir(self.config.state_dir.join("bundles")) {
            ids.extend(dir.flatten().map(|e| e.file_name().to_string_lossy().into_owned()));
        }
        let mut removed = Vec::new();
        for id in ids.into_iter().filter(|id| !known.contains(id)) {
            if let Err(err) = self.runc.run(&log, &["delete", "--force", &id]).await {
                tracing::debug!(container = %id, "{err:#}");
            }
            match rootfs::remove_bundle(&self.bundle_dir(&id)) {
                Ok(()) => removed.push(id),
                Err(err) => tracing::warn!(container = %id, "cannot remove a leftover container: {err:#}"),
            }
        }
        match self.network.sweep(pods).await {
            Ok(swept) => swept.iter().for_each(|uid| tracing::info!(pod = %uid, "removed the network of a pod that is gone")),
            Err(err) => tracing::warn!("cleaning up pod networks: {err:#}"),
        }
        removed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stop_signals_parse_like_docker() {
        assert_eq!(parse_stop_signal(None), Signal::SIGTERM);
        assert_eq!(parse_stop_signal(Some("SIGQUIT")), Signal::SIGQUIT);
        assert_eq!(parse_stop_signal(Some("usr1")), Signal::SIGUSR1);
        assert_eq!(parse_stop_signal(Some("9")), Signal::SIGKILL);
        assert_eq!(parse_stop_signal(Some("SIGNOPE")), Signal::SIGTERM);
    }

    #[test]
    fn container_ids_use_runc_characters() {
        let config = ContainerConfig {
            pod: PodRef { uid: "1b2c-3d4e-5f60-7182".into(), ..Default::default() },
            name: "app".into(),
            ..Default::default()
        };
        let id = container_id(&config);
        assert!(id.starts_with("1b2c3d4e-app-"), "{id}");
        assert!(id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'), "{id}");
    }
}
