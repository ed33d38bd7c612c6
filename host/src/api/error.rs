//! API errors: a status code and a JSON body naming the field at fault.

use hyper::StatusCode;

use super::types::ErrorBody;

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

    /// 404 for a pod that does not exist.
    pub fn no_pod(namespace: &str, name: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            format!("pod {name:?} not found in namespace {namespace:?} (list pods with `hooklet get pods -n {namespace}`)"),
            Some("name"),
        )
    }

    /// 500 for a state database failure.
    pub fn internal(err: impl std::fmt::Display) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, format!("{err}"), None)
    }
}

impl From<crate::store::StoreError> for ApiError {
    fn from(err: crate::store::StoreError) -> Self {
        ApiError::internal(err)
    }
}
