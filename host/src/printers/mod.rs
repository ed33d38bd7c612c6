//! What kubectl's printers compute from objects: the `get pods` columns and ages,
//! shared by hooklet's own CLI and the API's server-side Tables.

pub mod pod;

use std::time::{Duration, SystemTime};

/// kubectl's `HumanDuration` (`45s`, `3m12s`, `5h4m`, `3d`).
pub fn human_duration(d: Duration) -> String {
    let seconds = d.as_secs();
    if seconds < 60 * 2 {
        return format!("{seconds}s");
    }
    let minutes = seconds / 60;
    if minutes < 10 {
        let s = seconds % 60;
        return if s == 0 { format!("{minutes}m") } else { format!("{minutes}m{s}s") };
    }
    if minutes < 60 * 3 {
        return format!("{minutes}m");
    }
    let hours = minutes / 60;
    if hours < 8 {
        let m = minutes % 60;
        return if m == 0 { format!("{hours}h") } else { format!("{hours}h{m}m") };
    }
    if hours < 48 {
        return format!("{hours}h");
    }
    if hours < 24 * 8 {
        let h = hours % 24;
        return if h == 0 { format!("{}d", hours / 24) } else { format!("{}d{h}h", hours / 24) };
    }
    if hours < 24 * 365 * 2 {
        return format!("{}d", hours / 24);
    }
    format!("{}y", hours / 24 / 365)
}

/// The age of `t` as kubectl shows it.
pub fn age(t: SystemTime) -> String {
    human_duration(SystemTime::now().duration_since(t).unwrap_or_default())
}
