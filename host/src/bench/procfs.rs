//! A process's resource use, read from `/proc` (Linux): resident memory and its high
//! water mark, CPU time, threads, open file descriptors; and the `hooklet-monitor`
//! processes of one state directory.

use std::path::Path;
use std::time::Duration;

/// Clock ticks per second of `/proc/PID/stat` times (`USER_HZ`, 100 on Linux's ABI).
const USER_HZ: f64 = 100.0;

/// One reading of a process's resource use.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
pub struct ProcStats {
    /// Resident memory now (`VmRSS`), KiB.
    pub rss_kib: u64,
    /// The most resident memory so far (`VmHWM`), KiB.
    pub hwm_kib: u64,
    /// Threads now.
    pub threads: u64,
    /// Open file descriptors now.
    pub fds: u64,
    /// User + system CPU time so far, seconds.
    pub cpu_seconds: f64,
}

/// Reads the resource use of process `pid`.
pub fn stats(pid: u32) -> std::io::Result<ProcStats> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    };
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd"))?.count() as u64;
    Ok(ProcStats {
        rss_kib: field("VmRSS:"),
        hwm_kib: field("VmHWM:"),
        threads: field("Threads:"),
        fds,
        cpu_seconds: cpu_time(pid)?.as_secs_f64(),
    })
}

/// User + system CPU time of process `pid` (`/proc/PID/stat` fields 14 and 15).
pub fn cpu_time(pid: u32) -> std::io::Result<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // `pid (comm) state …`: comm may hold spaces and parentheses; field 3 follows the last `)`.
    let fields: Vec<&str> = stat.rsplit_once(')').map(|(_, rest)| rest.split_whitespace().collect()).unwrap_or_default();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok()).unwrap_or(0);
    // Field 14 (utime) is the 12th after the `)`, field 15 (stime) the 13th.
    Ok(Duration::from_secs_f64((ticks(11) + ticks(12)) as f64 / USER_HZ))
}

/// The `hooklet-monitor` processes whose command line names `state_dir`:
/// (how many, their summed proportional set size in KiB).
pub fn supervisors(state_dir: &Path) -> (u64, u64) {
    let needle = state_dir.to_string_lossy().into_owned();
    let (mut count, mut pss_kib) = (0, 0);
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else { continue };
        let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else { continue };
        let cmdline = String::from_utf8_lossy(&cmdline);
        if !(cmdline.contains("hooklet-monitor") && cmdline.contains(&needle)) {
            continue;
        }
        count += 1;
        pss_kib += std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup"))
            .ok()
            .and_then(|s| s.lines().find_map(|l| l.strip_prefix("Pss:")).and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok()))
            .unwrap_or(0);
    }
    (count, pss_kib)
}

/// The soft limit on open files of process `pid` (`/proc/PID/limits`; 0 when unreadable,
/// `u64::MAX` when unlimited).
pub fn nofile_limit(pid: u32) -> u64 {
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap_or_default();
    let soft = limits.lines().find_map(|l| l.strip_prefix("Max open files")).and_then(|rest| rest.split_whitespace().next());
    match soft {
        Some("unlimited") => u64::MAX,
        Some(n) => n.parse().unwrap_or(0),
        None => 0,
    }
}

/// Kills the containers still running under `state_dir`'s supervisors, for cleanup
/// after a failed run. Each container's group is killed only while its pid is still
/// that container — a child of a `hooklet-monitor` process naming its directory — never
/// whatever process has the pid now (pids are reused quickly).
pub fn kill_leftover_containers(state_dir: &Path) -> usize {
    let mut killed = 0;
    for dir in std::fs::read_dir(state_dir.join("containers")).into_iter().flatten().flatten() {
        let dir = dir.path();
        if dir.join("exit.json").exists() {
            continue;
        }
        let Some(pid) = std::fs::read_to_string(dir.join("pid")).ok().and_then(|s| s.split_whitespace().next()?.parse::<i32>().ok()) else {
            continue;
        };
        if supervised_by(pid, &dir) {
            let group = nix::unistd::Pid::from_raw(pid);
            if nix::sys::signal::killpg(group, nix::sys::signal::Signal::SIGKILL).is_ok() {
                killed += 1;
            }
        }
    }
    killed
}

/// Whether process `pid` is a child of the supervisor of container directory `dir`.
fn supervised_by(pid: i32, dir: &Path) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { return false };
    let Some(ppid) = stat.rsplit_once(')').and_then(|(_, rest)| rest.split_whitespace().nth(1)) else { return false };
    let cmdline = std::fs::read(format!("/proc/{ppid}/cmdline")).unwrap_or_default();
    let cmdline = String::from_utf8_lossy(&cmdline);
    cmdline.contains("hooklet-monitor") && cmdline.contains(&*dir.to_string_lossy())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_process() {
        let s = stats(std::process::id()).unwrap();
        assert!(s.rss_kib > 0 && s.hwm_kib >= s.rss_kib, "{s:?}");
        assert!(s.threads >= 1 && s.fds >= 3, "{s:?}");
        assert!(nofile_limit(std::process::id()) > 0);
    }
}
