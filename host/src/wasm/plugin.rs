//! Finding, checking and compiling plugins, with a cache of pre-instantiated components.
//!
//! A plugin `NAME` is `<plugin_dir>/NAME.wasm` plus an optional `<plugin_dir>/NAME.toml`.
//! Each component is compiled once and kept as a [`HookPre`] (imports already resolved, so
//! instantiating per delivery is cheap). The cache is keyed by path and the file's size,
//! modification time and inode, so a replaced file is recompiled on its next delivery; the
//! manifest is re-read when it changes.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::SystemTime;

use wasmtime::component::{Component, Linker};
use wasmtime::Engine;

use super::bindings::{HookPre, HANDLER_EXPORT, WORLD};
use super::failure::WasmFailure;
use super::manifest::{sha256_hex, PluginManifest};
use super::state::HostState;

/// What hooklet knows about a loaded plugin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginInfo {
    /// The plugin's name (`NAME` in `NAME.wasm`).
    pub name: String,
    /// The component file.
    pub path: PathBuf,
    /// The manifest, when `NAME.toml` exists (directories resolved to absolute paths).
    pub manifest: Option<PluginManifest>,
    /// The SHA-256 digest of the component file as loaded (lower-case hex).
    pub sha256: String,
}

/// A plugin ready to be delivered to.
pub(crate) struct LoadedPlugin {
    pub info: PluginInfo,
    pub pre: HookPre<HostState>,
    wasm_stamp: FileStamp,
    manifest_stamp: Option<FileStamp>,
}

/// Identifies one version of a file: a replaced or rewritten file gets a new stamp.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FileStamp {
    len: u64,
    modified: Option<SystemTime>,
    inode: u64,
}

impl FileStamp {
    fn of(meta: &std::fs::Metadata) -> FileStamp {
        #[cfg(unix)]
        let inode = std::os::unix::fs::MetadataExt::ino(meta);
        #[cfg(not(unix))]
        let inode = 0;
        FileStamp {
            len: meta.len(),
            modified: meta.modified().ok(),
            inode,
        }
    }
}

/// Finds, checks and compiles plugins, caching one compiled version per file.
#[derive(Clone)]
pub(crate) struct Registry {
    dir: PathBuf,
    engine: Engine,
    linker: Arc<Linker<HostState>>,
    cache: Arc<Mutex<HashMap<PathBuf, Arc<LoadedPlugin>>>>,
}

impl Registry {
    /// A registry for the plugins in `dir`, linked against `linker`.
    pub fn new(dir: PathBuf, engine: Engine, linker: Linker<HostState>) -> Self {
        Registry {
            dir,
            engine,
            linker: Arc::new(linker),
            cache: Arc::default(),
        }
    }

    /// The current version of plugin `name`: from the cache when the files are unchanged,
    /// else compiled (on a blocking thread) and cached.
    pub async fn load(&self, name: &str) -> Result<Arc<LoadedPlugin>, WasmFailure> {
        let invalid = |reason: String| WasmFailure::InvalidPlugin {
            plugin: name.to_owned(),
            reason,
        };
        check_name(name).map_err(invalid)?;
        let wasm_path = self.dir.join(format!("{name}.wasm"));
        let manifest_path = self.dir.join(format!("{name}.toml"));
        let wasm_stamp = match std::fs::metadata(&wasm_path) {
            Ok(meta) if meta.is_file() => FileStamp::of(&meta),
            Ok(_) => {
                return Err(invalid(format!(
                    "{} is not a regular file",
                    wasm_path.display()
                )))
            }
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                return Err(WasmFailure::PluginNotFound {
                    plugin: name.to_owned(),
                    path: wasm_path,
                })
            }
            Err(err) => {
                return Err(invalid(format!(
                    "cannot read {}: {err}",
                    wasm_path.display()
                )))
            }
        };
        let manifest_stamp = std::fs::metadata(&manifest_path)
            .ok()
            .map(|meta| FileStamp::of(&meta));

        let cached = self
            .cache
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&wasm_path)
            .cloned();
        if let Some(hit) = &cached {
            if hit.wasm_stamp == wasm_stamp && hit.manifest_stamp == manifest_stamp {
                return Ok(hit.clone());
            }
        }
        let reusable = cached
            .filter(|hit| hit.wasm_stamp == wasm_stamp)
            .map(|hit| (hit.pre.clone(), hit.info.sha256.clone()));

        let this = self.clone();
        let name = name.to_owned();
        // Compiling can take a while for big components: keep it off the async workers.
        // The result is cached even if the delivery that asked for it is gone by then.
        tokio::task::spawn_blocking(move || {
            let manifest = PluginManifest::load(&manifest_path, &this.dir).map_err(|reason| {
                WasmFailure::InvalidPlugin {
                    plugin: name.clone(),
                    reason,
                }
            })?;
            let (pre, sha256) = match reusable {
                Some((pre, sha256)) => {
                    check_pin(&name, manifest.as_ref(), &sha256, &wasm_path)?;
                    (pre, sha256)
                }
                None => this.compile(&name, &wasm_path, manifest.as_ref())?,
            };
            let loaded = Arc::new(LoadedPlugin {
                info: PluginInfo {
                    name,
                    path: wasm_path.clone(),
                    manifest,
                    sha256,
                },
                pre,
                wasm_stamp,
                manifest_stamp,
            });
            this.cache
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .insert(wasm_path, loaded.clone());
            Ok(loaded)
        })
        .await
        .unwrap_or_else(|err| {
            Err(WasmFailure::Host(format!(
                "loading the plugin panicked: {err}"
            )))
        })
    }

    /// Reads, checks (against the manifest's `sha256` pin first) and compiles one component
    /// and resolves its imports; returns it with its digest.
    fn compile(
        &self,
        name: &str,
        path: &Path,
        manifest: Option<&PluginManifest>,
    ) -> Result<(HookPre<HostState>, String), WasmFailure> {
        let invalid = |reason: String| WasmFailure::InvalidPlugin {
            plugin: name.to_owned(),
            reason,
        };
        let started = std::time::Instant::now();
        let bytes = std::fs::read(path).map_err(|err| match err.kind() {
            std::io::ErrorKind::NotFound => WasmFailure::PluginNotFound {
                plugin: name.to_owned(),
                path: path.to_owned(),
            },
            _ => invalid(format!("cannot read {}: {err}", path.display())),
        })?;
        let sha256 = sha256_hex(&bytes);
        check_pin(name, manifest, &sha256, path)?;
        check_header(&bytes).map_err(|reason| invalid(format!("{} {reason}", path.display())))?;
        let component = Component::new(&self.engine, &bytes).map_err(|err| {
            invalid(format!(
                "{} is not a valid WebAssembly component ({err:#}); rebuild it for world {WORLD}",
                path.display()
            ))
        })?;
        let instance_pre = self.linker.instantiate_pre(&component).map_err(|err| {
            invalid(format!(
                "{} imports something hooklet does not provide ({err:#}); plugins may import only \
                 `hooklet:hook/log@0.1.0` and WASI 0.2 (world {WORLD})",
                path.display()
            ))
        })?;
        if component.get_export_index(None, HANDLER_EXPORT).is_none() {
            return Err(invalid(format!(
                "{} does not export `{HANDLER_EXPORT}`; build it for world {WORLD} (in Rust: \
                 implement `hooklet_guest::Hook` and export it with `hooklet_guest::export_hook!`)",
                path.display()
            )));
        }
        let pre = HookPre::new(instance_pre).map_err(|err| {
            invalid(format!(
                "the `{HANDLER_EXPORT}` export of {} does not match world {WORLD} ({err:#}); \
                 rebuild it against wit/hook.wit",
                path.display()
            ))
        })?;
        tracing::info!(plugin = name, path = %path.display(), bytes = bytes.len(),
            elapsed_ms = started.elapsed().as_millis() as u64, "compiled wasm plugin");
        Ok((pre, sha256))
    }
}

/// Refuses a component whose digest is not the manifest's `sha256` pin.
fn check_pin(
    name: &str,
    manifest: Option<&PluginManifest>,
    sha256: &str,
    path: &Path,
) -> Result<(), WasmFailure> {
    manifest
        .map_or(Ok(()), |m| m.check_pin(sha256, path))
        .map_err(|reason| WasmFailure::InvalidPlugin {
            plugin: name.to_owned(),
            reason,
        })
}

/// Plugin names become file names: letters, digits, `-`, `_`, `.`, not starting with `.`.
fn check_name(name: &str) -> Result<(), String> {
    let valid = !name.is_empty()
        && name.len() <= 128
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if valid {
        Ok(())
    } else {
        Err(format!(
            "{name:?} is not a valid plugin name; use letters, digits, `-`, `_` and `.` (not \
             starting with `.`), the file name of NAME.wasm without `.wasm`"
        ))
    }
}

/// Checks that `bytes` look like a binary WebAssembly component (completing `"<path> …"`).
fn check_header(bytes: &[u8]) -> Result<(), String> {
    const FIX: &str = "build the plugin for `wasm32-wasip2` (or with another component toolchain)";
    if bytes.is_empty() {
        return Err(format!(
            "is empty (0 bytes), not a WebAssembly component; {FIX}"
        ));
    }
    if bytes.len() < 8 || &bytes[..4] != b"\0asm" {
        return Err(format!(
            "is not a WebAssembly file (no `\\0asm` header); {FIX}"
        ));
    }
    match [bytes[6], bytes[7]] {
        [1, 0] => Ok(()),
        [0, 0] => Err(format!(
            "is a core WebAssembly module, not a component; {FIX}, or wrap the module with \
             `wasm-tools component new`"
        )),
        layer => Err(format!("has an unknown WebAssembly layer {layer:?}; {FIX}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_must_be_plain_file_names() {
        for ok in ["marker", "my-plugin_2", "v1.2"] {
            check_name(ok).unwrap();
        }
        for bad in ["", "../etc/x", "a/b", ".hidden", "sp ace"] {
            assert!(
                check_name(bad)
                    .unwrap_err()
                    .contains("not a valid plugin name"),
                "{bad}"
            );
        }
    }

    #[test]
    fn headers_tell_modules_components_and_junk_apart() {
        assert!(check_header(b"").unwrap_err().contains("empty"));
        assert!(check_header(b"hello world")
            .unwrap_err()
            .contains("not a WebAssembly file"));
        assert!(check_header(b"\0asm\x01\0\0\0")
            .unwrap_err()
            .contains("core WebAssembly module"));
        check_header(b"\0asm\x0d\0\x01\0").unwrap();
    }
}
