//! The image pull back-off (the kubelet's `flowcontrol.Backoff` keyed by pod UID and
//! image): the first failure waits `initial`, each further one twice as long, at most
//! `max`; an entry not updated for `2 * max` is forgotten. On tokio's clock, so tests
//! pause or shrink it.

use std::collections::HashMap;
use std::time::Duration;

use tokio::time::Instant;

/// The kubelet's `imageBackOffPeriod` and `MaxImageBackOff`.
pub const INITIAL: Duration = Duration::from_secs(10);
/// See [`INITIAL`].
pub const MAX: Duration = Duration::from_secs(300);

#[derive(Debug)]
struct Entry {
    backoff: Duration,
    last_update: Instant,
    /// The failure that started this window, for `ImagePullBackOff`'s message.
    last_error: String,
}

/// Back-off windows by key.
#[derive(Debug)]
pub struct PullBackoff {
    initial: Duration,
    max: Duration,
    entries: HashMap<String, Entry>,
}

impl PullBackoff {
    /// Windows starting at `initial`, doubling up to `max`.
    pub fn new(initial: Duration, max: Duration) -> PullBackoff {
        PullBackoff { initial, max: max.max(initial), entries: HashMap::new() }
    }

    /// Records a failure of `key` at `now`: its window grows (or starts).
    pub fn next(&mut self, key: &str, now: Instant, error: String) {
        let backoff = match self.entries.get(key) {
            Some(e) if now.saturating_duration_since(e.last_update) <= 2 * self.max => (e.backoff * 2).min(self.max),
            _ => self.initial,
        };
        self.entries.insert(key.to_string(), Entry { backoff, last_update: now, last_error: error });
    }

    /// If `key` is inside its window at `now`: how long it still lasts and the failure
    /// that opened it.
    pub fn in_backoff(&self, key: &str, now: Instant) -> Option<(Duration, &str)> {
        let e = self.entries.get(key)?;
        let elapsed = now.saturating_duration_since(e.last_update);
        (elapsed < e.backoff).then(|| (e.backoff - elapsed, e.last_error.as_str()))
    }

    /// The current window of `key` (zero when none).
    pub fn window(&self, key: &str) -> Duration {
        self.entries.get(key).map_or(Duration::ZERO, |e| e.backoff)
    }

    /// Forgets entries not updated for `2 * max`.
    pub fn gc(&mut self, now: Instant) {
        let keep = 2 * self.max;
        self.entries.retain(|_, e| now.saturating_duration_since(e.last_update) <= keep);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_double_to_the_cap_and_are_forgotten_after_twice_the_cap() {
        let mut b = PullBackoff::new(INITIAL, MAX);
        let t0 = Instant::now();
        let mut windows = Vec::new();
        let mut now = t0;
        for _ in 0..7 {
            b.next("uid_img", now, "boom".into());
            windows.push(b.window("uid_img").as_secs());
            assert_eq!(b.in_backoff("uid_img", now), Some((b.window("uid_img"), "boom")));
            now += b.window("uid_img");
            assert_eq!(b.in_backoff("uid_img", now), None);
        }
        assert_eq!(windows, [10, 20, 40, 80, 160, 300, 300]);
        assert!(b.in_backoff("other_img", t0).is_none());
        b.next("uid_img", now + 2 * MAX + Duration::from_secs(1), "again".into());
        assert_eq!(b.window("uid_img"), INITIAL);
        b.gc(now + 10 * MAX);
        assert_eq!(b.window("uid_img"), Duration::ZERO);
    }
}
