//! Errors on the Kubernetes paths: every one a `metav1.Status`, worded as the
//! apiserver words it (`pods "x" not found`), so kubectl prints its usual lines.

use hyper::{Response, StatusCode};

use super::wire::{ListMeta, Status, StatusCause, StatusDetails};
use crate::api::body::{self, Body};
use crate::api::error::{status_of, ApiError};
use crate::api::query::BadParam;
use crate::daemon::error::{DaemonError, ErrorKind};

/// A Kubernetes API error: the HTTP code and the `Status` answered.
#[derive(Debug, Clone)]
pub struct KubeError(pub Status);

impl KubeError {
    /// A failure with `code`, `reason` and a message.
    pub fn new(code: StatusCode, reason: &str, message: impl Into<String>) -> Self {
        KubeError(Status {
            kind: "Status".into(),
            api_version: "v1".into(),
            metadata: ListMeta::default(),
            status: "Failure".into(),
            message: message.into(),
            reason: reason.into(),
            details: None,
            code: code.as_u16(),
        })
    }

    /// 500 for a failure of the daemon itself.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "InternalError", message)
    }

    /// 400 BadRequest.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "BadRequest", message)
    }

    /// 404 for a resource hooklet does not serve.
    pub fn no_resource(path: &str) -> Self {
        Self::new(StatusCode::NOT_FOUND, "NotFound", format!("the server could not find the requested resource ({path})"))
    }

    /// 405 for a verb a resource does not take.
    pub fn method_not_allowed(method: &hyper::Method, path: &str) -> Self {
        Self::new(StatusCode::METHOD_NOT_ALLOWED, "MethodNotAllowed", format!("the server does not allow this method on the requested resource ({method} {path})"))
    }

    /// `resource "name" not found`.
    pub fn not_found(resource: &str, name: &str) -> Self {
        let mut e = Self::new(StatusCode::NOT_FOUND, "NotFound", format!("{resource} {name:?} not found"));
        e.0.details = Some(StatusDetails { name: name.into(), kind: resource.into(), causes: vec![] });
        e
    }

    /// The answer.
    pub fn response(&self) -> Response<Body> {
        body::json(StatusCode::from_u16(self.0.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR), &self.0)
    }
}

/// Reason of each daemon error kind, as `metav1.StatusReason`.
fn reason(kind: ErrorKind) -> &'static str {
    match kind {
        ErrorKind::BadRequest => "BadRequest",
        ErrorKind::NotFound => "NotFound",
        ErrorKind::Conflict => "Conflict",
        ErrorKind::AlreadyExists => "AlreadyExists",
        ErrorKind::Invalid => "Invalid",
        // metav1 has no reason for a full disk; the apiserver answers a full etcd
        // with an InternalError too.
        ErrorKind::Internal | ErrorKind::InsufficientStorage => "InternalError",
        ErrorKind::Unavailable => "ServiceUnavailable",
    }
}

impl From<DaemonError> for KubeError {
    fn from(err: DaemonError) -> Self {
        if let (ErrorKind::NotFound, Some(object)) = (err.kind, &err.object) {
            return KubeError::not_found(object.resource, &object.name);
        }
        let mut e = KubeError::new(status_of(err.kind), reason(err.kind), err.message);
        if err.object.is_some() || !err.causes.is_empty() {
            let object = err.object.as_ref();
            // kubectl words an Invalid error from the kind: `The Pod "x" is invalid`.
            let kind = |resource: &str| match (err.kind, resource) {
                (ErrorKind::Invalid, "pods") => "Pod".to_string(),
                (_, other) => other.to_string(),
            };
            e.0.details = Some(StatusDetails {
                name: object.map(|o| o.name.clone()).unwrap_or_default(),
                kind: object.map(|o| kind(o.resource)).unwrap_or_default(),
                causes: err
                    .causes
                    .into_iter()
                    .map(|c| StatusCause { reason: "FieldValueInvalid".into(), message: c.message, field: c.field })
                    .collect(),
            });
        }
        e
    }
}

impl From<BadParam> for KubeError {
    fn from(err: BadParam) -> Self {
        KubeError::bad_request(err.message)
    }
}

impl From<ApiError> for KubeError {
    fn from(err: ApiError) -> Self {
        let reason = match err.status {
            StatusCode::BAD_REQUEST => "BadRequest",
            StatusCode::NOT_FOUND => "NotFound",
            StatusCode::PAYLOAD_TOO_LARGE => "RequestEntityTooLarge",
            StatusCode::UNPROCESSABLE_ENTITY => "Invalid",
            StatusCode::CONFLICT => "Conflict",
            StatusCode::SERVICE_UNAVAILABLE => "ServiceUnavailable",
            _ => "InternalError",
        };
        KubeError::new(err.status, reason, err.body.error)
    }
}

/// The 401 of a request without the right token: kubectl then prints
/// `You must be logged in to the server (Unauthorized)`.
pub fn unauthorized() -> Response<Body> {
    KubeError::new(StatusCode::UNAUTHORIZED, "Unauthorized", "Unauthorized").response()
}
