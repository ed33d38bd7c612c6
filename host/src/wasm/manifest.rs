//! The plugin manifest, `NAME.toml` beside `NAME.wasm` (optional).
//!
//! ```toml
//! description = "writes a marker file per hook delivery"
//! version = "1.0.0"
//! sha256 = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"  # optional pin
//! source = "registry.example:5000/plugins/marker:v1@sha256:…"  # written by `plugin pull`
//!
//! [limits]                   # each key optional; unset ones take the node defaults
//! fuel = 50_000_000          # per delivery, unless the handler sets `wasm.fuel`
//! memory = "64 MiB"          # linear memory cap (or a number of bytes)
//! timeout-seconds = 5        # when the handler sets no `timeoutSeconds`
//! instances = 50             # also: tables, memories, table-elements
//!
//! [config]                   # defaults under the handler's `wasm.config` (the pod wins)
//! greeting = "hello"
//!
//! [capabilities.env]         # environment variables, with explicit values
//! REGION = "eu-west-1"
//!
//! [[capabilities.dirs]]
//! host = "markers"           # relative paths resolve against the plugin directory
//! guest = "/out"
//! access = "read-write"      # or "read-only"
//!
//! [capabilities.http]        # outgoing wasi:http to these hosts only
//! allow = ["api.example.com:443", "127.0.0.1:8080"]
//! ```
//!
//! Unknown keys are refused, so a typo never silently drops a limit or a grant.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use serde::Deserialize;
use sha2::{Digest as _, Sha256};

use super::capabilities::PluginCapabilities;
use super::engine::WasmHost;
use super::limits::ManifestLimits;

/// A plugin's manifest, `NAME.toml`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PluginManifest {
    /// What the plugin does, for people.
    #[serde(default)]
    pub description: Option<String>,
    /// The plugin's own version, for people and reports.
    #[serde(default)]
    pub version: Option<String>,
    /// The SHA-256 digest (lower-case hex) `NAME.wasm` must have; a component with another
    /// digest is refused.
    #[serde(default)]
    pub sha256: Option<String>,
    /// Where the plugin came from: the reference `hooklet plugin pull` fetched, with its
    /// manifest digest (`REF@sha256:…`). For people and `plugin list`.
    #[serde(default)]
    pub source: Option<String>,
    /// Resource limits for one delivery.
    #[serde(default)]
    pub limits: ManifestLimits,
    /// Default `config` values; the handler's `wasm.config` keys win.
    #[serde(default)]
    pub config: BTreeMap<String, String>,
    /// What the sandbox grants the plugin (nothing when absent).
    #[serde(default)]
    pub capabilities: PluginCapabilities,
}

impl PluginManifest {
    /// Reads and checks the manifest at `path`; `Ok(None)` when there is no such file.
    ///
    /// Relative `host` directories are resolved against `plugin_dir` and must exist. Every
    /// error names the file, the key and the fix.
    pub fn load(path: &Path, plugin_dir: &Path) -> Result<Option<PluginManifest>, String> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(err) => {
                return Err(format!(
                    "cannot read the plugin manifest {}: {err}; make it readable or remove it",
                    path.display()
                ))
            }
        };
        let mut manifest = Self::parse(&text)
            .map_err(|err| format!("the plugin manifest {} is invalid: {err}", path.display()))?;
        manifest
            .resolve(plugin_dir)
            .map_err(|err| format!("the plugin manifest {} is invalid: {err}", path.display()))?;
        Ok(Some(manifest))
    }

    /// Parses manifest text; the error names the line and key.
    pub fn parse(text: &str) -> Result<PluginManifest, String> {
        toml::from_str(text).map_err(|err| {
            let line = err
                .span()
                .map(|span| format!("line {}: ", text[..span.start].matches('\n').count() + 1))
                .unwrap_or_default();
            format!(
                "{line}{}; fix or remove that key (supported: description, version, sha256, source, \
                 [limits] fuel, memory, timeout-seconds, instances, tables, memories, \
                 table-elements, [config], [capabilities.env], [[capabilities.dirs]] host, \
                 guest, access, [capabilities.http] allow, connect-timeout-ms, \
                 first-byte-timeout-ms)",
                err.message().trim_end()
            )
        })
    }

    /// Checks the values and makes `host` directories absolute.
    fn resolve(&mut self, plugin_dir: &Path) -> Result<(), String> {
        if let Some(pin) = &mut self.sha256 {
            *pin = pin.to_ascii_lowercase();
            if pin.len() != 64 || !pin.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(format!(
                    "`sha256` = {pin:?} is not a SHA-256 digest; write the 64 hex digits that \
                     `sha256sum NAME.wasm` prints, or remove the key"
                ));
            }
        }
        self.limits.check()?;
        self.capabilities.check(plugin_dir)
    }

    /// Checks the `sha256` pin (if any) against `digest`, the digest of `wasm`. The error
    /// names both digests and the fix.
    pub(crate) fn check_pin(&self, digest: &str, wasm: &Path) -> Result<(), String> {
        match &self.sha256 {
            Some(pin) if pin != digest => Err(format!(
                "{} has sha256 {digest}, but its manifest {} pins sha256 = \"{pin}\"; put the \
                 pinned build in place, or update the pin if this build is the one you want",
                wasm.display(),
                wasm.with_extension("toml").display(),
            )),
            _ => Ok(()),
        }
    }

    /// `config` with the manifest's defaults added for keys the handler did not set.
    pub(crate) fn merge_config(&self, config: &mut Vec<(String, String)>) {
        for (key, value) in &self.config {
            if !config.iter().any(|(k, _)| k == key) {
                config.push((key.clone(), value.clone()));
            }
        }
    }
}

/// The SHA-256 digest of `bytes` in lower-case hex, as `sha256sum` prints it.
pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

impl WasmHost {
    /// The default timeout of plugin `name`: `limits.timeout-seconds` in its manifest.
    /// The hook dispatcher applies it when the handler sets no `timeoutSeconds`.
    ///
    /// With the directory watcher it is the serving version's manifest; otherwise only the
    /// manifest file is read (no compiling). `None` when there is no manifest, it sets no
    /// timeout, or it cannot be used (the delivery then reports why).
    pub fn plugin_timeout(&self, name: &str) -> Option<Duration> {
        let dir = &self.config().plugin_dir;
        if name.is_empty() || name.contains(['/', '\\']) || name.starts_with('.') {
            return None;
        }
        if let Some(plugin) = self.inner.registry.watched_serving(name) {
            // Kept current by the watcher: no file read per hook.
            return plugin.info.manifest.as_ref()?.limits.timeout_seconds.map(Duration::from_secs);
        }
        let manifest = PluginManifest::load(&dir.join(format!("{name}.toml")), dir).ok()??;
        manifest.limits.timeout_seconds.map(Duration::from_secs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wasm::{DirAccess, WasmConfig};

    #[test]
    fn parses_every_supported_key() {
        let manifest = PluginManifest::parse(
            r#"
            description = "d"
            version = "1.2.3"
            sha256 = "AB"
            [limits]
            fuel = 5_000
            memory = "2 MiB"
            timeout-seconds = 7
            instances = 20
            tables = 30
            memories = 2
            table-elements = 4000
            [config]
            greeting = "hi"
            [capabilities.env]
            REGION = "eu"
            [[capabilities.dirs]]
            host = "out"
            guest = "/out"
            access = "read-write"
            [capabilities.http]
            allow = ["127.0.0.1:8080"]
            connect-timeout-ms = 100
            first-byte-timeout-ms = 200
            "#,
        )
        .unwrap();
        let limits = &manifest.limits;
        assert_eq!((limits.fuel, limits.memory), (Some(5000), Some(2 << 20)));
        assert_eq!(
            (limits.timeout_seconds, limits.instances),
            (Some(7), Some(20))
        );
        assert_eq!(
            (limits.tables, limits.memories, limits.table_elements),
            (Some(30), Some(2), Some(4000))
        );
        assert_eq!(manifest.config["greeting"], "hi");
        let caps = &manifest.capabilities;
        assert_eq!(caps.env["REGION"], "eu");
        assert_eq!(caps.dirs[0].access, DirAccess::ReadWrite);
        let http = caps.http.as_ref().unwrap();
        assert_eq!(http.allow, ["127.0.0.1:8080"]);
        assert_eq!(
            (http.connect_timeout_ms, http.first_byte_timeout_ms),
            (Some(100), Some(200))
        );
        assert_eq!(
            PluginManifest::parse("[limits]\nmemory = 4096\n")
                .unwrap()
                .limits
                .memory,
            Some(4096)
        );
    }

    #[test]
    fn unknown_keys_are_named() {
        let err = PluginManifest::parse("[limits]\nfuel = 1\nmemroy = 2\n").unwrap_err();
        assert!(err.contains("line 3") && err.contains("`memroy`"), "{err}");
        let err =
            PluginManifest::parse("[capabilities.http]\nallow = []\nports = [1]\n").unwrap_err();
        assert!(err.contains("`ports`"), "{err}");
        let err = PluginManifest::parse(
            "[[capabilities.dirs]]\nhost = \"a\"\nguest = \"/a\"\naccess = \"rw\"\n",
        )
        .unwrap_err();
        assert!(err.contains("read-write"), "{err}");
        let err = PluginManifest::parse("[limits]\nmemory = \"64 MB\"\n").unwrap_err();
        assert!(
            err.contains("line 2") && err.contains("limits.memory"),
            "{err}"
        );
    }

    #[test]
    fn checks_values() {
        let dir = tempfile::tempdir().unwrap();
        let resolve = |text: &str| PluginManifest::parse(text).unwrap().resolve(dir.path());
        let err = resolve("[limits]\nfuel = 0\n").unwrap_err();
        assert!(err.contains("limits.fuel"), "{err}");
        let err = resolve("[limits]\ntimeout-seconds = 0\n").unwrap_err();
        assert!(err.contains("limits.timeout-seconds"), "{err}");
        let err = resolve("sha256 = \"abc\"\n").unwrap_err();
        assert!(
            err.contains("`sha256`") && err.contains("sha256sum"),
            "{err}"
        );
        let err = resolve("[capabilities.env]\n\"A=B\" = \"x\"\n").unwrap_err();
        assert!(err.contains("capabilities.env"), "{err}");
        let err = resolve("[capabilities.http]\nallow = [\"http://x\"]\n").unwrap_err();
        assert!(err.contains("capabilities.http.allow"), "{err}");
        let err = resolve(
            "[[capabilities.dirs]]\nhost = \"no\"\nguest = \"/o\"\naccess = \"read-only\"\n",
        );
        assert!(err.unwrap_err().contains("capabilities.dirs[0].host"));
    }

    #[test]
    fn the_pin_names_both_digests() {
        let digest = sha256_hex(b"abc");
        assert_eq!(
            digest,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        let pinned = |pin: &str| PluginManifest {
            sha256: Some(pin.into()),
            ..PluginManifest::default()
        };
        pinned(&digest)
            .check_pin(&digest, Path::new("/p/x.wasm"))
            .unwrap();
        let other = sha256_hex(b"abd");
        let err = pinned(&other)
            .check_pin(&digest, Path::new("/p/x.wasm"))
            .unwrap_err();
        assert!(
            err.contains(&digest) && err.contains(&other) && err.contains("/p/x.toml"),
            "{err}"
        );
    }

    #[test]
    fn config_defaults_yield_to_the_handler() {
        let mut manifest = PluginManifest::default();
        manifest.config.insert("a".into(), "default".into());
        manifest.config.insert("b".into(), "default".into());
        let mut config = vec![("a".to_string(), "pod".to_string())];
        manifest.merge_config(&mut config);
        assert_eq!(
            config,
            [("a".into(), "pod".into()), ("b".into(), "default".into())]
        );
    }

    #[test]
    fn the_default_timeout_comes_from_the_manifest() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("slow.toml"),
            "[limits]\ntimeout-seconds = 3\n",
        )
        .unwrap();
        let host = WasmHost::new(WasmConfig {
            plugin_dir: dir.path().into(),
            ..WasmConfig::default()
        })
        .unwrap();
        assert_eq!(host.plugin_timeout("slow"), Some(Duration::from_secs(3)));
        assert_eq!(host.plugin_timeout("none"), None);
        assert_eq!(host.plugin_timeout("../slow"), None);
    }
}
