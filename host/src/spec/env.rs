//! A container's `env` and `envFrom`: the model, the apiserver's defaults and its
//! validation (`ValidateEnv`, `validateEnvVarValueFrom`, `ValidateEnvFrom`), with the
//! same field paths and messages. The values are resolved when a container starts
//! ([`crate::envvars`]).
//!
//! hooklet has no ConfigMaps: a `configMapKeyRef` or `configMapRef` that is not
//! `optional` could never be resolved (the container would wait in
//! `CreateContainerConfigError` forever), so validation refuses it; an optional one
//! resolves to nothing, as for a ConfigMap that does not exist, with a warning.

use serde::{Deserialize, Serialize};

use super::field_error::FieldError;
use super::fieldpath::{convert_field_label, split_subscripted, ENV_FIELD_PATHS};
use super::model::Container;
use super::names;
use super::resources::Quantity;

/// `env[]` entry: a literal `value` (with `$(VAR)` references to the variables
/// defined before it, expanded at start) or a `valueFrom` source: the pod's fields
/// (`fieldRef`), the container's resources (`resourceFieldRef`) or a key of a Secret
/// of the pod's namespace (`secretKeyRef`). `configMapKeyRef` is accepted only with
/// `optional: true` (hooklet has no ConfigMaps).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EnvVar {
    #[serde(default)]
    pub name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub value: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value_from: Option<EnvVarSource>,
}

/// `valueFrom`: exactly one source must be set (validated, not typed, for the
/// apiserver's messages).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EnvVarSource {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field_ref: Option<ObjectFieldSelector>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_field_ref: Option<ResourceFieldSelector>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_map_key_ref: Option<KeySelector>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_key_ref: Option<KeySelector>,
}

/// `fieldRef`: a field of the pod (`metadata.name`, `status.podIP`, …).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectFieldSelector {
    /// Defaulted to `v1`.
    #[serde(default)]
    pub api_version: String,
    #[serde(default)]
    pub field_path: String,
}

/// `resourceFieldRef`: a limit or request of a container (this one by default).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceFieldSelector {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub container_name: String,
    #[serde(default)]
    pub resource: String,
    /// The unit of the value; absent (or zero) means `1`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub divisor: Option<Quantity>,
}

/// `secretKeyRef` / `configMapKeyRef`: one key of an object of the pod's namespace.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct KeySelector {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub optional: Option<bool>,
}

impl KeySelector {
    /// `optional: true`.
    pub fn is_optional(&self) -> bool {
        self.optional == Some(true)
    }
}

/// `envFrom[]` entry: every key of a Secret (`secretRef`), each prefixed with `prefix`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EnvFromSource {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub prefix: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_map_ref: Option<SourceRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<SourceRef>,
}

/// `secretRef` / `configMapRef` of `envFrom`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SourceRef {
    #[serde(default)]
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub optional: Option<bool>,
}

impl SourceRef {
    /// `optional: true`.
    pub fn is_optional(&self) -> bool {
        self.optional == Some(true)
    }
}

/// `SetDefaults_ObjectFieldSelector`: `fieldRef.apiVersion` = `v1` when empty.
pub fn apply_defaults(container: &mut Container) {
    let refs = container.env.iter_mut().filter_map(|e| e.value_from.as_mut()).filter_map(|s| s.field_ref.as_mut());
    for field_ref in refs.filter(|f| f.api_version.is_empty()) {
        field_ref.api_version = "v1".to_string();
    }
}

/// Why hooklet refuses a ConfigMap reference that is not optional.
const NO_CONFIG_MAPS: &str = "hooklet has no ConfigMaps, so the container could never start (CreateContainerConfigError); put the data in a Secret and use `secretKeyRef` / `secretRef`, or mark the reference `optional: true`";

/// The warnings for optional ConfigMap references (`path`: the container's path).
pub fn warnings(container: &Container, path: &str) -> Vec<String> {
    let optional_env = container.env.iter().enumerate().filter_map(|(i, e)| {
        let c = e.value_from.as_ref()?.config_map_key_ref.as_ref()?;
        c.is_optional().then(|| format!("{path}.env[{i}].valueFrom.configMapKeyRef"))
    });
    let optional_from = container.env_from.iter().enumerate()
        .filter(|(_, e)| e.config_map_ref.as_ref().is_some_and(SourceRef::is_optional))
        .map(|(i, _)| format!("{path}.envFrom[{i}].configMapRef"));
    optional_env
        .chain(optional_from)
        .map(|field| format!("{field}: hooklet has no ConfigMaps; this optional reference sets nothing, as for a ConfigMap that does not exist"))
        .collect()
}

/// `ValidateEnv` for `env` at `path` (`spec.containers[0].env`).
pub fn validate_env(env: &[EnvVar], path: &str, errs: &mut Vec<FieldError>) {
    for (i, var) in env.iter().enumerate() {
        let name_path = format!("{path}[{i}].name");
        if var.name.is_empty() {
            errs.push(FieldError::required(&name_path, ""));
        } else {
            for msg in names::is_relaxed_env_var_name(&var.name) {
                errs.push(FieldError::invalid_str(&name_path, &var.name, &msg));
            }
        }
        validate_value_from(var, &format!("{path}[{i}].valueFrom"), errs);
    }
}

/// `validateEnvVarValueFrom`, then hooklet's refusal of required ConfigMap keys.
fn validate_value_from(var: &EnvVar, path: &str, errs: &mut Vec<FieldError>) {
    let Some(source) = &var.value_from else { return };
    let mut sources = 0;
    if let Some(field_ref) = &source.field_ref {
        sources += 1;
        validate_field_ref(field_ref, &format!("{path}.fieldRef"), errs);
    }
    if let Some(resource_ref) = &source.resource_field_ref {
        sources += 1;
        validate_resource_ref(resource_ref, &format!("{path}.resourceFieldRef"), errs);
    }
    if let Some(key_ref) = &source.config_map_key_ref {
        sources += 1;
        validate_key_ref(key_ref, &format!("{path}.configMapKeyRef"), errs);
    }
    if let Some(key_ref) = &source.secret_key_ref {
        sources += 1;
        validate_key_ref(key_ref, &format!("{path}.secretKeyRef"), errs);
    }
    if sources == 0 {
        errs.push(FieldError::invalid_str(path, "", "must specify one of: `fieldRef`, `resourceFieldRef`, `configMapKeyRef` or `secretKeyRef`"));
    } else if !var.value.is_empty() {
        errs.push(FieldError::invalid_str(path, "", "may not be specified when `value` is not empty"));
    } else if sources > 1 {
        errs.push(FieldError::invalid_str(path, "", "may not have more than one field specified at a time"));
    }
    if source.config_map_key_ref.as_ref().is_some_and(|c| !c.is_optional()) {
        errs.push(FieldError::forbidden(&format!("{path}.configMapKeyRef"), NO_CONFIG_MAPS));
    }
}

/// `validateObjectFieldSelector` with the environment's field paths.
fn validate_field_ref(selector: &ObjectFieldSelector, path: &str, errs: &mut Vec<FieldError>) {
    if selector.api_version.is_empty() {
        return errs.push(FieldError::required(&format!("{path}.apiVersion"), ""));
    }
    let field_path = format!("{path}.fieldPath");
    if selector.field_path.is_empty() {
        return errs.push(FieldError::required(&field_path, ""));
    }
    let internal = match convert_field_label(&selector.api_version, &selector.field_path) {
        Ok(internal) => internal,
        Err(e) => {
            let detail = format!("error converting fieldPath: {e}");
            return errs.push(FieldError::invalid_str(&field_path, &selector.field_path, &detail));
        }
    };
    match split_subscripted(&internal) {
        Some(("metadata.annotations", key)) => {
            let key = key.to_lowercase();
            errs.extend(names::is_qualified_name(&key).iter().map(|m| FieldError::invalid_str(path, &key, m)));
        }
        Some(("metadata.labels", key)) => {
            errs.extend(names::is_qualified_name(key).iter().map(|m| FieldError::invalid_str(path, key, m)));
        }
        Some((base, _)) => errs.push(FieldError::invalid_str(path, base, "does not support subscript")),
        None if !ENV_FIELD_PATHS.contains(&internal.as_str()) => {
            errs.push(FieldError::not_supported(&field_path, &internal, &ENV_FIELD_PATHS));
        }
        None => {}
    }
}

/// The resources an environment variable may select, sorted as the messages list them.
const ENV_RESOURCES: [&str; 6] =
    ["limits.cpu", "limits.ephemeral-storage", "limits.memory", "requests.cpu", "requests.ephemeral-storage", "requests.memory"];

/// `validateContainerResourceFieldSelector` (not for a volume: `containerName` may be empty).
fn validate_resource_ref(selector: &ResourceFieldSelector, path: &str, errs: &mut Vec<FieldError>) {
    let resource = selector.resource.as_str();
    let hugepages = resource.starts_with("requests.hugepages-") || resource.starts_with("limits.hugepages-");
    if resource.is_empty() {
        errs.push(FieldError::required(&format!("{path}.resource"), ""));
    } else if !ENV_RESOURCES.contains(&resource) && !hugepages {
        errs.push(FieldError::not_supported(&format!("{path}.resource"), resource, &ENV_RESOURCES));
    }
    let Some(divisor) = &selector.divisor else { return };
    let divisor_path = format!("{path}.divisor");
    match divisor.value() {
        Err(msg) => errs.push(FieldError::invalid_str(&divisor_path, &divisor.0, &msg)),
        // A zero divisor is an unset one.
        Ok(0.0) => {}
        Ok(_) => {
            let canonical = canonical_divisor(divisor);
            let (allowed, what): (&[&str], &str) = match resource {
                "limits.cpu" | "requests.cpu" => (&["1m", "1"], "1m and 1 are supported with the cpu resource"),
                "limits.memory" | "requests.memory" => (&MEMORY_DIVISORS, "1, 1k, 1M, 1G, 1T, 1P, 1E, 1Ki, 1Mi, 1Gi, 1Ti, 1Pi, 1Ei are supported with the memory resource"),
                "limits.ephemeral-storage" | "requests.ephemeral-storage" => (&MEMORY_DIVISORS, "1, 1k, 1M, 1G, 1T, 1P, 1E, 1Ki, 1Mi, 1Gi, 1Ti, 1Pi, 1Ei are supported with the local ephemeral storage resource"),
                _ if hugepages => (&MEMORY_DIVISORS, "1, 1k, 1M, 1G, 1T, 1P, 1E, 1Ki, 1Mi, 1Gi, 1Ti, 1Pi, 1Ei are supported with the hugepages resource"),
                _ => return,
            };
            if !canonical.is_some_and(|c| allowed.contains(&c)) {
                // The apiserver shows the resource name as the value.
                errs.push(FieldError::invalid_str(&divisor_path, resource, &format!("only divisor's values {what}")));
            }
        }
    }
}

const MEMORY_DIVISORS: [&str; 13] = ["1", "1k", "1M", "1G", "1T", "1P", "1E", "1Ki", "1Mi", "1Gi", "1Ti", "1Pi", "1Ei"];

/// The canonical form (`Quantity.String()`) of a divisor, when it is one of the units
/// the apiserver accepts: `1000m` is `1`, `1024Ki` is `1Mi`, but `1e3` stays `1e3`.
fn canonical_divisor(q: &Quantity) -> Option<&'static str> {
    let value = q.value().ok()?;
    let suffix = q.0.trim().trim_start_matches(|c: char| c.is_ascii_digit() || "+-.".contains(c));
    let units: &[(&str, f64)] = if suffix.ends_with('i') {
        &[("1", 1.0), ("1Ki", 1024.0), ("1Mi", 1048576.0), ("1Gi", 1073741824.0), ("1Ti", 1099511627776.0), ("1Pi", 1125899906842624.0), ("1Ei", 1152921504606846976.0)]
    } else if suffix.starts_with(['e', 'E']) {
        &[("1", 1.0)]
    } else {
        &[("1m", 1e-3), ("1", 1.0), ("1k", 1e3), ("1M", 1e6), ("1G", 1e9), ("1T", 1e12), ("1P", 1e15), ("1E", 1e18)]
    };
    units.iter().find(|(_, unit)| (value - unit).abs() <= unit * 1e-12).map(|(name, _)| *name)
}

/// `validateSecretKeySelector` / `validateConfigMapKeySelector`.
fn validate_key_ref(selector: &KeySelector, path: &str, errs: &mut Vec<FieldError>) {
    let name_path = format!("{path}.name");
    errs.extend(names::is_dns1123_subdomain_name(&selector.name, false).iter().map(|m| FieldError::invalid_str(&name_path, &selector.name, m)));
    let key_path = format!("{path}.key");
    if selector.key.is_empty() {
        errs.push(FieldError::required(&key_path, ""));
    } else {
        errs.extend(names::is_config_map_key(&selector.key).iter().map(|m| FieldError::invalid_str(&key_path, &selector.key, m)));
    }
}

/// `ValidateEnvFrom` for `envFrom` at `path` (`spec.containers[0].envFrom`), then
/// hooklet's refusal of required ConfigMaps.
pub fn validate_env_from(env_from: &[EnvFromSource], path: &str, errs: &mut Vec<FieldError>) {
    for (i, from) in env_from.iter().enumerate() {
        let index = format!("{path}[{i}]");
        if !from.prefix.is_empty() {
            errs.extend(names::is_relaxed_env_var_name(&from.prefix).iter().map(|m| FieldError::invalid_str(&format!("{index}.prefix"), &from.prefix, m)));
        }
        let refs = [("configMapRef", &from.config_map_ref), ("secretRef", &from.secret_ref)];
        for (field, source) in refs.iter().filter_map(|(f, s)| Some((f, s.as_ref()?))) {
            let name_path = format!("{index}.{field}.name");
            if source.name.is_empty() {
                errs.push(FieldError::required(&name_path, ""));
            } else {
                errs.extend(names::is_dns1123_subdomain_name(&source.name, true).iter().map(|m| FieldError::invalid_str(&name_path, &source.name, m)));
            }
        }
        // The apiserver reports these at the list's path, not the entry's.
        match refs.iter().filter(|(_, s)| s.is_some()).count() {
            0 => errs.push(FieldError::invalid_str(path, "", "must specify one of: `configMapRef` or `secretRef`")),
            1 => {}
            _ => errs.push(FieldError::invalid_str(path, "", "may not have more than one field specified at a time")),
        }
        if from.config_map_ref.as_ref().is_some_and(|c| !c.is_optional()) {
            errs.push(FieldError::forbidden(&format!("{index}.configMapRef"), NO_CONFIG_MAPS));
        }
    }
}
