//! apimachinery's `field.Error` and `ErrorList` for hooklet: [`FieldError`]
//! displays exactly like `field.Error.Error()`, [`ValidationErrors`] like the
//! apiserver's `Pod "NAME" is invalid: …` message.

use std::collections::HashSet;
use std::fmt;

use super::names;

/// The kind of a [`FieldError`], as apimachinery's `field.ErrorType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// `Required value`: a required field is empty or absent.
    Required,
    /// `Forbidden`: the field may not be set here.
    Forbidden,
    /// `Unsupported value`: not one of an enumerated set.
    NotSupported,
    /// `Invalid value`: malformed or out of range.
    Invalid,
    /// `Duplicate value`: must be unique.
    Duplicate,
    /// `Too long`.
    TooLong,
}

impl ErrorKind {
    /// The canonical text apimachinery prints for this kind.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Required => "Required value",
            ErrorKind::Forbidden => "Forbidden",
            ErrorKind::NotSupported => "Unsupported value",
            ErrorKind::Invalid => "Invalid value",
            ErrorKind::Duplicate => "Duplicate value",
            ErrorKind::TooLong => "Too long",
        }
    }

    /// Whether apimachinery prints the bad value for this kind.
    fn shows_value(self) -> bool {
        matches!(
            self,
            ErrorKind::NotSupported | ErrorKind::Invalid | ErrorKind::Duplicate
        )
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One validation problem, displayed exactly like apimachinery's `field.Error`:
/// `<field>: <kind>[: <value>][: <detail>]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// What is wrong.
    pub kind: ErrorKind,
    /// Full field path, e.g. `spec.containers[0].lifecycle.preStop.sleep.seconds`.
    pub field: String,
    /// The bad value as Go renders it (`%q` for strings, plain for numbers),
    /// or `None` when the kind does not show a value.
    pub value: Option<String>,
    /// The explanation, possibly empty.
    pub detail: String,
}

impl FieldError {
    fn new(kind: ErrorKind, field: &str, value: Option<String>, detail: &str) -> Self {
        FieldError {
            kind,
            field: field.to_string(),
            value,
            detail: detail.to_string(),
        }
    }

    /// `field.Required(path, detail)`.
    pub fn required(field: &str, detail: &str) -> Self {
        Self::new(ErrorKind::Required, field, None, detail)
    }

    /// `field.Forbidden(path, detail)`.
    pub fn forbidden(field: &str, detail: &str) -> Self {
        Self::new(ErrorKind::Forbidden, field, None, detail)
    }

    /// `field.Invalid(path, <string value>, detail)`.
    pub fn invalid_str(field: &str, value: &str, detail: &str) -> Self {
        Self::new(
            ErrorKind::Invalid,
            field,
            Some(names::go_quote(value)),
            detail,
        )
    }

    /// `field.Invalid(path, <integer value>, detail)`.
    pub fn invalid_int(field: &str, value: i128, detail: &str) -> Self {
        Self::new(ErrorKind::Invalid, field, Some(value.to_string()), detail)
    }

    /// `field.NotSupported(path, value, supported)`.
    pub fn not_supported(field: &str, value: &str, supported: &[&str]) -> Self {
        let quoted: Vec<String> = supported.iter().map(|s| names::go_quote(s)).collect();
        let detail = if quoted.is_empty() {
            String::new()
        } else {
            format!("supported values: {}", quoted.join(", "))
        };
        Self::new(
            ErrorKind::NotSupported,
            field,
            Some(names::go_quote(value)),
            &detail,
        )
    }

    /// `field.Duplicate(path, <string value>)`.
    pub fn duplicate(field: &str, value: &str) -> Self {
        Self::new(
            ErrorKind::Duplicate,
            field,
            Some(names::go_quote(value)),
            "",
        )
    }

    /// `field.TooLong(path, value, max)`: the value is not shown.
    pub fn too_long(field: &str, max_length: usize) -> Self {
        let detail = format!("must have at most {max_length} bytes");
        Self::new(ErrorKind::TooLong, field, None, &detail)
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.kind)?;
        if self.kind.shows_value() {
            write!(f, ": {}", self.value.as_deref().unwrap_or("null"))?;
        }
        if !self.detail.is_empty() {
            write!(f, ": {}", self.detail)?;
        }
        Ok(())
    }
}

impl std::error::Error for FieldError {}

/// All validation errors of one pod, in a stable order. `.0` holds the errors;
/// `.1` is the pod's `metadata.name`, used by `Display`.
///
/// Displays like the apiserver's `Pod "NAME" is invalid: …`: a single error
/// as is, several in brackets separated by `, `, identical messages once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidationErrors(pub Vec<FieldError>, pub String);

impl ValidationErrors {
    /// The errors, in report order.
    pub fn errors(&self) -> &[FieldError] {
        &self.0
    }

    /// The name of the pod the errors belong to.
    pub fn pod_name(&self) -> &str {
        &self.1
    }
}

impl fmt::Display for ValidationErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // `ErrorList.ToAggregate` drops repeated messages, keeping the first.
        let mut seen = HashSet::new();
        let messages: Vec<String> = self
            .0
            .iter()
            .map(ToString::to_string)
            .filter(|m| seen.insert(m.clone()))
            .collect();
        write!(f, "Pod {} is invalid: ", names::go_quote(&self.1))?;
        match messages.as_slice() {
            [single] => f.write_str(single),
            many => write!(f, "[{}]", many.join(", ")),
        }
    }
}

impl std::error::Error for ValidationErrors {}
