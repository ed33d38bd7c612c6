//! The Kubernetes objects hooklet serves, in the API's JSON shape (core `v1`,
//! `meta.k8s.io/v1`). Hand-written serde types rather than k8s-openapi's: hooklet
//! serves a dozen kinds, its pod spec model ([`crate::spec`]) already reads and
//! writes the `v1.PodSpec` shape (with its own validation and warnings), and these
//! types carry only fields hooklet fills, so nothing is sent empty.

use std::collections::BTreeMap;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

/// RFC 3339 in UTC with seconds, as the apiserver writes `metav1.Time`.
pub fn time(t: SystemTime) -> String {
    humantime::format_rfc3339_seconds(t).to_string()
}

/// `metadata` of an object.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectMeta {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub creation_timestamp: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deletion_timestamp: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deletion_grace_period_seconds: Option<u64>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// `metadata` of a list.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListMeta {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_version: Option<String>,
}

/// A list of objects (`PodList`, `EventList`, …).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct List<T> {
    pub kind: &'static str,
    pub api_version: &'static str,
    pub metadata: ListMeta,
    pub items: Vec<T>,
}

impl<T> List<T> {
    /// A core `v1` list of `kind`.
    pub fn v1(kind: &'static str, items: Vec<T>) -> Self {
        List { kind, api_version: "v1", metadata: ListMeta::default(), items }
    }
}

/// `metav1.Status`: every error answer of the Kubernetes paths.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Status {
    pub kind: String,
    pub api_version: String,
    pub metadata: ListMeta,
    pub status: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reason: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<StatusDetails>,
    pub code: u16,
}

/// `Status.details`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusDetails {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub causes: Vec<StatusCause>,
}

/// `Status.details.causes[]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusCause {
    pub reason: String,
    pub message: String,
    pub field: String,
}

/// `v1.ObjectReference` (an event's `involvedObject`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectReference {
    pub kind: String,
    pub namespace: String,
    pub name: String,
    pub uid: String,
    pub api_version: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field_path: Option<String>,
}

/// `v1.EventSource`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EventSource {
    pub component: String,
    pub host: String,
}

/// A core `v1.Event`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Event {
    pub kind: String,
    pub api_version: String,
    pub metadata: ObjectMeta,
    pub involved_object: ObjectReference,
    pub reason: String,
    pub message: String,
    pub source: EventSource,
    pub first_timestamp: String,
    pub last_timestamp: String,
    pub count: u32,
    #[serde(rename = "type")]
    pub event_type: String,
    pub reporting_component: String,
    pub reporting_instance: String,
}

/// A server-side `meta.k8s.io/v1` Table (what `kubectl get` prints).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Table {
    pub kind: &'static str,
    pub api_version: &'static str,
    pub metadata: ListMeta,
    pub column_definitions: Vec<Column>,
    pub rows: Vec<TableRow>,
}

/// A Table column.
#[derive(Debug, Clone, Serialize)]
pub struct Column {
    pub name: &'static str,
    #[serde(rename = "type")]
    pub column_type: &'static str,
    pub format: &'static str,
    pub description: &'static str,
    /// 0: always shown; 1: `-o wide` only.
    pub priority: u8,
}

/// A Table row: its cells and the object's metadata (kubectl's `-A`, `--show-labels`).
#[derive(Debug, Clone, Serialize)]
pub struct TableRow {
    pub cells: Vec<serde_json::Value>,
    pub object: PartialObjectMetadata,
}

/// `meta.k8s.io/v1` `PartialObjectMetadata`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PartialObjectMetadata {
    pub kind: &'static str,
    pub api_version: &'static str,
    pub metadata: ObjectMeta,
}

impl Column {
    /// A string column.
    pub const fn text(name: &'static str, priority: u8) -> Column {
        Column { name, column_type: "string", format: "", description: "", priority }
    }
}
