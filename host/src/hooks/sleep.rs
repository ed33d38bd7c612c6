//! The `sleep` action (spec 3.6, decision D7).
//!
//! The sleep runs in hooklet, not in the container. `sleep: {seconds: 0}` returns at
//! once. Unlike the kubelet (kubernetes#134338), the sleep ends as soon as the
//! container's process has exited: nothing is left to wait for.

use std::time::Duration;

use crate::runtime::{ContainerId, Runtime};

/// The kubelet's error when a sleep is cut short by cancellation.
pub(super) const TERMINATED_EARLY: &str = "container terminated before sleep hook finished";

/// Sleeps `seconds`, or until the container exits (when there is a runtime to ask).
/// Returns the hook output.
pub(super) async fn run(runtime: Option<&dyn Runtime>, container: &ContainerId, seconds: i64) -> String {
    let duration = Duration::from_secs(seconds.max(0) as u64);
    if duration.is_zero() {
        return String::new();
    }
    let until = tokio::time::Instant::now() + duration;
    let Some(runtime) = runtime else {
        tokio::time::sleep_until(until).await;
        return String::new();
    };
    tokio::select! {
        _ = tokio::time::sleep_until(until) => String::new(),
        exit = runtime.wait(container) => match exit {
            Ok(status) => format!("sleep ended early: the container exited with code {}", status.exit_code),
            // Not knowing the container's fate is no reason to cut the sleep.
            Err(_) => {
                tokio::time::sleep_until(until).await;
                String::new()
            }
        },
    }
}
