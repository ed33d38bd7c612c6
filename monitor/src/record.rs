//! The files a monitor keeps in its container's state directory, shared with the
//! daemon that reads them: who the monitor and the container are (pid + start time
//! + boot id, never a bare pid), and how the container ended.

use std::io::Write;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::cri::Lost;
use crate::sync::json_string;

/// The monitor itself: `PID STARTTIME BOOT_ID`.
pub const MONITOR_FILE: &str = "monitor";
/// The container process (and process group): `PID STARTTIME`.
pub const PID_FILE: &str = "pid";
/// The exit status, JSON in hooklet's `ExitStatus` shape.
pub const EXIT_FILE: &str = "exit.json";

/// A process as recorded: a pid is only the same process while its start time (and,
/// across reboots, the boot id) is unchanged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessRecord {
    pub pid: i32,
    /// Clock ticks since boot (`/proc/PID/stat` field 22).
    pub start_time: u64,
    /// `/proc/sys/kernel/random/boot_id` when recorded (the monitor record has it).
    pub boot_id: Option<String>,
}

impl ProcessRecord {
    /// The record of the running process `pid`, with the boot id when `with_boot`.
    pub fn of(pid: i32, with_boot: bool) -> Option<ProcessRecord> {
        let boot_id = if with_boot { Some(boot_id()?) } else { None };
        Some(ProcessRecord { pid, start_time: start_time(pid)?, boot_id })
    }

    /// Parses `PID STARTTIME [BOOT_ID]`.
    pub fn parse(text: &str) -> Option<ProcessRecord> {
        let mut fields = text.split_whitespace();
        let pid = fields.next()?.parse().ok().filter(|p: &i32| *p > 0)?;
        let start_time = fields.next()?.parse().ok()?;
        let boot_id = fields.next().map(str::to_string);
        fields.next().is_none().then_some(ProcessRecord { pid, start_time, boot_id })
    }

    /// Reads the record `dir/name`.
    pub fn read(dir: &Path, name: &str) -> Option<ProcessRecord> {
        ProcessRecord::parse(&std::fs::read_to_string(dir.join(name)).ok()?)
    }

    /// The text form, as [`ProcessRecord::parse`] reads it.
    pub fn format(&self) -> String {
        match &self.boot_id {
            Some(boot) => format!("{} {} {boot}", self.pid, self.start_time),
            None => format!("{} {}", self.pid, self.start_time),
        }
    }

    /// Whether the recorded process still runs: same pid, same start time, and (when
    /// recorded) same boot; a zombie has ended. A reused pid is never taken for it.
    pub fn is_live(&self) -> bool {
        if let Some(boot) = &self.boot_id {
            if boot_id().as_deref() != Some(boot.as_str()) {
                return false;
            }
        }
        matches!(stat_fields(self.pid), Some((state, start)) if state != "Z" && start == self.start_time)
    }
}

/// When process `pid` started, in clock ticks since boot (`/proc/PID/stat` field 22);
/// `None` when there is no such process.
pub fn start_time(pid: i32) -> Option<u64> {
    stat_fields(pid).map(|(_, start)| start)
}

/// The state (`R`, `S`, `Z`, …) and start time of process `pid`.
fn stat_fields(pid: i32) -> Option<(String, u64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // `pid (comm) state ppid …`: comm may hold spaces and parentheses; field 3 follows
    // the last `)`, so field 22 is the 20th after it.
    let mut fields = stat.rsplit_once(')')?.1.split_whitespace();
    let state = fields.next()?.to_string();
    Some((state, fields.nth(18)?.parse().ok()?))
}

/// This boot's id: pid + start time name one process only within one boot.
pub fn boot_id() -> Option<String> {
    Some(std::fs::read_to_string("/proc/sys/kernel/random/boot_id").ok()?.trim().to_string())
}

/// Writes `dir/name` by renaming a fully written (and synced) temporary file: it
/// survives a power loss (the exit file: how a container ended before the node went
/// down).
pub fn write_atomically(dir: &Path, name: &str, bytes: &[u8]) -> std::io::Result<()> {
    write_renamed(dir, name, bytes, true)
}

/// Writes `dir/name` by renaming a fully written temporary file, not synced: for
/// records that a power loss voids anyway (a process record names this boot), so
/// a crash of the daemon or the monitor still never leaves half a record, and a
/// container start waits for no disk flush.
pub fn write_record(dir: &Path, name: &str, bytes: &[u8]) -> std::io::Result<()> {
    write_renamed(dir, name, bytes, false)
}

fn write_renamed(dir: &Path, name: &str, bytes: &[u8], sync: bool) -> std::io::Result<()> {
    let tmp = dir.join(format!(".{name}.tmp"));
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(bytes)?;
    if sync {
        f.sync_all()?;
    }
    std::fs::rename(&tmp, dir.join(name))
}

/// The exit file's JSON for a process that ended with `code` (or 128 + `signal`) at
/// `finished_at`, killed by the OOM killer or not, with the output its log lost:
/// hooklet's `ExitStatus` as serde writes it.
pub fn exit_json(code: i32, signal: Option<i32>, oom_killed: bool, finished_at: SystemTime, lost: &Lost) -> String {
    let since = finished_at.duration_since(UNIX_EPOCH).unwrap_or_default();
    let signal = signal.map_or("null".to_string(), |s| s.to_string());
    let oom = if oom_killed { ",\"oom_killed\":true" } else { "" };
    let lost = match (lost.bytes, &lost.error) {
        (0, _) => String::new(),
        (bytes, error) => format!(",\"log_bytes_lost\":{bytes},\"log_error\":{}", json_string(error.as_deref().unwrap_or(""))),
    };
    format!(
        "{{\"exit_code\":{code},\"signal\":{signal},\"finished_at\":{{\"secs_since_epoch\":{},\"nanos_since_epoch\":{}}}{oom}{lost}}}",
        since.as_secs(),
        since.subsec_nanos()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_reject_junk() {
        let r = ProcessRecord { pid: 42, start_time: 7, boot_id: Some("b-1".into()) };
        assert_eq!(ProcessRecord::parse(&r.format()), Some(r));
        let plain = ProcessRecord { pid: 42, start_time: 7, boot_id: None };
        assert_eq!(ProcessRecord::parse("42 7\n"), Some(plain));
        for junk in ["", "42", "x 7", "-1 7", "0 7", "42 7 b extra"] {
            assert_eq!(ProcessRecord::parse(junk), None, "{junk:?}");
        }
    }

    #[test]
    fn a_record_with_a_wrong_start_time_or_boot_is_not_live() {
        let me = ProcessRecord::of(std::process::id() as i32, true).unwrap();
        assert!(me.is_live());
        let reused = ProcessRecord { start_time: me.start_time + 1, ..me.clone() };
        assert!(!reused.is_live(), "same pid, another start time: a reused pid");
        let other_boot = ProcessRecord { boot_id: Some("another-boot".into()), ..me };
        assert!(!other_boot.is_live(), "same pid and start time in another boot");
    }

    #[test]
    fn the_exit_json_has_hooklets_shape() {
        let at = UNIX_EPOCH + std::time::Duration::new(5, 6);
        assert_eq!(
            exit_json(137, Some(9), false, at, &Lost::default()),
            r#"{"exit_code":137,"signal":9,"finished_at":{"secs_since_epoch":5,"nanos_since_epoch":6}}"#
        );
        assert!(exit_json(3, None, false, at, &Lost::default()).contains(r#""signal":null"#));
        assert!(exit_json(137, Some(9), true, at, &Lost::default()).ends_with(r#"},"oom_killed":true}"#));
        let lost = Lost { bytes: 12, error: Some("No \"space\"\\".into()) };
        let json = exit_json(0, None, false, at, &lost);
        assert!(json.ends_with(r#","log_bytes_lost":12,"log_error":"No \"space\"\\"}"#), "{json}");
    }
}
