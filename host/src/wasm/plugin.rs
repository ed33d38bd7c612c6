//! One version of a plugin: reading, checking and compiling `NAME.wasm` (and its
//! manifest `NAME.toml`) into a [`LoadedPlugin`] whose imports are already resolved.
//!
//! Checks run in an order that never trusts the file: the name, the manifest, the
//! `sha256` pin on the real bytes, the header, and only then the on-disk cache or the
//! compiler; then the imports (only what hooklet provides) and the export (the hook
//! handler). [`super::registry::Registry`] decides when a version is loaded and which
//! one serves deliveries.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use wasmtime::component::{Component, InstancePre, Linker};
use wasmtime::Engine;

use super::bindings::{HANDLER_EXPORT, HANDLER_EXPORT_0_2, PROBER_EXPORT, WORLDS};
use super::cache::DiskCache;
use super::config::WasmConfig;
use super::exports::PluginExports;
use super::failure::WasmFailure;
use super::limits::check_pool_fit;
use super::manifest::PluginManifest;
use super::precompiled;
use super::state::HostState;

/// What hooklet knows about a loaded plugin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginInfo {
    /// The plugin's name (`NAME` in `NAME.wasm`).
    pub name: String,
    /// The plugin file: the component `NAME.wasm`, or the precompiled `NAME.cwasm`.
    pub path: PathBuf,
    /// The manifest, when `NAME.toml` exists (directories resolved to absolute paths).
    pub manifest: Option<PluginManifest>,
    /// The SHA-256 digest of the component file as loaded (lower-case hex).
    pub sha256: String,
    /// Where the compiled code came from.
    pub compiled: CompiledFrom,
    /// The hooklet interfaces the component exports, newest first per role: a hook
    /// handler (`hooklet:hook/handler@0.1.0` or `@0.2.0`) and/or a probe
    /// (`hooklet:hook/prober@0.2.0`).
    pub exports: Vec<String>,
}

impl PluginInfo {
    /// Whether the plugin can serve lifecycle hooks (it exports a hook handler).
    pub fn handles_hooks(&self) -> bool {
        self.exports.iter().any(|e| e == HANDLER_EXPORT || e == HANDLER_EXPORT_0_2)
    }

    /// Whether the plugin can serve probes (it exports `hooklet:hook/prober@0.2.0`).
    pub fn handles_probes(&self) -> bool {
        self.exports.iter().any(|e| e == PROBER_EXPORT)
    }

    /// The world its exports make, for messages: e.g. `hooklet:hook/probe@0.2.0`.
    pub fn world(&self) -> String {
        let has = |export: &str| self.exports.iter().any(|e| e == export);
        let worlds: &[&str] = match (has(HANDLER_EXPORT), has(HANDLER_EXPORT_0_2), has(PROBER_EXPORT)) {
            (_, true, true) => &["hooklet:hook/plugin@0.2.0"],
            (_, true, false) => &["hooklet:hook/hook@0.2.0"],
            (true, false, true) => &["hooklet:hook/hook@0.1.0", "hooklet:hook/probe@0.2.0"],
            (true, false, false) => &["hooklet:hook/hook@0.1.0"],
            (false, false, _) => &["hooklet:hook/probe@0.2.0"],
        };
        worlds.join(" and ")
    }
}

/// Where a loaded plugin's compiled code came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompiledFrom {
    /// Compiled from the component just now, taking this long.
    Compiler(Duration),
    /// Loaded from the on-disk cache, taking this long (digest check included).
    DiskCache(Duration),
    /// The same bytes as the version it replaces (only the manifest changed).
    PreviousVersion,
    /// Loaded from a precompiled `NAME.cwasm` (`hooklet plugin compile`), taking this long
    /// (its checks included).
    Precompiled(Duration),
}

/// A plugin version ready to be delivered to.
pub(crate) struct LoadedPlugin {
    pub info: PluginInfo,
    /// The component with its imports resolved, ready to instantiate.
    pub pre: InstancePre<HostState>,
    /// What it exports, looked up once.
    pub exports: PluginExports,
    /// The files' versions when this was loaded, to notice a change without a watcher.
    pub stamps: Stamps,
}

/// The versions of a plugin's two files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Stamps {
    wasm: FileStamp,
    manifest: Option<FileStamp>,
}

impl Stamps {
    /// The files' versions now; `Err` when the component is missing or not a file.
    pub fn read(name: &str, wasm: &Path, manifest: &Path) -> Result<Stamps, WasmFailure> {
        let wasm = match std::fs::metadata(wasm) {
            Ok(meta) if meta.is_file() => FileStamp::of(&meta),
            Ok(_) => return Err(invalid(name, format!("{} is not a regular file", wasm.display()))),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                return Err(WasmFailure::PluginNotFound {
                    plugin: name.to_owned(),
                    path: wasm.to_owned(),
                })
            }
            Err(err) => return Err(invalid(name, format!("cannot read {}: {err}", wasm.display()))),
        };
        let manifest = std::fs::metadata(manifest).ok().map(|meta| FileStamp::of(&meta));
        Ok(Stamps { wasm, manifest })
    }
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
        FileStamp {
            len: meta.len(),
            modified: meta.modified().ok(),
            inode: std::os::unix::fs::MetadataExt::ino(meta),
        }
    }
}

/// Turns plugin files into [`LoadedPlugin`]s: the engine, the linker every plugin is
/// checked against, and the optional on-disk cache.
pub(crate) struct Loader {
    pub dir: PathBuf,
    /// The node's settings (the instance pool's size per delivery bounds manifests).
    pub config: WasmConfig,
    pub engine: Engine,
    pub linker: Linker<HostState>,
    pub cache: Option<DiskCache>,
}

impl Loader {
    /// The plugin's code, `<dir>/NAME.cwasm` (precompiled) when there is one, else
    /// `<dir>/NAME.wasm`; and its manifest, `<dir>/NAME.toml`.
    pub fn paths(&self, name: &str) -> (PathBuf, PathBuf) {
        let precompiled = self.dir.join(format!("{name}.{}", precompiled::EXTENSION));
        let code = if precompiled.symlink_metadata().is_ok() { precompiled } else { self.dir.join(format!("{name}.wasm")) };
        (code, self.dir.join(format!("{name}.toml")))
    }

    /// Loads the current version of plugin `name`. When `previous` has the same component
    /// bytes, its compiled code is reused (only the manifest is read again). `name` must
    /// have passed [`check_name`]. Blocking: it reads files and may compile for seconds.
    pub fn load(&self, name: &str, previous: Option<&LoadedPlugin>) -> Result<LoadedPlugin, WasmFailure> {
        let (wasm_path, manifest_path) = self.paths(name);
        let stamps = Stamps::read(name, &wasm_path, &manifest_path)?;
        let manifest = PluginManifest::load(&manifest_path, &self.dir).map_err(|reason| invalid(name, reason))?;
        if let Some(manifest) = &manifest {
            check_pool_fit(&manifest.limits, &self.config, &manifest_path).map_err(|reason| invalid(name, reason))?;
        }
        let (bytes, meta) = read_file(&wasm_path).map_err(|err| match err.kind() {
            std::io::ErrorKind::NotFound => WasmFailure::PluginNotFound {
                plugin: name.to_owned(),
                path: wasm_path.clone(),
            },
            _ => invalid(name, format!("cannot read {}: {err}", wasm_path.display())),
        })?;
        let sha256 = precompiled::plugin_digest(&wasm_path, &bytes)
            .map_err(|reason| invalid(name, format!("{} {reason}", wasm_path.display())))?;
        check_pin(name, manifest.as_ref(), &sha256, &wasm_path)?;
        let (pre, exports, compiled) = match previous.filter(|p| p.info.sha256 == sha256) {
            Some(previous) => (
                previous.pre.clone(),
                previous.exports.clone(),
                CompiledFrom::PreviousVersion,
            ),
            None => self.compile(name, &wasm_path, &meta, &bytes, &sha256)?,
        };
        Ok(LoadedPlugin {
            info: PluginInfo {
                name: name.to_owned(),
                path: wasm_path,
                manifest,
                sha256,
                compiled,
                exports: exports.names(),
            },
            pre,
            exports,
            stamps,
        })
    }

    /// Whether `name`'s manifest as it is now pins a digest other than `sha256`: then a
    /// version with that digest must not keep serving, even when the new files are
    /// refused. (An unreadable manifest pins nothing new.)
    pub fn pin_refuses(&self, name: &str, sha256: &str) -> bool {
        let (wasm, manifest) = self.paths(name);
        matches!(PluginManifest::load(&manifest, &self.dir), Ok(Some(m)) if m.check_pin(sha256, &wasm).is_err())
    }

    /// Checks the header, gets compiled code (a precompiled `NAME.cwasm`'s, else from the
    /// cache, else the compiler, then caching it) and checks the component's imports and
    /// exports. `meta` is the metadata of the file `bytes` were read from.
    fn compile(
        &self,
        name: &str,
        path: &Path,
        meta: &std::fs::Metadata,
        bytes: &[u8],
        sha256: &str,
    ) -> Result<(InstancePre<HostState>, PluginExports, CompiledFrom), WasmFailure> {
        let started = Instant::now();
        let at = |reason: String| invalid(name, format!("{} {reason}", path.display()));
        let (component, compiled) = if precompiled::is_precompiled_path(path) {
            let component = precompiled::load(&self.engine, &self.config, path, meta, bytes).map_err(at)?;
            (component, CompiledFrom::Precompiled(started.elapsed()))
        } else {
            check_header(bytes).map_err(at)?;
            let cached = self.cache.as_ref().and_then(|cache| cache.load(&self.engine, sha256));
            match cached {
                Some(component) => (component, CompiledFrom::DiskCache(started.elapsed())),
                None => (compile_component(&self.engine, bytes).map_err(at)?, CompiledFrom::Compiler(started.elapsed())),
            }
        };
        let (pre, exports) = self.check_world(name, path, &component)?;
        // Cache only what passed every check, so a cache entry is always a usable plugin.
        if let (Some(cache), CompiledFrom::Compiler(_)) = (&self.cache, compiled) {
            cache.store(sha256, &component);
        }
        tracing::info!(plugin = name, path = %path.display(), bytes = bytes.len(),
            elapsed_ms = started.elapsed().as_millis() as u64, ?compiled, "loaded wasm plugin");
        Ok((pre, exports, compiled))
    }

    /// Resolves the component's imports against hooklet's linker and finds its exports.
    fn check_world(
        &self,
        name: &str,
        path: &Path,
        component: &Component,
    ) -> Result<(InstancePre<HostState>, PluginExports), WasmFailure> {
        let instance_pre = self.linker.instantiate_pre(component).map_err(|err| {
            invalid(
                name,
                format!(
                    "{} imports something hooklet does not provide ({err:#}); plugins may import \
                     only `hooklet:hook/log` (0.1.0 or 0.2.0), WASI 0.2 and `wasi:http` (worlds \
                     {WORLDS})",
                    path.display()
                ),
            )
        })?;
        match PluginExports::find(&instance_pre) {
            Ok(Some(exports)) => Ok((instance_pre, exports)),
            Ok(None) => Err(invalid(
                name,
                format!(
                    "{} does not export `{HANDLER_EXPORT}`, `{HANDLER_EXPORT_0_2}` or \
                     `{PROBER_EXPORT}`; build it for one of the worlds {WORLDS} (in Rust: \
                     implement `hooklet_guest::Hook` and export it with \
                     `hooklet_guest::export_hook!`, or `hooklet_guest::Probe` with \
                     `export_probe!`, or both with `export_plugin!`)",
                    path.display()
                ),
            )),
            Err(reason) => Err(invalid(name, format!("{} {reason}", path.display()))),
        }
    }
}

/// Compiles a plain component with Cranelift; `Err` completes `"<path> …"`.
#[cfg(feature = "compiler")]
fn compile_component(engine: &Engine, bytes: &[u8]) -> Result<Component, String> {
    Component::new(engine, bytes)
        .map_err(|err| format!("is not a valid WebAssembly component ({err:#}); rebuild it for world {WORLDS}"))
}

/// The runtime-only build has no compiler: it says how to get a precompiled plugin.
#[cfg(not(feature = "compiler"))]
fn compile_component(_: &Engine, _: &[u8]) -> Result<Component, String> {
    Err(format!(
        "needs compiling, and this hooklet is the runtime-only build (no compiler), which runs only \
         precompiled plugins: on a machine with the full build run `hooklet plugin compile --target {} \
         NAME.wasm` and put the NAME.cwasm it writes in this node's plugin directory (in place of \
         NAME.wasm)",
        precompiled::host_target()
    ))
}

/// Reads a whole file, with the metadata of the file as opened (not of whatever is at its
/// path a moment later).
fn read_file(path: &Path) -> std::io::Result<(Vec<u8>, std::fs::Metadata)> {
    use std::io::Read as _;
    let mut file = std::fs::File::open(path)?;
    let meta = file.metadata()?;
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    file.read_to_end(&mut bytes)?;
    Ok((bytes, meta))
}

/// An [`WasmFailure::InvalidPlugin`] for `name`.
pub(crate) fn invalid(name: &str, reason: String) -> WasmFailure {
    WasmFailure::InvalidPlugin {
        plugin: name.to_owned(),
        reason,
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
        .map_err(|reason| invalid(name, reason))
}

/// Plugin names become file names: letters, digits, `-`, `_`, `.`, not starting with `.`.
pub(crate) fn check_name(name: &str) -> Result<(), String> {
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
pub(crate) fn check_header(bytes: &[u8]) -> Result<(), String> {
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
