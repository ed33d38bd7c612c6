//! The plugin manifest, `NAME.toml` beside `NAME.wasm` (optional).
//!
//! ```toml
//! description = "writes a marker file per hook delivery"
//! version = "1.0.0"
//!
//! [limits]
//! fuel = 50_000_000          # per delivery, unless the handler sets `wasm.fuel`
//!
//! [[capabilities.dirs]]
//! host = "markers"           # relative paths resolve against the plugin directory
//! guest = "/out"
//! access = "read-write"      # or "read-only"
//! ```
//!
//! Unknown keys are refused, so a typo never silently drops a limit or a grant. The
//! format grows by adding optional keys: `[limits]` (memory, ...) and `[capabilities]`
//! (env, http allow-list, ...) are tables so that new entries fit beside the current ones.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use serde::Deserialize;

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
    /// Resource limits for one delivery.
    #[serde(default)]
    pub limits: ManifestLimits,
    /// What the sandbox grants the plugin (nothing when absent).
    #[serde(default)]
    pub capabilities: PluginCapabilities,
}

/// `[limits]`: resource limits for one delivery.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManifestLimits {
    /// Fuel budget per delivery, unless the handler sets `wasm.fuel`.
    #[serde(default)]
    pub fuel: Option<u64>,
}

/// `[capabilities]`: what the sandbox grants the plugin.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PluginCapabilities {
    /// Host directories visible to the plugin (`[[capabilities.dirs]]`).
    #[serde(default)]
    pub dirs: Vec<DirGrant>,
}

/// One `[[capabilities.dirs]]` entry: a host directory the plugin sees at `guest`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DirGrant {
    /// The host directory. After [`PluginManifest::load`] this is absolute (a relative
    /// path in the file resolves against the plugin directory).
    pub host: PathBuf,
    /// The absolute path at which the plugin sees it, e.g. `/out`.
    pub guest: String,
    /// Whether the plugin may write.
    pub access: DirAccess,
}

/// How a granted directory may be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DirAccess {
    /// Read files and list directories.
    ReadOnly,
    /// Also create, write, rename and delete.
    ReadWrite,
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
                "{line}{}; fix or remove that key (supported: description, version, \
                 limits.fuel, [[capabilities.dirs]] with host, guest, access)",
                err.message().trim_end()
            )
        })
    }

    /// Checks the values and makes `host` directories absolute.
    fn resolve(&mut self, plugin_dir: &Path) -> Result<(), String> {
        if self.limits.fuel == Some(0) {
            return Err("`limits.fuel` is 0, so the plugin could not run at all; \
                        set it to a positive number of units or remove it"
                .to_owned());
        }
        let mut guests = HashSet::new();
        for (i, grant) in self.capabilities.dirs.iter_mut().enumerate() {
            let key = format!("capabilities.dirs[{i}]");
            if !grant.guest.starts_with('/') {
                return Err(format!(
                    "`{key}.guest` = {:?} is not an absolute path; write it like \"/out\"",
                    grant.guest
                ));
            }
            if !guests.insert(grant.guest.clone()) {
                return Err(format!(
                    "`{key}.guest` = {:?} is granted twice; give each directory its own guest path",
                    grant.guest
                ));
            }
            let host = plugin_dir.join(&grant.host);
            if !host.is_dir() {
                return Err(format!(
                    "`{key}.host` = {:?} ({}) is not an existing directory; create it or fix \
                     the path (relative paths resolve against the plugin directory)",
                    grant.host,
                    host.display()
                ));
            }
            grant.host = host;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_supported_key() {
        let manifest = PluginManifest::parse(
            r#"
            description = "d"
            version = "1.2.3"
            [limits]
            fuel = 5_000
            [[capabilities.dirs]]
            host = "out"
            guest = "/out"
            access = "read-write"
            "#,
        )
        .unwrap();
        assert_eq!(manifest.limits.fuel, Some(5000));
        assert_eq!(manifest.capabilities.dirs[0].access, DirAccess::ReadWrite);
    }

    #[test]
    fn unknown_keys_are_named() {
        let err = PluginManifest::parse("[limits]\nfuel = 1\nmemory = 2\n").unwrap_err();
        assert!(err.contains("line 3") && err.contains("`memory`"), "{err}");
        let err = PluginManifest::parse(
            "[[capabilities.dirs]]\nhost = \"a\"\nguest = \"/a\"\naccess = \"rw\"\n",
        )
        .unwrap_err();
        assert!(err.contains("read-write"), "{err}");
    }

    #[test]
    fn checks_values_and_resolves_relative_dirs() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("out")).unwrap();
        let grant = |guest: &str, host: &str| {
            format!("[[capabilities.dirs]]\nhost = \"{host}\"\nguest = \"{guest}\"\naccess = \"read-only\"\n")
        };
        let resolve = |text: String| PluginManifest::parse(&text).unwrap().resolve(dir.path());

        let mut ok = PluginManifest::parse(&grant("/out", "out")).unwrap();
        ok.resolve(dir.path()).unwrap();
        assert_eq!(ok.capabilities.dirs[0].host, dir.path().join("out"));

        let err = resolve(grant("/out", "missing")).unwrap_err();
        assert!(
            err.contains("capabilities.dirs[0].host") && err.contains("create it"),
            "{err}"
        );
        let err = resolve(grant("out", "out")).unwrap_err();
        assert!(err.contains("not an absolute path"), "{err}");
        let err = resolve(grant("/o", "out") + &grant("/o", "out")).unwrap_err();
        assert!(err.contains("capabilities.dirs[1].guest"), "{err}");
        let err = resolve("[limits]\nfuel = 0\n".into()).unwrap_err();
        assert!(err.contains("limits.fuel"), "{err}");
    }
}
