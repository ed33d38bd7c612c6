//! A Kubernetes-style event recorder.
//!
//! Events have the kubelet's semantics (spec section 6.3): identical events (same
//! object, type, reason and message) merge into one with a `count` and first/last
//! seen times; when more than [`AggregationPolicy::max_similar`] events that differ
//! only in their message arrive within [`AggregationPolicy::window`], further ones are
//! combined into a single event whose message starts with
//! `(combined from similar events): `.
//!
//! Every recorded event (new or merged) is also broadcast, so a CLI can print events
//! as they happen and tests can await one instead of sleeping. A broadcast receiver
//! that falls behind loses events; durable storage uses an [`EventSink`] instead,
//! which sees every event, in order, as it is recorded.
//!
//! ```
//! use hooklet::events::{EventRecorder, EventType, ObjectRef};
//! let recorder = EventRecorder::new();
//! let pod = ObjectRef::pod("default", "web", "uid-1");
//! recorder.record(&pod.container("app"), EventType::Normal, "Started", "Started container app");
//! recorder.record(&pod.container("app"), EventType::Normal, "Started", "Started container app");
//! let events = recorder.list();
//! assert_eq!(events.len(), 1);
//! assert_eq!(events[0].count, 2);
//! ```

mod aggregate;

pub use aggregate::COMBINED_PREFIX;

use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;

use aggregate::Aggregator;

/// `Normal` or `Warning`, as in Kubernetes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum EventType {
    Normal,
    Warning,
}

impl std::fmt::Display for EventType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            EventType::Normal => "Normal",
            EventType::Warning => "Warning",
        })
    }
}

/// The object an event is about: a pod, or one of its containers (`field_path`
/// `spec.containers{name}` or `spec.initContainers{name}`, as the kubelet sets it),
/// or a wasm plugin of the node.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ObjectRef {
    /// `Pod` (the default, omitted in JSON) or `Plugin`.
    #[serde(default = "pod_kind", skip_serializing_if = "is_pod_kind")]
    pub kind: String,
    pub namespace: String,
    pub name: String,
    pub uid: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field_path: Option<String>,
}

fn pod_kind() -> String {
    "Pod".into()
}

fn is_pod_kind(kind: &str) -> bool {
    kind == "Pod"
}

impl ObjectRef {
    /// A wasm plugin of this node. Like the kubelet's events about its node, these are
    /// recorded in the `default` namespace.
    pub fn plugin(name: &str) -> Self {
        ObjectRef {
            kind: "Plugin".into(),
            namespace: "default".into(),
            name: name.to_string(),
            uid: format!("plugin:{name}"),
            field_path: None,
        }
    }

    /// This node (`kubectl describe node`'s events). Like the kubelet's events about
    /// its node, recorded in the `default` namespace.
    pub fn node(name: &str) -> Self {
        ObjectRef {
            kind: "Node".into(),
            namespace: "default".into(),
            name: name.to_string(),
            uid: format!("node:{name}"),
            field_path: None,
        }
    }

    /// `pod/NAME`, `pod/NAME (CONTAINER)` or `plugin/NAME`, as `kubectl events` shows it.
    pub fn display_name(&self) -> String {
        let kind = self.kind.to_ascii_lowercase();
        match self.container_name() {
            Some(c) => format!("{kind}/{} ({c})", self.name),
            None => format!("{kind}/{}", self.name),
        }
    }

    /// The pod itself.
    pub fn pod(namespace: &str, name: &str, uid: &str) -> Self {
        ObjectRef {
            kind: pod_kind(),
            namespace: namespace.to_string(),
            name: name.to_string(),
            uid: uid.to_string(),
            field_path: None,
        }
    }

    /// A regular container of this pod.
    pub fn container(&self, container: &str) -> Self {
        ObjectRef {
            field_path: Some(format!("spec.containers{{{container}}}")),
            ..self.clone()
        }
    }

    /// An init container (sidecars included) of this pod.
    pub fn init_container(&self, container: &str) -> Self {
        ObjectRef {
            field_path: Some(format!("spec.initContainers{{{container}}}")),
            ..self.clone()
        }
    }

    /// The container name if this refers to a container.
    pub fn container_name(&self) -> Option<&str> {
        let path = self.field_path.as_deref()?;
        let start = path.find('{')? + 1;
        path.get(start..path.len().checked_sub(1)?)
    }
}

/// One (possibly merged) event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub object: ObjectRef,
    #[serde(rename = "type")]
    pub event_type: EventType,
    pub reason: String,
    pub message: String,
    /// How many identical occurrences were merged into this event.
    pub count: u32,
    pub first_seen: SystemTime,
    pub last_seen: SystemTime,
    /// The reporting component, `hooklet`.
    #[serde(skip_deserializing, default = "event_source")]
    pub source: &'static str,
    /// Annotations (`AnnotatedEventf`: an eviction's `offending_containers`,
    /// `offending_containers_usage`, `starved_resource`).
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub annotations: std::collections::BTreeMap<String, String>,
}

/// The `source` of every event hooklet records.
fn event_source() -> &'static str {
    "hooklet"
}

/// Tunables for combining similar events (client-go's defaults).
#[derive(Debug, Clone, Copy)]
pub struct AggregationPolicy {
    /// How many distinct messages for one object/type/reason are kept apart.
    pub max_similar: usize,
    /// The window in which similar events are counted.
    pub window: Duration,
}

impl Default for AggregationPolicy {
    fn default() -> Self {
        AggregationPolicy {
            max_similar: 10,
            window: Duration::from_secs(600),
        }
    }
}

/// Receives every recorded event (new or merged) in recording order, e.g. to store
/// it. Called while the recorder's lock is held: it must not block or record events.
pub trait EventSink: Send + Sync + 'static {
    /// Takes one recorded event.
    fn accept(&self, event: &Event);
}

/// Records events; cheap to clone (all clones share one log).
#[derive(Clone)]
pub struct EventRecorder {
    inner: Arc<Mutex<Aggregator>>,
    tx: broadcast::Sender<Event>,
    sink: Arc<OnceLock<Box<dyn EventSink>>>,
}

impl Default for EventRecorder {
    fn default() -> Self {
        Self::new()
    }
}

impl EventRecorder {
    /// A recorder with client-go's aggregation policy.
    pub fn new() -> Self {
        Self::with_policy(AggregationPolicy::default())
    }

    /// A recorder with a custom aggregation policy.
    pub fn with_policy(policy: AggregationPolicy) -> Self {
        let (tx, _) = broadcast::channel(1024);
        EventRecorder {
            inner: Arc::new(Mutex::new(Aggregator::new(policy))),
            tx,
            sink: Arc::new(OnceLock::new()),
        }
    }

    /// Sends every event recorded from now on to `sink` as well (lossless, in
    /// order). A recorder has at most one sink; a second call is an error.
    pub fn set_sink(&self, sink: Box<dyn EventSink>) -> anyhow::Result<()> {
        self.sink.set(sink).map_err(|_| anyhow::anyhow!("the event recorder already has a sink"))
    }

    /// Takes events recorded by an earlier process (oldest first) as the starting
    /// point, so repeats keep merging into them. Not sent to the sink or broadcast.
    pub fn restore(&self, events: impl IntoIterator<Item = Event>) {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        for event in events {
            inner.restore(event);
        }
    }

    /// Records an event and returns it as stored (after merging).
    pub fn record(
        &self,
        object: &ObjectRef,
        event_type: EventType,
        reason: &str,
        message: &str,
    ) -> Event {
        self.record_annotated(object, event_type, reason, message, Default::default())
    }

    /// Records an event with annotations (the kubelet's `AnnotatedEventf`).
    pub fn record_annotated(
        &self,
        object: &ObjectRef,
        event_type: EventType,
        reason: &str,
        message: &str,
        annotations: std::collections::BTreeMap<String, String>,
    ) -> Event {
        let event = {
            let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
            let event = inner.observe(object, event_type, reason, message.trim(), SystemTime::now());
            let event = if annotations.is_empty() { event } else { inner.annotate(&event, annotations) };
            // Under the lock: the sink sees merges of one event in order.
            if let Some(sink) = self.sink.get() {
                sink.accept(&event);
            }
            event
        };
        tracing::debug!(
            object = %object.name,
            container = object.container_name().unwrap_or(""),
            "{} {} {}",
            event.event_type,
            event.reason,
            event.message
        );
        // Nobody listening is fine.
        let _ = self.tx.send(event.clone());
        event
    }

    /// Forgets the events about a pod that is gone (its uid), so that a node churning
    /// pods for months holds only the live pods' events in memory. The stored copies
    /// are the state directory's to keep or prune.
    pub fn forget_pod(&self, uid: &str) {
        self.inner.lock().unwrap_or_else(|e| e.into_inner()).forget(uid);
    }

    /// How many events the recorder holds.
    pub fn len(&self) -> usize {
        self.inner.lock().unwrap_or_else(|e| e.into_inner()).events().len()
    }

    /// Whether the recorder holds no event.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// All events, oldest first (by first occurrence).
    pub fn list(&self) -> Vec<Event> {
        let inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        inner.events().to_vec()
    }

    /// Events about one pod (any of its containers too), oldest first.
    pub fn for_pod(&self, uid: &str) -> Vec<Event> {
        self.list()
            .into_iter()
            .filter(|e| e.object.uid == uid)
            .collect()
    }

    /// A stream of events as they are recorded (new and merged ones).
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.tx.subscribe()
    }

    /// Waits until an event matching `pred` has been recorded (checking those
    /// already recorded first). Returns that event.
    pub async fn wait_for(&self, pred: impl Fn(&Event) -> bool) -> Event {
        let mut rx = self.subscribe();
        if let Some(found) = self.list().into_iter().find(|e| pred(e)) {
            return found;
        }
        loop {
            match rx.recv().await {
                Ok(event) if pred(&event) => return event,
                Ok(_) => {}
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    if let Some(found) = self.list().into_iter().find(|e| pred(e)) {
                        return found;
                    }
                }
                Err(broadcast::error::RecvError::Closed) => {
                    unreachable!("the recorder owns the sender")
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
