//! `make_environment` against a real secret store in a temporary directory.

use std::collections::BTreeMap;
use std::sync::Arc;

use base64::Engine as _;

use super::*;
use crate::spec::parse::parse_manifests;

fn pod(env: &str) -> Pod {
    let yaml = format!("apiVersion: v1\nkind: Pod\nmetadata: {{name: web, namespace: prod, labels: {{app: shop}}}}\nspec:\n  containers:\n  - name: app\n    image: busybox\n    resources: {{limits: {{memory: 32Mi}}}}\n{env}");
    parse_manifests(&yaml, "p.yaml").unwrap_or_else(|e| panic!("{e}")).remove(0).pod
}

fn sources(dir: &std::path::Path, data: &[(&str, &str)]) -> EnvSources {
    let store = SecretStore::open(&dir.join("secrets")).unwrap();
    let engine = base64::engine::general_purpose::STANDARD;
    let data: BTreeMap<String, String> = data.iter().map(|(k, v)| (k.to_string(), engine.encode(v))).collect();
    if !data.is_empty() {
        let secret = Secret { name: "db".into(), namespace: "prod".into(), uid: "u".into(), secret_type: "Opaque".into(), labels: BTreeMap::new(), data };
        store.put(secret).unwrap();
    }
    let node = NodeFacts { name: "edge-1".into(), host_ips: vec!["192.0.2.7".parse().unwrap()], allocatable: ResourceList { cpu_millis: 2000, memory: 1 << 30, ephemeral_storage: 1 << 34, pods: 110 } };
    EnvSources { node: Arc::new(node), secrets: Some(store) }
}

fn resolve(p: &Pod, s: &EnvSources) -> Result<Vec<(String, String)>, String> {
    make_environment(p, &p.spec.containers[0], Some("10.88.0.5".parse().unwrap()), s)
}

#[test]
fn every_source_in_order_with_env_winning_over_env_from() {
    let dir = tempfile::tempdir().unwrap();
    let s = sources(dir.path(), &[("user", "admin"), ("password", "hunter2")]);
    let p = pod("    envFrom:\n    - {secretRef: {name: db}, prefix: DB_}\n    env:\n    - {name: DB_USER, value: root}\n    - {name: POD, valueFrom: {fieldRef: {fieldPath: metadata.name}}}\n    - {name: NS, valueFrom: {fieldRef: {fieldPath: metadata.namespace}}}\n    - {name: APP, valueFrom: {fieldRef: {fieldPath: \"metadata.labels['app']\"}}}\n    - {name: NODE, valueFrom: {fieldRef: {fieldPath: spec.nodeName}}}\n    - {name: SA, valueFrom: {fieldRef: {fieldPath: spec.serviceAccountName}}}\n    - {name: HOST, valueFrom: {fieldRef: {fieldPath: status.hostIP}}}\n    - {name: IP, valueFrom: {fieldRef: {fieldPath: status.podIP}}}\n    - {name: MEM, valueFrom: {resourceFieldRef: {resource: limits.memory, divisor: 1Mi}}}\n    - {name: CPU, valueFrom: {resourceFieldRef: {resource: limits.cpu}}}\n    - {name: PW, valueFrom: {secretKeyRef: {name: db, key: password}}}\n    - {name: URL, value: \"$(DB_USER):$(PW)@$(IP) $(LATER) $$(POD)\"}\n    - {name: LATER, value: x}\n");
    let env = resolve(&p, &s).unwrap();
    let got: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    assert_eq!(
        got,
        [
            ("DB_password", "hunter2"),
            ("DB_user", "admin"),
            ("DB_USER", "root"),
            ("POD", "web"),
            ("NS", "prod"),
            ("APP", "shop"),
            ("NODE", "edge-1"),
            ("SA", "default"),
            ("HOST", "192.0.2.7"),
            ("IP", "10.88.0.5"),
            ("MEM", "32"),
            ("CPU", "2"),
            ("PW", "hunter2"),
            ("URL", "root:hunter2@10.88.0.5 $(LATER) $(POD)"),
            ("LATER", "x"),
        ]
    );
}

#[test]
fn missing_secrets_and_keys_fail_unless_optional() {
    let dir = tempfile::tempdir().unwrap();
    let none = sources(dir.path(), &[]);
    let missing = pod("    env:\n    - {name: PW, valueFrom: {secretKeyRef: {name: db, key: password}}}\n");
    assert_eq!(resolve(&missing, &none).unwrap_err(), "secret \"db\" not found");
    let from = pod("    envFrom:\n    - secretRef: {name: db}\n");
    assert_eq!(resolve(&from, &none).unwrap_err(), "secret \"db\" not found");
    let optional = pod("    envFrom:\n    - secretRef: {name: db, optional: true}\n    env:\n    - {name: PW, valueFrom: {secretKeyRef: {name: db, key: password, optional: true}}}\n    - {name: C, valueFrom: {configMapKeyRef: {name: cm, key: k, optional: true}}}\n");
    assert_eq!(resolve(&optional, &none).unwrap(), Vec::<(String, String)>::new());

    let dir = tempfile::tempdir().unwrap();
    let some = sources(dir.path(), &[("user", "admin")]);
    assert_eq!(resolve(&missing, &some).unwrap_err(), "couldn't find key password in Secret prod/db");
    let optional_key = pod("    env:\n    - {name: PW, valueFrom: {secretKeyRef: {name: db, key: password, optional: true}}}\n");
    assert_eq!(resolve(&optional_key, &some).unwrap(), Vec::<(String, String)>::new());
}

#[test]
fn host_ip_without_an_address_is_the_kubelet_error() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = sources(dir.path(), &[]);
    s.node = Arc::new(NodeFacts { host_ips: vec![], ..(*s.node).clone() });
    let p = pod("    env:\n    - {name: H, valueFrom: {fieldRef: {fieldPath: status.hostIPs}}}\n");
    assert_eq!(resolve(&p, &s).unwrap_err(), "host IP unknown; known addresses: []");
}
