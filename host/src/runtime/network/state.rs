//! IP allocations: `STATE_DIR/pods/POD_UID.json`, one small record per pod, written
//! atomically (a temporary file renamed into place), so a restarted hooklet gives an
//! adopted pod the IP it had. Callers hold the network's lock: reading every record
//! and writing the new one is then race-free.

use std::collections::HashSet;
use std::fs;
use std::io::Write;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use serde::{Deserialize, Serialize};

use super::config::Ipv4Subnet;
use crate::runtime::PodRef;

const RECORD_SUFFIX: &str = ".json";
const TEMP_PREFIX: &str = ".tmp-";

/// One pod's address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct Allocation {
    pub uid: String,
    pub namespace: String,
    pub name: String,
    pub ip: Ipv4Addr,
}

/// The allocation records in one directory.
#[derive(Debug, Clone)]
pub(super) struct Allocations {
    dir: PathBuf,
}

impl Allocations {
    pub fn open(dir: PathBuf) -> anyhow::Result<Self> {
        fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        Ok(Allocations { dir })
    }

    fn record(&self, uid: &str) -> PathBuf {
        self.dir.join(format!("{uid}{RECORD_SUFFIX}"))
    }

    /// The pod's record, if it has one (an unreadable record counts as none).
    pub fn get(&self, uid: &str) -> anyhow::Result<Option<Allocation>> {
        let path = self.record(uid);
        match fs::read(&path) {
            Ok(bytes) => match serde_json::from_slice(&bytes) {
                Ok(a) => Ok(Some(a)),
                Err(e) => {
                    tracing::warn!(path = %path.display(), error = %e, "pod network: unreadable IP allocation ignored");
                    Ok(None)
                }
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
        }
    }

    /// The uids of every record (readable or not) and leftover temporary file.
    pub fn uids(&self) -> anyhow::Result<Vec<String>> {
        let entries = fs::read_dir(&self.dir).with_context(|| format!("reading {}", self.dir.display()))?;
        let mut uids = Vec::new();
        for entry in entries {
            let name = entry?.file_name();
            let Some(name) = name.to_str() else { continue };
            let name = name.strip_prefix(TEMP_PREFIX).unwrap_or(name);
            uids.extend(name.strip_suffix(RECORD_SUFFIX).map(str::to_string));
        }
        Ok(uids)
    }

    /// The pod's address: the one on record when it is still in `subnet` and not taken
    /// by another pod, else the lowest free one (recorded before it is returned).
    pub fn allocate(&self, pod: &PodRef, subnet: &Ipv4Subnet) -> anyhow::Result<Allocation> {
        let mut used = HashSet::new();
        let mut mine = None;
        for uid in self.uids()? {
            match self.get(&uid)? {
                Some(a) if uid == pod.uid => mine = Some(a),
                Some(a) => {
                    used.insert(a.ip);
                }
                None => {}
            }
        }
        if let Some(a) = mine.filter(|a| subnet.contains(a.ip) && !used.contains(&a.ip)) {
            return Ok(a);
        }
        let Some(ip) = subnet.pod_addresses().find(|ip| !used.contains(ip)) else {
            bail!(
                "the pod network `subnet` {subnet} is full: all {} pod addresses are in use; \
                 delete pods or configure a wider subnet",
                subnet.pod_addresses().count()
            );
        };
        let a = Allocation { uid: pod.uid.clone(), namespace: pod.namespace.clone(), name: pod.name.clone(), ip };
        self.write(&a)?;
        tracing::info!(pod = %pod.name, uid = %pod.uid, %ip, "pod network: allocated an IP");
        Ok(a)
    }

    fn write(&self, a: &Allocation) -> anyhow::Result<()> {
        let path = self.record(&a.uid);
        let temp = self.dir.join(format!("{TEMP_PREFIX}{}{RECORD_SUFFIX}", a.uid));
        let write = || -> std::io::Result<()> {
            let mut f = fs::File::create(&temp)?;
            f.write_all(&serde_json::to_vec(a)?)?;
            f.sync_all()?;
            fs::rename(&temp, &path)
        };
        write().with_context(|| format!("writing the IP allocation {}", path.display()))
    }

    /// Deletes the pod's record (and any temporary file). Returns whether there was one.
    pub fn release(&self, uid: &str) -> anyhow::Result<bool> {
        let temp = self.dir.join(format!("{TEMP_PREFIX}{uid}{RECORD_SUFFIX}"));
        let _ = fs::remove_file(temp);
        remove_if_exists(&self.record(uid))
    }
}

fn remove_if_exists(path: &Path) -> anyhow::Result<bool> {
    match fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e).with_context(|| format!("removing {}", path.display())),
    }
}

/// Checks that a pod uid can name files and aliases: 1–128 characters of
/// `[A-Za-z0-9_.-]`, not starting with `.`.
pub(super) fn validate_uid(uid: &str) -> anyhow::Result<()> {
    let ok = !uid.is_empty()
        && uid.len() <= 128
        && !uid.starts_with('.')
        && uid.bytes().all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b));
    if !ok {
        bail!("pod uid `{uid}` cannot be used by the pod network: expected 1 to 128 characters of letters, digits, `_`, `.`, `-` (like a UUID)");
    }
    Ok(())
}

/// The pod's hostname as the kubelet makes it: the pod name, cut to 63 characters,
/// without trailing `-` or `.`.
pub(super) fn hostname(pod_name: &str) -> String {
    let cut: String = pod_name.chars().take(63).collect();
    cut.trim_end_matches(['-', '.']).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(uid: &str) -> PodRef {
        PodRef { namespace: "default".into(), name: format!("pod-{uid}"), uid: uid.into() }
    }

    #[test]
    fn allocation_is_stable_distinct_and_reuses_freed_addresses() {
        let dir = tempfile::tempdir().unwrap();
        let allocs = Allocations::open(dir.path().join("pods")).unwrap();
        let subnet: Ipv4Subnet = "10.213.9.0/29".parse().unwrap();
        let a = allocs.allocate(&pod("a"), &subnet).unwrap();
        let b = allocs.allocate(&pod("b"), &subnet).unwrap();
        assert_eq!(a.ip, Ipv4Addr::new(10, 213, 9, 2));
        assert_eq!(b.ip, Ipv4Addr::new(10, 213, 9, 3));
        assert_eq!(allocs.allocate(&pod("a"), &subnet).unwrap(), a);
        // A new instance over the same directory (a restarted hooklet) keeps them.
        let again = Allocations::open(dir.path().join("pods")).unwrap();
        assert_eq!(again.get("b").unwrap(), Some(b.clone()));
        assert!(again.release("a").unwrap());
        assert!(!again.release("a").unwrap());
        assert_eq!(again.allocate(&pod("c"), &subnet).unwrap().ip, a.ip);
        let mut uids = again.uids().unwrap();
        uids.sort();
        assert_eq!(uids, ["b", "c"]);
    }

    #[test]
    fn an_exhausted_range_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let allocs = Allocations::open(dir.path().to_path_buf()).unwrap();
        let subnet: Ipv4Subnet = "192.168.50.0/29".parse().unwrap();
        for i in 0..5 {
            allocs.allocate(&pod(&i.to_string()), &subnet).unwrap();
        }
        let e = allocs.allocate(&pod("x"), &subnet).unwrap_err().to_string();
        assert!(e.contains("192.168.50.0/29 is full") && e.contains("all 5"), "{e}");
    }

    #[test]
    fn a_record_outside_the_subnet_is_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let allocs = Allocations::open(dir.path().to_path_buf()).unwrap();
        allocs.allocate(&pod("a"), &"10.1.0.0/24".parse().unwrap()).unwrap();
        let moved = allocs.allocate(&pod("a"), &"10.2.0.0/24".parse().unwrap()).unwrap();
        assert_eq!(moved.ip, Ipv4Addr::new(10, 2, 0, 2));
        assert_eq!(allocs.get("a").unwrap(), Some(moved));
    }

    #[test]
    fn uids_and_hostnames() {
        validate_uid("8d2f3c1e-0000-4000-8000-000000000001").unwrap();
        for bad in ["", ".hidden", "a/b", "a b", &"x".repeat(129)] {
            assert!(validate_uid(bad).is_err(), "{bad:?}");
        }
        assert_eq!(hostname("web-0"), "web-0");
        let long = format!("{}-.x", "a".repeat(61));
        assert_eq!(hostname(&long), "a".repeat(61));
    }
}
