//! Namespace files, as `ip netns` keeps them: `STATE_DIR/ns` is a private bind mount
//! of itself, and each pod has `STATE_DIR/ns/POD_UID/{net,ipc,uts}`, each a bind mount
//! of one namespace (`nsfs`) that keeps it alive with no process in it. A runtime joins
//! them by path (OCI `namespaces[].path`, `nsenter --net=FILE`).

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::Context;

use super::cmd::run;

/// The kinds of namespace a pod shares between its containers, by file name and by
/// the `unshare`/`nsenter` option that makes or enters it.
const KINDS: [(&str, &str); 3] = [("net", "--net"), ("ipc", "--ipc"), ("uts", "--uts")];

/// One pod's namespace files.
#[derive(Debug, Clone)]
pub(super) struct PodFiles {
    dir: PathBuf,
}

impl PodFiles {
    pub fn new(ns_root: &Path, uid: &str) -> Self {
        PodFiles { dir: ns_root.join(uid) }
    }

    pub fn path(&self, kind: &str) -> PathBuf {
        self.dir.join(kind)
    }

    /// Whether all three files are namespace mounts.
    pub fn all_mounted(&self) -> anyhow::Result<bool> {
        let mounts = mounts()?;
        Ok(KINDS.iter().all(|(kind, _)| mounts.iter().any(|(m, fs)| *m == self.path(kind) && fs == "nsfs")))
    }

    /// Creates the namespaces anew (unmounting whatever is left of earlier ones) and
    /// sets the hostname.
    pub fn create(&self, hostname: &str) -> anyhow::Result<()> {
        unmount_under(&self.dir)?;
        fs::create_dir_all(&self.dir).with_context(|| format!("creating {}", self.dir.display()))?;
        let mut args = Vec::new();
        for (kind, option) in KINDS {
            let file = self.path(kind);
            fs::File::create(&file).with_context(|| format!("creating {}", file.display()))?;
            args.push(format!("{option}={}", file.display()));
        }
        args.push("true".into());
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        run("unshare", &args, None).context("creating the pod's network, IPC and UTS namespaces")?;
        self.set_hostname(hostname)
    }

    /// Sets the hostname in the pod's UTS namespace.
    pub fn set_hostname(&self, hostname: &str) -> anyhow::Result<()> {
        let uts = format!("--uts={}", self.path("uts").display());
        let script = r#"printf %s "$1" > /proc/sys/kernel/hostname"#;
        run("nsenter", &[&uts, "sh", "-c", script, "sh", hostname], None)
            .with_context(|| format!("setting the pod's hostname to {hostname}"))
            .map(drop)
    }

    /// Unmounts the files and deletes the directory. Returns whether anything was there.
    pub fn remove(&self) -> anyhow::Result<bool> {
        let unmounted = unmount_under(&self.dir)?;
        match fs::remove_dir_all(&self.dir) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(unmounted),
            Err(e) => Err(e).with_context(|| format!("removing {}", self.dir.display())),
        }
    }
}

/// Makes `dir` (created if missing) a private bind mount of itself, so namespace
/// mounts under it do not propagate to other mount namespaces.
pub(super) fn ensure_private_mount(dir: &Path) -> anyhow::Result<()> {
    fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let d = dir.to_str().with_context(|| format!("{} is not UTF-8", dir.display()))?;
    if !mounts()?.iter().any(|(m, _)| m == dir) {
        run("mount", &["--bind", d, d], None).with_context(|| format!("bind-mounting {d} on itself"))?;
    }
    run("mount", &["--make-private", d], None).with_context(|| format!("making {d} a private mount"))?;
    Ok(())
}

/// The pod uids that have a directory under `ns_root`.
pub(super) fn pod_uids(ns_root: &Path) -> anyhow::Result<Vec<String>> {
    let entries = fs::read_dir(ns_root).with_context(|| format!("reading {}", ns_root.display()))?;
    let mut uids = Vec::new();
    for entry in entries {
        let entry = entry?;
        if entry.file_type()?.is_dir() {
            uids.extend(entry.file_name().to_str().map(str::to_string));
        }
    }
    Ok(uids)
}

/// Unmounts everything mounted under `dir` (deepest first, stacked mounts too).
/// Returns whether there was anything.
pub(super) fn unmount_under(dir: &Path) -> anyhow::Result<bool> {
    let mut any = false;
    loop {
        let mut under: Vec<PathBuf> = mounts()?.into_iter().map(|(m, _)| m).filter(|m| m.starts_with(dir)).collect();
        if under.is_empty() {
            return Ok(any);
        }
        under.sort_by_key(|m| std::cmp::Reverse(m.components().count()));
        for m in under {
            let p = m.to_str().with_context(|| format!("{} is not UTF-8", m.display()))?;
            run("umount", &[p], None).with_context(|| format!("unmounting the namespace file {p}"))?;
            any = true;
        }
    }
}

/// The mount points of hooklet's mount namespace with their file system types.
fn mounts() -> anyhow::Result<Vec<(PathBuf, String)>> {
    let text = fs::read_to_string("/proc/self/mountinfo").context("reading /proc/self/mountinfo")?;
    Ok(text.lines().filter_map(parse_mountinfo_line).collect())
}

/// The mount point and file system type of one line of `/proc/self/mountinfo`.
fn parse_mountinfo_line(line: &str) -> Option<(PathBuf, String)> {
    let (left, right) = line.split_once(" - ")?;
    let mount_point = left.split(' ').nth(4)?;
    let fstype = right.split(' ').next()?;
    Some((PathBuf::from(unescape(mount_point)), fstype.to_string()))
}

/// Undoes the kernel's octal escapes (`\040` for a space) in mountinfo paths.
fn unescape(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes.get(i + 1..i + 4).filter(|d| bytes[i] == b'\\' && d.iter().all(|c| (b'0'..=b'7').contains(c)));
        match octal {
            Some(d) => {
                out.push(d.iter().fold(0u8, |n, c| n.wrapping_mul(8).wrapping_add(c - b'0')));
                i += 4;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mountinfo_lines_parse_with_escapes() {
        let line = "49 45 0:4 net:[4026532180] /run/hook\\040let/ns/u1/net rw shared:5 - nsfs nsfs rw";
        let (point, fstype) = parse_mountinfo_line(line).unwrap();
        assert_eq!(point, PathBuf::from("/run/hook let/ns/u1/net"));
        assert_eq!(fstype, "nsfs");
        assert_eq!(unescape("a\\134b\\011"), "a\\b\t");
        assert_eq!(unescape("trailing\\04"), "trailing\\04");
        assert!(parse_mountinfo_line("garbage").is_none());
    }
}
