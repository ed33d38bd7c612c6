//! Reading Pod manifests: JSON, YAML, or multi-document YAML (documents
//! separated by `---`, empty ones skipped). Each document is checked to be a
//! `v1` `Pod`, decoded into [`Pod`], defaulted ([`apply_defaults`]) and
//! validated ([`validate_pod`]).
//!
//! Every field hooklet does not model is reported as a warning naming its full
//! path (`spec.containers[1].securityContext: hooklet does not act on this
//! field; it is ignored`); nothing is dropped silently.

use std::path::Path;

use serde::Deserialize;
use serde_json::Value;

pub use super::error::{DocumentLocation, Format, ManifestError};
use super::model::Pod;
use super::secret::{parse_secret, ParsedSecret};
use super::validate::{validate_pod, FieldError, ValidationErrors, ValidationOptions};

/// Suffix of the warning for a field hooklet does not model.
pub const IGNORED_FIELD_WARNING: &str = "hooklet does not act on this field; it is ignored";

/// One pod read from a manifest, defaulted and valid.
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedPod {
    /// The pod, with defaults applied.
    pub pod: Pod,
    /// One line per field of the document that hooklet ignores, in document
    /// order: `<field path>: hooklet does not act on this field; it is ignored`.
    pub warnings: Vec<String>,
}

/// One object of a manifest `apply` reads.
#[derive(Debug, Clone)]
pub enum ParsedObject {
    /// A `v1` Pod.
    Pod(ParsedPod),
    /// A `v1` Secret.
    Secret(ParsedSecret),
}

/// Checks the credentials of an image-pull Secret: (bytes, `secret NS/NAME`,
/// legacy `.dockercfg` form). Its message must not show a value.
pub type PullConfigCheck<'a> = &'a dyn Fn(&[u8], &str, bool) -> Result<(), String>;

/// [`parse_manifests`] for `apply`: the documents may also be `v1` Secrets
/// ([`crate::spec::secret`]), whose pull credentials `check` reads.
pub fn parse_objects(text: &str, source: &str, check: PullConfigCheck<'_>) -> Result<Vec<ParsedObject>, ManifestError> {
    parse_documents(text, source, &ValidationOptions::default(), Some(check))
}

/// Parses one or more Pod manifests (JSON, YAML, or multi-document YAML
/// separated by `---`; empty documents skipped), applies defaults and
/// validates with the default [`ValidationOptions`]. `source` is the file name
/// used in messages. Stops at the first document that fails.
pub fn parse_manifests(text: &str, source: &str) -> Result<Vec<ParsedPod>, ManifestError> {
    parse_manifests_with(text, source, &ValidationOptions::default())
}

/// [`parse_manifests`] with explicit validation options.
pub fn parse_manifests_with(
    text: &str,
    source: &str,
    opts: &ValidationOptions,
) -> Result<Vec<ParsedPod>, ManifestError> {
    let objects = parse_documents(text, source, opts, None)?;
    Ok(objects
        .into_iter()
        .filter_map(|o| match o {
            ParsedObject::Pod(p) => Some(p),
            ParsedObject::Secret(_) => None,
        })
        .collect())
}

fn parse_documents(
    text: &str,
    source: &str,
    opts: &ValidationOptions,
    secrets: Option<PullConfigCheck<'_>>,
) -> Result<Vec<ParsedObject>, ManifestError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let pods = if text.trim_start().starts_with('{') {
        vec![parse_json(text, source, opts, secrets)?]
    } else {
        parse_yaml(text, source, opts, secrets)?
    };
    if pods.is_empty() {
        return Err(ManifestError::Empty {
            source: source.to_string(),
        });
    }
    Ok(pods)
}

/// Reads `path` and parses it with [`parse_manifests`]; messages name the
/// file as given.
pub fn parse_manifest_file(path: &Path) -> Result<Vec<ParsedPod>, ManifestError> {
    let text = std::fs::read_to_string(path).map_err(|source| ManifestError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    parse_manifests(&text, &path.display().to_string())
}

/// The defaults the apiserver would apply to the modelled fields:
/// `metadata.namespace` = `default`, a fresh UUID v4 `metadata.uid` when
/// absent, `fieldRef.apiVersion` = `v1` in `env`, and for every `httpGet` handler
/// `path` = `/` and `scheme` = `HTTP` when empty. `terminationGracePeriodSeconds` is left as given
/// (see [`crate::spec::PodSpec::termination_grace_seconds`]).
pub fn apply_defaults(pod: &mut Pod) {
    let meta = &mut pod.metadata;
    if meta.namespace.as_deref().is_none_or(str::is_empty) {
        meta.namespace = Some("default".to_string());
    }
    if meta.uid.as_deref().is_none_or(str::is_empty) {
        meta.uid = Some(uuid::Uuid::new_v4().to_string());
    }
    let spec = &mut pod.spec;
    for container in spec.containers.iter_mut().chain(spec.init_containers.iter_mut()) {
        super::env::apply_defaults(container);
        if let Some(lifecycle) = &mut container.lifecycle {
            let handlers = [&mut lifecycle.post_start, &mut lifecycle.pre_stop];
            for http in handlers.into_iter().flatten().filter_map(|h| h.http_get.as_mut()) {
                http.apply_defaults();
            }
        }
        let probes = [&mut container.liveness_probe, &mut container.readiness_probe, &mut container.startup_probe];
        for probe in probes.into_iter().flatten() {
            probe.apply_defaults();
        }
    }
}

/// A JSON manifest: one document.
fn parse_json(
    text: &str,
    source: &str,
    opts: &ValidationOptions,
    secrets: Option<PullConfigCheck<'_>>,
) -> Result<ParsedObject, ManifestError> {
    let location = DocumentLocation {
        source: source.to_string(),
        document: None,
    };
    let value: Value = serde_json::from_str(text).map_err(|e| ManifestError::Syntax {
        location: location.clone(),
        format: Format::Json,
        message: e.to_string(),
        line: Some(e.line()),
        column: Some(e.column()),
    })?;
    if let Some(check) = secrets.filter(|_| is_secret(&value)) {
        return Ok(ParsedObject::Secret(parse_secret(&value, &location, check)?));
    }
    check_is_pod(&value, &location)?;
    // Decode through YAML (JSON is a subset), whose errors name the field
    // path; their line numbers would refer to the re-encoded text, so they
    // are dropped.
    let yaml = serde_norway::to_string(&value).map_err(|e| ManifestError::Decode {
        location: location.clone(),
        message: e.to_string(),
        line: None,
        column: None,
    })?;
    let doc = serde_norway::Deserializer::from_str(&yaml);
    decode(doc, &value, location, opts, false).map(ParsedObject::Pod)
}

/// A YAML stream: every non-empty document must be a valid Pod.
fn parse_yaml(
    text: &str,
    source: &str,
    opts: &ValidationOptions,
    secrets: Option<PullConfigCheck<'_>>,
) -> Result<Vec<ParsedObject>, ManifestError> {
    // Pass 1, untyped: syntax errors, empty documents and `kind`.
    let mut values = Vec::new();
    for doc in serde_norway::Deserializer::from_str(text) {
        match Option::<Value>::deserialize(doc) {
            Ok(value) => values.push(value.unwrap_or(Value::Null)),
            Err(e) if values.is_empty() && is_end_of_stream(&e) => break,
            Err(e) => {
                let document = values.len() + 1;
                let location = DocumentLocation {
                    source: source.to_string(),
                    document: (document > 1 || looks_multi_document(text)).then_some(document),
                };
                let (line, column) = match e.location() {
                    Some(l) => (Some(l.line()), Some(l.column())),
                    None => (None, None),
                };
                return Err(ManifestError::Syntax {
                    location,
                    format: Format::Yaml,
                    message: e.to_string(),
                    line,
                    column,
                });
            }
        }
    }
    // Pass 2, typed, over the same documents: decoding errors keep the path
    // and the line of the offending field.
    let multi = values.len() > 1;
    let mut docs = serde_norway::Deserializer::from_str(text);
    let mut pods = Vec::new();
    for (i, value) in values.iter().enumerate() {
        let Some(doc) = docs.next() else { break };
        if value.is_null() {
            continue;
        }
        let location = DocumentLocation {
            source: source.to_string(),
            document: multi.then_some(i + 1),
        };
        if let Some(check) = secrets.filter(|_| is_secret(value)) {
            pods.push(ParsedObject::Secret(parse_secret(value, &location, check)?));
            continue;
        }
        check_is_pod(value, &location)?;
        pods.push(ParsedObject::Pod(decode(doc, value, location, opts, true)?));
    }
    Ok(pods)
}

/// An input with no document at all ends the stream before any value.
fn is_end_of_stream(e: &serde_norway::Error) -> bool {
    e.to_string().starts_with("EOF while parsing")
}

/// Whether a `---` separator follows content, i.e. the stream has several
/// documents (used to name the document in syntax errors).
fn looks_multi_document(text: &str) -> bool {
    let mut seen_content = false;
    for line in text.lines() {
        if line.starts_with("---") {
            if seen_content {
                return true;
            }
        } else if !line.trim().is_empty() && !line.trim_start().starts_with('#') {
            seen_content = true;
        }
    }
    false
}

/// Whether `value` is a `v1` Secret.
fn is_secret(value: &Value) -> bool {
    value.get("apiVersion").and_then(Value::as_str) == Some("v1") && value.get("kind").and_then(Value::as_str) == Some("Secret")
}

/// Requires a mapping with `apiVersion: v1` and `kind: Pod`.
fn check_is_pod(value: &Value, location: &DocumentLocation) -> Result<(), ManifestError> {
    let Some(object) = value.as_object() else {
        let found = match value {
            Value::Array(_) => "a list",
            Value::String(_) => "a string",
            Value::Number(_) => "a number",
            Value::Bool(_) => "a boolean",
            _ => "something else",
        };
        return Err(ManifestError::Decode {
            location: location.clone(),
            message: format!(
                "the document is {found}, not a Pod: expected a mapping with apiVersion, kind, metadata and spec"
            ),
            line: None,
            column: None,
        });
    };
    let text_of = |key: &str| {
        object.get(key).map(|v| match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        })
    };
    let (api_version, kind) = (text_of("apiVersion"), text_of("kind"));
    if api_version.as_deref() == Some("v1") && kind.as_deref() == Some("Pod") {
        return Ok(());
    }
    Err(ManifestError::NotAPod {
        location: location.clone(),
        api_version,
        kind,
    })
}

/// The path of a field as Kubernetes writes it: `spec.containers[1].ports`.
fn field_path(path: &serde_ignored::Path) -> String {
    use serde_ignored::Path as P;
    match path {
        P::Root => String::new(),
        P::Seq { parent, index } => format!("{}[{index}]", field_path(parent)),
        P::Map { parent, key } => match field_path(parent) {
            p if p.is_empty() => key.clone(),
            p => format!("{p}.{key}"),
        },
        P::Some { parent } | P::NewtypeStruct { parent } | P::NewtypeVariant { parent } => {
            field_path(parent)
        }
    }
}

/// Whether `spec.ephemeralContainers` is a non-empty list: the apiserver
/// forbids that on create.
fn has_ephemeral_containers(value: &Value) -> bool {
    value
        .pointer("/spec/ephemeralContainers")
        .and_then(Value::as_array)
        .is_some_and(|list| !list.is_empty())
}

/// Decodes one document into a [`Pod`], collecting ignored fields, then
/// defaults and validates it.
fn decode<'de>(
    doc: serde_norway::Deserializer<'de>,
    value: &Value,
    location: DocumentLocation,
    opts: &ValidationOptions,
    keep_line: bool,
) -> Result<ParsedPod, ManifestError> {
    let mut ignored = Vec::new();
    let decoded: Result<Pod, _> = serde_ignored::deserialize(doc, |path| {
        ignored.push(field_path(&path));
    });
    let mut pod = decoded.map_err(|e| decode_error(&e, location.clone(), keep_line))?;

    let ephemeral = has_ephemeral_containers(value);
    let mut warnings: Vec<String> = ignored
        .into_iter()
        .filter(|p| !(ephemeral && p == "spec.ephemeralContainers"))
        .map(|p| format!("{p}: {IGNORED_FIELD_WARNING}"))
        .collect();
    let containers = pod.spec.containers.iter().enumerate().map(|(i, c)| (format!("spec.containers[{i}]"), c));
    let init = pod.spec.init_containers.iter().enumerate().map(|(i, c)| (format!("spec.initContainers[{i}]"), c));
    for (path, container) in containers.chain(init) {
        warnings.extend(super::env::warnings(container, &path));
    }

    apply_defaults(&mut pod);
    let mut errors = validate_pod(&pod, opts)
        .err()
        .map(|e| e.0)
        .unwrap_or_default();
    if ephemeral {
        errors.push(FieldError::forbidden(
            "spec.ephemeralContainers",
            "cannot be set on create",
        ));
    }
    if !errors.is_empty() {
        let name = pod.metadata.name.clone();
        return Err(ManifestError::Invalid {
            location,
            errors: ValidationErrors(errors, name),
        });
    }
    Ok(ParsedPod { pod, warnings })
}

fn decode_error(
    e: &serde_norway::Error,
    location: DocumentLocation,
    keep_line: bool,
) -> ManifestError {
    let mut message = e.to_string();
    let (mut line, mut column) = (None, None);
    if let Some(l) = e.location() {
        if keep_line {
            (line, column) = (Some(l.line()), Some(l.column()));
        } else {
            let suffix = format!(" at line {} column {}", l.line(), l.column());
            if let Some(stripped) = message.strip_suffix(&suffix) {
                message = stripped.to_string();
            }
        }
    }
    ManifestError::Decode {
        location,
        message,
        line,
        column,
    }
}
