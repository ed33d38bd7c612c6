//! `v1` Secrets in a manifest (`kind: Secret`), checked as the apiserver's
//! `ValidateSecret` checks them. hooklet uses the two image-pull types
//! (`kubernetes.io/dockerconfigjson`, `kubernetes.io/dockercfg`) for a pod's
//! `imagePullSecrets`; other types are kept, as the apiserver keeps them, and unused.
//!
//! No message, `Debug` output or warning shows a secret's values: the apiserver's
//! `"<secret contents redacted>"` stands in for them.

use std::collections::BTreeMap;
use std::fmt;

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::error::{DocumentLocation, ManifestError};
use super::names;
use super::parse::{PullConfigCheck, IGNORED_FIELD_WARNING};

/// `type` of a Secret holding a Docker `config.json` under `.dockerconfigjson`.
pub const DOCKER_CONFIG_JSON: &str = "kubernetes.io/dockerconfigjson";
/// `type` of a Secret holding a legacy `.dockercfg` (a bare map of registries).
pub const DOCKER_CFG: &str = "kubernetes.io/dockercfg";
/// The apiserver's stand-in for a secret value in a message.
pub const REDACTED: &str = "<secret contents redacted>";
/// The apiserver's limit on a Secret's data.
const MAX_SECRET_BYTES: usize = 1024 * 1024;

/// A Secret as applied: names, type and data (values base64-encoded, as the API
/// writes them). `Debug` shows the keys only.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Secret {
    pub name: String,
    pub namespace: String,
    /// Given in the manifest, else generated; kept when the secret is applied again.
    pub uid: String,
    #[serde(rename = "type")]
    pub secret_type: String,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Key -> base64 of the value.
    pub data: BTreeMap<String, String>,
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret({}/{} {} keys {:?})", self.namespace, self.name, self.secret_type, self.data.keys().collect::<Vec<_>>())
    }
}

impl Secret {
    /// The decoded value of `key`.
    pub fn value(&self, key: &str) -> Option<Vec<u8>> {
        self.data.get(key).and_then(|v| base64::engine::general_purpose::STANDARD.decode(v).ok())
    }

    /// Each key and its value's size in bytes (what `describe secret` shows).
    pub fn sizes(&self) -> BTreeMap<String, usize> {
        self.data.keys().map(|k| (k.clone(), self.value(k).map_or(0, |v| v.len()))).collect()
    }

    /// The key an image-pull secret keeps its credentials under, with whether it is
    /// the legacy `.dockercfg` form; `None` for the other types.
    pub fn docker_config_key(&self) -> Option<(&'static str, bool)> {
        match self.secret_type.as_str() {
            DOCKER_CONFIG_JSON => Some((".dockerconfigjson", false)),
            DOCKER_CFG => Some((".dockercfg", true)),
            _ => None,
        }
    }
}

/// A Secret document read from a manifest, with a warning per field hooklet ignores.
#[derive(Debug, Clone)]
pub struct ParsedSecret {
    pub secret: Secret,
    pub warnings: Vec<String>,
}

const KNOWN: [&str; 6] = ["apiVersion", "kind", "metadata", "type", "data", "stringData"];
const KNOWN_METADATA: [&str; 5] = ["name", "namespace", "uid", "labels", "annotations"];

/// Reads and validates a `v1` Secret document (`value`, already known to be one).
/// `stringData` is merged into `data` (its keys win), `namespace` defaults to
/// `default`, `type` to `Opaque`. `check_pull_config` checks the credentials of the
/// image-pull types (their JSON and entries), with a message naming the entry.
pub fn parse_secret(
    value: &Value,
    location: &DocumentLocation,
    check_pull_config: PullConfigCheck<'_>,
) -> Result<ParsedSecret, ManifestError> {
    let object = value.as_object().expect("checked to be a mapping");
    let decode_error = |message: String| ManifestError::Decode { location: location.clone(), message, line: None, column: None };
    let mut warnings: Vec<String> = object.keys().filter(|k| !KNOWN.contains(&k.as_str())).map(|k| format!("{k}: {IGNORED_FIELD_WARNING}")).collect();
    let metadata = match object.get("metadata") {
        None | Some(Value::Null) => serde_json::Map::new(),
        Some(Value::Object(m)) => m.clone(),
        Some(_) => return Err(decode_error("metadata: expected a mapping".into())),
    };
    warnings.extend(metadata.keys().filter(|k| !KNOWN_METADATA.contains(&k.as_str())).map(|k| format!("metadata.{k}: {IGNORED_FIELD_WARNING}")));
    let text = |v: Option<&Value>, field: &str| match v {
        None | Some(Value::Null) => Ok(String::new()),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(_) => Err(decode_error(format!("{field}: expected a string"))),
    };
    let name = text(metadata.get("name"), "metadata.name")?;
    let namespace = Some(text(metadata.get("namespace"), "metadata.namespace")?).filter(|n| !n.is_empty()).unwrap_or_else(|| "default".into());
    let uid = Some(text(metadata.get("uid"), "metadata.uid")?).filter(|u| !u.is_empty()).unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let secret_type = Some(text(object.get("type"), "type")?).filter(|t| !t.is_empty()).unwrap_or_else(|| "Opaque".into());
    let labels: BTreeMap<String, String> = match metadata.get("labels") {
        None | Some(Value::Null) => BTreeMap::new(),
        Some(v) => serde_json::from_value(v.clone()).map_err(|_| decode_error("metadata.labels: expected a map of strings".into()))?,
    };
    let mut data = BTreeMap::new();
    let engine = base64::engine::general_purpose::STANDARD;
    for (field, encoded) in [("data", true), ("stringData", false)] {
        let map = match object.get(field) {
            None | Some(Value::Null) => continue,
            Some(Value::Object(m)) => m,
            Some(_) => return Err(decode_error(format!("{field}: expected a map of key to {}", if encoded { "base64 string" } else { "string" }))),
        };
        for (key, v) in map {
            let Value::String(s) = v else {
                return Err(decode_error(format!("{field}[{key}]: expected a string")));
            };
            let value = if encoded {
                engine.decode(s.trim()).map_err(|e| {
                    decode_error(format!("Secret in version \"v1\" cannot be handled as a Secret: {field}[{key}]: illegal base64 data ({e})"))
                })?
            } else {
                s.clone().into_bytes()
            };
            data.insert(key.clone(), engine.encode(value));
        }
    }
    let secret = Secret { name, namespace, uid, secret_type, labels, data };
    let errors = validate(&secret, check_pull_config);
    if !errors.is_empty() {
        let shown = if errors.len() == 1 { errors[0].clone() } else { format!("[{}]", errors.join(", ")) };
        return Err(ManifestError::InvalidSecret {
            location: location.clone(),
            message: format!("Secret {} is invalid: {shown}", names::go_quote(&secret.name)),
            field: errors[0].split(':').next().unwrap_or("data").to_string(),
        });
    }
    Ok(ParsedSecret { secret, warnings })
}

/// The apiserver's `ValidateSecret`, with the credentials of pull secrets checked too.
fn validate(secret: &Secret, check_pull_config: PullConfigCheck<'_>) -> Vec<String> {
    let mut errors = Vec::new();
    if secret.name.is_empty() {
        errors.push("metadata.name: Required value: name or generateName is required".to_string());
    }
    for msg in names::is_dns1123_subdomain(&secret.name).into_iter().filter(|_| !secret.name.is_empty()) {
        errors.push(format!("metadata.name: Invalid value: {}: {msg}", names::go_quote(&secret.name)));
    }
    for msg in names::is_dns1123_label(&secret.namespace) {
        errors.push(format!("metadata.namespace: Invalid value: {}: {msg}", names::go_quote(&secret.namespace)));
    }
    let mut total = 0;
    for key in secret.data.keys() {
        for msg in names::is_config_map_key(key) {
            errors.push(format!("data[{key}]: Invalid value: {}: {msg}", names::go_quote(key)));
        }
        total += secret.value(key).map_or(0, |v| v.len());
    }
    if total > MAX_SECRET_BYTES {
        errors.push(format!("data: Too long: must have at most {MAX_SECRET_BYTES} bytes"));
    }
    if let Some((key, legacy)) = secret.docker_config_key() {
        match secret.value(key) {
            None => errors.push(format!("data[{key}]: Required value")),
            Some(value) => {
                let source = format!("secret {}/{}", secret.namespace, secret.name);
                if let Err(why) = check_pull_config(&value, &source, legacy) {
                    errors.push(format!("data[{key}]: Invalid value: \"{REDACTED}\": {why}"));
                }
            }
        }
    }
    errors
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(yaml: &str) -> Result<ParsedSecret, ManifestError> {
        let value: Value = serde_norway::from_str(yaml).unwrap();
        let location = DocumentLocation { source: "s.yaml".into(), document: None };
        parse_secret(&value, &location, &|bytes, _, _| serde_json::from_slice::<Value>(bytes).map(|_| ()).map_err(|e| e.to_string()))
    }

    #[test]
    fn string_data_merges_and_defaults_apply() {
        let s = parse("apiVersion: v1\nkind: Secret\nmetadata: {name: a}\ndata: {x: aGk=}\nstringData: {y: there}\nimmutable: true\n").unwrap();
        assert_eq!((s.secret.namespace.as_str(), s.secret.secret_type.as_str()), ("default", "Opaque"));
        assert_eq!(s.secret.value("x").unwrap(), b"hi");
        assert_eq!(s.secret.value("y").unwrap(), b"there");
        assert_eq!(s.warnings, [format!("immutable: {IGNORED_FIELD_WARNING}")]);
        assert!(!format!("{:?}", s.secret).contains("aGk="));
    }

    #[test]
    fn errors_name_the_field_and_never_the_value() {
        let err = parse("apiVersion: v1\nkind: Secret\nmetadata: {name: a}\ntype: kubernetes.io/dockerconfigjson\nstringData: {.dockerconfigjson: 'hunter2 {'}\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("Secret \"a\" is invalid: data[.dockerconfigjson]: Invalid value: \"<secret contents redacted>\""), "{err}");
        assert!(!err.contains("hunter2"), "{err}");
        let err = parse("apiVersion: v1\nkind: Secret\nmetadata: {name: a}\ntype: kubernetes.io/dockercfg\n").unwrap_err().to_string();
        assert!(err.contains("data[.dockercfg]: Required value"), "{err}");
        let err = parse("apiVersion: v1\nkind: Secret\nmetadata: {name: a}\ndata: {x: 'hunter2!'}\n").unwrap_err().to_string();
        assert!(err.contains("data[x]: illegal base64 data") && !err.contains("hunter2"), "{err}");
        let err = parse("apiVersion: v1\nkind: Secret\nmetadata: {name: A}\nstringData: {'a/b': x}\n").unwrap_err().to_string();
        assert!(err.contains("metadata.name: Invalid value: \"A\"") && err.contains("data[a/b]: Invalid value: \"a/b\""), "{err}");
    }
}
