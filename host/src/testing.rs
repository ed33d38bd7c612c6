//! Test support shared by hooklet's unit and integration tests. Not a stable API.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The hard eviction thresholds (`--eviction-hard`) that test and bench daemons run
/// with unless they pass their own: the kubelet's memory default alone.
///
/// The kubelet's disk defaults (`nodefs.available<10%`, `imagefs.available<15%`) are
/// measured on the filesystem of the state directory, which for a test is the
/// machine's own disk: with them, whether a test's pods are admitted would depend on
/// how full that disk is (a CI machine after a cold build can be past 85 %), and the
/// pods would be refused with `The node had condition: [DiskPressure]`. The eviction
/// tests set thresholds on filesystems they create and size themselves.
pub const TEST_EVICTION_HARD: &str = "memory.available<100Mi";

/// Builds the example plugins (`plugins/`: `marker`, `failing`, `spin`, `noop`, `hostile`) from source
/// once per process and returns the directory holding `NAME.wasm` for each.
///
/// Runs `cargo build --release --target wasm32-wasip2` on `plugins/Cargo.toml` with its own
/// target directory, `plugins/target` (passed explicitly, so an inherited
/// `CARGO_TARGET_DIR` cannot redirect it). Cargo's lock on that directory serialises test
/// binaries that build at the same time; an up-to-date build takes well under a second.
///
/// # Panics
///
/// When the build fails, with cargo's output and a hint (usually: run
/// `rustup target add wasm32-wasip2`).
pub fn example_plugins_dir() -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(build_example_plugins).clone()
}

fn build_example_plugins() -> PathBuf {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the hooklet crate lives in a directory of the repository")
        .to_path_buf();
    let manifest = repo.join("plugins").join("Cargo.toml");
    let target_dir = repo.join("plugins").join("target");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(&cargo);
    command
        .args([
            "build",
            "--release",
            "--target",
            "wasm32-wasip2",
            "--manifest-path",
        ])
        .arg(&manifest)
        .arg("--target-dir")
        .arg(&target_dir);
    let output = command.output().unwrap_or_else(|err| {
        panic!(
            "cannot run {cargo:?} to build the example plugins: {err}; install Rust with cargo \
             or set $CARGO to its path"
        )
    });
    if !output.status.success() {
        panic!(
            "building the example plugins failed ({}): {command:?}\n--- stdout\n{}\n--- stderr\n{}\n\
             hint: if the target is missing, run `rustup target add wasm32-wasip2`",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr),
        );
    }
    target_dir.join("wasm32-wasip2").join("release")
}
