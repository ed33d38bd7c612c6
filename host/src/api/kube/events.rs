//! hooklet's events as core `v1.Event`s, selected as `kubectl describe pod`
//! selects them (`fieldSelector=involvedObject.name=…,involvedObject.namespace=…,
//! involvedObject.uid=…`).

use std::time::UNIX_EPOCH;

use super::selector::Selector;
use super::status::KubeError;
use super::wire::{time, Event, EventSource, ObjectMeta, ObjectReference};
use crate::events::Event as HookletEvent;

/// The fields an events `fieldSelector` may name.
pub const FIELDS: &[&str] = &[
    "involvedObject.kind",
    "involvedObject.namespace",
    "involvedObject.name",
    "involvedObject.uid",
    "involvedObject.fieldPath",
    "reason",
    "type",
    "source",
    "metadata.namespace",
    "metadata.name",
];

/// A name that is stable for one event: its object's name and first time, as the
/// kubelet's recorder names events (`web.17c3a…`).
fn name(e: &HookletEvent) -> String {
    let nanos = e.first_seen.duration_since(UNIX_EPOCH).unwrap_or_default().as_nanos();
    format!("{}.{nanos:x}", e.object.name)
}

/// The event's namespace: its object's (the node's events go to `default`, as the
/// kubelet's do).
fn namespace(e: &HookletEvent) -> String {
    if e.object.namespace.is_empty() { "default".to_string() } else { e.object.namespace.clone() }
}

/// The `v1.Event` of a hooklet event on `node`.
pub fn event(e: &HookletEvent, node: &str) -> Event {
    Event {
        kind: "Event".into(),
        api_version: "v1".into(),
        metadata: ObjectMeta {
            name: name(e),
            namespace: Some(namespace(e)),
            creation_timestamp: Some(time(e.first_seen)),
            annotations: e.annotations.clone(),
            ..ObjectMeta::default()
        },
        involved_object: ObjectReference {
            kind: e.object.kind.clone(),
            namespace: e.object.namespace.clone(),
            name: e.object.name.clone(),
            uid: e.object.uid.clone(),
            api_version: "v1".into(),
            field_path: e.object.field_path.clone(),
        },
        reason: e.reason.clone(),
        message: e.message.clone(),
        source: EventSource { component: e.source.to_string(), host: node.to_string() },
        first_timestamp: time(e.first_seen),
        last_timestamp: time(e.last_seen),
        count: e.count,
        event_type: e.event_type.to_string(),
        reporting_component: e.source.to_string(),
        reporting_instance: node.to_string(),
    }
}

/// Does `e` match the namespace (None: all) and the field selector?
pub fn matches(e: &Event, namespace: Option<&str>, fields: &Selector) -> bool {
    if namespace.is_some_and(|ns| e.metadata.namespace.as_deref() != Some(ns)) {
        return false;
    }
    let o = &e.involved_object;
    fields.matches(|k| {
        Some(match k {
            "involvedObject.kind" => o.kind.as_str(),
            "involvedObject.namespace" => o.namespace.as_str(),
            "involvedObject.name" => o.name.as_str(),
            "involvedObject.uid" => o.uid.as_str(),
            "involvedObject.fieldPath" => o.field_path.as_deref().unwrap_or(""),
            "reason" => e.reason.as_str(),
            "type" => e.event_type.as_str(),
            "source" => e.source.component.as_str(),
            "metadata.namespace" => e.metadata.namespace.as_deref().unwrap_or(""),
            "metadata.name" => e.metadata.name.as_str(),
            _ => return None,
        })
    })
}

/// Parses an events `fieldSelector`.
pub fn selector(s: Option<&str>) -> Result<Selector, KubeError> {
    Selector::fields(s.unwrap_or(""), "events", FIELDS)
}
