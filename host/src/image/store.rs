//! The local image store: `DIR/HEX/` per image (HEX: the config digest, the image ID),
//! holding `image.json` (the record) and `rootfs/` (the layers unpacked). Changes hold
//! `DIR/.lock`; an import unpacks into `DIR/.import-*` and renames into place, so a
//! crash leaves no half image.

use std::fs::{self, File};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::archive::{self, ImageSource};
use super::config::ImageConfig;
use super::error::ImageError;
use super::reference::Reference;
use super::unpack;

const RECORD: &str = "image.json";
const STAGING_PREFIX: &str = ".import-";
const TRASH_PREFIX: &str = ".trash-";

/// A stored image.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Image {
    /// The image ID: the config's digest, `sha256:…`.
    pub id: String,
    /// The manifest's digest (`None` when imported from an old `docker save` archive).
    pub manifest_digest: Option<String>,
    /// The digest of the index (multi-platform manifest list) it was pulled through, so
    /// `NAME@sha256:<index>` finds it too.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index_digest: Option<String>,
    /// Normalised references (`docker.io/library/busybox:latest`); empty for an image
    /// whose names moved to newer imports.
    pub references: Vec<String>,
    /// What its containers run by default.
    pub config: ImageConfig,
    /// The layer blobs' digests, bottom first.
    pub layers: Vec<String>,
    /// Bytes of the unpacked rootfs (hard-linked files counted once).
    pub size_bytes: u64,
    /// When it was imported (RFC 3339).
    pub imported_at: String,
    /// Its directory in the store.
    #[serde(skip)]
    pub dir: PathBuf,
}

impl Image {
    /// The unpacked root filesystem, shared by the image's containers: read-only.
    pub fn rootfs(&self) -> PathBuf {
        self.dir.join("rootfs")
    }

    /// The first 12 hex digits of the ID, as `image list` shows it.
    pub fn short_id(&self) -> &str {
        let hex = self.id.strip_prefix("sha256:").unwrap_or(&self.id);
        &hex[..hex.len().min(12)]
    }
}

/// What an import did with one image of the archive.
#[derive(Debug, Clone)]
pub struct Imported {
    /// The image as stored now.
    pub image: Image,
    /// It was already stored (only its references were updated).
    pub already_present: bool,
}

/// What `remove` did.
#[derive(Debug, Clone, PartialEq)]
pub struct Removed {
    /// References taken off.
    pub untagged: Vec<String>,
    /// The ID of the image deleted, when it was (no reference left, or removed by ID).
    pub deleted: Option<String>,
}

/// The image store in one directory (the daemon's is `STATE_DIR/images`).
#[derive(Debug, Clone)]
pub struct ImageStore {
    dir: PathBuf,
}

impl ImageStore {
    /// Opens the store in `dir`, creating it (mode 0700) if needed.
    pub fn open(dir: impl Into<PathBuf>) -> Result<ImageStore, ImageError> {
        let dir = dir.into();
        if !dir.is_dir() {
            fs::create_dir_all(&dir).map_err(ImageError::io("cannot create the image store", &dir))?;
            use std::os::unix::fs::PermissionsExt;
            fs::set_permissions(&dir, fs::Permissions::from_mode(0o700)).map_err(ImageError::io("cannot set the mode of", &dir))?;
        }
        Ok(ImageStore { dir })
    }

    /// The store's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Imports every image of `archive` (an OCI image layout tar or a `docker save`
    /// tar): blobs checked against their digests, layers unpacked in order. A name an
    /// older image had moves to the new one. An image already stored (same config
    /// digest) is not unpacked again: only its names are updated.
    pub fn import(&self, archive: &Path) -> Result<Vec<Imported>, ImageError> {
        let (_lock, staging) = self.begin_change()?;
        let result = self.import_staged(archive, &staging).map_err(|e| e.or_full(&self.dir));
        if let Err(err) = fs::remove_dir_all(&staging) {
            tracing::warn!(dir = %staging.display(), %err, "cannot remove the import's staging directory");
        }
        result
    }

    fn import_staged(&self, archive: &Path, staging: &Path) -> Result<Vec<Imported>, ImageError> {
        let sources = archive::read(archive, &staging.join("archive"))?;
        if sources.is_empty() {
            return Err(ImageError::archive(archive, "the archive lists no image"));
        }
        sources.iter().map(|source| self.add(archive, source, staging)).collect()
    }

    /// Stores one checked image whose blobs are staged under `staging`: unpacked into
    /// `staging/HEX` and renamed into place, unless an image with its config digest is
    /// stored already (then only its names are updated). `origin` (the archive, or the
    /// registry reference of a pull) names it in errors. The caller holds the lock.
    pub(crate) fn add(&self, origin: &Path, source: &ImageSource, staging: &Path) -> Result<Imported, ImageError> {
        self.add_with(origin, source, |work| self.unpack(origin, source, work), staging)
    }

    /// [`ImageStore::add`] of an image whose layers the caller has unpacked already
    /// into [`ImageStore::rootfs_in`]`(staging, …)` (a pull unpacks while it
    /// downloads), checked against `config`'s diff IDs.
    pub(crate) fn add_unpacked(&self, origin: &Path, source: &ImageSource, config: ImageConfig, staging: &Path) -> Result<Imported, ImageError> {
        self.add_with(origin, source, |work| self.place(source, config, work), staging)
    }

    /// Where the layers of the image with config digest `id` are unpacked during the
    /// change staged in `staging`.
    pub(crate) fn rootfs_in(staging: &Path, id: &str) -> PathBuf {
        staging.join(id.trim_start_matches("sha256:")).join("rootfs")
    }

    fn add_with(
        &self,
        origin: &Path,
        source: &ImageSource,
        unpack: impl FnOnce(&Path) -> Result<Image, ImageError>,
        staging: &Path,
    ) -> Result<Imported, ImageError> {
        let names = source
            .names
            .iter()
            .map(|name| Reference::parse(name).map(|r| r.to_string()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| ImageError::archive(origin, format!("the archive names an image badly: {e}")))?;
        let hex = source.config.digest.trim_start_matches("sha256:").to_string();
        let existing = self.read_record(&self.dir.join(&hex)).ok();
        let already_present = existing.is_some();
        let mut image = match existing {
            Some(image) => image,
            None => unpack(&staging.join(&hex))?,
        };
        for name in names {
            self.take_reference(&name, &image.id)?;
            if !image.references.contains(&name) {
                image.references.push(name);
            }
        }
        if source.index_digest.is_some() {
            image.index_digest = source.index_digest.clone();
        }
        self.write_record(&image)?;
        tracing::info!(id = %image.id, references = ?image.references, already_present, "stored an image");
        Ok(Imported { image, already_present })
    }

    /// Whether an image with this config digest (image ID) is stored.
    pub(crate) fn has(&self, id: &str) -> bool {
        self.dir.join(id.trim_start_matches("sha256:")).join(RECORD).is_file()
    }

    /// Takes the store's lock and removes what an interrupted change left; returns the
    /// lock and a fresh staging directory name (not created) for one change.
    pub(crate) fn begin_change(&self) -> Result<(File, PathBuf), ImageError> {
        let lock = self.lock()?;
        self.sweep();
        Ok((lock, self.dir.join(format!("{STAGING_PREFIX}{}", uuid::Uuid::new_v4()))))
    }

    /// Unpacks `source` into `work` and moves it into the store.
    fn unpack(&self, archive: &Path, source: &ImageSource, work: &Path) -> Result<Image, ImageError> {
        let config = ImageConfig::read(&source.config.path, archive, source.layers.len())?;
        let rootfs = work.join("rootfs");
        fs::create_dir_all(&rootfs).map_err(ImageError::io("cannot create", &rootfs))?;
        let count = source.layers.len();
        for (i, (layer, diff_id)) in source.layers.iter().zip(&config.diff_ids).enumerate() {
            let what = format!("layer {} of {count}", i + 1);
            let fail = |e: String| ImageError::archive(archive, format!("{what} ({}): {e}", layer.digest));
            let actual = unpack::apply_layer(&rootfs, unpack::open_layer(&layer.path).map_err(fail)?).map_err(fail)?;
            if &actual != diff_id {
                return Err(ImageError::DigestMismatch {
                    file: archive.to_path_buf(),
                    blob: diff_id.clone(),
                    what: format!("{what}, uncompressed (the config's rootfs.diff_ids)"),
                    actual,
                });
            }
        }
        self.place(source, config, work)
    }

    /// Moves the image unpacked in `work` into the store, with its record.
    fn place(&self, source: &ImageSource, config: ImageConfig, work: &Path) -> Result<Image, ImageError> {
        let rootfs = work.join("rootfs");
        let dir = self.dir.join(work.file_name().expect("the work directory is named by the image"));
        let image = Image {
            id: source.config.digest.clone(),
            manifest_digest: source.manifest_digest.clone(),
            index_digest: source.index_digest.clone(),
            references: Vec::new(),
            config,
            layers: source.layers.iter().map(|l| l.digest.clone()).collect(),
            size_bytes: disk_usage(&rootfs),
            imported_at: humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
            dir: work.to_path_buf(),
        };
        // With its record, so the image is whole from the moment it is in place.
        self.write_record(&image)?;
        fs::rename(work, &dir).map_err(ImageError::io("cannot move the unpacked image to", &dir))?;
        Ok(Image { dir, ..image })
    }

    /// Takes reference `name` off every image other than `keep`.
    fn take_reference(&self, name: &str, keep: &str) -> Result<(), ImageError> {
        for mut other in self.list()? {
            if other.id != keep && other.references.iter().any(|r| r == name) {
                other.references.retain(|r| r != name);
                tracing::info!(%name, from = %other.id, "the reference moves to the newly imported image");
                self.write_record(&other)?;
            }
        }
        Ok(())
    }

    /// Every stored image, by first reference (unnamed ones last), then ID.
    pub fn list(&self) -> Result<Vec<Image>, ImageError> {
        let entries = fs::read_dir(&self.dir).map_err(ImageError::io("cannot read the image store", &self.dir))?;
        let mut images = Vec::new();
        for entry in entries.flatten() {
            let name = entry.file_name();
            if name.to_str().is_some_and(|n| n.len() == 64 && n.bytes().all(|b| b.is_ascii_hexdigit())) {
                match self.read_record(&entry.path()) {
                    Ok(image) => images.push(image),
                    // Removed by another process since the directory was read.
                    Err(ImageError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {}
                    Err(err) => return Err(err),
                }
            }
        }
        images.sort_by(|a, b| (a.references.is_empty(), &a.references, &a.id).cmp(&(b.references.is_empty(), &b.references, &b.id)));
        Ok(images)
    }

    /// The stored image a pod's `image` names (`busybox`, `busybox:latest`,
    /// `docker.io/library/busybox:latest`, `busybox@sha256:…`), or the kubelet-shaped
    /// failure: `ErrImageNeverPull` saying how to import it, `InvalidImageName`.
    pub fn resolve(&self, image: &str) -> Result<Image, ImageError> {
        self.resolve_in(&self.list()?, image).cloned()
    }

    /// [`Self::resolve`] among `images` (a [`Self::list`] already read), so that
    /// resolving many names reads the store once.
    pub fn resolve_in<'a>(&self, images: &'a [Image], image: &str) -> Result<&'a Image, ImageError> {
        let wanted = Reference::parse(image)?;
        let found = images.iter().find(|stored| {
            let digests = [&stored.manifest_digest, &stored.index_digest];
            stored.references.iter().filter_map(|r| Reference::parse(r).ok()).any(|r| {
                digests.iter().filter_map(|d| d.as_deref()).chain([""]).any(|digest| r.satisfies(digest, &wanted))
            })
        });
        found.ok_or_else(|| ImageError::NotPresent { image: image.to_string(), store: self.dir.clone() })
    }

    /// `image rm NAME`: takes a reference off its image, deleting the image when it was
    /// the last; an ID (or a unique prefix of one) deletes the image.
    pub fn remove(&self, name: &str) -> Result<Removed, ImageError> {
        let _lock = self.lock()?;
        let images = self.list()?;
        if let Ok(reference) = Reference::parse(name) {
            let reference = reference.to_string();
            if let Some(mut image) = images.iter().find(|i| i.references.contains(&reference)).cloned() {
                image.references.retain(|r| *r != reference);
                if !image.references.is_empty() {
                    self.write_record(&image)?;
                    return Ok(Removed { untagged: vec![reference], deleted: None });
                }
                self.delete(&image)?;
                return Ok(Removed { untagged: vec![reference], deleted: Some(image.id) });
            }
        }
        let prefix = name.strip_prefix("sha256:").unwrap_or(name);
        let matching: Vec<&Image> = images.iter().filter(|i| !prefix.is_empty() && i.id[7..].starts_with(prefix)).collect();
        match matching.as_slice() {
            [] => Err(ImageError::Unknown { name: name.to_string(), store: self.dir.clone() }),
            [image] => {
                self.delete(image)?;
                Ok(Removed { untagged: image.references.clone(), deleted: Some(image.id.clone()) })
            }
            many => Err(ImageError::Ambiguous { prefix: name.to_string(), count: many.len() }),
        }
    }

    fn delete(&self, image: &Image) -> Result<(), ImageError> {
        let trash = self.dir.join(format!("{TRASH_PREFIX}{}", uuid::Uuid::new_v4()));
        fs::rename(&image.dir, &trash).map_err(ImageError::io("cannot remove", &image.dir))?;
        fs::remove_dir_all(&trash).map_err(ImageError::io("cannot remove", &trash))?;
        tracing::info!(id = %image.id, "removed an image");
        Ok(())
    }

    /// Removes what an interrupted import or removal left (the caller holds the lock).
    fn sweep(&self) {
        for entry in fs::read_dir(&self.dir).into_iter().flatten().flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with(STAGING_PREFIX) || name.starts_with(TRASH_PREFIX) {
                tracing::info!(dir = %entry.path().display(), "removing what an interrupted import or removal left");
                let _ = fs::remove_dir_all(entry.path());
            }
        }
    }

    fn lock(&self) -> Result<File, ImageError> {
        let path = self.dir.join(".lock");
        let file = File::create(&path).map_err(ImageError::io("cannot create", &path))?;
        file.lock().map_err(ImageError::io("cannot lock", &path))?;
        Ok(file)
    }

    fn read_record(&self, dir: &Path) -> Result<Image, ImageError> {
        let path = dir.join(RECORD);
        let text = fs::read(&path).map_err(ImageError::io("cannot read", &path))?;
        let mut image: Image = serde_json::from_slice(&text).map_err(|e| ImageError::BadRecord { path: path.clone(), why: e.to_string() })?;
        image.dir = dir.to_path_buf();
        Ok(image)
    }

    /// Writes the record atomically (a new file renamed over the old one).
    fn write_record(&self, image: &Image) -> Result<(), ImageError> {
        let path = image.dir.join(RECORD);
        let tmp = image.dir.join(format!("{RECORD}.tmp"));
        let text = serde_json::to_vec_pretty(image).expect("an image record serialises");
        fs::write(&tmp, text).map_err(ImageError::io("cannot write", &tmp))?;
        fs::rename(&tmp, &path).map_err(ImageError::io("cannot write", &path))
    }
}

/// Bytes of the regular files under `root`, each inode once.
fn disk_usage(root: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let mut seen = std::collections::HashSet::new();
    let mut total = 0;
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir).into_iter().flatten().flatten() {
            let Ok(meta) = entry.path().symlink_metadata() else { continue };
            if meta.is_dir() {
                stack.push(entry.path());
            } else if meta.is_file() && seen.insert((meta.dev(), meta.ino())) {
                total += meta.len();
            }
        }
    }
    total
}

#[cfg(test)]
#[path = "store_tests.rs"]
mod tests;
