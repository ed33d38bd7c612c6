//! A container's OOM kills, counted by its memory cgroup: `oom_kill` in
//! `memory.oom_control` (cgroup v1, this machine's hybrid layout) or `memory.events`
//! (a pure cgroup v2 machine). The cgroup is found from `/proc/PID/cgroup` of the
//! container's init while it runs, wherever runc nested it.

use std::path::PathBuf;

const ROOT: &str = "/sys/fs/cgroup";

/// Where to read a container's OOM kill count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OomCounter(PathBuf);

impl OomCounter {
    /// The counter of the memory cgroup of process `pid`, if it has one.
    pub fn of(pid: i32) -> Option<OomCounter> {
        let text = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).ok()?;
        Self::parse(&text, std::path::Path::new(ROOT).join("cgroup.controllers").exists())
    }

    /// From the text of `/proc/PID/cgroup`, on a pure v2 machine or not.
    pub fn parse(text: &str, v2: bool) -> Option<OomCounter> {
        text.lines().find_map(|line| {
            let mut parts = line.splitn(3, ':');
            let (_, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
            let rel = path.trim_start_matches('/');
            if v2 {
                controllers.is_empty().then(|| OomCounter(PathBuf::from(ROOT).join(rel).join("memory.events")))
            } else {
                controllers.split(',').any(|c| c == "memory").then(|| OomCounter(PathBuf::from(ROOT).join(controllers).join(rel).join("memory.oom_control")))
            }
        })
    }

    /// How many times the OOM killer killed a process of the container (0 when the
    /// cgroup is gone).
    pub fn kills(&self) -> u64 {
        keyed_value(&std::fs::read_to_string(&self.0).unwrap_or_default(), "oom_kill").unwrap_or(0)
    }
}

/// The number after `key ` in a `key value` per line file (cgroup stat files).
pub fn keyed_value(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|line| line.strip_prefix(key)?.strip_prefix(' ')?.trim().parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_counter_is_in_the_memory_cgroup() {
        let v1 = "5:memory:/hooklet/c1\n2:cpu,cpuacct:/hooklet/c1\n0::/hooklet/c1\n";
        assert_eq!(OomCounter::parse(v1, false), Some(OomCounter("/sys/fs/cgroup/memory/hooklet/c1/memory.oom_control".into())));
        assert_eq!(OomCounter::parse(v1, true), Some(OomCounter("/sys/fs/cgroup/hooklet/c1/memory.events".into())));
        assert_eq!(OomCounter::parse("2:cpu:/x\n", false), None);
    }

    #[test]
    fn keyed_values_are_found() {
        assert_eq!(keyed_value("oom_kill_disable 0\nunder_oom 0\noom_kill 2\n", "oom_kill"), Some(2));
        assert_eq!(keyed_value("low 0\n", "oom_kill"), None);
    }
}
