//! [`ManifestError`]: why a manifest file could not be turned into pods. Every
//! message names the file, the document (when the file has several), the
//! field where one is known, and what to change.

use std::fmt;
use std::path::PathBuf;

use super::validate::ValidationErrors;

/// Where in the input a problem is: the file and, for multi-document YAML,
/// the 1-based position of the document (empty documents count).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocumentLocation {
    /// The file name given to the parser.
    pub source: String,
    /// 1-based document number; `None` when the input holds one document.
    pub document: Option<usize>,
}

impl fmt::Display for DocumentLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.document {
            Some(n) => write!(f, "{} (document {n})", self.source),
            None => f.write_str(&self.source),
        }
    }
}

/// The text format a document was read as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// JSON (the input starts with `{`).
    Json,
    /// YAML, possibly several documents separated by `---`.
    Yaml,
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Format::Json => "JSON",
            Format::Yaml => "YAML",
        })
    }
}

/// Why [`crate::spec::parse::parse_manifests`] rejected its input.
#[derive(Debug)]
pub enum ManifestError {
    /// The file could not be read.
    Io {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// The text is not well-formed YAML or JSON. `message` is the parser's,
    /// with its line and column.
    Syntax {
        /// Where.
        location: DocumentLocation,
        /// YAML or JSON.
        format: Format,
        /// The parser's message, including `line L column C` when known.
        message: String,
        /// 1-based line of the problem, when known.
        line: Option<usize>,
        /// 1-based column of the problem, when known.
        column: Option<usize>,
    },
    /// Well-formed, but a field has the wrong type or shape for a Pod
    /// (e.g. a string where a number belongs, a missing required key).
    Decode {
        /// Where.
        location: DocumentLocation,
        /// The decoder's message, starting with the field path.
        message: String,
        /// 1-based line of the problem, when known (not for JSON input).
        line: Option<usize>,
        /// 1-based column of the problem, when known.
        column: Option<usize>,
    },
    /// The document is not a `v1` `Pod`.
    NotAPod {
        /// Where.
        location: DocumentLocation,
        /// The document's `apiVersion`, if it has one.
        api_version: Option<String>,
        /// The document's `kind`, if it has one.
        kind: Option<String>,
    },
    /// The input holds no document at all (only whitespace, comments or `---`).
    Empty {
        /// The file name given to the parser.
        source: String,
    },
    /// A Secret failed validation: the apiserver's `Secret "NAME" is invalid: …`,
    /// values redacted.
    InvalidSecret {
        /// Where.
        location: DocumentLocation,
        /// The whole message.
        message: String,
        /// The first field in error.
        field: String,
    },
    /// The pod failed validation; see [`ValidationErrors`].
    Invalid {
        /// Where.
        location: DocumentLocation,
        /// Every problem found.
        errors: ValidationErrors,
    },
}

impl ManifestError {
    /// The validation errors, when this is [`ManifestError::Invalid`].
    pub fn validation_errors(&self) -> Option<&ValidationErrors> {
        match self {
            ManifestError::Invalid { errors, .. } => Some(errors),
            _ => None,
        }
    }
}

/// Controllers whose pod template can be extracted, with the template's path.
const TEMPLATE_PATHS: &[(&str, &str)] = &[
    ("Deployment", "spec.template"),
    ("ReplicaSet", "spec.template"),
    ("StatefulSet", "spec.template"),
    ("DaemonSet", "spec.template"),
    ("Job", "spec.template"),
    ("ReplicationController", "spec.template"),
    ("CronJob", "spec.jobTemplate.spec.template"),
    ("PodTemplate", "template"),
];

fn not_a_pod(
    f: &mut fmt::Formatter<'_>,
    location: &DocumentLocation,
    api_version: Option<&str>,
    kind: Option<&str>,
) -> fmt::Result {
    let shown = |v: Option<&str>| v.map_or("none".to_string(), |v| format!("{v:?}"));
    match kind {
        None | Some("") => write!(
            f,
            "{location}: not a Pod manifest: `kind` is missing; hooklet runs Pods: set `apiVersion: v1` and `kind: Pod`"
        ),
        Some("Pod") => write!(
            f,
            "{location}: apiVersion {} is not supported for kind \"Pod\": set `apiVersion: v1`",
            shown(api_version)
        ),
        Some(kind) => {
            write!(
                f,
                "{location}: kind {kind:?} (apiVersion {}) is not supported: hooklet runs Pods (`apiVersion: v1`, `kind: Pod`)",
                shown(api_version)
            )?;
            if let Some((_, template)) = TEMPLATE_PATHS.iter().find(|(k, _)| *k == kind) {
                write!(
                    f,
                    ". To run this {kind}'s pods, extract its pod template: take `{template}` (its `metadata` and `spec`), add `apiVersion: v1` and `kind: Pod`, give it a `metadata.name`, and use that document"
                )
            } else if kind.ends_with("List") {
                f.write_str(". Put each Pod of `items` in its own YAML document, separated by `---`")
            } else {
                f.write_str("; remove this document from the manifest")
            }
        }
    }
}

/// A hint on how to fix a decoding error, chosen from the decoder's message.
fn decode_hint(message: &str) -> &'static str {
    if message.contains("missing field") {
        "add the missing field"
    } else if message.contains("unknown variant") {
        "use one of the listed values (they are case-sensitive)"
    } else if message.contains("invalid type") || message.contains("invalid value") {
        "give the field a value of the type the Pod API expects (numbers unquoted, strings quoted when they look like numbers or booleans)"
    } else if message.contains("untagged enum IntOrString") {
        "a port must be a number (1-65535) or a port name"
    } else {
        "check this field against the Kubernetes Pod API reference"
    }
}

impl fmt::Display for ManifestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ManifestError::Io { path, source } => write!(
                f,
                "cannot read pod manifest {}: {source}; check that the file exists and is readable",
                path.display()
            ),
            ManifestError::Syntax {
                location,
                format,
                message,
                ..
            } => write!(
                f,
                "{location}: invalid {format}: {message}; fix the syntax there (for YAML: indentation, quoting, `key: value` pairs)"
            ),
            ManifestError::Decode {
                location, message, ..
            } => write!(f, "{location}: {message}; {}", decode_hint(message)),
            ManifestError::NotAPod {
                location,
                api_version,
                kind,
            } => not_a_pod(f, location, api_version.as_deref(), kind.as_deref()),
            ManifestError::Empty { source } => write!(
                f,
                "{source}: no Pod manifest found: the input is empty or holds only empty documents"
            ),
            ManifestError::Invalid { location, errors } => write!(f, "{location}: {errors}"),
            ManifestError::InvalidSecret { location, message, .. } => write!(f, "{location}: {message}"),
        }
    }
}

impl std::error::Error for ManifestError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ManifestError::Io { source, .. } => Some(source),
            ManifestError::Invalid { errors, .. } => Some(errors),
            _ => None,
        }
    }
}
