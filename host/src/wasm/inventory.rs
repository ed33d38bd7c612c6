//! The plugin directory as `hooklet plugin list` shows it: every `NAME.wasm` (or
//! precompiled `NAME.cwasm`), its digest
//! and manifest, whether it is compiled, what is wrong with it, and what it has cost.

use std::path::PathBuf;

use super::manifest::PluginManifest;
use super::precompiled::{is_precompiled_path, plugin_digest};
use super::plugin::Stamps;
use super::registry::{PluginUsage, Registry};

/// One plugin of the plugin directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginStatus {
    /// `NAME` of `NAME.wasm` or `NAME.cwasm`.
    pub name: String,
    /// The plugin file: `NAME.cwasm` when there is one, else `NAME.wasm`.
    pub path: PathBuf,
    /// The SHA-256 of the component now (lower-case hex; for a `NAME.cwasm`, that of the
    /// component it was compiled from), if it could be read.
    pub sha256: Option<String>,
    /// The manifest, if there is a valid one.
    pub manifest: Option<PluginManifest>,
    /// Whether the file's code is compiled.
    pub compiled: Compiled,
    /// The digest of the version serving deliveries, when it is not the file's (a
    /// refused replacement).
    pub serving_other: Option<String>,
    /// What is wrong with the plugin's files, if anything.
    pub problem: Option<String>,
    /// What its deliveries have cost since hooklet started.
    pub usage: PluginUsage,
}

/// Whether a plugin file's code is compiled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compiled {
    /// Loaded: serving deliveries.
    Loaded,
    /// In the on-disk cache, not loaded yet.
    Cached,
    /// A precompiled `NAME.cwasm`, not loaded yet.
    Precompiled,
    /// Neither: its first delivery (or the watcher) compiles it.
    No,
}

impl std::fmt::Display for Compiled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Compiled::Loaded => "loaded",
            Compiled::Cached => "cached",
            Compiled::Precompiled => "precompiled",
            Compiled::No => "no",
        })
    }
}

/// Every plugin in the registry's directory, by name. Blocking (reads and hashes files).
pub(crate) fn list(registry: &Registry) -> Result<Vec<PluginStatus>, String> {
    let dir = &registry.loader.dir;
    let entries = std::fs::read_dir(dir).map_err(|err| {
        format!("cannot read the plugin directory {}: {err}; create it or pass --plugins DIR", dir.display())
    })?;
    let mut names: Vec<String> = entries
        .flatten()
        .filter_map(|e| {
            let file = e.file_name();
            let file = file.to_str()?;
            file.strip_suffix(".wasm").or_else(|| file.strip_suffix(".cwasm")).map(str::to_owned)
        })
        .filter(|name| !name.starts_with('.'))
        .collect();
    names.sort();
    names.dedup();
    let usage = registry.usage();
    Ok(names
        .into_iter()
        .map(|name| status(registry, &name, usage.get(&name).copied().unwrap_or_default()))
        .collect())
}

fn status(registry: &Registry, name: &str, usage: PluginUsage) -> PluginStatus {
    let (path, manifest_path) = registry.loader.paths(name);
    // Files unchanged since the serving version was loaded: it already holds the digest
    // and the checked manifest, so nothing is read or hashed again.
    if let Some(serving) = registry.serving(name) {
        if Stamps::read(name, &path, &manifest_path).is_ok_and(|now| now == serving.stamps) {
            return PluginStatus {
                name: name.to_owned(),
                path,
                sha256: Some(serving.info.sha256.clone()),
                manifest: serving.info.manifest.clone(),
                compiled: Compiled::Loaded,
                serving_other: None,
                problem: None,
                usage,
            };
        }
    }
    let mut problems = Vec::new();
    let manifest = PluginManifest::load(&manifest_path, &registry.loader.dir).unwrap_or_else(|reason| {
        problems.push(reason);
        None
    });
    let sha256 = match std::fs::read(&path) {
        Ok(bytes) => plugin_digest(&path, &bytes)
            .map_err(|reason| problems.push(format!("{} {reason}", path.display())))
            .ok(),
        Err(err) => {
            problems.push(format!("cannot read {}: {err}", path.display()));
            None
        }
    };
    if let (Some(manifest), Some(sha256)) = (&manifest, &sha256) {
        if let Err(reason) = manifest.check_pin(sha256, &path) {
            problems.push(reason);
        }
    }
    let serving = registry.serving(name).map(|s| s.info.sha256.clone());
    let compiled = match (&serving, &sha256) {
        (Some(serving), Some(sha)) if serving == sha => Compiled::Loaded,
        (_, Some(_)) if is_precompiled_path(&path) => Compiled::Precompiled,
        (_, Some(sha)) if registry.loader.cache.as_ref().is_some_and(|c| c.contains(sha)) => Compiled::Cached,
        _ => Compiled::No,
    };
    if let Some(problem) = registry.problem(name) {
        if !problems.contains(&problem) {
            problems.push(problem);
        }
    }
    PluginStatus {
        name: name.to_owned(),
        serving_other: serving.filter(|s| Some(s) != sha256.as_ref()),
        path,
        sha256,
        manifest,
        compiled,
        problem: (!problems.is_empty()).then(|| problems.join("; ")),
        usage,
    }
}
