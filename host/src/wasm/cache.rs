//! The on-disk cache of compiled plugins.
//!
//! Compiling a component is the slow part of loading a plugin (a bundled Python or
//! JavaScript interpreter takes seconds), so the compiled artefact is kept in
//! [`WasmConfig::cache_dir`](super::WasmConfig::cache_dir) under a name made of the
//! component's SHA-256 and a key of the engine (wasmtime's version and its
//! compatibility hash: compiler settings, target features). A changed plugin or a
//! changed engine therefore never finds a stale entry.
//!
//! Nothing in the cache is trusted blindly. Each entry starts with a header holding the
//! SHA-256 of the artefact that follows; an entry whose digest does not match (truncated,
//! corrupted, tampered with), that wasmtime does not recognise, or that it refuses to load
//! is deleted and rebuilt, with a warning. The directory is created with mode 0700 and
//! refused if another user could write to it, because loading a compiled artefact runs
//! its machine code.

// The runtime-only build compiles nothing, so it opens no cache (and never stores).
#![cfg_attr(not(feature = "compiler"), allow(dead_code, unused_imports))]

use std::hash::{Hash, Hasher};
use std::io::Write as _;
use std::path::{Path, PathBuf};

use sha2::{Digest as _, Sha256};
use wasmtime::component::Component;
use wasmtime::{Engine, Precompiled};

/// What every cache entry starts with, before the 32-byte digest of the artefact.
const MAGIC: &[u8; 8] = b"HKLTCWC1";
const HEADER_LEN: usize = MAGIC.len() + 32;
/// Extension of cache entries.
const EXTENSION: &str = "cwasm";

/// A directory of compiled components for one engine.
#[derive(Debug, Clone)]
pub(crate) struct DiskCache {
    dir: PathBuf,
    engine_key: String,
}

impl DiskCache {
    /// Opens (creating, mode 0700) the cache in `dir` for `engine`, and removes entries
    /// that an engine of another version or configuration left there.
    #[cfg(feature = "compiler")]
    pub fn open(dir: &Path, engine: &Engine) -> Result<DiskCache, String> {
        create_private_dir(dir)?;
        let cache = DiskCache {
            dir: dir.to_path_buf(),
            engine_key: engine_key(engine),
        };
        cache.remove_foreign_entries();
        Ok(cache)
    }

    /// Where the entry for the component with digest `sha256` lives.
    pub fn entry_path(&self, sha256: &str) -> PathBuf {
        self.dir
            .join(format!("{sha256}-{}.{EXTENSION}", self.engine_key))
    }

    /// Whether an entry for `sha256` exists (it is verified only when loaded).
    pub fn contains(&self, sha256: &str) -> bool {
        self.entry_path(sha256).is_file()
    }

    /// The cached compilation of the component with digest `sha256`, if there is a sound
    /// one. A damaged or unloadable entry is deleted (and a warning logged) so that the
    /// caller compiles and stores a fresh one.
    pub fn load(&self, engine: &Engine, sha256: &str) -> Option<Component> {
        let path = self.entry_path(sha256);
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return None,
            Err(err) => {
                tracing::warn!(path = %path.display(), "cannot read a compiled plugin: {err}; recompiling");
                return None;
            }
        };
        match verify(&bytes).and_then(|artefact| deserialize(engine, artefact)) {
            Ok(component) => Some(component),
            Err(problem) => {
                tracing::warn!(path = %path.display(),
                    "the cached compiled plugin is unusable ({problem}); deleting it and recompiling");
                let _ = std::fs::remove_file(&path);
                None
            }
        }
    }

    /// Stores the compilation of the component with digest `sha256`, atomically (a
    /// reader never sees half an entry). Failures are logged, not returned: the cache
    /// only saves time.
    pub fn store(&self, sha256: &str, component: &Component) {
        let path = self.entry_path(sha256);
        let result = component
            .serialize()
            .map_err(|err| format!("cannot serialize the compiled component: {err:#}"))
            .and_then(|artefact| write_entry(&self.dir, &path, &artefact));
        match result {
            Ok(()) => tracing::debug!(path = %path.display(), "cached compiled plugin"),
            Err(problem) => {
                tracing::warn!(path = %path.display(), "cannot cache a compiled plugin: {problem}")
            }
        }
    }

    /// Deletes entries whose engine key is not this engine's (left by another wasmtime
    /// version or configuration: they could never be loaded).
    fn remove_foreign_entries(&self) {
        let suffix = format!("-{}.{EXTENSION}", self.engine_key);
        for entry in std::fs::read_dir(&self.dir).into_iter().flatten().flatten() {
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            if name.ends_with(&format!(".{EXTENSION}")) && !name.ends_with(&suffix) {
                tracing::debug!(entry = name, "removing a compiled plugin of another engine");
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }
}

/// The artefact inside `entry`, if its header and digest are intact.
fn verify(entry: &[u8]) -> Result<&[u8], String> {
    if entry.len() < HEADER_LEN || &entry[..MAGIC.len()] != MAGIC {
        return Err("not a hooklet cache entry".into());
    }
    let (digest, artefact) = entry[MAGIC.len()..].split_at(32);
    if Sha256::digest(artefact).as_slice() != digest {
        return Err("its digest does not match its contents (truncated or corrupted)".into());
    }
    Ok(artefact)
}

/// Loads a verified artefact into `engine`.
fn deserialize(engine: &Engine, artefact: &[u8]) -> Result<Component, String> {
    if Engine::detect_precompiled(artefact) != Some(Precompiled::Component) {
        return Err("not a compiled component".into());
    }
    // SAFETY: `Component::deserialize` runs the artefact's machine code later, so it must
    // come from `Component::serialize` of a compatible engine. This one does: hooklet
    // wrote it (`DiskCache::store`) into a directory only hooklet's user can write to
    // (`create_private_dir`), and its SHA-256 was just checked against the header written
    // with it, so it is byte for byte what was stored. wasmtime itself refuses artefacts
    // of another version or configuration.
    unsafe { Component::deserialize(engine, artefact) }
        .map_err(|err| format!("wasmtime refused it: {err:#}"))
}

/// Writes header + `artefact` to a temporary file in `dir`, syncs it, and renames it to
/// `path`.
fn write_entry(dir: &Path, path: &Path, artefact: &[u8]) -> Result<(), String> {
    let tmp = dir.join(format!(".{}.tmp", uuid::Uuid::new_v4()));
    let digest = Sha256::digest(artefact);
    let write = || -> std::io::Result<()> {
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(MAGIC)?;
        file.write_all(&digest)?;
        file.write_all(artefact)?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)
    };
    write().map_err(|err| {
        let _ = std::fs::remove_file(&tmp);
        format!("cannot write {}: {err}", path.display())
    })
}

/// Creates `dir` (mode 0700) if needed and refuses one that other users could write to or
/// that belongs to someone else.
fn create_private_dir(dir: &Path) -> Result<(), String> {
    use std::os::unix::fs::{DirBuilderExt as _, MetadataExt as _};
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|err| format!("cannot create the plugin cache {}: {err}", dir.display()))?;
    let meta = std::fs::metadata(dir)
        .map_err(|err| format!("cannot read the plugin cache {}: {err}", dir.display()))?;
    let me = nix::unistd::geteuid().as_raw();
    if meta.uid() != me {
        return Err(format!(
            "the plugin cache {} belongs to uid {}, not to hooklet's user (uid {me}); use a \
             directory of your own",
            dir.display(),
            meta.uid()
        ));
    }
    if meta.mode() & 0o022 != 0 {
        return Err(format!(
            "the plugin cache {} can be written by other users (mode {:o}), and its files are \
             run as machine code; `chmod 700` it or use another directory",
            dir.display(),
            meta.mode() & 0o777
        ));
    }
    Ok(())
}

/// A short key for `engine`: wasmtime's version and the engine's compatibility hash.
#[cfg(feature = "compiler")]
fn engine_key(engine: &Engine) -> String {
    let mut hasher = DigestHasher(Sha256::new());
    env!("CARGO_PKG_VERSION").hash(&mut hasher);
    engine.precompile_compatibility_hash().hash(&mut hasher);
    let digest = hasher.0.finalize();
    digest[..8].iter().map(|b| format!("{b:02x}")).collect()
}

/// Feeds [`Hash`] output into a SHA-256 (only `write` is used; `finish` is not).
#[cfg(feature = "compiler")]
struct DigestHasher(Sha256);

#[cfg(feature = "compiler")]
impl Hasher for DigestHasher {
    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    fn finish(&self) -> u64 {
        unreachable!("only the digest is read")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_verified_before_use() {
        let artefact = b"compiled code".to_vec();
        let mut entry = MAGIC.to_vec();
        entry.extend_from_slice(&Sha256::digest(&artefact));
        entry.extend_from_slice(&artefact);
        assert_eq!(verify(&entry).unwrap(), &artefact[..]);

        let mut flipped = entry.clone();
        *flipped.last_mut().unwrap() ^= 1;
        assert!(verify(&flipped).unwrap_err().contains("does not match"));
        assert!(verify(&entry[..entry.len() - 1])
            .unwrap_err()
            .contains("does not match"));
        assert!(verify(b"HKLT").unwrap_err().contains("not a hooklet cache entry"));
    }

    #[test]
    fn a_directory_others_can_write_is_refused() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let cache = dir.path().join("cache");
        create_private_dir(&cache).unwrap();
        let mode = std::fs::metadata(&cache).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700);
        std::fs::set_permissions(&cache, std::fs::Permissions::from_mode(0o777)).unwrap();
        let err = create_private_dir(&cache).unwrap_err();
        assert!(err.contains("can be written by other users") && err.contains("chmod 700"), "{err}");
    }
}
