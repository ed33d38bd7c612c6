//! Precompiled plugins: `NAME.cwasm`, the machine code of a component made ahead of time
//! by `hooklet plugin compile` (possibly on another machine, for another target), which a
//! node loads without compiling — and which hooklet's runtime-only build (no Cranelift)
//! requires.
//!
//! An artefact is hooklet's header, then wasmtime's precompiled component:
//!
//! ```text
//! "HKLTPRE1"  u32 LE length of the JSON  {"hooklet", "target", "metering",
//!                                          "component_sha256", "code_sha256"}  code
//! ```
//!
//! Loading one maps its machine code and later runs it, so nothing in it is taken on
//! trust. In this order, a node refuses (with what to do, never running it): a file
//! another user owns or could write to; a header that is not hooklet's; code whose SHA-256
//! is not the header's (truncated or damaged); another hooklet version (its wasmtime and
//! engine settings); another target architecture or operating system; other metering;
//! and last whatever wasmtime's own check of the code refuses (engine version, settings,
//! CPU features). The plugin's digest, for the manifest's `sha256` pin and for `plugin
//! list`, is `component_sha256`: that of the `.wasm` the artefact was compiled from.

use std::path::Path;

use serde::{Deserialize, Serialize};
use target_lexicon::Triple;
use wasmtime::component::Component;
use wasmtime::{Engine, Precompiled};

use super::config::{Metering, WasmConfig};
use super::manifest::sha256_hex;

/// The file extension of precompiled plugins: `NAME.cwasm`.
pub(crate) const EXTENSION: &str = "cwasm";
/// What every artefact starts with.
const MAGIC: &[u8; 8] = b"HKLTPRE1";
/// The longest header hooklet writes is a few hundred bytes.
const MAX_HEADER: usize = 16 * 1024;

/// What hooklet records about an artefact, before its code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Header {
    /// The version of the hooklet that compiled it (fixing its wasmtime and engine settings).
    pub hooklet: String,
    /// The target triple it was compiled for.
    pub target: String,
    /// The engine's metering ([`metering_name`]).
    pub metering: String,
    /// The SHA-256 of the component it was compiled from (lower-case hex).
    pub component_sha256: String,
    /// The SHA-256 of the code that follows the header.
    pub code_sha256: String,
}

/// Whether `path` names a precompiled plugin (`NAME.cwasm`).
pub(crate) fn is_precompiled_path(path: &Path) -> bool {
    path.extension().is_some_and(|ext| ext == EXTENSION)
}

/// The plugin's digest: that of the component, for a `.wasm`; the one the header records,
/// for a `.cwasm` (whose header must be sound). `Err` completes `"<path> …"`.
pub(crate) fn plugin_digest(path: &Path, bytes: &[u8]) -> Result<String, String> {
    if is_precompiled_path(path) {
        Ok(split(bytes)?.0.component_sha256)
    } else {
        Ok(sha256_hex(bytes))
    }
}

/// This build's target triple, e.g. `x86_64-unknown-linux-gnu`.
pub fn host_target() -> String {
    target_lexicon::HOST.to_string()
}

/// The name of `metering` in headers.
fn metering_name(metering: Metering) -> &'static str {
    match metering {
        Metering::FuelAndEpochs => "fuel-and-epochs",
        Metering::EpochsOnly => "epochs-only",
        Metering::Neither => "none",
    }
}

/// Compiles `component` (a `.wasm`, digest `component_sha256`) for `target` (default: this
/// machine's triple) under the engine settings of `config`, as [`super::engine_config`]
/// makes them. The code uses only the target's baseline CPU features, so it loads on
/// every CPU of that architecture.
#[cfg(feature = "compiler")]
pub fn precompile(component: &[u8], target: Option<&str>, config: &WasmConfig) -> Result<(Vec<u8>, String), String> {
    let target = target.map_or_else(host_target, str::to_owned);
    let mut engine_config = super::engine_config(config).map_err(|err| format!("{err:#}"))?;
    let unsupported = |err: wasmtime::Error| {
        format!(
            "cannot compile for `{target}` ({err:#}); this hooklet compiles for x86_64 and aarch64 \
             targets, e.g. `aarch64-unknown-linux-gnu` or `x86_64-unknown-linux-gnu`"
        )
    };
    engine_config.target(&target).map_err(unsupported)?;
    let engine = Engine::new(&engine_config).map_err(unsupported)?;
    let code = engine
        .precompile_component(component)
        .map_err(|err| format!("is not a valid WebAssembly component ({err:#})"))?;
    let header = Header {
        hooklet: env!("CARGO_PKG_VERSION").to_owned(),
        target: target.clone(),
        metering: metering_name(config.metering).to_owned(),
        component_sha256: sha256_hex(component),
        code_sha256: sha256_hex(&code),
    };
    let json = serde_json::to_vec(&header).expect("a header serialises");
    let mut artefact = Vec::with_capacity(MAGIC.len() + 4 + json.len() + code.len());
    artefact.extend_from_slice(MAGIC);
    artefact.extend_from_slice(&(json.len() as u32).to_le_bytes());
    artefact.extend_from_slice(&json);
    artefact.extend_from_slice(&code);
    Ok((artefact, target))
}

/// The header and the code of an artefact; `Err` completes `"<path> …"`.
fn split(bytes: &[u8]) -> Result<(Header, &[u8]), String> {
    const FIX: &str = "make it with `hooklet plugin compile FILE.wasm`";
    if bytes.starts_with(b"\0asm") {
        return Err("is a plain WebAssembly file, not a precompiled plugin; name it NAME.wasm, or precompile \
                    it with `hooklet plugin compile`"
            .into());
    }
    if bytes.len() < MAGIC.len() + 4 || &bytes[..MAGIC.len()] != MAGIC {
        return Err(format!("is not a hooklet precompiled plugin (no `HKLTPRE1` header); {FIX}"));
    }
    let len = u32::from_le_bytes(bytes[MAGIC.len()..MAGIC.len() + 4].try_into().expect("4 bytes")) as usize;
    let rest = &bytes[MAGIC.len() + 4..];
    if len > MAX_HEADER || len > rest.len() {
        return Err(format!("has a damaged header (truncated?); copy it again or {FIX}"));
    }
    let (json, code) = rest.split_at(len);
    let header: Header = serde_json::from_slice(json)
        .map_err(|err| format!("has a damaged header ({err}); copy it again or {FIX}"))?;
    Ok((header, code))
}

/// Checks an artefact read from `path` (whose metadata, taken from the open file, is
/// `meta`) and loads its code into `engine`, which runs with `config`. `Err` completes
/// `"<path> …"` and says what to do.
pub(crate) fn load(
    engine: &Engine,
    config: &WasmConfig,
    path: &Path,
    meta: &std::fs::Metadata,
    bytes: &[u8],
) -> Result<Component, String> {
    check_owner(meta)?;
    let (header, code) = split(bytes)?;
    let recompile = format!(
        "precompile it again with `hooklet plugin compile --target {} NAME.wasm` (hooklet {})",
        host_target(),
        env!("CARGO_PKG_VERSION")
    );
    if sha256_hex(code) != header.code_sha256 {
        return Err(format!(
            "is truncated or damaged (its code does not match the digest in its header); copy it again \
             or {recompile}"
        ));
    }
    if header.hooklet != env!("CARGO_PKG_VERSION") {
        return Err(format!(
            "was compiled by hooklet {}, and this node runs hooklet {}: compiled code is tied to the \
             hooklet (and wasmtime) release that made it; {recompile}",
            header.hooklet,
            env!("CARGO_PKG_VERSION")
        ));
    }
    check_target(&header.target).map_err(|problem| format!("{problem}; {recompile}"))?;
    if header.metering != metering_name(config.metering) {
        return Err(format!(
            "was compiled with metering `{}`, and this node meters `{}`; {recompile}",
            header.metering,
            metering_name(config.metering)
        ));
    }
    deserialize(engine, code).map_err(|problem| format!("{problem}; {recompile}"))
        .inspect(|_| tracing::debug!(path = %path.display(), target = header.target, "loaded precompiled plugin"))
}

/// Refuses code compiled for another architecture or operating system than this node's.
fn check_target(target: &str) -> Result<(), String> {
    let theirs: Triple = target
        .parse()
        .map_err(|err| format!("names an unknown target `{target}` ({err})"))?;
    let ours = target_lexicon::HOST;
    if theirs.architecture != ours.architecture || theirs.operating_system != ours.operating_system {
        return Err(format!(
            "was compiled for `{target}`, and this node is `{ours}`: its machine code cannot run here"
        ));
    }
    Ok(())
}

/// Refuses an artefact that a user other than root or hooklet's own could have written.
fn check_owner(meta: &std::fs::Metadata) -> Result<(), String> {
    use std::os::unix::fs::MetadataExt as _;
    let me = nix::unistd::geteuid().as_raw();
    if meta.uid() != 0 && meta.uid() != me {
        return Err(format!(
            "belongs to uid {}, not to root or hooklet's user (uid {me}), and it is machine code \
             hooklet would run; `chown` it to one of them",
            meta.uid()
        ));
    }
    if meta.mode() & 0o022 != 0 {
        return Err(format!(
            "can be written by other users (mode {:o}), and it is machine code hooklet would run; \
             `chmod go-w` it",
            meta.mode() & 0o777
        ));
    }
    Ok(())
}

/// Loads wasmtime's precompiled component `code` into `engine`; wasmtime checks first
/// that it was compiled by this wasmtime version, with these settings, for this CPU.
fn deserialize(engine: &Engine, code: &[u8]) -> Result<Component, String> {
    if Engine::detect_precompiled(code) != Some(Precompiled::Component) {
        return Err("does not hold a precompiled component".into());
    }
    // SAFETY: `Component::deserialize` maps `code` as machine code that deliveries run, so
    // it must be what `Engine::precompile_component` of a compatible engine wrote. Here:
    // the file belongs to root or hooklet's user and nobody else can write it
    // (`check_owner`, on the metadata of the very file that was read), so only someone
    // trusted as much as hooklet itself placed it; it carries hooklet's header, and its
    // SHA-256 was just checked against it, so it is byte for byte what `hooklet plugin
    // compile` wrote (not truncated or damaged on the way); the header names this hooklet
    // version, this target and these engine settings; and wasmtime refuses, before mapping
    // anything, code of another wasmtime version, engine configuration or CPU.
    unsafe { Component::deserialize(engine, code) }.map_err(|err| format!("was refused by wasmtime ({err:#})"))
}

#[cfg(all(test, feature = "compiler"))]
mod tests {
    use super::*;

    fn component() -> Vec<u8> {
        std::fs::read(crate::testing::example_plugins_dir().join("noop.wasm")).expect("built example plugin")
    }

    #[test]
    fn an_artefact_for_this_machine_loads_and_records_its_source() {
        let config = WasmConfig { pool_slots: 1, ..WasmConfig::default() };
        let wasm = component();
        let (artefact, target) = precompile(&wasm, None, &config).unwrap();
        assert_eq!(target, host_target());
        let path = Path::new("noop.cwasm");
        assert_eq!(plugin_digest(path, &artefact).unwrap(), sha256_hex(&wasm));
        let engine = Engine::new(&crate::wasm::engine_config(&config).unwrap()).unwrap();
        deserialize(&engine, split(&artefact).unwrap().1).unwrap();
    }

    #[test]
    fn wasmtime_itself_refuses_code_for_another_cpu_or_settings() {
        let config = WasmConfig { pool_slots: 1, ..WasmConfig::default() };
        let engine = Engine::new(&crate::wasm::engine_config(&config).unwrap()).unwrap();
        let foreign = if cfg!(target_arch = "x86_64") { "aarch64-unknown-linux-gnu" } else { "x86_64-unknown-linux-gnu" };
        let (artefact, _) = precompile(&component(), Some(foreign), &config).unwrap();
        // Past hooklet's own header checks, wasmtime's check still stands.
        let err = deserialize(&engine, split(&artefact).unwrap().1).unwrap_err();
        assert!(err.contains("refused by wasmtime") && err.contains("architecture"), "{err}");

        let epochs = WasmConfig { metering: Metering::EpochsOnly, ..config.clone() };
        let (artefact, _) = precompile(&component(), None, &epochs).unwrap();
        let err = deserialize(&engine, split(&artefact).unwrap().1).unwrap_err();
        assert!(err.contains("refused by wasmtime") && err.contains("fuel"), "{err}");
    }

    #[test]
    fn headers_are_checked_before_the_code() {
        assert!(split(b"\0asm\x0d\0\x01\0").unwrap_err().contains("name it NAME.wasm"));
        assert!(split(b"junk junk junk").unwrap_err().contains("no `HKLTPRE1` header"));
        let mut cut = MAGIC.to_vec();
        cut.extend_from_slice(&100u32.to_le_bytes());
        cut.extend_from_slice(b"{\"hook");
        assert!(split(&cut).unwrap_err().contains("damaged header"));
        check_target(&host_target()).unwrap();
        assert!(check_target("riscv64gc-unknown-linux-gnu").unwrap_err().contains("cannot run here"));
    }
}
