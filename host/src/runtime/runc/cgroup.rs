//! A container's cgroups: where they are, OOM kills, and per-exec accounting.
//!
//! The layout is detected at run time: a pure cgroup v2 machine has
//! `/sys/fs/cgroup/cgroup.controllers`; otherwise the v1 hierarchies are used (this
//! machine kind is v1 "hybrid": memory and cpuacct are v1, the unified hierarchy at
//! `/sys/fs/cgroup/unified` has no controllers). A container's cgroups are read from
//! `/proc/PID/cgroup` of its init process, so they are found wherever runc nested them.
//!
//! Each exec hook runs in a child cgroup of the container's ([`ExecCgroup`], passed to
//! `runc exec --cgroup`): what it uses still counts against the container's limits
//! (the hierarchy is charged upwards), and its own CPU time and peak memory can be
//! read when it ends (D8). Dropping an [`ExecCgroup`] kills what the hook left running
//! in it and removes it.

use std::path::{Path, PathBuf};

use hooklet_monitor::oom::keyed_value;

use crate::runtime::ExecUsage;

const ROOT: &str = "/sys/fs/cgroup";

/// The cgroup layout of this machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// v1 hierarchies per controller (possibly beside an empty unified hierarchy).
    V1,
    /// The unified hierarchy only.
    V2,
}

impl Layout {
    /// Detects the layout of the cgroup filesystem mounted at `/sys/fs/cgroup`.
    pub fn detect() -> Layout {
        if Path::new(ROOT).join("cgroup.controllers").exists() {
            Layout::V2
        } else {
            Layout::V1
        }
    }
}

/// A running container's cgroup directories.
#[derive(Debug, Clone)]
pub struct ContainerCgroups {
    layout: Layout,
    /// v1: the memory controller's directory; v2: the unified directory.
    memory: Option<PathBuf>,
    /// v1: the cpuacct controller's directory; v2: the unified directory.
    cpu: Option<PathBuf>,
}

impl ContainerCgroups {
    /// The cgroups of process `pid` (the container's init).
    pub fn of_pid(layout: Layout, pid: i32) -> anyhow::Result<ContainerCgroups> {
        let path = format!("/proc/{pid}/cgroup");
        let text = std::fs::read_to_string(&path).map_err(|err| anyhow::anyhow!("cannot read {path}: {err}"))?;
        Ok(Self::parse(layout, &text))
    }

    fn parse(layout: Layout, text: &str) -> ContainerCgroups {
        let mut found = ContainerCgroups { layout, memory: None, cpu: None };
        for line in text.lines() {
            let mut parts = line.splitn(3, ':');
            let (Some(_), Some(controllers), Some(path)) = (parts.next(), parts.next(), parts.next()) else {
                continue;
            };
            let rel = path.trim_start_matches('/');
            match layout {
                Layout::V2 if controllers.is_empty() => {
                    let dir = Path::new(ROOT).join(rel);
                    found.memory = Some(dir.clone());
                    found.cpu = Some(dir);
                }
                Layout::V1 => {
                    let names: Vec<&str> = controllers.split(',').collect();
                    let dir = Path::new(ROOT).join(controllers).join(rel);
                    if names.contains(&"memory") {
                        found.memory = Some(dir.clone());
                    }
                    if names.contains(&"cpuacct") {
                        found.cpu = Some(dir);
                    }
                }
                Layout::V2 => {}
            }
        }
        found
    }

    /// What the container uses now: the working set (memory in use minus the
    /// inactive file cache, as the kubelet computes it) and its processes.
    pub fn current_usage(&self) -> Option<crate::runtime::usage::ContainerUsage> {
        let dir = self.memory.as_ref()?;
        let read = |file: &str| std::fs::read_to_string(dir.join(file)).ok();
        let (usage_file, inactive_key) = match self.layout {
            Layout::V1 => ("memory.usage_in_bytes", "total_inactive_file"),
            Layout::V2 => ("memory.current", "inactive_file"),
        };
        let usage: u64 = read(usage_file)?.trim().parse().ok()?;
        let inactive = read("memory.stat").and_then(|t| keyed_value(&t, inactive_key)).unwrap_or(0);
        let processes = read("cgroup.procs").map_or(0, |t| t.lines().filter(|l| !l.trim().is_empty()).count() as u64);
        Some(crate::runtime::usage::ContainerUsage { working_set_bytes: usage.saturating_sub(inactive), processes })
    }

    /// Kills and removes the exec cgroups (`hook-*`) left in the container's cgroups:
    /// the hooks of a daemon that died while they ran. Before a hook is redelivered,
    /// so the new attempt never overlaps a stale copy of it.
    pub fn remove_exec_cgroups(&self) {
        let parents = [&self.memory, &self.cpu].into_iter().flatten();
        let mut dirs: Vec<PathBuf> = parents
            .flat_map(|p| std::fs::read_dir(p).into_iter().flatten().flatten())
            .filter(|e| e.file_name().to_string_lossy().starts_with("hook-") && e.path().is_dir())
            .map(|e| e.path())
            .collect();
        // (v2: one directory for both.)
        dirs.sort();
        dirs.dedup();
        for dir in &dirs {
            tracing::info!(cgroup = %dir.display(), "removing the exec cgroup of a hook that ran when hooklet stopped");
        }
        remove_cgroups(&dirs);
    }

    /// Creates the child cgroup `name` for one exec.
    pub fn exec_cgroup(&self, name: &str) -> anyhow::Result<ExecCgroup> {
        let mut cgroup = ExecCgroup { layout: self.layout, memory: None, cpu: None, dirs: Vec::new(), runc_args: Vec::new() };
        // v1: one directory per controller, `--cgroup CONTROLLER:NAME`; v2: one
        // directory, `--cgroup NAME`.
        let parents = match self.layout {
            Layout::V1 => vec![("memory", &self.memory), ("cpuacct", &self.cpu)],
            Layout::V2 => vec![("", &self.cpu)],
        };
        for (controller, parent) in parents {
            let Some(parent) = parent else { continue };
            let dir = parent.join(name);
            std::fs::create_dir(&dir).map_err(|err| anyhow::anyhow!("cannot create cgroup {}: {err}", dir.display()))?;
            cgroup.dirs.push(dir.clone());
            if controller != "cpuacct" {
                cgroup.memory = Some(dir.clone());
            }
            if controller != "memory" {
                cgroup.cpu = Some(dir);
            }
            cgroup.runc_args.push(if controller.is_empty() { name.to_string() } else { format!("{controller}:{name}") });
        }
        Ok(cgroup)
    }
}

/// The cgroup of one exec inside its container's. See the module docs.
#[derive(Debug)]
pub struct ExecCgroup {
    layout: Layout,
    memory: Option<PathBuf>,
    cpu: Option<PathBuf>,
    dirs: Vec<PathBuf>,
    runc_args: Vec<String>,
}

impl ExecCgroup {
    /// The values of `runc exec --cgroup` that put the exec here.
    pub fn runc_args(&self) -> &[String] {
        &self.runc_args
    }

    /// CPU time and peak memory used in this cgroup so far.
    pub fn usage(&self) -> ExecUsage {
        let read = |dir: &Option<PathBuf>, file: &str| {
            dir.as_ref().and_then(|d| std::fs::read_to_string(d.join(file)).ok())
        };
        match self.layout {
            Layout::V1 => ExecUsage {
                cpu_nanos: read(&self.cpu, "cpuacct.usage").and_then(|t| t.trim().parse().ok()).unwrap_or(0),
                memory_peak_bytes: read(&self.memory, "memory.max_usage_in_bytes").and_then(|t| t.trim().parse().ok()),
            },
            Layout::V2 => ExecUsage {
                cpu_nanos: read(&self.cpu, "cpu.stat").and_then(|t| keyed_value(&t, "usage_usec")).unwrap_or(0) * 1000,
                memory_peak_bytes: read(&self.memory, "memory.peak").and_then(|t| t.trim().parse().ok()),
            },
        }
    }
}

impl Drop for ExecCgroup {
    /// Kills what the hook left running here (as a runtime ends an exec's stragglers,
    /// or a cancelled exec) and removes the cgroup.
    fn drop(&mut self) {
        remove_cgroups(&self.dirs);
    }
}

/// Removes the cgroups `dirs`, killing what runs in them first.
fn remove_cgroups(dirs: &[PathBuf]) {
    for dir in dirs {
        if std::fs::remove_dir(dir).is_ok() {
            continue;
        }
        kill_all(dir);
        if let Err(err) = std::fs::remove_dir(dir) {
            tracing::warn!(cgroup = %dir.display(), "cannot remove an exec's cgroup: {err}");
        }
    }
}

/// SIGKILLs every process in the cgroup `dir` and waits (briefly) until it is empty.
fn kill_all(dir: &Path) {
    if std::fs::write(dir.join("cgroup.kill"), "1").is_err() {
        let procs = std::fs::read_to_string(dir.join("cgroup.procs")).unwrap_or_default();
        for pid in procs.lines().filter_map(|l| l.trim().parse::<i32>().ok()).filter(|&p| p > 1) {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
        }
    }
    // The kernel empties the group as the killed processes exit (a few ms).
    for _ in 0..50 {
        let procs = std::fs::read_to_string(dir.join("cgroup.procs")).unwrap_or_default();
        if procs.trim().is_empty() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v1_paths_come_from_proc_cgroup() {
        let text = "4:memory:/process_api/abc/hooklet/c1\n2:cpuacct:/hooklet/c1\n1:cpu:/hooklet/c1\n0::/hooklet/c1\n";
        let c = ContainerCgroups::parse(Layout::V1, text);
        assert_eq!(c.memory.unwrap(), Path::new("/sys/fs/cgroup/memory/process_api/abc/hooklet/c1"));
        assert_eq!(c.cpu.unwrap(), Path::new("/sys/fs/cgroup/cpuacct/hooklet/c1"));
        let combined = ContainerCgroups::parse(Layout::V1, "3:cpu,cpuacct:/x\n");
        assert_eq!(combined.cpu.unwrap(), Path::new("/sys/fs/cgroup/cpu,cpuacct/x"));
    }

    #[test]
    fn v2_uses_the_unified_path() {
        let c = ContainerCgroups::parse(Layout::V2, "0::/hooklet/c1\n");
        assert_eq!(c.memory.unwrap(), Path::new("/sys/fs/cgroup/hooklet/c1"));
    }
}
