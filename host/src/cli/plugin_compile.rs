//! `hooklet plugin compile [--target TRIPLE] FILE.wasm [-o OUT]`: a precompiled plugin
//! (`NAME.cwasm`) for this node or another.

use std::path::Path;

/// Exit code: the plugin cannot be compiled (or this build cannot compile).
const EXIT_FAILED: i32 = 1;
/// Exit code: no such file.
const EXIT_MISSING: i32 = 2;

/// Runs `hooklet plugin compile`; returns the exit code.
pub fn compile(file: &Path, target: Option<&str>, output: Option<&Path>) -> i32 {
    let bytes = match std::fs::read(file) {
        Ok(bytes) => bytes,
        Err(err) => {
            eprintln!("error: cannot read {}: {err}", file.display());
            return if err.kind() == std::io::ErrorKind::NotFound { EXIT_MISSING } else { EXIT_FAILED };
        }
    };
    let out = output.map_or_else(|| file.with_extension("cwasm"), Path::to_path_buf);
    match compile_to(&bytes, target, &out) {
        Ok(target) => {
            println!(
                "{}: precompiled for {target} ({} bytes); put it in the node's plugin directory as NAME.cwasm",
                out.display(),
                std::fs::metadata(&out).map_or(0, |m| m.len())
            );
            0
        }
        Err(problem) => {
            eprintln!("error: {} {problem}", file.display());
            EXIT_FAILED
        }
    }
}

/// Compiles `bytes` and writes the artefact to `out`; the target compiled for, or a reason
/// completing `"<file> …"`.
#[cfg(feature = "compiler")]
fn compile_to(bytes: &[u8], target: Option<&str>, out: &Path) -> Result<String, String> {
    use crate::wasm::WasmConfig;
    crate::wasm::check_component_header(bytes)?;
    // The node's engine settings (a node refuses code compiled under others); one pool
    // slot, as nothing runs here.
    let config = WasmConfig { pool_slots: 1, ..WasmConfig::default() };
    let (artefact, target) = crate::wasm::precompile(bytes, target, &config)?;
    write_private(out, &artefact).map_err(|err| format!("cannot be written to {}: {err}", out.display()))?;
    Ok(target)
}

/// The runtime-only build has no compiler.
#[cfg(not(feature = "compiler"))]
fn compile_to(_: &[u8], _: Option<&str>, _: &Path) -> Result<String, String> {
    Err("cannot be compiled by this hooklet, the runtime-only build (no compiler); run `hooklet plugin \
         compile` on a machine with the full build"
        .into())
}

/// Writes `bytes` to `out` atomically (a temporary file beside it, renamed), mode 0644:
/// nodes refuse a precompiled plugin that other users can write.
#[cfg(feature = "compiler")]
fn write_private(out: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let dir = out.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let tmp = dir.join(format!(".{}.tmp", uuid::Uuid::new_v4()));
    let write = || {
        let mut file = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o644).open(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&tmp, out)
    };
    write().inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}
