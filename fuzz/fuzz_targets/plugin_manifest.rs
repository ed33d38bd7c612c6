//! A plugin's manifest (`NAME.toml`), read as the registry reads it: `PluginManifest::load`
//! parses the TOML and checks every value (limits, the `sha256` pin, capabilities, whose
//! relative `host` directories resolve against the plugin directory). Never a panic; an
//! error names the file.
#![no_main]

use hooklet::wasm::PluginManifest;
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

fn dir() -> &'static tempfile::TempDir {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = tempfile::tempdir().expect("a temporary plugin directory");
        // Something for `host = "data"` (and the example's `markers`) to resolve to.
        for name in ["data", "markers"] {
            std::fs::create_dir(dir.path().join(name)).expect("create a granted directory");
        }
        dir
    })
}

fuzz_target!(|data: &[u8]| {
    let dir = dir().path();
    let path = dir.join("fuzz.toml");
    std::fs::write(&path, data).expect("write the manifest");
    if let Err(err) = PluginManifest::load(&path, dir) {
        assert!(err.contains("fuzz.toml"), "the error names the file: {err}");
    }
});
