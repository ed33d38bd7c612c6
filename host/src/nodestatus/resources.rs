//! The node's capacity (read from the machine), `--system-reserved` /
//! `--kube-reserved`, and allocatable (capacity − reservations − the hard eviction
//! thresholds, as the kubelet's `GetNodeAllocatableAbsolute` computes it).

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::quantity;
use crate::spec::resources::Quantity;

/// Amounts of the node's resources, in millicores, bytes and counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ResourceList {
    pub cpu_millis: u64,
    pub memory: u64,
    pub ephemeral_storage: u64,
    pub pods: u64,
}

impl ResourceList {
    /// `self − other`, never below zero.
    pub fn saturating_sub(self, o: ResourceList) -> ResourceList {
        ResourceList {
            cpu_millis: self.cpu_millis.saturating_sub(o.cpu_millis),
            memory: self.memory.saturating_sub(o.memory),
            ephemeral_storage: self.ephemeral_storage.saturating_sub(o.ephemeral_storage),
            pods: self.pods.saturating_sub(o.pods),
        }
    }

    /// As the API prints a `ResourceList`: `{"cpu": "2", "memory": "24730224Ki", …}`.
    pub fn to_map(&self) -> BTreeMap<String, String> {
        BTreeMap::from([
            ("cpu".to_string(), quantity::cpu(self.cpu_millis)),
            ("ephemeral-storage".to_string(), quantity::bytes(self.ephemeral_storage)),
            ("memory".to_string(), quantity::bytes(self.memory)),
            ("pods".to_string(), self.pods.to_string()),
        ])
    }
}

impl Serialize for ResourceList {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.to_map().serialize(s)
    }
}

impl<'de> Deserialize<'de> for ResourceList {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let map = BTreeMap::<String, String>::deserialize(d)?;
        let get = |k: &str| map.get(k).map(|v| Quantity::from(v.as_str()));
        Ok(ResourceList {
            cpu_millis: get("cpu").and_then(|q| q.millis().ok()).unwrap_or(0),
            memory: get("memory").and_then(|q| q.bytes().ok()).unwrap_or(0),
            ephemeral_storage: get("ephemeral-storage").and_then(|q| q.bytes().ok()).unwrap_or(0),
            pods: get("pods").and_then(|q| q.bytes().ok()).unwrap_or(0),
        })
    }
}

/// What the machine has: logical CPUs (cgroup quota and affinity respected), the
/// memory of `/proc/meminfo`, the size of `state_dir`'s filesystem, and `max_pods`.
pub fn machine_capacity(state_dir: &Path, max_pods: u64) -> anyhow::Result<ResourceList> {
    let cpus = std::thread::available_parallelism().map(|n| n.get() as u64).unwrap_or(1);
    let meminfo = std::fs::read_to_string("/proc/meminfo")?;
    let memory = meminfo_bytes(&meminfo, "MemTotal").ok_or_else(|| anyhow::anyhow!("/proc/meminfo has no MemTotal"))?;
    let fs = nix::sys::statvfs::statvfs(state_dir)
        .map_err(|e| anyhow::anyhow!("cannot measure the filesystem of {}: {e}", state_dir.display()))?;
    Ok(ResourceList {
        cpu_millis: cpus * 1000,
        memory,
        ephemeral_storage: fs.blocks() as u64 * fs.fragment_size() as u64,
        pods: max_pods,
    })
}

/// A `/proc/meminfo` field in bytes (`MemTotal:  24729284 kB`).
pub fn meminfo_bytes(meminfo: &str, key: &str) -> Option<u64> {
    let line = meminfo.lines().find(|l| l.split(':').next() == Some(key))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// `--system-reserved` / `--kube-reserved`: `cpu=500m,memory=1Gi,ephemeral-storage=1Gi,pid=100`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Reserved {
    pub resources: ResourceList,
    /// `pid`: process ids kept for the system (not a pod resource).
    pub pids: u64,
}

/// Parses a reservation flag; errors name the flag and the bad pair.
pub fn parse_reserved(flag: &str, value: &str) -> Result<Reserved, String> {
    let mut r = Reserved::default();
    for pair in value.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (name, amount) = pair
            .split_once('=')
            .ok_or_else(|| format!("invalid argument {value:?} for \"{flag}\" flag: malformed pair {pair:?}, expect string=string"))?;
        let q = Quantity::from(amount.trim());
        let bad = |e: String| format!("invalid argument {value:?} for \"{flag}\" flag: {name}: quantities {e}");
        match name.trim() {
            "cpu" => r.resources.cpu_millis = q.millis().map_err(bad)?,
            "memory" => r.resources.memory = q.bytes().map_err(bad)?,
            "ephemeral-storage" => r.resources.ephemeral_storage = q.bytes().map_err(bad)?,
            "pid" => r.pids = q.bytes().map_err(bad)?,
            other => {
                return Err(format!(
                    "invalid argument {value:?} for \"{flag}\" flag: unsupported resource {other:?} (use cpu, memory, ephemeral-storage or pid)"
                ))
            }
        }
    }
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reservations_parse_and_name_the_flag() {
        let r = parse_reserved("--system-reserved", "cpu=500m, memory=1Gi,pid=100").unwrap();
        assert_eq!(r.resources.cpu_millis, 500);
        assert_eq!(r.resources.memory, 1 << 30);
        assert_eq!(r.pids, 100);
        let err = parse_reserved("--kube-reserved", "cpu=lots").unwrap_err();
        assert!(err.starts_with("invalid argument \"cpu=lots\" for \"--kube-reserved\" flag: cpu: quantities must match"), "{err}");
        assert!(parse_reserved("--kube-reserved", "gpu=1").unwrap_err().contains("unsupported resource \"gpu\""));
        assert!(parse_reserved("--kube-reserved", "cpu").unwrap_err().contains("malformed pair"));
    }

    #[test]
    fn meminfo_and_the_machine() {
        assert_eq!(meminfo_bytes("MemTotal:       1024 kB\nMemFree: 2 kB\n", "MemFree"), Some(2048));
        let cap = machine_capacity(Path::new("/"), 110).unwrap();
        assert!(cap.cpu_millis >= 1000 && cap.memory > 0 && cap.ephemeral_storage > 0);
        assert_eq!(cap.to_map()["pods"], "110");
    }
}
