//! The minimal OpenAPI v3 documents that let `kubectl create` and `apply` (1.29 and
//! later) validate on the server: kubectl reads `/openapi/v3`, then the `api/v1`
//! document, and looks for a PATCH of the Pod kind that takes `fieldValidation`; with
//! it, kubectl sends `fieldValidation=Strict` instead of validating client-side
//! (hooklet validates every pod itself and answers `Invalid` with field paths).

use serde_json::{json, Value};

/// The hash in the `api/v1` URL: it changes when the document does.
const HASH: &str = "hooklet-1";

/// `GET /openapi/v3`.
pub fn index() -> Value {
    json!({"paths": {"api/v1": {"serverRelativeURL": format!("/openapi/v3/api/v1?hash={HASH}")}}})
}

/// `GET /openapi/v3/api/v1`.
pub fn api_v1() -> Value {
    let field_validation = json!({"name": "fieldValidation", "in": "query", "schema": {"type": "string", "uniqueItems": true}});
    let gvk = json!({"group": "", "version": "v1", "kind": "Pod"});
    let operation = |verb: &str| json!({"operationId": format!("{verb}CoreV1NamespacedPod"), "x-kubernetes-group-version-kind": gvk,
        "parameters": [field_validation], "responses": {}});
    json!({
        "openapi": "3.0.0",
        "info": {"title": "hooklet", "version": "v1"},
        "paths": {
            "/api/v1/namespaces/{namespace}/pods": {"post": operation("create")},
            "/api/v1/namespaces/{namespace}/pods/{name}": {"patch": operation("patch")},
        },
        "components": {"schemas": {}},
    })
}
