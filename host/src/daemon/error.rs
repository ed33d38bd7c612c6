//! The daemon's own errors: what went wrong with an operation, in terms of pods and
//! fields, not of HTTP. The API maps them onto its answers (hooklet's JSON error
//! body on `/v1`, a Kubernetes `Status` on `/api`).

/// What kind of failure an operation met.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The request itself is malformed (a bad parameter value).
    BadRequest,
    /// The object does not exist.
    NotFound,
    /// The object exists in a state that refuses the operation.
    Conflict,
    /// The object to create exists already.
    AlreadyExists,
    /// The object (a manifest) does not validate.
    Invalid,
    /// A failure of the daemon itself (its state database, …).
    Internal,
    /// The state directory's disk is full: the change cannot be stored now.
    InsufficientStorage,
    /// The state cannot be written until an operator acts (a read-only or replaced
    /// database file).
    Unavailable,
}

/// One field-level cause of an [`ErrorKind::Invalid`] error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cause {
    /// The field path, e.g. `spec.containers[0].name`.
    pub field: String,
    /// What is wrong with it.
    pub message: String,
}

/// The object an error is about: a resource (plural, as in `pods`) and a name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectRef {
    pub resource: &'static str,
    pub name: String,
}

/// An operation's failure.
#[derive(Debug, Clone, PartialEq)]
pub struct DaemonError {
    pub kind: ErrorKind,
    /// What is wrong and how to fix it.
    pub message: String,
    /// The request field, query parameter or manifest field path at fault.
    pub field: Option<String>,
    /// The object concerned, when there is one.
    pub object: Option<ObjectRef>,
    /// Every field at fault, for an invalid object.
    pub causes: Vec<Cause>,
}

impl DaemonError {
    /// An error of `kind` with a message and optionally the field at fault.
    pub fn new(kind: ErrorKind, message: impl Into<String>, field: Option<&str>) -> Self {
        DaemonError { kind, message: message.into(), field: field.map(str::to_string), object: None, causes: Vec::new() }
    }

    /// A malformed parameter `field`.
    pub fn bad_request(field: &str, message: impl Into<String>) -> Self {
        Self::new(ErrorKind::BadRequest, message, Some(field))
    }

    /// A daemon failure.
    pub fn internal(err: impl std::fmt::Display) -> Self {
        Self::new(ErrorKind::Internal, format!("{err}"), None)
    }

    /// Names the object the error is about.
    pub fn about(mut self, resource: &'static str, name: &str) -> Self {
        self.object = Some(ObjectRef { resource, name: name.to_string() });
        self
    }

    /// A pod that does not exist.
    pub fn no_pod(namespace: &str, name: &str) -> Self {
        Self::new(
            ErrorKind::NotFound,
            format!("pod {name:?} not found in namespace {namespace:?} (list pods with `hooklet get pods -n {namespace}`)"),
            Some("name"),
        )
        .about("pods", name)
    }
}

impl From<crate::store::StoreError> for DaemonError {
    fn from(err: crate::store::StoreError) -> Self {
        use crate::store::StoreError;
        let kind = match &err {
            StoreError::Full { .. } => ErrorKind::InsufficientStorage,
            StoreError::ReadOnly { .. } | StoreError::Moved { .. } => ErrorKind::Unavailable,
            _ => ErrorKind::Internal,
        };
        DaemonError::new(kind, err.to_string(), None)
    }
}
