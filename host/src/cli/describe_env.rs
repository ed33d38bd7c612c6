//! A container's `Environment Variables from:` and `Environment:` sections, as
//! `kubectl describe pod` prints them: literal values, fields of the pod, resources,
//! and where a Secret's key goes (never its value).

use std::fmt::Write;

use crate::envvars::resource::resource_value;
use crate::nodestatus::ResourceList;
use crate::spec::fieldpath::{convert_field_label, extract_metadata};
use crate::spec::{Container, EnvVar, Pod, ResourceFieldSelector};

/// Appends the sections of `spec` (a container of `pod`) to `out`.
pub fn write_env(out: &mut String, pod: &Pod, spec: &Container) {
    if !spec.env_from.is_empty() {
        let _ = writeln!(out, "    Environment Variables from:");
        let rows: Vec<(String, String)> = spec.env_from.iter().map(|from| {
            let (kind, source) = match (&from.secret_ref, &from.config_map_ref) {
                (Some(s), _) => ("Secret", s),
                (None, Some(c)) => ("ConfigMap", c),
                (None, None) => return (String::new(), String::new()),
            };
            let kind = if from.prefix.is_empty() { kind.to_string() } else { format!("{kind} with prefix '{}'", from.prefix) };
            (source.name.clone(), format!("{kind}  Optional: {}", source.is_optional()))
        }).collect();
        write_rows(out, &rows, "");
    }
    if spec.env.is_empty() {
        let _ = writeln!(out, "    Environment:  <none>");
        return;
    }
    let _ = writeln!(out, "    Environment:");
    let rows: Vec<(String, String)> = spec.env.iter().map(|var| (var.name.clone(), describe_var(pod, spec, var))).collect();
    write_rows(out, &rows, ":");
}

/// Aligned `NAME<sep>  value` lines; a multi-line value continues in the value column.
fn write_rows(out: &mut String, rows: &[(String, String)], sep: &str) {
    let width = rows.iter().map(|(n, _)| n.len() + sep.len()).max().unwrap_or(0) + 2;
    for (name, value) in rows {
        for (i, line) in value.split('\n').enumerate() {
            let label = if i == 0 { format!("{name}{sep}") } else { String::new() };
            let _ = writeln!(out, "      {label:<width$}{line}");
        }
    }
}

/// One variable's value column.
fn describe_var(pod: &Pod, spec: &Container, var: &EnvVar) -> String {
    let Some(source) = &var.value_from else { return var.value.clone() };
    if let Some(field) = &source.field_ref {
        // kubectl resolves the pod's own metadata only.
        let value = convert_field_label(&field.api_version, &field.field_path)
            .and_then(|path| extract_metadata(pod, &path))
            .unwrap_or_default();
        format!("{value} ({}:{})", field.api_version, field.field_path)
    } else if let Some(selector) = &source.resource_field_ref {
        // kubectl reads the container as written: no node fallback, no containerName.
        let own = ResourceFieldSelector { container_name: String::new(), ..selector.clone() };
        let mut value = resource_value(&own, pod, spec, &ResourceList::default()).unwrap_or_default();
        if value == "0" && matches!(selector.resource.as_str(), "limits.cpu" | "limits.memory") {
            value = "node allocatable".to_string();
        }
        format!("{value} ({})", selector.resource)
    } else if let Some(key) = &source.secret_key_ref {
        format!("<set to the key '{}' in secret '{}'>  Optional: {}", key.key, key.name, key.is_optional())
    } else if let Some(key) = &source.config_map_key_ref {
        format!("<set to the key '{}' of config map '{}'>  Optional: {}", key.key, key.name, key.is_optional())
    } else {
        String::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_show_where_values_come_from_never_secret_values() {
        let yaml = "apiVersion: v1\nkind: Pod\nmetadata: {name: web}\nspec:\n  containers:\n  - name: app\n    image: busybox\n    envFrom:\n    - {secretRef: {name: db}, prefix: DB_}\n    env:\n    - {name: GREETING, value: \"hello\\nworld\"}\n    - {name: POD, valueFrom: {fieldRef: {fieldPath: metadata.name}}}\n    - {name: IP, valueFrom: {fieldRef: {fieldPath: status.podIP}}}\n    - {name: MEM, valueFrom: {resourceFieldRef: {resource: limits.memory}}}\n    - {name: PASSWORD, valueFrom: {secretKeyRef: {name: db, key: password}}}\n";
        let pod = crate::spec::parse::parse_manifests(yaml, "p.yaml").unwrap().remove(0).pod;
        let mut out = String::new();
        write_env(&mut out, &pod, &pod.spec.containers[0]);
        let expected = "    Environment Variables from:\n      db  Secret with prefix 'DB_'  Optional: false\n    Environment:\n      GREETING:  hello\n                 world\n      POD:       web (v1:metadata.name)\n      IP:         (v1:status.podIP)\n      MEM:       node allocatable (limits.memory)\n      PASSWORD:  <set to the key 'password' in secret 'db'>  Optional: false\n";
        assert_eq!(out, expected);
    }
}
