//! The instance pool: wasmtime's pooling allocator sized from [`WasmConfig`], and the
//! slots that let at most [`WasmConfig::pool_slots`] deliveries hold instances at once.
//!
//! The pooling allocator reserves, up front, the address space of every memory, table,
//! instance and async stack a delivery can use, so instantiating a plugin is a few
//! page-table updates rather than `mmap`/`munmap` per delivery. A slot is one delivery's
//! share of the pool: [`WasmConfig::max_instances`] core instances,
//! [`WasmConfig::max_memories`] memories and [`WasmConfig::max_tables`] tables. A delivery
//! takes a slot before instantiating and gives it back when its store is dropped, so the
//! pool can never run dry under a burst: extra deliveries wait in line (their deadline
//! still counts) instead of failing.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use wasmtime::{Enabled, PoolingAllocationConfig};

use super::config::WasmConfig;

/// Largest linear memory the pool lets any one memory grow to: all of a 32-bit memory.
/// The real cap is the per-delivery limiter ([`super::limits::MemoryLimiter`]); the pool
/// only reserves address space, never physical memory, for it.
const POOL_MAX_MEMORY_BYTES: usize = 4 << 30;

/// Bytes of a linear memory (and of a table) kept mapped when a slot is reused, so a
/// small plugin's next delivery does not fault its pages in again.
///
/// With `PAGEMAP_SCAN` (see [`pooling_config`]) these are the pages the delivery wrote,
/// wherever they are (for a Rust plugin: the top of its stack, its statics and its heap),
/// reset by copying the original contents back; without it, the lowest addresses. The rest
/// is given back with `madvise`. Either way the next delivery sees pristine memory.
const KEEP_RESIDENT_BYTES: usize = 64 << 10;

/// Room for the runtime's per-instance metadata. Generous: it is an upper bound, and a
/// bundled interpreter (Python, JavaScript) has tens of thousands of functions.
const INSTANCE_METADATA_BYTES: usize = 16 << 20;

/// The pooling allocator's configuration for `config`.
pub(crate) fn pooling_config(config: &WasmConfig) -> Result<PoolingAllocationConfig, String> {
    let slots = config.pool_slots;
    if slots == 0 {
        return Err("the wasm pool has 0 slots, so no plugin could run; set at least 1".into());
    }
    // One slot's share, and the pool's total of it: slots × share.
    let share = |what: &str, value: u64| -> Result<(u32, u32), String> {
        u32::try_from(value)
            .ok()
            .and_then(|v| Some((v, v.checked_mul(slots)?)))
            .filter(|(_, total)| *total > 0)
            .ok_or_else(|| {
                format!(
                    "the wasm pool cannot hold {slots} slots of {value} {what}; lower the number \
                     of slots or the node's {what} cap"
                )
            })
    };
    let (instances, total_instances) = share("instances", config.max_instances)?;
    let (memories, total_memories) = share("memories", config.max_memories)?;
    let (tables, total_tables) = share("tables", config.max_tables)?;
    let table_elements = usize::try_from(config.max_table_elements).unwrap_or(usize::MAX);
    let mut pool = PoolingAllocationConfig::new();
    pool.total_component_instances(slots)
        .total_stacks(slots)
        .total_core_instances(total_instances)
        .total_memories(total_memories)
        .total_tables(total_tables)
        .max_core_instances_per_component(instances)
        .max_memories_per_component(memories)
        .max_tables_per_component(tables)
        .max_memories_per_module(memories)
        .max_tables_per_module(tables)
        .max_memory_size(POOL_MAX_MEMORY_BYTES)
        .table_elements(table_elements)
        .max_core_instance_size(INSTANCE_METADATA_BYTES)
        .max_component_instance_size(INSTANCE_METADATA_BYTES)
        .linear_memory_keep_resident(KEEP_RESIDENT_BYTES)
        .table_keep_resident(KEEP_RESIDENT_BYTES)
        // Where the kernel has the `PAGEMAP_SCAN` ioctl (Linux 6.7+), a slot's memory is
        // reset by finding the pages the delivery wrote and copying them back, instead of
        // `madvise` over the whole used range (a TLB shootdown across every thread of the
        // daemon) and page faults at the next delivery: half of a no-op delivery's time.
        // Elsewhere this silently keeps the `madvise` reset.
        .pagemap_scan(Enabled::Auto);
    Ok(pool)
}

/// The delivery slots of the pool, with counters for reports and tests.
#[derive(Debug)]
pub(crate) struct Slots {
    semaphore: Arc<Semaphore>,
    total: usize,
    in_use: AtomicUsize,
    peak: AtomicUsize,
    waited: AtomicU64,
}

/// How the pool has been used (see [`super::WasmHost::pool_stats`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolStats {
    /// Slots in the pool: deliveries that can run at once.
    pub slots: usize,
    /// Deliveries holding a slot now.
    pub in_use: usize,
    /// The most deliveries that held a slot at once.
    pub peak_in_use: usize,
    /// Deliveries that found every slot taken and waited for one.
    pub waited: u64,
}

/// One delivery's slot; dropping it frees the slot.
#[derive(Debug)]
pub(crate) struct Slot {
    slots: Arc<Slots>,
    _permit: OwnedSemaphorePermit,
}

impl Slots {
    /// `total` free slots.
    pub fn new(total: u32) -> Arc<Slots> {
        let total = total as usize;
        Arc::new(Slots {
            semaphore: Arc::new(Semaphore::new(total)),
            total,
            in_use: AtomicUsize::new(0),
            peak: AtomicUsize::new(0),
            waited: AtomicU64::new(0),
        })
    }

    /// Takes a slot, waiting (in line, first come first served) while all are taken.
    /// Cancel-safe: dropping the future gives up the place in line.
    pub async fn acquire(self: &Arc<Self>) -> Slot {
        let permit = match self.semaphore.clone().try_acquire_owned() {
            Ok(permit) => permit,
            Err(_) => {
                self.waited.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(slots = self.total, "every wasm pool slot is taken; waiting");
                self.semaphore
                    .clone()
                    .acquire_owned()
                    .await
                    .expect("the pool's semaphore is never closed")
            }
        };
        let now = self.in_use.fetch_add(1, Ordering::Relaxed) + 1;
        self.peak.fetch_max(now, Ordering::Relaxed);
        Slot {
            slots: self.clone(),
            _permit: permit,
        }
    }

    /// The counters.
    pub fn stats(&self) -> PoolStats {
        PoolStats {
            slots: self.total,
            in_use: self.in_use.load(Ordering::Relaxed),
            peak_in_use: self.peak.load(Ordering::Relaxed),
            waited: self.waited.load(Ordering::Relaxed),
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.slots.in_use.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_full_pool_makes_deliveries_wait_and_counts_them() {
        let slots = Slots::new(2);
        let a = slots.acquire().await;
        let _b = slots.acquire().await;
        let waiting = tokio::spawn({
            let slots = slots.clone();
            async move { slots.acquire().await }
        });
        // The third delivery cannot get a slot until one is given back.
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished());
        drop(a);
        let _c = waiting.await.unwrap();
        let stats = slots.stats();
        assert_eq!((stats.slots, stats.in_use, stats.peak_in_use), (2, 2, 2));
        assert_eq!(stats.waited, 1);
    }

    #[test]
    fn the_pool_is_sized_per_slot_and_refuses_impossible_sizes() {
        let config = WasmConfig {
            pool_slots: 4,
            ..WasmConfig::default()
        };
        let pool = pooling_config(&config).unwrap();
        assert_eq!(pool.get_total_component_instances(), 4);
        assert_eq!(pool.get_total_memories(), 4 * config.max_memories as u32);
        assert_eq!(pool.get_max_memories_per_component(), config.max_memories as u32);
        assert_eq!(pool.get_total_core_instances(), 4 * config.max_instances as u32);
        let none = WasmConfig {
            pool_slots: 0,
            ..WasmConfig::default()
        };
        assert!(pooling_config(&none).unwrap_err().contains("0 slots"));
        let huge = WasmConfig {
            pool_slots: u32::MAX,
            ..WasmConfig::default()
        };
        assert!(pooling_config(&huge).unwrap_err().contains("cannot hold"));
    }
}
