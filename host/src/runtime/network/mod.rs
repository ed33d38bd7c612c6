//! The pod network: each pod gets its own network, IPC and UTS namespaces, shared by
//! its containers as Kubernetes does, and a private IP on a node bridge. A runtime
//! (runc) joins the namespaces by path; the pod IP is reported as `status.podIP`, is
//! the default host of httpGet hooks, and a server in the pod is reachable from the
//! node at it.
//!
//! ## Layout
//!
//! | what | where |
//! |---|---|
//! | bridge | [`NetworkConfig::bridge`] (default `hooklet0`), holding the gateway, the subnet's first host address (`10.213.0.1/16` by default) |
//! | pod IPs | the rest of [`NetworkConfig::subnet`] (default `10.213.0.0/16`, private, `/16`–`/29`), lowest free first |
//! | veth pair | node end `hk` + 12 hex digits of a hash of bridge and pod uid, alias `hooklet:BRIDGE:POD_UID`, attached to the bridge; pod end `eth0` with `IP/prefix` and a default route via the gateway |
//! | loopback | `lo`, up, in each pod |
//! | namespace files | `STATE_DIR/ns/POD_UID/{net,ipc,uts}`, bind mounts of the namespaces (`STATE_DIR/ns` is a private bind mount of itself), as `ip netns` keeps them; the hostname in `uts` is the pod name |
//! | IP allocations | `STATE_DIR/pods/POD_UID.json`, written atomically |
//! | lock | `STATE_DIR/lock`, held (with an in-process mutex) by every change |
//!
//! Traffic stays on the node: no forwarding, no NAT, nothing but the bridge and the
//! pods' own namespaces. hooklet only touches the bridge, veths carrying its alias
//! and files under its state directory.
//!
//! ## Tools
//!
//! Needs root and, on `PATH`, `ip` (Debian `iproute2`), `unshare` and `nsenter`
//! (`util-linux`), `mount` and `umount` (`mount`); [`PodNetwork::open`] names what is
//! missing. hooklet never enters a namespace itself (a thread's namespaces would leak
//! into the tokio runtime): the tools do, in child processes, on blocking threads.
//!
//! | file | what |
//! |---|---|
//! | [`config`] | the settings and their validation |
//! | `cmd` | running the tools, prerequisites |
//! | `link` | the bridge and the veths |
//! | `netns` | the namespace files |
//! | `state` | the IP allocations |

pub mod config;

mod cmd;
mod link;
mod netns;
mod state;

use std::collections::{BTreeSet, HashSet};
use std::fs;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use anyhow::{bail, Context};

pub use config::{Ipv4Subnet, NetworkConfig, DEFAULT_BRIDGE, DEFAULT_SUBNET};

use super::PodRef;
use link::Veth;
use netns::PodFiles;
use state::Allocations;

/// A pod's namespaces and address, as [`PodNetwork::setup`] made them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodNamespaces {
    /// The network namespace file (OCI `namespaces[].path` of type `network`).
    pub net: PathBuf,
    /// The IPC namespace file.
    pub ipc: PathBuf,
    /// The UTS namespace file (hostname = the pod name).
    pub uts: PathBuf,
    /// The pod IP, on `eth0`.
    pub ip: Ipv4Addr,
    /// The bridge's address, the pod's default route.
    pub gateway: Ipv4Addr,
    /// The subnet's prefix length.
    pub prefix: u8,
    /// The node end of the pod's veth pair.
    pub host_veth: String,
}

/// The node's pod network. Cheap to clone; all clones share one lock.
#[derive(Clone)]
pub struct PodNetwork {
    inner: Arc<Inner>,
}

struct Inner {
    config: NetworkConfig,
    ns_root: PathBuf,
    allocs: Allocations,
    lock_file: PathBuf,
    lock: Mutex<()>,
}

impl PodNetwork {
    /// Validates `config`, checks the prerequisites (root, the tools), prepares the
    /// state directory and creates the bridge with the gateway address if missing.
    /// Errors name the setting or the missing tool and what to do.
    pub async fn open(config: NetworkConfig) -> anyhow::Result<Self> {
        config.validate()?;
        tokio::task::spawn_blocking(move || Inner::open(config)).await?.map(|inner| PodNetwork { inner: Arc::new(inner) })
    }

    /// The configuration in force (`state_dir` made absolute).
    pub fn config(&self) -> &NetworkConfig {
        &self.inner.config
    }

    /// Creates the pod's namespaces, address and veth, or returns them unchanged when
    /// they are already complete (a second call, or a pod adopted after a restart: it
    /// keeps its IP; anything half made is redone). A failed setup leaves nothing.
    pub async fn setup(&self, pod: &PodRef) -> anyhow::Result<PodNamespaces> {
        let pod = pod.clone();
        self.blocking(move |inner| inner.setup(&pod)).await
    }

    /// Removes the pod's veth, namespace files and IP allocation. Idempotent.
    pub async fn teardown(&self, pod: &PodRef) -> anyhow::Result<()> {
        let uid = pod.uid.clone();
        self.blocking(move |inner| {
            state::validate_uid(&uid)?;
            inner.teardown(&uid).map(drop)
        })
        .await
    }

    /// Removes every pod network (namespace files, veth, allocation) whose pod uid is
    /// not in `keep`, e.g. what a crashed hooklet left; returns their uids, sorted.
    /// Pods in `keep` keep everything, their IP included.
    pub async fn sweep(&self, keep: &HashSet<String>) -> anyhow::Result<Vec<String>> {
        let keep = keep.clone();
        self.blocking(move |inner| inner.sweep(&keep)).await
    }

    /// Removes everything: every pod network, the bridge, the state directory's mount.
    /// For uninstalling and tests; the network cannot be used afterwards.
    pub async fn destroy(self) -> anyhow::Result<Vec<String>> {
        self.blocking(|inner| {
            let removed = inner.sweep(&HashSet::new())?;
            let bridge = &inner.config.bridge;
            if link::show(bridge)?.is_some() {
                cmd::ip(&["link", "del", "dev", bridge]).with_context(|| format!("deleting the bridge {bridge}"))?;
            }
            netns::unmount_under(&inner.ns_root)?;
            Ok(removed)
        })
        .await
    }

    /// Runs `f` on a blocking thread holding the lock. Dropping the future does not
    /// stop `f`: a change always runs to its end.
    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Inner) -> anyhow::Result<T> + Send + 'static,
    ) -> anyhow::Result<T> {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || {
            let _guard = inner.lock.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            let _file = inner.lock_file()?;
            f(&inner)
        })
        .await?
    }
}

impl Inner {
    fn open(mut config: NetworkConfig) -> anyhow::Result<Self> {
        cmd::check_prerequisites()?;
        let dir = &config.state_dir;
        fs::create_dir_all(dir).with_context(|| format!("creating the pod network `state_dir` {}", dir.display()))?;
        config.state_dir = dir.canonicalize().with_context(|| format!("resolving {}", dir.display()))?;
        let inner = Inner {
            ns_root: config.state_dir.join("ns"),
            allocs: Allocations::open(config.state_dir.join("pods"))?,
            lock_file: config.state_dir.join("lock"),
            lock: Mutex::new(()),
            config,
        };
        let _file = inner.lock_file()?;
        netns::ensure_private_mount(&inner.ns_root)?;
        link::ensure_bridge(&inner.config.bridge, &inner.config.subnet)?;
        tracing::info!(bridge = %inner.config.bridge, subnet = %inner.config.subnet, state_dir = %inner.config.state_dir.display(), "pod network ready");
        Ok(inner)
    }

    /// Locks the state directory against other hooklet processes until dropped.
    fn lock_file(&self) -> anyhow::Result<fs::File> {
        let file = fs::File::create(&self.lock_file).with_context(|| format!("creating {}", self.lock_file.display()))?;
        file.lock().with_context(|| format!("locking {}", self.lock_file.display()))?;
        Ok(file)
    }

    fn setup(&self, pod: &PodRef) -> anyhow::Result<PodNamespaces> {
        state::validate_uid(&pod.uid)?;
        let result = self.try_setup(pod);
        if let Err(e) = &result {
            tracing::warn!(pod = %pod.name, uid = %pod.uid, error = %format!("{e:#}"), "pod network: setup failed; removing what was made");
            if let Err(undo) = self.teardown(&pod.uid) {
                tracing::warn!(uid = %pod.uid, error = %format!("{undo:#}"), "pod network: cleanup after a failed setup failed too");
            }
        }
        result.with_context(|| format!("setting up the network of pod {}/{} ({})", pod.namespace, pod.name, pod.uid))
    }

    fn try_setup(&self, pod: &PodRef) -> anyhow::Result<PodNamespaces> {
        let (bridge, subnet) = (&self.config.bridge, &self.config.subnet);
        let alloc = self.allocs.allocate(pod, subnet)?;
        let files = PodFiles::new(&self.ns_root, &pod.uid);
        let veth = Veth {
            bridge,
            uid: &pod.uid,
            netns: &files.path("net"),
            ip: alloc.ip,
            prefix: subnet.prefix(),
            gateway: subnet.gateway(),
        };
        if files.all_mounted()? && veth.is_complete()? {
            tracing::debug!(pod = %pod.name, ip = %alloc.ip, "pod network: already set up");
        } else {
            link::delete_veth(bridge, &pod.uid)?;
            link::ensure_bridge(bridge, subnet)?; // in case it was deleted since `open`
            let hostname = state::hostname(&pod.name);
            if files.all_mounted()? {
                files.set_hostname(&hostname)?;
            } else {
                files.create(&hostname)?;
            }
            veth.create()?;
            tracing::info!(pod = %pod.name, uid = %pod.uid, ip = %alloc.ip, "pod network: set up");
        }
        Ok(PodNamespaces {
            net: files.path("net"),
            ipc: files.path("ipc"),
            uts: files.path("uts"),
            ip: alloc.ip,
            gateway: subnet.gateway(),
            prefix: subnet.prefix(),
            host_veth: link::veth_name(bridge, &pod.uid),
        })
    }

    /// Removes one pod's network. Returns whether there was anything to remove.
    fn teardown(&self, uid: &str) -> anyhow::Result<bool> {
        let veth = link::delete_veth(&self.config.bridge, uid)?;
        let files = PodFiles::new(&self.ns_root, uid).remove()?;
        let alloc = self.allocs.release(uid)?;
        if veth || files || alloc {
            tracing::info!(%uid, "pod network: removed");
        }
        Ok(veth || files || alloc)
    }

    fn sweep(&self, keep: &HashSet<String>) -> anyhow::Result<Vec<String>> {
        let mut found = BTreeSet::new();
        found.extend(self.allocs.uids()?);
        found.extend(netns::pod_uids(&self.ns_root)?);
        found.extend(link::veth_uids(&self.config.bridge)?);
        let (mut removed, mut failed) = (Vec::new(), Vec::new());
        for uid in found.into_iter().filter(|uid| !keep.contains(uid)) {
            if let Err(e) = state::validate_uid(&uid) {
                tracing::warn!(%uid, error = %e, "pod network: sweep skips a name hooklet would not make");
                continue;
            }
            match self.teardown(&uid) {
                Ok(true) => removed.push(uid),
                Ok(false) => {}
                Err(e) => failed.push(format!("{uid}: {e:#}")),
            }
        }
        if !failed.is_empty() {
            bail!("sweeping leftover pod networks: removed {removed:?}, failed for {}", failed.join("; "));
        }
        if !removed.is_empty() {
            tracing::info!(?removed, "pod network: swept leftovers");
        }
        Ok(removed)
    }
}
