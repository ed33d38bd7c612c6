//! Observing the eviction signals on the real machine, as the kubelet's summary
//! provider does:
//!
//! - `memory.available` = `MemTotal` − working set, where the working set is the
//!   memory in use minus the inactive file cache: `MemFree + Inactive(file)` of
//!   `/proc/meminfo` (the root cgroup's `usage − total_inactive_file`);
//! - `nodefs.available` / `nodefs.inodesFree`: `statvfs` of the state directory;
//! - `imagefs.available` / `imagefs.inodesFree`: `statvfs` of the image store;
//! - `pid.available` = min(`pid_max`, `threads-max`) − the tasks running
//!   (`/proc/loadavg`).
//!
//! A signal whose measurement fails is left out (and logged): no threshold is met
//! on it, so nothing is evicted because of a failed measurement.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::thresholds::Signal;
use crate::nodestatus::resources::meminfo_bytes;

/// One signal's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Observation {
    pub available: u64,
    pub capacity: u64,
}

/// The signals observed in one pass.
pub type Observations = BTreeMap<Signal, Observation>;

/// Where the node's signals come from.
#[derive(Debug, Clone)]
pub struct SignalSource {
    /// The nodefs: the state directory (logs, container state, the database).
    pub state_dir: PathBuf,
    /// The imagefs: the image store (the state directory's `images/` when it exists).
    pub image_dir: PathBuf,
}

impl SignalSource {
    /// Measures every signal; failed measurements are left out.
    pub fn observe(&self) -> Observations {
        let mut out = Observations::new();
        let mut put = |signal: Signal, value: Result<Observation, String>| match value {
            Ok(o) => {
                out.insert(signal, o);
            }
            Err(err) => tracing::warn!(signal = signal.as_str(), "eviction manager: cannot observe the signal: {err}"),
        };
        put(Signal::MemoryAvailable, memory());
        let nodefs = filesystem(&self.state_dir);
        put(Signal::NodeFsAvailable, nodefs.clone().map(|f| f.0));
        put(Signal::NodeFsInodesFree, nodefs.map(|f| f.1));
        let image_dir = if self.image_dir.exists() { &self.image_dir } else { &self.state_dir };
        let imagefs = filesystem(image_dir);
        put(Signal::ImageFsAvailable, imagefs.clone().map(|f| f.0));
        put(Signal::ImageFsInodesFree, imagefs.map(|f| f.1));
        put(Signal::PidAvailable, pids());
        out
    }

    /// Whether the image store is on a filesystem of its own (a dedicated imagefs).
    pub fn dedicated_imagefs(&self) -> bool {
        use std::os::unix::fs::MetadataExt;
        let dev = |p: &Path| std::fs::metadata(p).map(|m| m.dev()).ok();
        self.image_dir.exists() && dev(&self.image_dir) != dev(&self.state_dir)
    }
}

/// `memory.available` from `/proc/meminfo`.
pub fn memory() -> Result<Observation, String> {
    let text = std::fs::read_to_string("/proc/meminfo").map_err(|e| format!("/proc/meminfo: {e}"))?;
    memory_from(&text)
}

/// `memory.available` from the text of `/proc/meminfo`.
pub fn memory_from(meminfo: &str) -> Result<Observation, String> {
    let get = |k: &str| meminfo_bytes(meminfo, k).ok_or_else(|| format!("/proc/meminfo has no {k}"));
    let (total, free, inactive_file) = (get("MemTotal")?, get("MemFree")?, get("Inactive(file)")?);
    let working_set = total.saturating_sub(free).saturating_sub(inactive_file);
    Ok(Observation { available: total - working_set, capacity: total })
}

/// (bytes, inodes) of the filesystem holding `dir`.
pub(crate) fn filesystem(dir: &Path) -> Result<(Observation, Observation), String> {
    let fs = nix::sys::statvfs::statvfs(dir).map_err(|e| format!("statvfs {}: {e}", dir.display()))?;
    let block = fs.fragment_size() as u64;
    let bytes = Observation { available: fs.blocks_available() as u64 * block, capacity: fs.blocks() as u64 * block };
    let inodes = Observation { available: fs.files_free() as u64, capacity: fs.files() as u64 };
    Ok((bytes, inodes))
}

/// `pid.available`.
fn pids() -> Result<Observation, String> {
    let read = |p: &str| -> Result<u64, String> {
        std::fs::read_to_string(p).map_err(|e| format!("{p}: {e}"))?.trim().parse().map_err(|e| format!("{p}: {e}"))
    };
    let max = read("/proc/sys/kernel/pid_max")?.min(read("/proc/sys/kernel/threads-max")?);
    let loadavg = std::fs::read_to_string("/proc/loadavg").map_err(|e| format!("/proc/loadavg: {e}"))?;
    let running: u64 = loadavg
        .split_whitespace()
        .nth(3)
        .and_then(|f| f.split('/').nth(1))
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| format!("/proc/loadavg is not as expected: {loadavg:?}"))?;
    Ok(Observation { available: max.saturating_sub(running), capacity: max })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_working_set_excludes_inactive_file_cache() {
        let o = memory_from("MemTotal: 1000 kB\nMemFree: 100 kB\nMemAvailable: 700 kB\nInactive(file): 300 kB\n").unwrap();
        assert_eq!(o, Observation { available: 400 * 1024, capacity: 1000 * 1024 });
        assert!(memory_from("MemTotal: 1 kB\n").is_err());
    }

    #[test]
    fn the_machine_is_observed() {
        let source = SignalSource { state_dir: "/".into(), image_dir: "/nonexistent".into() };
        let o = source.observe();
        assert_eq!(o.len(), Signal::ALL.len(), "{o:?}");
        assert!(o.values().all(|x| x.available <= x.capacity));
        assert!(!source.dedicated_imagefs());
    }
}
