//! How many hook requests the gateway takes at once: the wasm pool's slots run, a bounded
//! line waits for a slot, and a request past both is answered 503 at once, so a flood can
//! neither pile up without bound nor hold up `/metrics`, `/healthz` or the accept loop.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Hook requests in the gateway: running (holding a pool slot) or waiting for one.
#[derive(Debug)]
pub struct Admission {
    permits: Arc<Semaphore>,
    capacity: usize,
    refused: AtomicU64,
}

/// A request's place in the gateway; dropping it frees the place.
#[derive(Debug)]
pub struct Admitted(#[allow(dead_code)] OwnedSemaphorePermit);

impl Admission {
    /// Room for `slots` running and `queue` waiting requests.
    pub fn new(slots: u32, queue: usize) -> Admission {
        let capacity = slots as usize + queue;
        Admission { permits: Arc::new(Semaphore::new(capacity)), capacity, refused: AtomicU64::new(0) }
    }

    /// A place, or `None` (counted) when every place is taken. Never waits.
    pub fn try_admit(&self) -> Option<Admitted> {
        match self.permits.clone().try_acquire_owned() {
            Ok(permit) => Some(Admitted(permit)),
            Err(_) => {
                self.refused.fetch_add(1, Ordering::Relaxed);
                None
            }
        }
    }

    /// Requests running or waiting, and the most there may be.
    pub fn load(&self) -> (usize, usize) {
        (self.capacity - self.permits.available_permits(), self.capacity)
    }

    /// Completes once no request holds a place (at shutdown, after accepting stopped).
    pub async fn drained(&self) {
        let all = u32::try_from(self.capacity).unwrap_or(u32::MAX);
        // The semaphore is never closed, so this only waits.
        let _all = self.permits.acquire_many(all).await;
    }

    /// Requests refused for want of a place since start.
    pub fn refused(&self) -> u64 {
        self.refused.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn past_the_slots_and_the_line_requests_are_refused_and_counted() {
        let admission = Admission::new(1, 1);
        let a = admission.try_admit().unwrap();
        let _b = admission.try_admit().unwrap();
        assert!(admission.try_admit().is_none());
        assert_eq!((admission.load(), admission.refused()), ((2, 2), 1));
        drop(a);
        assert!(admission.try_admit().is_some());
    }
}
