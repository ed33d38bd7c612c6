//! Reading an image archive: the outer tar is copied into a staging directory while
//! every file is hashed, then its index (an OCI image layout's `index.json`, or `docker
//! save`'s `manifest.json`) is walked to the images it holds, every blob checked
//! against its digest.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Read, Write};
use std::path::{Component, Path, PathBuf};

use serde::Deserialize;
use sha2::{Digest as _, Sha256};

use super::error::ImageError;
use super::reference::is_sha256_digest;

/// OCI / Docker media types of an index (several manifests) and of one image manifest.
const INDEX_TYPES: [&str; 2] =
    ["application/vnd.oci.image.index.v1+json", "application/vnd.docker.distribution.manifest.list.v2+json"];
const MANIFEST_TYPES: [&str; 2] =
    ["application/vnd.oci.image.manifest.v1+json", "application/vnd.docker.distribution.manifest.v2+json"];
/// Annotations naming an image: containerd's full name first, then the OCI one.
const NAME_ANNOTATIONS: [&str; 2] = ["io.containerd.image.name", "org.opencontainers.image.ref.name"];

/// A blob of the archive, checked against its digest.
#[derive(Debug, Clone)]
pub struct Blob {
    /// The staged copy.
    pub path: PathBuf,
    /// `sha256:…` (for a `docker save` layer: the uncompressed digest is checked later).
    pub digest: String,
}

/// One image found in an archive, its blobs staged and checked.
#[derive(Debug)]
pub struct ImageSource {
    /// The manifest's digest (`None` for an old `docker save` archive, which has none).
    pub manifest_digest: Option<String>,
    /// The index it was found through, for a pull of a multi-platform reference.
    pub index_digest: Option<String>,
    /// The names the archive gives it, as written (not yet parsed).
    pub names: Vec<String>,
    /// The image config.
    pub config: Blob,
    /// The layers, bottom first.
    pub layers: Vec<Blob>,
}

/// A staged file: where it is and its sha256 (hex).
#[derive(Debug)]
struct StagedFile {
    path: PathBuf,
    sha256: String,
}

/// The archive's files, staged.
struct Staged {
    archive: PathBuf,
    files: HashMap<String, StagedFile>,
    /// Symbolic and hard links: archive path -> archive path of the target.
    links: HashMap<String, String>,
}

#[derive(Deserialize)]
struct Descriptor {
    #[serde(rename = "mediaType", default)]
    media_type: String,
    digest: String,
    size: u64,
    #[serde(default)]
    annotations: HashMap<String, String>,
    #[serde(default)]
    platform: Option<Platform>,
}

#[derive(Deserialize)]
struct Platform {
    architecture: String,
    os: String,
}

#[derive(Deserialize)]
struct Index {
    manifests: Vec<Descriptor>,
}

#[derive(Deserialize)]
struct Manifest {
    config: Descriptor,
    layers: Vec<Descriptor>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DockerSaveEntry {
    config: String,
    #[serde(default)]
    repo_tags: Option<Vec<String>>,
    layers: Vec<String>,
}

/// Stages `archive` into `staging` and returns the images it holds, every blob checked.
pub fn read(archive: &Path, staging: &Path) -> Result<Vec<ImageSource>, ImageError> {
    let staged = stage(archive, staging)?;
    if staged.files.contains_key("index.json") {
        let index: Index = staged.json("index.json")?;
        let mut images = Vec::new();
        for descriptor in &index.manifests {
            staged.walk(descriptor, &names_of(descriptor), 0, &mut images)?;
        }
        Ok(images)
    } else if staged.files.contains_key("manifest.json") {
        staged.docker_save()
    } else {
        Err(ImageError::archive(
            archive,
            "neither index.json (an OCI image layout) nor manifest.json (docker save) is at the top of the archive; \
             make one with scripts/build-busybox-image, `skopeo copy … oci-archive:FILE` or `docker save`",
        ))
    }
}

fn names_of(descriptor: &Descriptor) -> Vec<String> {
    let name = NAME_ANNOTATIONS.iter().find_map(|key| descriptor.annotations.get(*key));
    match name {
        // A bare `ref.name` ("latest") is a tag without a repository: nothing to name it by.
        Some(name) if name.contains([':', '/', '@']) => vec![name.clone()],
        Some(name) => {
            tracing::warn!(%name, "the archive names an image by a tag without a repository; it is imported without a name");
            Vec::new()
        }
        None => Vec::new(),
    }
}

/// The OCI architecture name of this machine.
pub fn host_architecture() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "powerpc64" => "ppc64le",
        other => other,
    }
}

impl Staged {
    /// The checked blob of `descriptor`; `what` names it in errors.
    fn blob(&self, descriptor: &Descriptor, what: &str) -> Result<Blob, ImageError> {
        let digest = &descriptor.digest;
        if !is_sha256_digest(digest) {
            return Err(ImageError::archive(&self.archive, format!("{what} has digest {digest:?}; hooklet supports sha256 digests only")));
        }
        let name = format!("blobs/sha256/{}", &digest[7..]);
        let file = self.file(&name).ok_or_else(|| {
            ImageError::archive(&self.archive, format!("{what} {digest} is missing: the archive has no {name}; it is incomplete, make it again"))
        })?;
        self.check(file, digest, what)?;
        let size = file.path.metadata().map_err(ImageError::io("cannot read", &file.path))?.len();
        if size != descriptor.size {
            return Err(ImageError::archive(&self.archive, format!("{what} {digest} has {size} bytes where its descriptor says {}", descriptor.size)));
        }
        Ok(Blob { path: file.path.clone(), digest: digest.clone() })
    }

    fn check(&self, file: &StagedFile, digest: &str, what: &str) -> Result<(), ImageError> {
        if file.sha256 != digest[7..] {
            return Err(ImageError::DigestMismatch {
                file: self.archive.clone(),
                blob: digest.to_string(),
                what: what.to_string(),
                actual: format!("sha256:{}", file.sha256),
            });
        }
        Ok(())
    }

    /// Follows `descriptor` (an index or a manifest) to images, at most 4 indexes deep.
    fn walk(&self, descriptor: &Descriptor, names: &[String], depth: u32, out: &mut Vec<ImageSource>) -> Result<(), ImageError> {
        if INDEX_TYPES.contains(&descriptor.media_type.as_str()) {
            if depth >= 4 {
                return Err(ImageError::archive(&self.archive, "indexes nest more than 4 deep"));
            }
            let index: Index = self.json_blob(descriptor, "index")?;
            let arch = host_architecture();
            let wanted = index.manifests.iter().find(|m| m.platform.as_ref().is_none_or(|p| p.os == "linux" && p.architecture == arch));
            let Some(wanted) = wanted else {
                return Err(ImageError::archive(&self.archive, format!("index {} has no image for linux/{arch}", descriptor.digest)));
            };
            return self.walk(wanted, names, depth + 1, out);
        }
        if !MANIFEST_TYPES.contains(&descriptor.media_type.as_str()) {
            return Err(ImageError::archive(
                &self.archive,
                format!("index.json lists {} with media type {:?}, neither an image manifest nor an index", descriptor.digest, descriptor.media_type),
            ));
        }
        let manifest: Manifest = self.json_blob(descriptor, "manifest")?;
        let config = self.blob(&manifest.config, "config")?;
        let count = manifest.layers.len();
        let layers = manifest
            .layers
            .iter()
            .enumerate()
            .map(|(i, layer)| self.blob(layer, &format!("layer {} of {count}", i + 1)))
            .collect::<Result<_, _>>()?;
        out.push(ImageSource { manifest_digest: Some(descriptor.digest.clone()), index_digest: None, names: names.to_vec(), config, layers });
        Ok(())
    }

    /// An old `docker save` archive: `manifest.json` naming `HEX.json` configs and
    /// `ID/layer.tar` layers (checked against the config's diff IDs when unpacked).
    fn docker_save(&self) -> Result<Vec<ImageSource>, ImageError> {
        let entries: Vec<DockerSaveEntry> = self.json("manifest.json")?;
        entries
            .into_iter()
            .map(|entry| {
                let config_file = self.required(&entry.config, "config")?;
                let hex = entry.config.trim_start_matches("blobs/sha256/").trim_end_matches(".json");
                let digest = format!("sha256:{hex}");
                if !is_sha256_digest(&digest) {
                    return Err(ImageError::archive(&self.archive, format!("manifest.json: config {:?} is not named by its sha256", entry.config)));
                }
                self.check(config_file, &digest, "config")?;
                let layers = entry
                    .layers
                    .iter()
                    .map(|layer| {
                        let file = self.required(layer, "layer")?;
                        Ok(Blob { path: file.path.clone(), digest: format!("sha256:{}", file.sha256) })
                    })
                    .collect::<Result<_, ImageError>>()?;
                Ok(ImageSource {
                    manifest_digest: None,
                    index_digest: None,
                    names: entry.repo_tags.unwrap_or_default(),
                    config: Blob { path: config_file.path.clone(), digest },
                    layers,
                })
            })
            .collect()
    }

    fn required(&self, name: &str, what: &str) -> Result<&StagedFile, ImageError> {
        self.file(name)
            .ok_or_else(|| ImageError::archive(&self.archive, format!("manifest.json names {what} {name:?}, which the archive does not hold")))
    }

    fn json_blob<T: serde::de::DeserializeOwned>(&self, descriptor: &Descriptor, what: &str) -> Result<T, ImageError> {
        let blob = self.blob(descriptor, what)?;
        parse_json(&blob.path, &format!("{what} {}", descriptor.digest), &self.archive)
    }

    fn json<T: serde::de::DeserializeOwned>(&self, name: &str) -> Result<T, ImageError> {
        let file = self.file(name).ok_or_else(|| ImageError::archive(&self.archive, format!("{name} is missing")))?;
        parse_json(&file.path, name, &self.archive)
    }

    /// The staged file at archive path `name`, through links.
    fn file(&self, name: &str) -> Option<&StagedFile> {
        let mut name = normalise(name)?;
        for _ in 0..8 {
            if let Some(file) = self.files.get(&name) {
                return Some(file);
            }
            name = self.links.get(&name)?.clone();
        }
        None
    }
}

/// Parses the JSON file at `path` (`what` of `archive`).
pub fn parse_json<T: serde::de::DeserializeOwned>(path: &Path, what: &str, archive: &Path) -> Result<T, ImageError> {
    let text = std::fs::read(path).map_err(ImageError::io("cannot read", path))?;
    serde_json::from_slice(&text).map_err(|e| ImageError::archive(archive, format!("{what} is not valid: {e}")))
}

/// `a/./b/` -> `a/b`; `None` for absolute paths, `..` and the empty path.
fn normalise(name: &str) -> Option<String> {
    let mut parts = Vec::new();
    for component in Path::new(name).components() {
        match component {
            Component::Normal(part) => parts.push(part.to_str()?),
            Component::CurDir => {}
            _ => return None,
        }
    }
    (!parts.is_empty()).then(|| parts.join("/"))
}

/// Copies every regular file of the archive into `staging`, hashing it on the way.
fn stage(archive: &Path, staging: &Path) -> Result<Staged, ImageError> {
    let bad = |message: String| ImageError::archive(archive, message);
    let file = File::open(archive).map_err(ImageError::io("cannot open", archive))?;
    std::fs::create_dir_all(staging).map_err(ImageError::io("cannot create", staging))?;
    let mut staged = Staged { archive: archive.to_path_buf(), files: HashMap::new(), links: HashMap::new() };
    let mut tar = tar::Archive::new(io::BufReader::new(file));
    let entries = tar.entries().map_err(|e| bad(format!("not a tar archive: {e}")))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| bad(format!("not a readable tar archive: {e}")))?;
        let raw = entry.path().map_err(|e| bad(format!("an entry has an unreadable path: {e}")))?.to_string_lossy().into_owned();
        let Some(name) = normalise(&raw) else {
            if raw.trim_start_matches("./").is_empty() {
                continue;
            }
            return Err(bad(format!("entry {raw:?} has an unsafe path (absolute or with ..); refusing the archive")));
        };
        let kind = entry.header().entry_type();
        if kind.is_file() {
            let path = staging.join(staged.files.len().to_string());
            let sha256 = copy_hashing(&mut entry, &path).map_err(ImageError::io("cannot stage", &path))?;
            staged.files.insert(name, StagedFile { path, sha256 });
        } else if kind.is_symlink() || kind.is_hard_link() {
            let target = entry.link_name().ok().flatten().map(|t| t.to_string_lossy().into_owned()).unwrap_or_default();
            let base = if kind.is_symlink() { Path::new(&name).parent().unwrap_or(Path::new("")) } else { Path::new("") };
            match resolve_dots(base, &target) {
                Some(target) => staged.links.insert(name, target),
                None => return Err(bad(format!("link {raw:?} points outside the archive ({target:?})"))),
            };
        }
    }
    Ok(staged)
}

/// `base/target` with `..` applied, `None` if it leaves the archive.
fn resolve_dots(base: &Path, target: &str) -> Option<String> {
    let mut parts: Vec<String> = base.iter().map(|p| p.to_string_lossy().into_owned()).collect();
    for component in Path::new(target).components() {
        match component {
            Component::Normal(part) => parts.push(part.to_string_lossy().into_owned()),
            Component::ParentDir => {
                parts.pop()?;
            }
            Component::CurDir => {}
            _ => return None,
        }
    }
    (!parts.is_empty()).then(|| parts.join("/"))
}

/// Copies `from` into a new file at `to`; returns the sha256 (hex) of what was copied.
fn copy_hashing(from: &mut impl Read, to: &Path) -> io::Result<String> {
    let mut out = io::BufWriter::new(File::create_new(to)?);
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = from.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        out.write_all(&buf[..n])?;
    }
    out.flush()?;
    Ok(hex(&hasher.finalize()))
}

/// Lowercase hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
