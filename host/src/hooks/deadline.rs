//! A deadline that can only move earlier: a pod's termination deadline, which a
//! second delete with a shorter grace period pulls in while hooks are running.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() {
//! use std::time::Duration;
//! use tokio::time::Instant;
//! use hooklet::hooks::deadline::deadline;
//!
//! let start = Instant::now();
//! let (setter, mut deadline) = deadline(start + Duration::from_secs(30));
//! assert!(!setter.shorten_to(start + Duration::from_secs(60)), "never moves later");
//! assert!(setter.shorten_to(start + Duration::from_secs(5)));
//! deadline.reached().await;
//! assert_eq!(Instant::now(), start + Duration::from_secs(5));
//! # }
//! ```

use tokio::sync::watch;
use tokio::time::Instant;

/// The owning side: moves the deadline earlier.
#[derive(Debug)]
pub struct DeadlineSetter(watch::Sender<Instant>);

/// The observing side: cheap to clone; every clone sees every change.
#[derive(Debug, Clone)]
pub struct Deadline(watch::Receiver<Instant>);

/// A deadline at `at` and the handle that can shorten it.
pub fn deadline(at: Instant) -> (DeadlineSetter, Deadline) {
    let (tx, rx) = watch::channel(at);
    (DeadlineSetter(tx), Deadline(rx))
}

impl DeadlineSetter {
    /// Moves the deadline to `at` if that is earlier. Returns whether it moved.
    pub fn shorten_to(&self, at: Instant) -> bool {
        self.0.send_if_modified(|current| {
            if at < *current {
                *current = at;
                true
            } else {
                false
            }
        })
    }

    /// The current deadline.
    pub fn at(&self) -> Instant {
        *self.0.borrow()
    }

    /// Another observer of this deadline.
    pub fn observe(&self) -> Deadline {
        Deadline(self.0.subscribe())
    }
}

impl Deadline {
    /// A deadline nobody can shorten.
    pub fn fixed(at: Instant) -> Deadline {
        deadline(at).1
    }

    /// The current deadline.
    pub fn at(&self) -> Instant {
        *self.0.borrow()
    }

    /// Completes when the (possibly shortened) deadline has passed.
    pub async fn reached(&mut self) {
        loop {
            let at = *self.0.borrow_and_update();
            tokio::select! {
                _ = tokio::time::sleep_until(at) => return,
                changed = self.0.changed() => {
                    if changed.is_err() {
                        // The setter is gone: the deadline is final.
                        tokio::time::sleep_until(at).await;
                        return;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_shortened_deadline_wakes_a_waiter_early() {
        let start = Instant::now();
        let (setter, mut d) = deadline(start + Duration::from_secs(100));
        let waiter = tokio::spawn(async move {
            d.reached().await;
            Instant::now()
        });
        tokio::time::sleep(Duration::from_secs(1)).await;
        setter.shorten_to(start + Duration::from_secs(3));
        assert_eq!(waiter.await.unwrap(), start + Duration::from_secs(3));
    }

    #[tokio::test(start_paused = true)]
    async fn a_deadline_already_past_is_reached_at_once() {
        let start = Instant::now();
        let (setter, mut d) = deadline(start + Duration::from_secs(10));
        tokio::time::sleep(Duration::from_secs(20)).await;
        d.reached().await;
        assert_eq!(Instant::now(), start + Duration::from_secs(20));
        drop(setter);
    }

    #[tokio::test(start_paused = true)]
    async fn a_dropped_setter_leaves_the_deadline_in_force() {
        let start = Instant::now();
        let (setter, mut d) = deadline(start + Duration::from_secs(4));
        drop(setter);
        d.reached().await;
        assert_eq!(Instant::now(), start + Duration::from_secs(4));
    }
}
