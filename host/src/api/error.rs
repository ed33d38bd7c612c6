//! API errors: a status code and a JSON body naming the field at fault.

use hyper::StatusCode;

use super::types::ErrorBody;
use crate::daemon::error::{DaemonError, ErrorKind};

/// An error answered to a request.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub status: StatusCode,
    pub body: ErrorBody,
}

impl ApiError {
    /// An error with `status`, a message and optionally the field at fault.
    pub fn new(status: StatusCode, error: impl Into<String>, field: Option<&str>) -> Self {
        ApiError {
            status,
            body: ErrorBody { error: error.into(), field: field.map(str::to_string) },
        }
    }

    /// 400 about `field`.
    pub fn bad_request(field: &str, error: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, error, Some(field))
    }

    /// 500 for a state database failure.
    pub fn internal(err: impl std::fmt::Display) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, format!("{err}"), None)
    }
}

impl From<crate::store::StoreError> for ApiError {
    fn from(err: crate::store::StoreError) -> Self {
        DaemonError::from(err).into()
    }
}

impl From<DaemonError> for ApiError {
    fn from(err: DaemonError) -> Self {
        ApiError::new(status_of(err.kind), err.message, err.field.as_deref())
    }
}

impl From<super::query::BadParam> for ApiError {
    fn from(err: super::query::BadParam) -> Self {
        ApiError::bad_request(err.name, err.message)
    }
}

/// The HTTP status of a daemon error kind (hooklet's API and the Kubernetes one agree).
pub fn status_of(kind: ErrorKind) -> StatusCode {
    match kind {
        ErrorKind::BadRequest => StatusCode::BAD_REQUEST,
        ErrorKind::NotFound => StatusCode::NOT_FOUND,
        ErrorKind::Conflict | ErrorKind::AlreadyExists => StatusCode::CONFLICT,
        ErrorKind::Invalid => StatusCode::UNPROCESSABLE_ENTITY,
        ErrorKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        ErrorKind::InsufficientStorage => StatusCode::INSUFFICIENT_STORAGE,
        ErrorKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
    }
}
