//! The hook delivery journal seen from the pod worker (D2).
//!
//! The worker journals a delivery as pending before [`crate::hooks::HookRunner::run`]
//! starts the handler and as done after it ends, whatever the outcome. The runner
//! itself knows nothing of storage; `hooklet run` uses [`NoJournal`], the daemon a
//! durable journal in its state database.

use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use crate::hooks::{Delivery, HookRun};
use crate::spec::HookPhase;

/// One delivery of a hook to one container instance.
#[derive(Debug, Clone, PartialEq)]
pub struct JournalEntry {
    pub pod_uid: String,
    pub container: String,
    /// The runtime's id of the container instance.
    pub runtime_id: String,
    pub phase: HookPhase,
    /// Its id (stable across attempts) and attempt number.
    pub delivery: Delivery,
    /// PreStop: when termination began (wall clock) and its grace, so that a
    /// redelivery after a restart keeps the original deadline.
    pub termination: Option<(SystemTime, Duration)>,
}

/// Where deliveries are journaled. Both calls must return only once the record is
/// durable; an error is logged and reported as an event, and the hook still runs.
pub trait DeliveryJournal: Send + Sync + 'static {
    /// The delivery is about to start.
    fn pending(&self, entry: &JournalEntry) -> anyhow::Result<()>;
    /// The delivery ended (success or failure) with `run`.
    fn done(&self, entry: &JournalEntry, run: &HookRun) -> anyhow::Result<()>;
    /// The delivery will never run (its container did not start); `reason` says why.
    fn abandoned(&self, entry: &JournalEntry, reason: &str) -> anyhow::Result<()> {
        let _ = (entry, reason);
        Ok(())
    }
}

/// A journal that keeps nothing (`hooklet run`: nothing survives the process anyway).
#[derive(Debug, Default)]
pub struct NoJournal;

impl DeliveryJournal for NoJournal {
    fn pending(&self, _: &JournalEntry) -> anyhow::Result<()> {
        Ok(())
    }
    fn done(&self, _: &JournalEntry, _: &HookRun) -> anyhow::Result<()> {
        Ok(())
    }
}

/// An in-memory journal, for tests: every call in order.
#[derive(Debug, Default)]
pub struct MemoryJournal {
    calls: Mutex<Vec<(JournalEntry, Option<HookRun>)>>,
}

impl MemoryJournal {
    /// The calls so far: `(entry, None)` for pending, `(entry, Some(run))` for done.
    pub fn calls(&self) -> Vec<(JournalEntry, Option<HookRun>)> {
        self.calls.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

impl DeliveryJournal for MemoryJournal {
    fn pending(&self, entry: &JournalEntry) -> anyhow::Result<()> {
        self.calls.lock().unwrap_or_else(|e| e.into_inner()).push((entry.clone(), None));
        Ok(())
    }
    fn done(&self, entry: &JournalEntry, run: &HookRun) -> anyhow::Result<()> {
        self.calls.lock().unwrap_or_else(|e| e.into_inner()).push((entry.clone(), Some(run.clone())));
        Ok(())
    }
}
