//! The downward API's field paths (`env[].valueFrom.fieldRef.fieldPath`), as
//! `pkg/apis/core/pods.ConvertDownwardAPIFieldLabel` and `pkg/fieldpath` read them:
//! the conversion of a `v1` label, subscripts (`metadata.labels['app']`) and the
//! values that come from the pod object itself.

use super::model::Pod;
use super::names;

/// The field paths an environment variable may select (the apiserver's
/// `validEnvDownwardAPIFieldPathExpressions`), sorted as its messages list them.
pub const ENV_FIELD_PATHS: [&str; 9] = [
    "metadata.name",
    "metadata.namespace",
    "metadata.uid",
    "spec.nodeName",
    "spec.serviceAccountName",
    "status.hostIP",
    "status.hostIPs",
    "status.podIP",
    "status.podIPs",
];

/// `SplitMaybeSubscriptedPath`: `metadata.labels['app']` → (`metadata.labels`, `app`).
pub fn split_subscripted(path: &str) -> Option<(&str, &str)> {
    let inner = path.strip_suffix("']")?;
    let (base, key) = inner.split_once("['")?;
    (!base.is_empty()).then_some((base, key))
}

/// `ConvertDownwardAPIFieldLabel`: the internal field path of `label` in a pod of
/// `version`, or the apiserver's error text.
pub fn convert_field_label(version: &str, label: &str) -> Result<String, String> {
    if version != "v1" {
        return Err(format!("unsupported pod version: {version}"));
    }
    if let Some((base, _)) = split_subscripted(label) {
        return match base {
            "metadata.annotations" | "metadata.labels" => Ok(label.to_string()),
            _ => Err(format!("field label does not support subscript: {label}")),
        };
    }
    match label {
        "metadata.annotations" | "metadata.labels" | "metadata.name" | "metadata.namespace" | "metadata.uid"
        | "spec.nodeName" | "spec.restartPolicy" | "spec.serviceAccountName" | "spec.schedulerName"
        | "status.phase" | "status.hostIP" | "status.hostIPs" | "status.podIP" | "status.podIPs" => Ok(label.to_string()),
        // Old v1 clients send `spec.host`.
        "spec.host" => Ok("spec.nodeName".to_string()),
        _ => Err(format!("field label not supported: {label}")),
    }
}

/// `ExtractFieldPathAsString` for the fields of the object's metadata: name,
/// namespace, uid, one label or annotation (`''` when absent).
pub fn extract_metadata(pod: &Pod, path: &str) -> Result<String, String> {
    let meta = &pod.metadata;
    if let Some((base, key)) = split_subscripted(path) {
        let (map, checked) = match base {
            "metadata.annotations" => (&meta.annotations, key.to_lowercase()),
            "metadata.labels" => (&meta.labels, key.to_string()),
            _ => return Err(format!("fieldPath {} does not support subscript", names::go_quote(path))),
        };
        let errs = names::is_qualified_name(&checked);
        if !errs.is_empty() {
            return Err(format!("invalid key subscript in {path}: {}", errs.join(";")));
        }
        return Ok(map.get(key).cloned().unwrap_or_default());
    }
    match path {
        "metadata.name" => Ok(meta.name.clone()),
        "metadata.namespace" => Ok(pod.namespace().to_string()),
        "metadata.uid" => Ok(pod.uid().to_string()),
        _ => Err(format!("unsupported fieldPath: {path}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_convert_and_subscripts_split() {
        assert_eq!(convert_field_label("v1", "spec.host").as_deref(), Ok("spec.nodeName"));
        assert_eq!(convert_field_label("v2", "metadata.name").unwrap_err(), "unsupported pod version: v2");
        assert_eq!(convert_field_label("v1", "spec.containers").unwrap_err(), "field label not supported: spec.containers");
        assert_eq!(convert_field_label("v1", "status['x']").unwrap_err(), "field label does not support subscript: status['x']");
        assert_eq!(split_subscripted("metadata.labels['a/b']"), Some(("metadata.labels", "a/b")));
        assert_eq!(split_subscripted("['a']"), None);
    }

    #[test]
    fn metadata_values_come_from_the_pod() {
        let mut pod: Pod = serde_json::from_value(serde_json::json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "web", "uid": "u-1", "labels": {"app": "x"}, "annotations": {"Note": "n"}}})).unwrap();
        pod.metadata.namespace = Some("prod".into());
        assert_eq!(extract_metadata(&pod, "metadata.name").as_deref(), Ok("web"));
        assert_eq!(extract_metadata(&pod, "metadata.namespace").as_deref(), Ok("prod"));
        assert_eq!(extract_metadata(&pod, "metadata.labels['app']").as_deref(), Ok("x"));
        assert_eq!(extract_metadata(&pod, "metadata.labels['none']").as_deref(), Ok(""));
        assert_eq!(extract_metadata(&pod, "metadata.annotations['Note']").as_deref(), Ok("n"));
    }
}
