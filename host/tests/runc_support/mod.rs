//! Shared pieces of the runc end-to-end tests: the busybox image (built once per test
//! binary with `scripts/build-busybox-image`, from Debian's busybox-static), a state
//! directory with it imported, and a node on the runc runtime.
//!
//! These tests need root and Debian's `runc` (CI runs as root and installs it). Run as
//! another user they print why they are skipped and pass.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use hooklet::image::ImageStore;
use hooklet::lifecycle::{Node, NodeConfig, PodHandle};
use hooklet::runtime::PodRef;
use hooklet::runtime::runc::{PodNetworkOptions, RuncConfig, RuncRuntime};

/// Whether this process can run runc containers; prints why not.
pub fn can_run() -> bool {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("skipped: the runc runtime needs root");
        return false;
    }
    true
}

/// Builds the busybox image into `out` with `scripts/build-busybox-image`; `env` sets
/// its options (`IMAGE_REF`, `STOP_SIGNAL`).
pub fn build_image(out: &Path, env: &[(&str, &str)]) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/build-busybox-image");
    let mut cmd = std::process::Command::new(script);
    cmd.arg(out).envs(env.iter().copied()).stdout(std::process::Stdio::null());
    assert!(cmd.status().unwrap().success(), "scripts/build-busybox-image failed");
}

/// The busybox OCI archive, built once for this test binary.
pub fn busybox_archive() -> &'static Path {
    static ARCHIVE: OnceLock<PathBuf> = OnceLock::new();
    ARCHIVE.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("hooklet-runc-tests-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let out = dir.join("busybox-oci.tar");
        build_image(&out, &[]);
        out
    })
}

/// A state directory (`dir/state`) with the busybox image imported.
pub fn state_with_busybox(dir: &Path) -> PathBuf {
    let state = dir.join("state");
    let store = ImageStore::open(state.join("images")).unwrap();
    store.import(busybox_archive()).unwrap();
    state
}

/// Test `net`'s own pod network: bridge `hkt-rcNET`, subnet `10.217.NET.0/24`, so
/// tests running at once never share addresses (nor disturb a real hooklet bridge).
pub fn network(net: u8) -> PodNetworkOptions {
    PodNetworkOptions { bridge: format!("hkt-rc{net}"), subnet: format!("10.217.{net}.0/24").parse().unwrap() }
}

/// The runc runtime's configuration under `state` (images from `state/images`) on
/// test network `net`, with this build's container monitor.
pub fn config(state: &Path, net: u8) -> RuncConfig {
    let mut config = RuncConfig::under(state, "runc", state.join("logs"), &network(net));
    config.monitor.program = PathBuf::from(env!("CARGO_BIN_EXE_hooklet-monitor"));
    config
}

/// A runc runtime under `state` (images from `state/images`) on test network `net`.
pub async fn runtime(state: &Path, net: u8) -> Arc<RuncRuntime> {
    Arc::new(RuncRuntime::open(config(state, net)).await.expect("the runc runtime opens"))
}

/// A node on the runc runtime with the busybox image on test network `net`, and a
/// guard that removes what the test leaves (containers, mounts, the bridge).
pub async fn node(dir: &Path, net: u8, config: NodeConfig) -> (Arc<Node>, RuncGuard) {
    let state = state_with_busybox(dir);
    let guard = RuncGuard::new(&state.join("runc"), net);
    let runtime = runtime(&state, net).await;
    let node = Node::new(runtime, config).expect("node starts");
    (node, guard)
}

/// What a runc test needs: its temp dir, a node (configured by `config` from that
/// dir) on test network `net`, and the cleanup guard; `None` when not root.
pub async fn setup(net: u8, config: impl FnOnce(&Path) -> NodeConfig) -> Option<(tempfile::TempDir, Arc<Node>, RuncGuard)> {
    if !can_run() {
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    let (node, guard) = node(dir.path(), net, config(dir.path())).await;
    Some((dir, node, guard))
}

/// The log of `container` in the pod of `handle`.
pub fn log(node: &Node, handle: &PodHandle, container: &str) -> String {
    let pod = handle.pod();
    let pod_ref = PodRef { namespace: pod.namespace().into(), name: pod.metadata.name.clone(), uid: pod.uid().into() };
    let path = node.runtime().log_path(&pod_ref, container).expect("runc keeps logs");
    std::fs::read_to_string(path).unwrap_or_default()
}

/// Waits (at most 60 s) until `container` logged `text`, e.g. that its server or its
/// signal traps are set up. A process inside a container gives no event to await, so
/// the log is read again every 20 ms.
pub async fn wait_log(node: &Node, handle: &PodHandle, container: &str, text: &str) {
    let wait = async {
        while !log(node, handle, container).contains(text) {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(60), wait)
        .await
        .unwrap_or_else(|_| panic!("{container} never logged {text:?}: {}", log(node, handle, container)));
}

/// The runc containers in the runtime's state directory (`runc list`).
pub fn runc_list(state: &Path) -> Vec<String> {
    let out = std::process::Command::new("runc")
        .arg("--root")
        .arg(state.join("runc/runc"))
        .args(["list", "--quiet"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).lines().map(str::to_string).collect()
}

/// Mounts whose mount point is under `dir`.
pub fn mounts_under(dir: &Path) -> Vec<String> {
    let dir = dir.to_string_lossy().into_owned();
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .filter_map(|l| l.split(' ').nth(4).map(str::to_string))
        .filter(|m| m.starts_with(&dir))
        .collect()
}

/// The cgroup directories (any hierarchy) of a runc container id.
pub fn cgroup_dirs(id: &str) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for hierarchy in std::fs::read_dir("/sys/fs/cgroup").unwrap().flatten() {
        let mut stack = vec![hierarchy.path()];
        while let Some(dir) = stack.pop() {
            let Ok(entries) = std::fs::read_dir(&dir) else { continue };
            for e in entries.flatten().filter(|e| e.file_type().map(|t| t.is_dir()).unwrap_or(false)) {
                if e.file_name().to_string_lossy() == id {
                    found.push(e.path());
                } else if stack.len() < 64 {
                    stack.push(e.path());
                }
            }
        }
    }
    found
}

/// Removes every runc container and bundle mount under a hooklet state directory's
/// runtime dir `runtime_dir` (e.g. `STATE/runc`), for cleanup when a test fails.
pub fn remove_all(runtime_dir: &Path) {
    let root = runtime_dir.join("runc");
    let out = std::process::Command::new("runc").arg("--root").arg(&root).args(["list", "--quiet"]).output();
    for id in out.map(|o| String::from_utf8_lossy(&o.stdout).into_owned()).unwrap_or_default().lines() {
        let _ = std::process::Command::new("runc").arg("--root").arg(&root).args(["delete", "--force", id]).status();
    }
    for mount in mounts_under(runtime_dir) {
        let _ = nix::mount::umount2(mount.as_str(), nix::mount::MntFlags::MNT_DETACH);
    }
}

/// Removes the runc containers and mounts under a runtime dir, and a test network's
/// bridge, when dropped (also when a test fails).
pub struct RuncGuard {
    runtime_dir: PathBuf,
    bridge: String,
}

impl RuncGuard {
    /// Guards runtime dir `runtime_dir` (e.g. `STATE/runc`) and test network `net`.
    pub fn new(runtime_dir: &Path, net: u8) -> RuncGuard {
        RuncGuard { runtime_dir: runtime_dir.to_path_buf(), bridge: network(net).bridge }
    }
}

impl Drop for RuncGuard {
    fn drop(&mut self) {
        remove_all(&self.runtime_dir);
        let _ = std::process::Command::new("ip").args(["link", "del", &self.bridge]).status();
    }
}
