//! [`WasmOutcome`]: what one plugin call (a hook delivery or a probe) gave, cost and said.

use std::time::Duration;

use tokio::time::Instant;

use super::failure::WasmFailure;
use super::output::LogLine;

/// Everything about one call of a plugin, a hook delivery
/// ([`WasmHost::deliver`](super::WasmHost::deliver)) or a probe
/// ([`WasmHost::probe`](super::WasmHost::probe)): the result, what it cost, and what the
/// plugin said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WasmOutcome {
    /// `Ok` when the plugin handled the hook, or found the container healthy; otherwise
    /// why not (for a probe, an unhealthy container is [`WasmFailure::ProbeFailed`]).
    pub result: Result<(), WasmFailure>,
    /// For a probe that passed, the text the plugin returned with `ok(...)` (possibly
    /// empty; cut to 16 KiB). `None` for hooks and for failed probes.
    pub message: Option<String>,
    /// The fuel budget the delivery had.
    pub fuel_budget: u64,
    /// Fuel used (budget minus what was left), also when the delivery failed.
    pub fuel_consumed: u64,
    /// The most linear memory the plugin had at once, in bytes.
    pub peak_memory_bytes: u64,
    /// The memory cap the delivery ran under, in bytes (0 when the plugin never ran).
    pub memory_cap_bytes: u64,
    /// Requests the sandbox refused (e.g. HTTP to a host not on the allow-list), one
    /// sentence each saying what was denied and how to grant it; bounded.
    pub denials: Vec<String>,
    /// Lines logged through the `log` import, in order (up to the line cap).
    pub logs: Vec<LogLine>,
    /// Log lines dropped past the line cap.
    pub logs_dropped: usize,
    /// What the plugin wrote to stdout (up to the output cap).
    pub stdout: Vec<u8>,
    /// Stdout bytes dropped past the cap.
    pub stdout_dropped_bytes: u64,
    /// What the plugin wrote to stderr (up to the output cap).
    pub stderr: Vec<u8>,
    /// Stderr bytes dropped past the cap.
    pub stderr_dropped_bytes: u64,
    /// Wall-clock time of the whole delivery, loading included.
    pub elapsed: Duration,
}

impl WasmOutcome {
    /// The outcome of a call that failed before the plugin ran.
    pub(crate) fn failed(failure: WasmFailure, fuel_budget: u64, started: Instant) -> WasmOutcome {
        WasmOutcome {
            result: Err(failure),
            message: None,
            fuel_budget,
            fuel_consumed: 0,
            peak_memory_bytes: 0,
            memory_cap_bytes: 0,
            denials: Vec::new(),
            logs: Vec::new(),
            logs_dropped: 0,
            stdout: Vec::new(),
            stdout_dropped_bytes: 0,
            stderr: Vec::new(),
            stderr_dropped_bytes: 0,
            elapsed: started.elapsed(),
        }
    }
}

