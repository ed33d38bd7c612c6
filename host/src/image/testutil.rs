//! Small layer tars and image archives built in tests (the integration tests' too).
//! Not a stable API.

use std::collections::BTreeMap;
use std::io::Write;

use serde_json::json;
use sha2::{Digest as _, Sha256};

use super::archive::{host_architecture, hex};

/// One entry of a test layer.
pub enum E<'a> {
    File(&'a str, &'a str),
    Dir(&'a str),
    Symlink(&'a str, &'a str),
    HardLink(&'a str, &'a str),
    /// A file whose path is written as is (absolute, `..`), which `tar::Builder` refuses.
    Unchecked(&'a str),
}

/// A layer tar holding `entries`, in order.
pub fn layer(entries: &[E]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for entry in entries {
        let mut header = tar::Header::new_gnu();
        header.set_mode(0o644);
        match entry {
            E::File(path, content) => {
                header.set_entry_type(tar::EntryType::Regular);
                header.set_size(content.len() as u64);
                builder.append_data(&mut header, path, content.as_bytes()).unwrap();
            }
            E::Dir(path) => {
                header.set_entry_type(tar::EntryType::Directory);
                header.set_mode(0o755);
                header.set_size(0);
                builder.append_data(&mut header, path, &[][..]).unwrap();
            }
            E::Symlink(path, target) | E::HardLink(path, target) => {
                let kind = if matches!(entry, E::Symlink(..)) { tar::EntryType::Symlink } else { tar::EntryType::Link };
                header.set_entry_type(kind);
                header.set_size(0);
                builder.append_link(&mut header, path, target).unwrap();
            }
            E::Unchecked(path) => {
                header.set_entry_type(tar::EntryType::Regular);
                header.set_size(1);
                header.as_old_mut().name[..path.len()].copy_from_slice(path.as_bytes());
                header.set_cksum();
                builder.append(&header, &b"x"[..]).unwrap();
            }
        }
    }
    builder.into_inner().unwrap()
}

/// `data` gzip-compressed.
pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(data).unwrap();
    encoder.finish().unwrap()
}

/// `sha256:` and the hex digest of `data`.
pub fn digest(data: &[u8]) -> String {
    format!("sha256:{}", hex(&Sha256::digest(data)))
}

/// The files of an OCI image layout: `layers` (uncompressed tars, stored gzipped), an
/// image config with `run` as its `config` section, the manifest, and `index.json`
/// naming the image `name`. Tests may edit the files before [`tar_of`].
pub fn oci_layout(layers: &[Vec<u8>], run: serde_json::Value, name: Option<&str>) -> BTreeMap<String, Vec<u8>> {
    let mut files = BTreeMap::new();
    let mut blob = |data: Vec<u8>, media_type: &str| {
        let d = digest(&data);
        let descriptor = json!({"mediaType": media_type, "digest": d, "size": data.len()});
        files.insert(format!("blobs/sha256/{}", &d[7..]), data);
        descriptor
    };
    let layer_descriptors: Vec<_> =
        layers.iter().map(|l| blob(gzip(l), "application/vnd.oci.image.layer.v1.tar+gzip")).collect();
    let config = json!({
        "architecture": host_architecture(),
        "os": "linux",
        "config": run,
        "rootfs": {"type": "layers", "diff_ids": layers.iter().map(|l| digest(l)).collect::<Vec<_>>()},
    });
    let config = blob(config.to_string().into_bytes(), "application/vnd.oci.image.config.v1+json");
    let manifest = json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json", "config": config, "layers": layer_descriptors});
    let mut manifest = blob(manifest.to_string().into_bytes(), "application/vnd.oci.image.manifest.v1+json");
    if let Some(name) = name {
        manifest["annotations"] = json!({"org.opencontainers.image.ref.name": name});
    }
    files.insert("index.json".into(), json!({"schemaVersion": 2, "manifests": [manifest]}).to_string().into_bytes());
    files.insert("oci-layout".into(), br#"{"imageLayoutVersion":"1.0.0"}"#.to_vec());
    files
}

/// A tar of `files`.
pub fn tar_of(files: &BTreeMap<String, Vec<u8>>) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for (path, data) in files {
        let mut header = tar::Header::new_gnu();
        header.set_mode(0o644);
        header.set_size(data.len() as u64);
        builder.append_data(&mut header, path, data.as_slice()).unwrap();
    }
    builder.into_inner().unwrap()
}

/// The files of an old `docker save` archive: `HEX.json` config, `N/layer.tar` layers
/// (uncompressed), `manifest.json` with `RepoTags`.
pub fn docker_save(layers: &[Vec<u8>], run: serde_json::Value, tags: &[&str]) -> BTreeMap<String, Vec<u8>> {
    let mut files = BTreeMap::new();
    let config = json!({
        "architecture": host_architecture(),
        "os": "linux",
        "config": run,
        "rootfs": {"type": "layers", "diff_ids": layers.iter().map(|l| digest(l)).collect::<Vec<_>>()},
    })
    .to_string()
    .into_bytes();
    let config_name = format!("{}.json", &digest(&config)[7..]);
    files.insert(config_name.clone(), config);
    let layer_names: Vec<String> = (0..layers.len()).map(|i| format!("{i}/layer.tar")).collect();
    for (name, data) in layer_names.iter().zip(layers) {
        files.insert(name.clone(), data.clone());
    }
    let manifest = json!([{"Config": config_name, "RepoTags": tags, "Layers": layer_names}]);
    files.insert("manifest.json".into(), manifest.to_string().into_bytes());
    files
}
