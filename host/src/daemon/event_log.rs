//! Durable events without a commit per event: every recorded event goes, losslessly
//! and in order (an [`EventSink`], not the lossy broadcast), to a writer thread that
//! commits what arrived within [`MAX_DELAY`] in one transaction.
//!
//! A delivery's end goes through the same queue ([`EventLog::finish`]): its hook run
//! and journal `done` commit in the same transaction as every event recorded before
//! it — the `FailedPostStartHook`, `FailedPreStopHook`, `HookRedelivered` and
//! `Killing` events that describe the delivery — so a crash can never keep a
//! delivery's `done` while losing its outcome's events. Other events reach the disk
//! at most [`MAX_DELAY`] (plus a commit) after they are recorded.
//!
//! When a commit fails (a full disk, a read-only or replaced file), nothing of it is
//! dropped: its events and finished deliveries are held (up to [`MAX_HELD`] events,
//! the oldest dropped past that, with an error) and committed with the next batch,
//! tried every [`RETRY`] until the state can be written again.

use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender, SyncSender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;

use super::metrics::Metrics;
use super::persist::{event_write, FailingSpell};
use crate::events::{Event, EventSink};
use crate::store::{EventWrite, FinishedDelivery, Store};

/// How long the writer gathers events before committing them.
pub const MAX_DELAY: Duration = Duration::from_millis(5);

/// The most events (and finished deliveries) committed in one transaction.
const MAX_BATCH: usize = 512;

/// How often a failed commit is tried again when nothing else comes.
pub const RETRY: Duration = Duration::from_millis(500);

/// The most events held back while the state cannot be written.
const MAX_HELD: usize = 10_000;

enum Msg {
    Event(Box<Event>),
    /// Commit now, with this finished delivery; answer when durable.
    Finish(Box<FinishedDelivery>, SyncSender<Result<(), String>>),
    /// Commit now; answer when durable.
    Flush(SyncSender<()>),
}

/// The queue to the writer thread. Cheap to share.
pub struct EventLog {
    tx: Mutex<Sender<Msg>>,
    store: Arc<Store>,
}

impl EventLog {
    /// Starts the writer thread for `store`.
    pub fn start(store: Arc<Store>, metrics: Arc<Metrics>) -> anyhow::Result<Arc<EventLog>> {
        let (tx, rx) = mpsc::channel();
        let writer = store.clone();
        std::thread::Builder::new()
            .name("hooklet-events".into())
            .spawn(move || write_loop(&rx, &writer, &metrics))
            .context("starting the event writer thread")?;
        Ok(Arc::new(EventLog { tx: Mutex::new(tx), store }))
    }

    fn send(&self, msg: Msg) -> bool {
        self.tx.lock().unwrap_or_else(|e| e.into_inner()).send(msg).is_ok()
    }

    /// Records a finished delivery (hook run + journal `done`) in the transaction
    /// that also commits every event recorded before this call. Blocks until durable.
    pub fn finish(&self, delivery: FinishedDelivery) -> anyhow::Result<()> {
        let (ack, done) = mpsc::sync_channel(1);
        if self.send(Msg::Finish(Box::new(delivery.clone()), ack)) {
            if let Ok(result) = done.recv() {
                return result.map_err(|e| anyhow::anyhow!(e));
            }
        }
        // The writer is gone (it only ends with the process): write directly.
        tracing::error!("the event writer stopped; recording delivery {} without it", delivery.id);
        Ok(self.store.write_batch(&[], &[delivery])?)
    }

    /// Waits until every event recorded before this call is committed.
    pub fn flush(&self) {
        let (ack, done) = mpsc::sync_channel(1);
        if self.send(Msg::Flush(ack)) {
            let _ = done.recv();
        }
    }

    /// The sink to install on the node's event recorder.
    pub fn sink(self: &Arc<Self>) -> Box<dyn EventSink> {
        Box::new(Sink(self.clone()))
    }
}

struct Sink(Arc<EventLog>);

impl EventSink for Sink {
    fn accept(&self, event: &Event) {
        if !self.0.send(Msg::Event(Box::new(event.clone()))) {
            tracing::error!(reason = %event.reason, "the event writer stopped; an event was not stored");
        }
    }
}

/// What one transaction writes, and whom to tell.
#[derive(Default)]
struct Batch {
    events: Vec<EventWrite>,
    finished: Vec<FinishedDelivery>,
    finish_acks: Vec<SyncSender<Result<(), String>>>,
    flush_acks: Vec<SyncSender<()>>,
    backoffs: u64,
}

impl Batch {
    /// Adds a message; true when it asks for a commit now.
    fn add(&mut self, msg: Msg) -> bool {
        match msg {
            Msg::Event(event) => {
                self.backoffs += u64::from(event.reason == "BackOff");
                match event_write(&event) {
                    Ok(write) => self.events.push(write),
                    Err(err) => tracing::error!("an event cannot be stored: {err:#}"),
                }
                false
            }
            Msg::Finish(delivery, ack) => {
                self.finished.push(*delivery);
                self.finish_acks.push(ack);
                true
            }
            Msg::Flush(ack) => {
                self.flush_acks.push(ack);
                true
            }
        }
    }

    fn len(&self) -> usize {
        self.events.len() + self.finished.len()
    }

    /// Commits the batch and answers whoever waits; what could not be written is
    /// returned, to be tried again with the next batch.
    fn commit(self, store: &Store, metrics: &Metrics, spell: &mut FailingSpell) -> Batch {
        let result = if self.len() == 0 { Ok(()) } else { store.write_batch(&self.events, &self.finished) };
        let (events, finished) = (self.events.len(), self.finished.len());
        spell.record(
            &result,
            |err| tracing::error!("storing {events} events and {finished} finished deliveries failed, held to be tried again every {RETRY:?}: {err}"),
            || tracing::warn!("the state database can be written again: {events} held events and {finished} finished deliveries stored"),
        );
        if result.is_ok() && !self.events.is_empty() {
            metrics.event_batch(self.events.len() as u64, self.backoffs);
        }
        let answer = result.as_ref().map(|_| ()).map_err(|e| e.to_string());
        for ack in self.finish_acks {
            let _ = ack.send(answer.clone());
        }
        for ack in self.flush_acks {
            let _ = ack.send(());
        }
        if result.is_ok() {
            return Batch::default();
        }
        let mut held = Batch { events: self.events, finished: self.finished, backoffs: self.backoffs, ..Batch::default() };
        let excess = held.events.len().saturating_sub(MAX_HELD);
        if excess > 0 {
            tracing::error!("{excess} events dropped: more than {MAX_HELD} are held while the state database cannot be written");
            held.events.drain(..excess);
        }
        held
    }
}

/// Gathers messages for up to [`MAX_DELAY`] (less when asked to commit now), then
/// commits them in one transaction with what an earlier failed commit held; ends when
/// every sender is gone.
fn write_loop(rx: &Receiver<Msg>, store: &Store, metrics: &Metrics) {
    let (mut held, mut spell, mut retry_at) = (Batch::default(), FailingSpell::default(), None::<Instant>);
    loop {
        let first = if held.len() == 0 {
            match rx.recv() {
                Ok(msg) => Some(msg),
                Err(_) => return,
            }
        } else {
            match rx.recv_timeout(RETRY) {
                Ok(msg) => Some(msg),
                Err(RecvTimeoutError::Timeout) => None,
                Err(RecvTimeoutError::Disconnected) => {
                    held.commit(store, metrics, &mut spell);
                    return;
                }
            }
        };
        let mut batch = held;
        let mut now = first.is_none_or(|msg| batch.add(msg));
        // While failing, new events wait with the held ones for the next try (a
        // delivery's end or a flush still tries at once: someone waits for it).
        let until = Instant::now().max(retry_at.unwrap_or_else(Instant::now)) + MAX_DELAY;
        while !now && (retry_at.is_some() || batch.len() < MAX_BATCH) {
            match rx.recv_timeout(until.saturating_duration_since(Instant::now())) {
                Ok(msg) => now = batch.add(msg),
                Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => break,
            }
        }
        // Whatever is queued already joins this commit.
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(msg) => {
                    batch.add(msg);
                }
                Err(_) => break,
            }
        }
        held = batch.commit(store, metrics, &mut spell);
        retry_at = spell.is_failing().then(|| Instant::now() + RETRY);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::{EventRecorder, EventType, ObjectRef};
    use crate::store::NewDelivery;

    #[test]
    fn a_burst_is_stored_whole_in_batches_and_a_finish_commits_the_events_before_it() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(Store::open(dir.path()).unwrap());
        let metrics = Arc::new(Metrics::default());
        let log = EventLog::start(store.clone(), metrics.clone()).unwrap();
        let recorder = EventRecorder::new();
        recorder.set_sink(log.sink()).unwrap();
        let app = ObjectRef::pod("default", "web", "u1").container("app");
        // Far more than the broadcast channel holds (1024): none may be dropped.
        const BURST: usize = 5000;
        for i in 0..BURST {
            recorder.record(&app, EventType::Normal, &format!("R{i}"), "m");
        }
        let delivery = NewDelivery {
            id: "d1".into(),
            attempt: 2,
            pod_uid: "u1".into(),
            container: "app".into(),
            runtime_id: "r1".into(),
            phase: "PostStart".into(),
            termination: None,
        };
        store.delivery_pending(&delivery).unwrap();
        recorder.record(&app, EventType::Warning, "FailedPostStartHook", "boom");
        let finished = FinishedDelivery {
            pod_uid: "u1".into(),
            container: "app".into(),
            id: "d1".into(),
            attempt: 2,
            run: serde_json::json!({}),
            outcome: "Failed".into(),
        };
        log.finish(finished).unwrap();
        // No flush: when `finish` returns, every event recorded before it is durable.
        let stored = store.list_events(None, None).unwrap();
        assert_eq!(stored.len(), BURST + 1);
        assert_eq!(stored.last().unwrap().event["reason"], "FailedPostStartHook");
        assert!(store.deliveries(true).unwrap().is_empty(), "done in the same commit");
        let text = metrics.render();
        let counter = |name: &str| text.lines().find_map(|l| l.strip_prefix(name)?.trim().parse::<f64>().ok()).unwrap();
        let (events, commits) = (counter("hooklet_events_stored_total "), counter("hooklet_event_commits_total "));
        assert_eq!(events as usize, BURST + 1);
        assert!(events / commits >= 10.0, "{events} events in {commits} commits");
        println!("{events} events in {commits} commits ({:.0} per commit)", events / commits);
    }

    #[test]
    fn a_combined_event_is_stored_as_one_row() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(Store::open(dir.path()).unwrap());
        let log = EventLog::start(store.clone(), Arc::new(Metrics::default())).unwrap();
        let recorder = EventRecorder::new();
        recorder.set_sink(log.sink()).unwrap();
        let app = ObjectRef::pod("default", "web", "u1").container("app");
        // Ten distinct messages, then three more combined into one event.
        for i in 0..13 {
            recorder.record(&app, EventType::Warning, "FailedPreStopHook", &format!("failure {i}"));
        }
        log.flush();
        let stored = store.list_events(None, None).unwrap();
        assert_eq!(stored.len(), 11);
        let combined = &stored.last().unwrap().event;
        assert_eq!((combined["count"].as_u64(), combined["message"].as_str()), (Some(3), Some("(combined from similar events): failure 12")));
    }
}
