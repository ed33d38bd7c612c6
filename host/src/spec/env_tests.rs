//! `env` / `envFrom` validation: the apiserver's paths and messages, one case per rule.

use serde_json::{json, Value};

use super::parse::apply_defaults;
use super::validate::{validate_pod, ValidationOptions};
use super::Pod;

/// The validation messages of a pod whose container `app` has `env` and `envFrom`.
fn messages(env: Value, env_from: Value) -> Vec<String> {
    let doc = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web"},
        "spec": {"containers": [{"name": "app", "image": "busybox", "env": env, "envFrom": env_from}]}});
    let mut pod: Pod = serde_json::from_value(doc).expect("test pod decodes");
    apply_defaults(&mut pod);
    match validate_pod(&pod, &ValidationOptions::default()) {
        Ok(()) => Vec::new(),
        Err(errs) => errs.0.iter().map(ToString::to_string).collect(),
    }
}

fn env(vars: Value) -> Vec<String> {
    messages(vars, json!([]))
}

const P: &str = "spec.containers[0].env";

#[test]
fn every_supported_source_is_valid() {
    let vars = json!([
        {"name": "A", "value": "x"},
        {"name": "B", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        {"name": "C", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['app.kubernetes.io/name']"}}},
        {"name": "D", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "status.podIPs"}}},
        {"name": "E", "valueFrom": {"resourceFieldRef": {"resource": "limits.memory", "divisor": "1Mi"}}},
        {"name": "F", "valueFrom": {"resourceFieldRef": {"resource": "requests.cpu", "divisor": "1000m"}}},
        {"name": "G", "valueFrom": {"secretKeyRef": {"name": "db", "key": "password"}}},
        {"name": "H", "valueFrom": {"configMapKeyRef": {"name": "cm", "key": "k", "optional": true}}},
        {"name": "I", "valueFrom": {"fieldRef": {"fieldPath": "spec.host"}}},
    ]);
    assert_eq!(env(vars), Vec::<String>::new());
    let from = json!([{"secretRef": {"name": "db"}, "prefix": "DB_"}, {"configMapRef": {"name": "x-", "optional": true}}]);
    assert_eq!(messages(json!([]), from), Vec::<String>::new());
}

#[test]
fn sources_are_exactly_one_and_not_with_a_value() {
    let two = json!({"fieldRef": {"fieldPath": "metadata.name"}, "secretKeyRef": {"name": "s", "key": "k"}});
    assert_eq!(env(json!([{"name": "A", "valueFrom": two}])), [format!("{P}[0].valueFrom: Invalid value: \"\": may not have more than one field specified at a time")]);
    assert_eq!(
        env(json!([{"name": "A", "valueFrom": {}}])),
        [format!("{P}[0].valueFrom: Invalid value: \"\": must specify one of: `fieldRef`, `resourceFieldRef`, `configMapKeyRef` or `secretKeyRef`")]
    );
    let with_value = json!([{"name": "A", "value": "x", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}]);
    assert_eq!(env(with_value), [format!("{P}[0].valueFrom: Invalid value: \"\": may not be specified when `value` is not empty")]);
}

#[test]
fn field_paths_are_checked_as_the_apiserver_does() {
    let field = |path: &str, version: &str| env(json!([{"name": "A", "valueFrom": {"fieldRef": {"apiVersion": version, "fieldPath": path}}}]));
    assert_eq!(
        field("status.phase", "v1"),
        [format!("{P}[0].valueFrom.fieldRef.fieldPath: Unsupported value: \"status.phase\": supported values: \"metadata.name\", \"metadata.namespace\", \"metadata.uid\", \"spec.nodeName\", \"spec.serviceAccountName\", \"status.hostIP\", \"status.hostIPs\", \"status.podIP\", \"status.podIPs\"")]
    );
    assert_eq!(field("spec.nope", "v1"), [format!("{P}[0].valueFrom.fieldRef.fieldPath: Invalid value: \"spec.nope\": error converting fieldPath: field label not supported: spec.nope")]);
    assert_eq!(field("metadata.name", "v2"), [format!("{P}[0].valueFrom.fieldRef.fieldPath: Invalid value: \"metadata.name\": error converting fieldPath: unsupported pod version: v2")]);
    assert_eq!(field("", "v1"), [format!("{P}[0].valueFrom.fieldRef.fieldPath: Required value")]);
    let bad_key = field("metadata.labels['-x']", "v1");
    assert_eq!(bad_key.len(), 1, "{bad_key:?}");
    assert!(bad_key[0].starts_with(&format!("{P}[0].valueFrom.fieldRef: Invalid value: \"-x\": name part must consist of alphanumeric")), "{bad_key:?}");
    // Annotation keys are checked lowercased.
    assert_eq!(field("metadata.annotations['Team']", "v1"), Vec::<String>::new());
}

#[test]
fn resources_and_divisors_are_checked() {
    let resource = |r: &str, divisor: Value| env(json!([{"name": "A", "valueFrom": {"resourceFieldRef": {"resource": r, "divisor": divisor}}}]));
    assert_eq!(
        resource("limits.gpu", Value::Null),
        [format!("{P}[0].valueFrom.resourceFieldRef.resource: Unsupported value: \"limits.gpu\": supported values: \"limits.cpu\", \"limits.ephemeral-storage\", \"limits.memory\", \"requests.cpu\", \"requests.ephemeral-storage\", \"requests.memory\"")]
    );
    assert_eq!(resource("", Value::Null), [format!("{P}[0].valueFrom.resourceFieldRef.resource: Required value")]);
    assert_eq!(
        resource("limits.cpu", json!("1k")),
        [format!("{P}[0].valueFrom.resourceFieldRef.divisor: Invalid value: \"limits.cpu\": only divisor's values 1m and 1 are supported with the cpu resource")]
    );
    assert_eq!(resource("limits.memory", json!("1e3")).len(), 1, "1e3 is not canonical 1k");
    assert_eq!(resource("limits.memory", json!("1024Ki")), Vec::<String>::new());
    assert_eq!(resource("limits.ephemeral-storage", json!("1G")), Vec::<String>::new());
    assert_eq!(resource("requests.hugepages-2Mi", json!("1Mi")), Vec::<String>::new());
}

#[test]
fn key_refs_need_a_name_and_a_key() {
    let got = env(json!([{"name": "A", "valueFrom": {"secretKeyRef": {"name": "Bad", "key": ""}}}]));
    assert_eq!(got.len(), 2, "{got:?}");
    assert!(got[0].starts_with(&format!("{P}[0].valueFrom.secretKeyRef.name: Invalid value: \"Bad\": a lowercase RFC 1123 subdomain")), "{got:?}");
    assert_eq!(got[1], format!("{P}[0].valueFrom.secretKeyRef.key: Required value"));
    let got = env(json!([{"name": "A", "valueFrom": {"secretKeyRef": {"name": "s", "key": "a/b"}}}]));
    assert!(got[0].starts_with(&format!("{P}[0].valueFrom.secretKeyRef.key: Invalid value: \"a/b\": a valid config key")), "{got:?}");
}

#[test]
fn required_config_maps_are_refused_with_the_reason() {
    let got = env(json!([{"name": "A", "valueFrom": {"configMapKeyRef": {"name": "cm", "key": "k"}}}]));
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(got[0].starts_with(&format!("{P}[0].valueFrom.configMapKeyRef: Forbidden: hooklet has no ConfigMaps")), "{got:?}");
    let got = messages(json!([]), json!([{"configMapRef": {"name": "cm"}}]));
    assert!(got[0].starts_with("spec.containers[0].envFrom[0].configMapRef: Forbidden: hooklet has no ConfigMaps"), "{got:?}");
}

#[test]
fn env_from_needs_one_source_reported_at_the_list() {
    let from = |v: Value| messages(json!([]), v);
    assert_eq!(from(json!([{"prefix": "X_"}])), ["spec.containers[0].envFrom: Invalid value: \"\": must specify one of: `configMapRef` or `secretRef`"]);
    let both = json!([{"secretRef": {"name": "a"}, "configMapRef": {"name": "b", "optional": true}}]);
    assert_eq!(from(both), ["spec.containers[0].envFrom: Invalid value: \"\": may not have more than one field specified at a time"]);
    assert_eq!(from(json!([{"secretRef": {}}])), ["spec.containers[0].envFrom[0].secretRef.name: Required value"]);
    let bad_prefix = from(json!([{"secretRef": {"name": "a"}, "prefix": "A=B"}]));
    assert!(bad_prefix[0].starts_with("spec.containers[0].envFrom[0].prefix: Invalid value: \"A=B\""), "{bad_prefix:?}");
}

#[test]
fn field_ref_api_version_defaults_to_v1_and_optional_config_maps_warn() {
    let yaml = "apiVersion: v1\nkind: Pod\nmetadata: {name: web}\nspec:\n  containers:\n  - name: app\n    image: busybox\n    env:\n    - {name: N, valueFrom: {fieldRef: {fieldPath: metadata.name}}}\n    - {name: C, valueFrom: {configMapKeyRef: {name: cm, key: k, optional: true}}}\n";
    let parsed = super::parse::parse_manifests(yaml, "p.yaml").unwrap().remove(0);
    let field_ref = parsed.pod.spec.containers[0].env[0].value_from.as_ref().unwrap().field_ref.as_ref().unwrap();
    assert_eq!(field_ref.api_version, "v1");
    assert_eq!(parsed.warnings.len(), 1, "{:?}", parsed.warnings);
    assert!(parsed.warnings[0].starts_with("spec.containers[0].env[1].valueFrom.configMapKeyRef: hooklet has no ConfigMaps"), "{:?}", parsed.warnings);
}
