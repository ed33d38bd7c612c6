//! Tests of the WebAssembly host against the real example plugins, built from `plugins/`
//! by [`crate::testing::example_plugins_dir`].
//!
//! Each test copies the components it needs into its own temporary plugin directory, so
//! it can add manifests or replace files without affecting other tests.

mod capabilities;
mod delivery;
mod loading;
mod probe;
mod reload;

use std::path::Path;

use tempfile::TempDir;

use super::{
    PluginEvent, PluginPhase, ProbeEvent, ProbeKind, WasmConfig, WasmDelivery, WasmHost, WasmProbe,
};

/// A fresh plugin directory holding copies of the named example plugins.
fn plugin_dir(plugins: &[&str]) -> TempDir {
    let built = crate::testing::example_plugins_dir();
    let dir = tempfile::tempdir().expect("create a temporary plugin directory");
    for name in plugins {
        copy_plugin(&built, name, dir.path(), name);
    }
    dir
}

/// Copies example plugin `from` into `dir` as `to.wasm`.
fn copy_plugin(built: &Path, from: &str, dir: &Path, to: &str) {
    let source = built.join(format!("{from}.wasm"));
    std::fs::copy(&source, dir.join(format!("{to}.wasm")))
        .unwrap_or_else(|err| panic!("copy {}: {err}", source.display()));
}

/// Writes `<dir>/<name>.toml`.
fn write_manifest(dir: &Path, name: &str, text: &str) {
    std::fs::write(dir.join(format!("{name}.toml")), text).expect("write a manifest");
}

/// A host for `dir` with default settings, adjusted by `tune`.
fn host_with(dir: &Path, tune: impl FnOnce(&mut WasmConfig)) -> WasmHost {
    let mut config = WasmConfig {
        plugin_dir: dir.to_path_buf(),
        ..WasmConfig::default()
    };
    tune(&mut config);
    WasmHost::new(config).expect("create the wasm host")
}

/// A host for `dir` with default settings.
fn host(dir: &Path) -> WasmHost {
    host_with(dir, |_| {})
}

/// A PostStart delivery of `plugin` for container `app` of pod `default/web`.
fn delivery(plugin: &str, config: &[(&str, &str)]) -> WasmDelivery {
    WasmDelivery {
        plugin: plugin.to_owned(),
        event: PluginEvent {
            phase: PluginPhase::PostStart,
            pod_name: "web".into(),
            pod_namespace: "default".into(),
            pod_uid: "0b3c9a2e-uid".into(),
            container_name: "app".into(),
            container_id: "c-123".into(),
            image: "nginx:1.27".into(),
            labels: vec![("app".into(), "web".into())],
            annotations: vec![],
            pod_ip: Some("10.0.0.7".into()),
            delivery_id: "d-42".into(),
            attempt: 1,
            config: config
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        },
        fuel: None,
        deadline: None,
    }
}

/// A `kind` probe of `plugin` for the container of [`delivery`].
fn probe(plugin: &str, kind: ProbeKind, config: &[(&str, &str)]) -> WasmProbe {
    let PluginEvent { pod_name, pod_namespace, pod_uid, container_name, container_id, image,
        labels, annotations, pod_ip, config, .. } = delivery(plugin, config).event;
    let event = ProbeEvent { kind, pod_name, pod_namespace, pod_uid, container_name,
        container_id, image, labels, annotations, pod_ip, config };
    WasmProbe {
        plugin: plugin.to_owned(),
        event,
        fuel: None,
        deadline: None,
    }
}

/// The log messages of an outcome.
fn messages(outcome: &super::WasmOutcome) -> Vec<&str> {
    outcome
        .logs
        .iter()
        .map(|line| line.message.as_str())
        .collect()
}
