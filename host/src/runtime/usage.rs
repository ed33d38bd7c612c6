//! What containers use now, for the eviction manager: the working set and the
//! number of processes. The runc runtime reads the container's cgroup; the process
//! runtime sums the container's process group from `/proc` (its resident memory
//! stands in for the cgroup working set).

use std::collections::HashMap;

/// A container's current usage.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ContainerUsage {
    /// Memory in use, without reclaimable file cache (bytes).
    pub working_set_bytes: u64,
    /// Processes running.
    pub processes: u64,
}

/// The usage of each process group in `groups`, from one scan of `/proc`: resident
/// memory and processes of every process whose group id is one of them. Groups
/// with no process are absent.
pub fn process_groups(groups: &[i32]) -> HashMap<i32, ContainerUsage> {
    let page = page_size();
    let wanted: std::collections::HashSet<i32> = groups.iter().copied().collect();
    let mut out: HashMap<i32, ContainerUsage> = HashMap::new();
    let Ok(dir) = std::fs::read_dir("/proc") else { return out };
    for entry in dir.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().filter(|n| n.bytes().all(|b| b.is_ascii_digit())) else { continue };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { continue };
        let Some((pgrp, rss_pages)) = parse_stat(&stat) else { continue };
        if wanted.contains(&pgrp) {
            let u = out.entry(pgrp).or_default();
            u.working_set_bytes += rss_pages * page;
            u.processes += 1;
        }
    }
    out
}

/// (process group, resident pages) from the text of `/proc/PID/stat`.
fn parse_stat(stat: &str) -> Option<(i32, u64)> {
    // After the command (in parentheses, may contain spaces): state ppid pgrp …
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let pgrp = fields.get(2)?.parse().ok()?;
    // Field 24 of the full line (rss) is index 21 after the command.
    let rss = fields.get(21)?.parse().ok()?;
    Some((pgrp, rss))
}

fn page_size() -> u64 {
    nix::unistd::sysconf(nix::unistd::SysconfVar::PAGE_SIZE).ok().flatten().map(|p| p as u64).unwrap_or(4096)
}

#[cfg(test)]
mod tests {
    #[test]
    fn this_process_group_is_measured() {
        let me = nix::unistd::getpgrp().as_raw();
        let usage = super::process_groups(&[me]);
        let u = usage.get(&me).expect("our own group has a process");
        assert!(u.processes >= 1 && u.working_set_bytes > 0, "{u:?}");
        assert_eq!(super::parse_stat("12 (a b) S 1 7 7 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 5 100 42 x"), Some((7, 42)));
    }
}
