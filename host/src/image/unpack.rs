//! Applying a layer to a rootfs: the layer's tar (plain or gzip) is unpacked over what
//! the lower layers left, with whiteouts (`.wh.NAME` deletes NAME, `.wh..wh..opq` empties
//! its directory of lower-layer content). Nothing is ever written outside the rootfs:
//! paths with `..` or absolute paths are refused, symbolic links met on the way are
//! followed inside the rootfs only, and a link that would lead out of it is refused.
//!
//! Owners are set when running as root; modification times are not kept; device nodes
//! and FIFOs are skipped (the runtime provides `/dev`).

use std::collections::HashSet;
use std::ffi::OsString;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, Read};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

use sha2::{Digest as _, Sha256};

use super::archive::hex;

/// The whiteout prefix and the opaque-directory marker of the OCI layer format.
const WHITEOUT: &str = ".wh.";
const OPAQUE: &str = ".wh..wh..opq";
/// Symbolic links followed while resolving one path (Linux's limit).
const MAX_LINKS: u32 = 40;

/// Opens the layer blob at `path`, decompressing gzip (recognised by its magic number).
pub fn open_layer(path: &Path) -> Result<Box<dyn Read>, String> {
    let reader = BufReader::new(File::open(path).map_err(|e| format!("cannot open {}: {e}", path.display()))?);
    decompressed(reader).map_err(|e| format!("{}: {e}", path.display()))
}

/// The layer tar read from `reader`: gunzipped when it starts with gzip's magic
/// number, as it is otherwise; zstd is refused.
pub fn decompressed<R: BufRead + 'static>(mut reader: R) -> Result<Box<dyn Read>, String> {
    let head = reader.fill_buf().map_err(|e| format!("cannot read the layer: {e}"))?;
    if head.starts_with(&[0x1f, 0x8b]) {
        Ok(Box::new(flate2::read::MultiGzDecoder::new(reader)))
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Err("the layer is zstd-compressed, which hooklet does not read; export the image with gzip or uncompressed layers".into())
    } else {
        Ok(Box::new(reader))
    }
}

/// Unpacks the layer tar read from `layer` over `rootfs`; returns the sha256 of the
/// whole uncompressed stream (the layer's diff ID, `sha256:…`). Errors name the entry.
pub fn apply_layer(rootfs: &Path, layer: impl Read) -> Result<String, String> {
    let mut hashing = HashingReader { inner: layer, hasher: Sha256::new() };
    let mut unpacker = Unpacker { root: rootfs, this_layer: HashSet::new(), dir_modes: Vec::new(), as_root: nix::unistd::Uid::effective().is_root() };
    {
        let mut archive = tar::Archive::new(&mut hashing);
        for entry in archive.entries().map_err(|e| format!("not a tar archive: {e}"))? {
            let mut entry = entry.map_err(|e| format!("unreadable tar entry: {e}"))?;
            let raw = entry.path_bytes().into_owned();
            let name = String::from_utf8_lossy(&raw).into_owned();
            unpacker.entry(&mut entry).map_err(|e| format!("entry {name:?}: {e}"))?;
        }
    }
    // The tar reader stops at the end-of-archive blocks; the diff ID covers all bytes.
    io::copy(&mut hashing, &mut io::sink()).map_err(|e| format!("cannot read the layer: {e}"))?;
    for (path, mode) in unpacker.dir_modes.iter().rev() {
        // A later entry may have replaced the directory, or one of its parents, by a
        // symbolic link: set the mode only on a directory still reached without one.
        if unpacker.is_real_dir(path) {
            fs::set_permissions(path, fs::Permissions::from_mode(*mode)).map_err(|e| format!("cannot set the mode of {}: {e}", path.display()))?;
        }
    }
    Ok(format!("sha256:{}", hex(&hashing.hasher.finalize())))
}

struct HashingReader<R> {
    inner: R,
    hasher: Sha256,
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

struct Unpacker<'a> {
    root: &'a Path,
    /// Paths (and their parents) this layer wrote: an opaque directory keeps them.
    this_layer: HashSet<PathBuf>,
    /// Directory modes, set when the layer is done (a read-only one may still get entries).
    dir_modes: Vec<(PathBuf, u32)>,
    as_root: bool,
}

impl Unpacker<'_> {
    fn entry<R: Read>(&mut self, entry: &mut tar::Entry<R>) -> Result<(), String> {
        let raw = entry.path().map_err(|e| format!("unreadable path: {e}"))?.into_owned();
        let Some(rel) = relative(&raw)? else { return Ok(()) };
        let file_name = rel.file_name().unwrap_or_default().to_string_lossy().into_owned();
        let parent_rel = rel.parent().unwrap_or(Path::new(""));
        if file_name == OPAQUE {
            let dir = self.resolve_dir(parent_rel)?;
            return self.make_opaque(&dir, parent_rel);
        }
        if let Some(hidden) = file_name.strip_prefix(WHITEOUT) {
            if matches!(hidden, "" | "." | "..") {
                return Err(format!("the whiteout {file_name:?} names no file (a whiteout is .wh.NAME); refusing the layer"));
            }
            let dir = self.resolve_dir(parent_rel)?;
            return remove_any(&dir.join(hidden));
        }
        let header = entry.header();
        let kind = header.entry_type();
        let mode = header.mode().map_err(|e| format!("bad mode: {e}"))? & 0o7777;
        let owner = (header.uid().unwrap_or(0) as u32, header.gid().unwrap_or(0) as u32);
        let dest = self.resolve_dir(parent_rel)?.join(rel.file_name().ok_or("no file name")?);
        self.remember(&rel);
        if kind.is_dir() {
            match fs::symlink_metadata(&dest) {
                Ok(meta) if meta.is_dir() => {}
                Ok(_) => {
                    remove_any(&dest)?;
                    fs::create_dir(&dest).map_err(|e| format!("cannot create directory: {e}"))?;
                }
                Err(_) => fs::create_dir(&dest).map_err(|e| format!("cannot create directory: {e}"))?,
            }
            fs::set_permissions(&dest, fs::Permissions::from_mode(0o700 | mode)).map_err(|e| format!("cannot set mode: {e}"))?;
            self.chown(&dest, owner)?;
            self.dir_modes.push((dest, mode));
            return Ok(());
        }
        if kind.is_file() {
            remove_any(&dest)?;
            let mut out = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&dest)
                .map_err(|e| format!("cannot create file: {e}"))?;
            io::copy(entry, &mut out).map_err(|e| format!("cannot write file: {e}"))?;
            self.chown(&dest, owner)?;
            // After chown, which clears set-user-ID bits.
            return fs::set_permissions(&dest, fs::Permissions::from_mode(mode)).map_err(|e| format!("cannot set mode: {e}"));
        }
        if kind.is_symlink() {
            let target = entry.link_name().map_err(|e| format!("unreadable link target: {e}"))?.ok_or("symbolic link without a target")?;
            check_symlink_target(&rel, &target)?;
            remove_any(&dest)?;
            std::os::unix::fs::symlink(&target, &dest).map_err(|e| format!("cannot create symbolic link: {e}"))?;
            return self.chown(&dest, owner);
        }
        if kind.is_hard_link() {
            let target = entry.link_name().map_err(|e| format!("unreadable link target: {e}"))?.ok_or("hard link without a target")?;
            let target_rel = relative(&target)?.ok_or("hard link to the rootfs itself")?;
            let source = self.resolve_dir(target_rel.parent().unwrap_or(Path::new("")))?.join(target_rel.file_name().ok_or("no file name")?);
            match fs::symlink_metadata(&source) {
                Ok(meta) if !meta.is_dir() => {}
                _ => return Err(format!("hard link to {}, which is not a file of the rootfs", target.display())),
            }
            remove_any(&dest)?;
            return fs::hard_link(&source, &dest).map_err(|e| format!("cannot create hard link: {e}"));
        }
        tracing::debug!(path = %rel.display(), kind = ?kind, "skipping a layer entry of a kind hooklet does not create");
        Ok(())
    }

    /// Records that this layer wrote `rel` (and so its parents).
    fn remember(&mut self, rel: &Path) {
        for ancestor in rel.ancestors().filter(|a| !a.as_os_str().is_empty()) {
            if !self.this_layer.insert(ancestor.to_path_buf()) {
                break;
            }
        }
    }

    /// Removes what lower layers left in `dir` (archive path `rel`).
    fn make_opaque(&mut self, dir: &Path, rel: &Path) -> Result<(), String> {
        self.remember(rel);
        let children = fs::read_dir(dir).map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
        for child in children {
            let child = child.map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
            if !self.this_layer.contains(&rel.join(child.file_name())) {
                remove_any(&child.path())?;
            }
        }
        Ok(())
    }

    /// The host path of directory `rel` of the rootfs, creating missing directories and
    /// following symbolic links inside the rootfs (an absolute target starts at the
    /// rootfs); refuses links that lead out of it and paths through non-directories.
    fn resolve_dir(&self, rel: &Path) -> Result<PathBuf, String> {
        let mut done: Vec<OsString> = Vec::new();
        let mut todo: Vec<OsString> = rel.iter().rev().map(|c| c.to_os_string()).collect();
        let mut links = 0;
        while let Some(part) = todo.pop() {
            if part == ".." {
                done.pop().ok_or_else(|| format!("{} leads out of the rootfs through a symbolic link; refusing the layer", rel.display()))?;
                continue;
            }
            if part == "." || part.is_empty() {
                continue;
            }
            let path = self.root.join(done.iter().collect::<PathBuf>()).join(&part);
            match fs::symlink_metadata(&path) {
                Ok(meta) if meta.file_type().is_symlink() => {
                    links += 1;
                    if links > MAX_LINKS {
                        return Err(format!("too many levels of symbolic links under {}", rel.display()));
                    }
                    let target = fs::read_link(&path).map_err(|e| format!("cannot read link {}: {e}", path.display()))?;
                    if target.is_absolute() {
                        done.clear();
                    }
                    todo.extend(target.iter().filter(|c| *c != "/").rev().map(|c| c.to_os_string()));
                }
                Ok(meta) if meta.is_dir() => done.push(part),
                Ok(_) => return Err(format!("{} is not a directory", path.display())),
                Err(err) if err.kind() == io::ErrorKind::NotFound => {
                    fs::create_dir(&path).map_err(|e| format!("cannot create {}: {e}", path.display()))?;
                    done.push(part);
                }
                Err(err) => return Err(format!("cannot inspect {}: {err}", path.display())),
            }
        }
        Ok(self.root.join(done.iter().collect::<PathBuf>()))
    }

    /// Whether `path` (under the rootfs) is a directory reached from the rootfs through
    /// directories only, no symbolic link on the way.
    fn is_real_dir(&self, path: &Path) -> bool {
        let Ok(rel) = path.strip_prefix(self.root) else { return false };
        let mut at = self.root.to_path_buf();
        rel.components().all(|part| {
            at.push(part);
            fs::symlink_metadata(&at).is_ok_and(|meta| meta.is_dir())
        })
    }

    fn chown(&self, path: &Path, (uid, gid): (u32, u32)) -> Result<(), String> {
        if !self.as_root {
            return Ok(());
        }
        std::os::unix::fs::lchown(path, Some(uid), Some(gid)).map_err(|e| format!("cannot set the owner of {}: {e}", path.display()))
    }
}

/// The entry path relative to the rootfs (`./` dropped); `None` for the rootfs itself;
/// an error for absolute paths and `..`.
fn relative(path: &Path) -> Result<Option<PathBuf>, String> {
    let mut rel = PathBuf::new();
    for component in path.components() {
        match component {
            Component::Normal(part) => rel.push(part),
            Component::CurDir => {}
            Component::ParentDir | Component::RootDir | Component::Prefix(_) => {
                return Err(format!("unsafe path {} (absolute or with ..): the layer could write outside the rootfs; refusing it", path.display()));
            }
        }
    }
    Ok((!rel.as_os_str().is_empty()).then_some(rel))
}

/// Refuses a relative symbolic link at `rel` whose target climbs above the rootfs
/// (absolute targets are resolved inside the container's root, so they stay in).
fn check_symlink_target(rel: &Path, target: &Path) -> Result<(), String> {
    if target.is_absolute() {
        return Ok(());
    }
    let mut depth = rel.components().count() as i64 - 1;
    for component in target.components() {
        match component {
            Component::ParentDir => depth -= 1,
            Component::Normal(_) => depth += 1,
            _ => {}
        }
        if depth < 0 {
            return Err(format!("symbolic link to {} leads out of the rootfs; refusing the layer", target.display()));
        }
    }
    Ok(())
}

/// Removes whatever is at `path` (a directory with its content); nothing there is fine.
fn remove_any(path: &Path) -> Result<(), String> {
    let result = match fs::symlink_metadata(path) {
        Ok(meta) if meta.is_dir() => fs::remove_dir_all(path),
        Ok(_) => fs::remove_file(path),
        Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(err) => Err(err),
    };
    result.map_err(|e| format!("cannot remove {}: {e}", path.display()))
}

#[cfg(test)]
#[path = "unpack_tests.rs"]
mod tests;
