//! Grace-period arithmetic (spec 3.2, decision D6).
//!
//! The kubelet computes `remaining = grace − hook_seconds` (whole seconds, truncated),
//! gives the container at least 2 s after the hook, then sends the stop signal and
//! kills when `remaining` runs out. hooklet does the same with millisecond precision:
//! the termination deadline is `start + grace`; after PreStop the stop signal goes out
//! and KILL follows at the deadline, but never less than the minimal window after the
//! signal.

use std::time::Duration;

use tokio::time::Instant;

use crate::spec::PodSpec;

/// The kubelet's `minimumGracePeriodInSeconds`.
pub const MIN_STOP_WINDOW: Duration = Duration::from_secs(2);

/// The grace period of a termination (spec 3.2 stage A): the delete's override, else
/// the pod's `terminationGracePeriodSeconds` (default 30), clamped to at least 1 s.
pub fn effective_grace(requested: Option<i64>, spec: &PodSpec) -> Duration {
    let seconds = requested.unwrap_or_else(|| spec.termination_grace_seconds());
    Duration::from_secs(seconds.max(1) as u64)
}

/// The grace of a kill that is not a deletion (after a failed PostStart): the pod's
/// `terminationGracePeriodSeconds`, which may be 0 (then PreStop does not run).
pub fn kill_grace(spec: &PodSpec) -> Duration {
    Duration::from_secs(spec.termination_grace_seconds().max(0) as u64)
}

/// When KILL follows a stop signal sent at `signal_sent` (D6).
pub fn kill_at(deadline: Instant, signal_sent: Instant, min_window: Duration) -> Instant {
    deadline.max(signal_sent + min_window)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(tgps: Option<i64>) -> PodSpec {
        PodSpec {
            termination_grace_period_seconds: tgps,
            ..PodSpec::default()
        }
    }

    #[test]
    fn grace_sources_and_clamp() {
        assert_eq!(effective_grace(None, &spec(None)), Duration::from_secs(30));
        assert_eq!(effective_grace(None, &spec(Some(60))), Duration::from_secs(60));
        assert_eq!(effective_grace(Some(5), &spec(Some(60))), Duration::from_secs(5));
        assert_eq!(effective_grace(Some(0), &spec(Some(60))), Duration::from_secs(1));
        assert_eq!(effective_grace(None, &spec(Some(0))), Duration::from_secs(1));
        assert_eq!(kill_grace(&spec(Some(0))), Duration::ZERO);
        assert_eq!(kill_grace(&spec(None)), Duration::from_secs(30));
    }

    /// `kill_at` agrees with the kubelet's formula, without its truncation.
    #[test]
    fn kill_time_matches_the_kubelet_rule_in_milliseconds() {
        let start = Instant::now();
        let grace = Duration::from_secs(30);
        let deadline = start + grace;
        for hook_ms in [0u64, 1_500, 27_900, 28_000, 29_999, 30_000] {
            let hook = Duration::from_millis(hook_ms);
            let signal = start + hook;
            let remaining = grace.saturating_sub(hook).max(MIN_STOP_WINDOW);
            assert_eq!(kill_at(deadline, signal, MIN_STOP_WINDOW), signal + remaining, "hook {hook_ms} ms");
        }
        // The kubelet would truncate 27.9 s to 27 s and allow 3 s; hooklet allows 2.1 s.
        let signal = start + Duration::from_millis(27_900);
        assert_eq!(kill_at(deadline, signal, MIN_STOP_WINDOW) - signal, Duration::from_millis(2_100));
    }
}
