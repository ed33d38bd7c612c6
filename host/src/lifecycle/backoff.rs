//! CrashLoopBackOff (spec 6.2): the first restart is immediate, then 10 s doubling to
//! 300 s, with no jitter; reset when the container ran longer than 600 s since the
//! last back-off update. The numbers are configuration so tests can shrink them.
//! [`BackoffState`] is an entry in wall-clock time, saved with the container so a
//! restarted hooklet resumes the timing.

use std::time::{Duration, SystemTime};

use tokio::time::Instant;

/// The back-off numbers (Kubernetes defaults).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BackoffPolicy {
    pub initial: Duration,
    pub max: Duration,
    /// Running this long since the last restart resets the back-off.
    pub reset_after: Duration,
}

impl Default for BackoffPolicy {
    fn default() -> Self {
        BackoffPolicy {
            initial: Duration::from_secs(10),
            max: Duration::from_secs(300),
            reset_after: Duration::from_secs(600),
        }
    }
}

/// A back-off entry in wall-clock time, as saved with the container.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BackoffState {
    /// The delay of the next back-off (None: the next restart is immediate).
    pub next: Option<Duration>,
    /// When the last restart happened or is due: the start of the reset window.
    pub last_restart: Option<SystemTime>,
    /// While waiting in CrashLoopBackOff: when the container is restarted.
    pub restart_at: Option<SystemTime>,
}

/// `at` (an instant) as wall-clock time.
pub fn to_wall(at: Instant) -> SystemTime {
    let now = Instant::now();
    match at.checked_duration_since(now) {
        Some(ahead) => SystemTime::now() + ahead,
        None => SystemTime::now() - now.duration_since(at),
    }
}

/// Wall-clock `at` as an instant (clamped to the earliest representable instant).
pub fn to_instant(at: SystemTime) -> Instant {
    let now = Instant::now();
    match at.duration_since(SystemTime::now()) {
        Ok(ahead) => now + ahead,
        Err(behind) => now.checked_sub(behind.duration()).unwrap_or(now),
    }
}

/// One container's back-off entry (the kubelet keys it by pod and container).
#[derive(Debug, Clone)]
pub struct Backoff {
    policy: BackoffPolicy,
    /// The delay the next restart after this one will wait; None = no entry yet.
    next: Option<Duration>,
    last_update: Option<Instant>,
}

impl Backoff {
    /// A fresh entry: the first restart will be immediate.
    pub fn new(policy: BackoffPolicy) -> Self {
        Backoff {
            policy,
            next: None,
            last_update: None,
        }
    }

    /// An entry saved by an earlier hooklet process.
    pub fn restore(policy: BackoffPolicy, state: BackoffState) -> Self {
        let age = |at: SystemTime| SystemTime::now().duration_since(at).unwrap_or_default();
        if state.last_restart.is_some_and(|at| age(at) > policy.reset_after) {
            // The reset window passed already (maybe before the monotonic clock began).
            return Backoff::new(policy);
        }
        Backoff {
            policy,
            next: state.next,
            last_update: state.last_restart.map(to_instant),
        }
    }

    /// The entry in wall-clock time (`restart_at` is the caller's to set).
    pub fn state(&self) -> BackoffState {
        BackoffState {
            next: self.next,
            last_restart: self.last_update.map(to_wall),
            restart_at: None,
        }
    }

    /// How long to wait, measured from the exit at `now`, before restarting.
    /// Records the restart as a back-off update.
    pub fn delay_before_restart(&mut self, now: Instant) -> Duration {
        if let Some(last) = self.last_update {
            if now.saturating_duration_since(last) > self.policy.reset_after {
                self.next = None;
            }
        }
        let delay = self.next.unwrap_or(Duration::ZERO);
        self.next = Some(match self.next {
            None => self.policy.initial.min(self.policy.max),
            Some(d) => (d * 2).min(self.policy.max),
        });
        self.last_update = Some(now + delay);
        delay
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_follow_the_kubelet_sequence() {
        let mut b = Backoff::new(BackoffPolicy::default());
        let mut now = Instant::now();
        let mut seen = Vec::new();
        for _ in 0..8 {
            let d = b.delay_before_restart(now);
            seen.push(d.as_secs());
            now += d + Duration::from_secs(1); // ran 1 s, crashed again
        }
        assert_eq!(seen, [0, 10, 20, 40, 80, 160, 300, 300]);
    }

    #[test]
    fn a_long_run_resets_the_back_off() {
        let mut b = Backoff::new(BackoffPolicy::default());
        let t0 = Instant::now();
        assert_eq!(b.delay_before_restart(t0), Duration::ZERO);
        assert_eq!(b.delay_before_restart(t0 + Duration::from_secs(1)), Duration::from_secs(10));
        // Restarted at t0+11; runs for more than 600 s.
        let later = t0 + Duration::from_secs(11 + 601);
        assert_eq!(b.delay_before_restart(later), Duration::ZERO);
        assert_eq!(b.delay_before_restart(later + Duration::from_secs(1)), Duration::from_secs(10));
    }

    #[test]
    fn a_restored_entry_continues_the_sequence_and_the_reset_window() {
        let mut b = Backoff::new(BackoffPolicy::default());
        let now = Instant::now();
        assert_eq!(b.delay_before_restart(now), Duration::ZERO);
        assert_eq!(b.delay_before_restart(now), Duration::from_secs(10));
        let saved = b.state();
        assert_eq!(saved.next, Some(Duration::from_secs(20)));
        let mut resumed = Backoff::restore(BackoffPolicy::default(), saved);
        assert_eq!(resumed.delay_before_restart(Instant::now()), Duration::from_secs(20), "not a fresh 10 s");
        // A last restart more than 600 s ago (wall clock) resets it.
        let old = BackoffState { last_restart: Some(SystemTime::now() - Duration::from_secs(601)), ..saved };
        let mut reset = Backoff::restore(BackoffPolicy::default(), old);
        assert_eq!(reset.delay_before_restart(Instant::now()), Duration::ZERO);
    }

    #[test]
    fn shrunken_policy_for_tests() {
        let policy = BackoffPolicy {
            initial: Duration::from_millis(100),
            max: Duration::from_millis(250),
            reset_after: Duration::from_secs(5),
        };
        let mut b = Backoff::new(policy);
        let now = Instant::now();
        let seen: Vec<u128> = (0..4).map(|_| b.delay_before_restart(now).as_millis()).collect();
        assert_eq!(seen, [0, 100, 200, 250]);
    }
}
