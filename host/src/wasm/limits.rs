//! Per-delivery resource limits: the memory cap (with the peak recorded) and caps on
//! instances, tables and table size.

use wasmtime::ResourceLimiter;

/// Most core instances one plugin may create (a component is several core instances).
const MAX_INSTANCES: usize = 1_000;
/// Most tables one plugin may create.
const MAX_TABLES: usize = 1_000;
/// Most linear memories one plugin may create.
const MAX_MEMORIES: usize = 100;
/// Most elements one table may hold (each costs the host a pointer).
const MAX_TABLE_ELEMENTS: usize = 1 << 20;

/// The error a delivery traps with when it grows memory past the cap.
#[derive(Debug, thiserror::Error)]
#[error("linear memory would grow to {desired} bytes in total, past the cap of {cap} bytes")]
pub(crate) struct MemoryLimitExceeded {
    /// The cap in bytes.
    pub cap: u64,
    /// The total the growth asked for.
    pub desired: u64,
}

/// A [`ResourceLimiter`] that caps the total linear memory of a store and records its peak.
///
/// Growth past the cap traps (rather than making `memory.grow` return -1), so the hook
/// fails with a clear [`MemoryLimitExceeded`] instead of a guest-side allocation abort.
#[derive(Debug)]
pub(crate) struct MemoryLimiter {
    cap: u64,
    total: u64,
    peak: u64,
}

impl MemoryLimiter {
    /// A limiter allowing at most `cap` bytes of linear memory in total.
    pub fn new(cap: u64) -> Self {
        MemoryLimiter {
            cap,
            total: 0,
            peak: 0,
        }
    }

    /// The most linear memory the store has had at once, in bytes.
    pub fn peak(&self) -> u64 {
        self.peak
    }
}

impl ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        // `current` is part of `total` already: memories only ever grow.
        let others = self.total.saturating_sub(current as u64);
        let wanted = others.saturating_add(desired as u64);
        if wanted > self.cap {
            return Err(MemoryLimitExceeded {
                cap: self.cap,
                desired: wanted,
            }
            .into());
        }
        self.total = wanted;
        self.peak = self.peak.max(wanted);
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= MAX_TABLE_ELEMENTS)
    }

    fn instances(&self) -> usize {
        MAX_INSTANCES
    }

    fn tables(&self) -> usize {
        MAX_TABLES
    }

    fn memories(&self) -> usize {
        MAX_MEMORIES
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tracks_the_peak_across_memories_and_refuses_past_the_cap() {
        let mut limiter = MemoryLimiter::new(100);
        assert!(limiter.memory_growing(0, 40, None).unwrap());
        assert!(limiter.memory_growing(0, 30, None).unwrap());
        assert!(limiter.memory_growing(40, 60, None).unwrap());
        assert_eq!(limiter.peak(), 90);
        let err = limiter.memory_growing(30, 50, None).unwrap_err();
        let exceeded = err.downcast_ref::<MemoryLimitExceeded>().unwrap();
        assert_eq!((exceeded.cap, exceeded.desired), (100, 110));
        assert_eq!(limiter.peak(), 90);
    }
}
