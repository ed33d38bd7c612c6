//! Server-side Tables (`Accept: application/json;as=Table;v=v1;g=meta.k8s.io`):
//! kubectl removed its printers for built-in kinds, so without these `kubectl get
//! pods` prints only NAME and AGE. The columns are the apiserver's.

use hyper::{header, HeaderMap, Response, StatusCode};
use serde_json::Value;

use super::wire::{Column, ListMeta, ObjectMeta, PartialObjectMetadata, Table, TableRow};
use crate::api::body::{self, Body};

/// The content type of a Table answer.
const TABLE_TYPE: &str = "application/json;as=Table;v=v1;g=meta.k8s.io";

/// Does the client want a Table?
pub fn wanted(headers: &HeaderMap) -> bool {
    let Some(accept) = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()) else { return false };
    accept.split(',').any(|part| {
        let params: Vec<&str> = part.split(';').map(str::trim).collect();
        params.contains(&"as=Table") && params.contains(&"g=meta.k8s.io")
    })
}

/// `get pods`: NAME READY STATUS RESTARTS AGE, and with `-o wide` IP NODE
/// NOMINATED NODE READINESS GATES.
pub const POD_COLUMNS: &[Column] = &[
    Column::text("Name", 0),
    Column::text("Ready", 0),
    Column::text("Status", 0),
    Column::text("Restarts", 0),
    Column::text("Age", 0),
    Column::text("IP", 1),
    Column::text("Node", 1),
    Column::text("Nominated Node", 1),
    Column::text("Readiness Gates", 1),
];

/// `get events`.
pub const EVENT_COLUMNS: &[Column] = &[
    Column::text("Last Seen", 0),
    Column::text("Type", 0),
    Column::text("Reason", 0),
    Column::text("Object", 0),
    Column::text("Subobject", 1),
    Column::text("Source", 1),
    Column::text("Message", 0),
    Column::text("First Seen", 1),
    Column::text("Count", 1),
    Column::text("Name", 1),
];

/// `get nodes`.
pub const NODE_COLUMNS: &[Column] = &[
    Column::text("Name", 0),
    Column::text("Status", 0),
    Column::text("Roles", 0),
    Column::text("Age", 0),
    Column::text("Version", 0),
    Column::text("Internal-IP", 1),
    Column::text("External-IP", 1),
    Column::text("OS-Image", 1),
    Column::text("Kernel-Version", 1),
    Column::text("Container-Runtime", 1),
];

/// `get namespaces`.
pub const NAMESPACE_COLUMNS: &[Column] = &[Column::text("Name", 0), Column::text("Status", 0), Column::text("Age", 0)];

/// A row: its cells and the object's metadata.
pub fn row(cells: Vec<Value>, metadata: ObjectMeta) -> TableRow {
    TableRow { cells, object: PartialObjectMetadata { kind: "PartialObjectMetadata", api_version: "meta.k8s.io/v1", metadata } }
}

fn table(columns: &[Column], rows: Vec<TableRow>, resource_version: Option<String>) -> Table {
    Table { kind: "Table", api_version: "meta.k8s.io/v1", metadata: ListMeta { resource_version }, column_definitions: columns.to_vec(), rows }
}

/// A Table as a JSON value (the object of a watch event).
pub fn value(columns: &[Column], rows: Vec<TableRow>, resource_version: Option<String>) -> Value {
    serde_json::to_value(table(columns, rows, resource_version)).expect("tables serialise")
}

/// The Table answer.
pub fn response(columns: &[Column], rows: Vec<TableRow>, resource_version: Option<String>) -> Response<Body> {
    let mut response = body::json(StatusCode::OK, &table(columns, rows, resource_version));
    response.headers_mut().insert(header::CONTENT_TYPE, TABLE_TYPE.parse().expect("a valid header"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_only_for_a_client_that_asks() {
        let mut h = HeaderMap::new();
        assert!(!wanted(&h));
        h.insert(header::ACCEPT, "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json".parse().unwrap());
        assert!(wanted(&h));
        h.insert(header::ACCEPT, "application/json".parse().unwrap());
        assert!(!wanted(&h));
    }
}
