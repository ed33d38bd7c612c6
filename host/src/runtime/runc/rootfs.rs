//! A container's root filesystem: the image's rootfs under a writable overlay.

use std::path::Path;

use anyhow::Context;
use nix::mount::{mount, umount2, MntFlags, MsFlags};

/// Mounts `lower` (read-only, shared) with the writable layer `bundle/upper` at
/// `bundle/rootfs`.
pub fn mount_overlay(lower: &Path, bundle: &Path) -> anyhow::Result<()> {
    let (upper, work, target) = (bundle.join("upper"), bundle.join("work"), bundle.join("rootfs"));
    for dir in [&upper, &work, &target] {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let options = format!("lowerdir={},upperdir={},workdir={}", lower.display(), upper.display(), work.display());
    mount(Some("overlay"), &target, Some("overlay"), MsFlags::empty(), Some(options.as_str())).with_context(|| {
        format!(
            "cannot mount the container's root filesystem (overlay of {} at {}); the kernel needs overlayfs and the state directory must not itself be on overlayfs",
            lower.display(),
            target.display()
        )
    })
}

/// Unmounts `bundle/rootfs` if mounted and deletes the bundle. Idempotent.
pub fn remove_bundle(bundle: &Path) -> anyhow::Result<()> {
    let target = bundle.join("rootfs");
    match umount2(&target, MntFlags::MNT_DETACH) {
        Ok(()) | Err(nix::errno::Errno::EINVAL) | Err(nix::errno::Errno::ENOENT) => {}
        Err(err) => return Err(anyhow::anyhow!("cannot unmount {}: {err}", target.display())),
    }
    match std::fs::remove_dir_all(bundle) {
        Ok(()) => Ok(()),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(err) => Err(anyhow::anyhow!("cannot remove container bundle {}: {err}", bundle.display())),
    }
}
