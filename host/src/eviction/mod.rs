//! Node-pressure eviction (`pkg/kubelet/eviction`): signals measured on the real
//! machine, the kubelet's thresholds and flags, ranking, the eviction message, and
//! the manager that reclaims and evicts.
//!
//! | module | what it is |
//! |---|---|
//! | [`thresholds`] | signals, thresholds, `--eviction-*` flag parsing and errors |
//! | [`signals`] | observing `memory.available`, `nodefs.*`, `imagefs.*`, `pid.available` |
//! | [`rank`] | pod stats and the ranking per signal |
//! | [`message`] | the evicted pod's message and the event's annotations |
//! | [`local_storage`] | evictions for exceeded `limits.ephemeral-storage` |
//! | [`manager`] | the housekeeping pass: conditions, reclaim, one eviction |

pub mod local_storage;
pub mod manager;
pub mod message;
pub mod rank;
pub mod signals;
pub mod thresholds;

pub use manager::{EvictionConfig, EvictionManager, Reclaim};
pub use thresholds::{parse_thresholds, EvictionFlags, Signal, Threshold};

use crate::nodestatus::ResourceList;

/// What the hard thresholds keep free, subtracted from allocatable: the
/// `memory.available` amount from memory, `nodefs.available` from
/// ephemeral-storage (the kubelet's `hardEvictionReservation`).
pub fn hard_eviction_reserve(thresholds: &[Threshold], capacity: &ResourceList) -> ResourceList {
    let mut r = ResourceList::default();
    for t in thresholds.iter().filter(|t| t.is_hard()) {
        match t.signal {
            Signal::MemoryAvailable => r.memory = t.value.amount(capacity.memory),
            Signal::NodeFsAvailable => r.ephemeral_storage = t.value.amount(capacity.ephemeral_storage),
            _ => {}
        }
    }
    r
}
