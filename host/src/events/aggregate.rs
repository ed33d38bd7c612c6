//! The merge and "combined from similar events" rules of client-go's event cache.

use std::collections::{HashMap, HashSet};
use std::time::SystemTime;

use super::{AggregationPolicy, Event, EventType, ObjectRef};

/// Prefix of a combined event's message, as client-go writes it.
pub const COMBINED_PREFIX: &str = "(combined from similar events): ";

/// Identity of "similar" events: everything but the message.
type SimilarKey = (ObjectRef, EventType, String);

struct SimilarRecord {
    messages: HashSet<String>,
    window_start: SystemTime,
}

/// A stored event's key in the index: its similar key and its message, `None` for a
/// combined event.
fn index_key(event: &Event) -> (SimilarKey, Option<String>) {
    let similar: SimilarKey = (event.object.clone(), event.event_type, event.reason.clone());
    let message = event.message.strip_prefix(COMBINED_PREFIX).is_none().then(|| event.message.clone());
    (similar, message)
}

/// Holds the event log and the bookkeeping to merge and combine events.
pub(super) struct Aggregator {
    policy: AggregationPolicy,
    events: Vec<Event>,
    /// Index into `events` by (similar key, message); `None` message = the combined event.
    index: HashMap<(SimilarKey, Option<String>), usize>,
    similar: HashMap<SimilarKey, SimilarRecord>,
}

impl Aggregator {
    pub(super) fn new(policy: AggregationPolicy) -> Self {
        Aggregator {
            policy,
            events: Vec::new(),
            index: HashMap::new(),
            similar: HashMap::new(),
        }
    }

    pub(super) fn events(&self) -> &[Event] {
        &self.events
    }

    /// Adds an event recorded by an earlier process, so later repeats merge into it.
    pub(super) fn restore(&mut self, event: Event) {
        let (similar_key, message) = index_key(&event);
        if let Some(m) = &message {
            let record = self.similar.entry(similar_key.clone()).or_insert_with(|| SimilarRecord {
                messages: HashSet::new(),
                window_start: event.first_seen,
            });
            record.window_start = record.window_start.min(event.first_seen);
            record.messages.insert(m.clone());
        }
        let key = (similar_key, message);
        match self.index.get(&key) {
            Some(&i) => self.events[i] = event,
            None => {
                self.index.insert(key, self.events.len());
                self.events.push(event);
            }
        }
    }

    /// Drops every event about the pod with `uid` (and its containers) and what merges
    /// into them: the pod is gone, so nothing about it repeats.
    pub(super) fn forget(&mut self, uid: &str) {
        if !self.events.iter().any(|e| e.object.uid == uid) {
            return;
        }
        self.events.retain(|e| e.object.uid != uid);
        self.similar.retain(|(object, _, _), _| object.uid != uid);
        self.index = self.events.iter().enumerate().map(|(i, e)| (index_key(e), i)).collect();
    }

    /// Records one occurrence and returns the stored event after merging.
    pub(super) fn observe(
        &mut self,
        object: &ObjectRef,
        event_type: EventType,
        reason: &str,
        message: &str,
        now: SystemTime,
    ) -> Event {
        let similar_key: SimilarKey = (object.clone(), event_type, reason.to_string());
        let exact_key = (similar_key.clone(), Some(message.to_string()));
        // An identical event merges, whatever the similar-event count says.
        if let Some(&i) = self.index.get(&exact_key) {
            return self.bump(i, message, now);
        }
        if self.over_similar_limit(&similar_key, message, now) {
            let combined = format!("{COMBINED_PREFIX}{message}");
            let key = (similar_key, None);
            if let Some(&i) = self.index.get(&key) {
                return self.bump(i, &combined, now);
            }
            return self.insert(key, object, event_type, reason, combined, now);
        }
        self.insert(exact_key, object, event_type, reason, message.to_string(), now)
    }

    /// Counts a new distinct message; true once more than `max_similar` were seen
    /// within the window.
    fn over_similar_limit(&mut self, key: &SimilarKey, message: &str, now: SystemTime) -> bool {
        let window = self.policy.window;
        let record = self.similar.entry(key.clone()).or_insert_with(|| SimilarRecord {
            messages: HashSet::new(),
            window_start: now,
        });
        let expired = now
            .duration_since(record.window_start)
            .map(|age| age > window)
            .unwrap_or(false);
        if expired {
            record.messages.clear();
            record.window_start = now;
        }
        record.messages.insert(message.to_string());
        record.messages.len() > self.policy.max_similar
    }

    /// Attaches `annotations` to the stored event `event` (as just observed).
    pub(super) fn annotate(&mut self, event: &Event, annotations: std::collections::BTreeMap<String, String>) -> Event {
        let similar: SimilarKey = (event.object.clone(), event.event_type, event.reason.clone());
        let exact = self.index.get(&(similar.clone(), Some(event.message.clone()))).or_else(|| self.index.get(&(similar, None)));
        match exact.copied() {
            Some(i) => {
                self.events[i].annotations = annotations;
                self.events[i].clone()
            }
            None => event.clone(),
        }
    }

    fn bump(&mut self, i: usize, message: &str, now: SystemTime) -> Event {
        let event = &mut self.events[i];
        event.count += 1;
        event.last_seen = now;
        event.message = message.to_string();
        event.clone()
    }

    fn insert(
        &mut self,
        key: (SimilarKey, Option<String>),
        object: &ObjectRef,
        event_type: EventType,
        reason: &str,
        message: String,
        now: SystemTime,
    ) -> Event {
        let event = Event {
            object: object.clone(),
            event_type,
            reason: reason.to_string(),
            message,
            count: 1,
            first_seen: now,
            last_seen: now,
            source: "hooklet",
            annotations: Default::default(),
        };
        self.index.insert(key, self.events.len());
        self.events.push(event.clone());
        event
    }
}
