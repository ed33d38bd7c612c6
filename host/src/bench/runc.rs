//! What a benchmark needs to run pods under `--runtime runc`: root, Debian's `runc`,
//! the busybox image (built with `scripts/build-busybox-image`) in the state
//! directory's image store, and a pod network of its own.

use std::path::Path;
use std::process::{Command, Stdio};

use anyhow::{bail, Context};

use crate::runtime::network::Ipv4Subnet;
use crate::runtime::runc::PodNetworkOptions;

/// The scale benchmark's pod network: a /16, so that 1,000 pods get an address each.
pub fn scale_network() -> PodNetworkOptions {
    PodNetworkOptions { bridge: "hkb-scale0".into(), subnet: Ipv4Subnet::from_octets([10, 218, 0, 0], 16) }
}

/// Why runc pods cannot run here (not root, no `runc` on `PATH`), if so.
pub fn unavailable() -> Option<String> {
    if !nix::unistd::geteuid().is_root() {
        return Some("the runc runtime needs root".into());
    }
    match Command::new("runc").arg("--version").stdout(Stdio::null()).status() {
        Ok(s) if s.success() => None,
        _ => Some("no runc on PATH (apt-get install runc)".into()),
    }
}

/// Builds the busybox image archive `out` with `scripts/build-busybox-image`.
pub fn build_busybox(out: &Path) -> anyhow::Result<()> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/build-busybox-image");
    let status = Command::new(&script).arg(out).stdout(Stdio::null()).status().with_context(|| format!("running {}", script.display()))?;
    anyhow::ensure!(status.success(), "{} failed ({status})", script.display());
    Ok(())
}

/// Builds the busybox image into `work` and imports it into `state`'s image store with
/// `hooklet image import`, before the daemon starts.
pub fn import_busybox(hooklet: &Path, work: &Path, state: &Path) -> anyhow::Result<()> {
    let archive = work.join("busybox-oci.tar");
    build_busybox(&archive)?;
    let out = Command::new(hooklet).args(["image", "import", "--state-dir"]).arg(state).arg(&archive).output().context("running hooklet image import")?;
    if !out.status.success() {
        bail!("hooklet image import failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(())
}

/// Removes the pod network's bridge (the daemon leaves it for its next start).
pub fn remove_bridge(network: &PodNetworkOptions) {
    let _ = Command::new("ip").args(["link", "del", &network.bridge]).stderr(Stdio::null()).status();
}

/// Force-deletes the runc containers still listed under `state` (after a failed run;
/// a finished run deleted its pods).
pub fn remove_leftovers(state: &Path) {
    let root = state.join("runc/runc");
    let Ok(out) = Command::new("runc").arg("--root").arg(&root).args(["list", "-q"]).output() else { return };
    for id in String::from_utf8_lossy(&out.stdout).lines().filter(|l| !l.is_empty()) {
        let _ = Command::new("runc").arg("--root").arg(&root).args(["delete", "--force", id]).stderr(Stdio::null()).status();
    }
}

/// Unmounts (lazily) whatever is mounted below `dir`, deepest first: the daemon leaves
/// its network-namespace directory bind-mounted for its next start, and a failed run
/// may leave pods' namespaces; the work directory cannot be removed before.
pub fn unmount_below(dir: &Path) {
    let mounts = std::fs::read_to_string("/proc/mounts").unwrap_or_default();
    let prefix = format!("{}/", dir.display());
    let mut points: Vec<&str> = mounts.lines().filter_map(|l| l.split_whitespace().nth(1)).filter(|p| p.starts_with(&prefix)).collect();
    points.sort_by_key(|p| std::cmp::Reverse(p.len()));
    for point in points {
        let _ = Command::new("umount").args(["-l", point]).stderr(Stdio::null()).status();
    }
}
