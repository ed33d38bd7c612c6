//! The six marker plugins and how each is built from source, once per test process.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// One language's marker plugin.
#[derive(Debug, Clone, Copy)]
pub struct Lang {
    /// The language as the build scripts and the installer name it.
    pub name: &'static str,
    /// The plugin name: `NAME.wasm` in a plugin directory.
    pub plugin: &'static str,
}

pub const RUST: Lang = Lang { name: "rust", plugin: "marker" };
pub const PYTHON: Lang = Lang { name: "python", plugin: "marker-py" };
pub const JS: Lang = Lang { name: "js", plugin: "marker-js" };
pub const C: Lang = Lang { name: "c", plugin: "marker-c" };
pub const GO: Lang = Lang { name: "go", plugin: "marker-go" };
pub const ZIG: Lang = Lang { name: "zig", plugin: "marker-zig" };
pub const ALL: [Lang; 6] = [RUST, PYTHON, JS, C, GO, ZIG];

/// A built component and how long building it took (in this process).
#[derive(Debug, Clone)]
pub struct Built {
    pub wasm: PathBuf,
    pub build_time: Duration,
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("host/ is in the repository").to_path_buf()
}

/// Builds `lang`'s marker from source (once per process) and returns the component.
///
/// # Panics
///
/// When the build fails, with the build's output. A missing toolchain is a failure too,
/// with the command that installs it: a language that cannot be built must not pass.
pub fn build(lang: Lang) -> Built {
    static BUILT: Mutex<Option<HashMap<&'static str, Result<Built, String>>>> = Mutex::new(None);
    let mut built = BUILT.lock().unwrap_or_else(|e| e.into_inner());
    let built = built.get_or_insert_with(HashMap::new);
    built.entry(lang.name).or_insert_with(|| build_now(lang)).clone().unwrap_or_else(|e| panic!("{e}"))
}

fn build_now(lang: Lang) -> Result<Built, String> {
    let started = Instant::now();
    if lang.name == "rust" {
        let wasm = hooklet::testing::example_plugins_dir().join("marker.wasm");
        return Ok(Built { wasm, build_time: started.elapsed() });
    }
    let script = repo().join("plugins").join(lang.name).join("build.sh");
    let output = Command::new("bash")
        .arg(&script)
        .env_remove("HOOKLET_PLUGIN_OUT")
        .output()
        .map_err(|e| format!("cannot run {}: {e}", script.display()))?;
    let log = format!(
        "--- stdout\n{}\n--- stderr\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    match output.status.code() {
        Some(0) => {}
        Some(3) => {
            return Err(format!(
                "the {} toolchain is not installed, so {} cannot be built; run \
                 `scripts/install-plugin-toolchains {}` (CI runs it from .ci/run)\n{log}",
                lang.name, lang.plugin, lang.name
            ))
        }
        _ => return Err(format!("building {} failed ({}): {}\n{log}", lang.plugin, output.status, script.display())),
    }
    let wasm = repo().join("plugins/target/lang").join(format!("{}.wasm", lang.plugin));
    if !wasm.is_file() {
        return Err(format!("{} reported success but {} is missing\n{log}", script.display(), wasm.display()));
    }
    Ok(Built { wasm, build_time: started.elapsed() })
}

/// A plugin directory under `dir` holding `lang`'s marker and a manifest granting the
/// directory `out` (created) read-write at guest path `/out`. Returns `out`.
pub fn plugin_dir(lang: Lang, wasm: &Path, dir: &Path) -> PathBuf {
    let out = dir.join("out");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::copy(wasm, dir.join(format!("{}.wasm", lang.plugin))).unwrap();
    std::fs::write(
        dir.join(format!("{}.toml", lang.plugin)),
        format!(
            "description = \"marker in {}\"\n\n[[capabilities.dirs]]\nhost = \"{}\"\nguest = \"/out\"\naccess = \"read-write\"\n",
            lang.name,
            out.display()
        ),
    )
    .unwrap();
    out
}
