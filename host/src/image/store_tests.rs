//! Tests of the image store with small archives built here.

use std::collections::BTreeMap;

use serde_json::json;

use super::*;
use crate::image::testutil::{digest, docker_save, layer, oci_layout, tar_of, E};

struct Fixture {
    _dir: tempfile::TempDir,
    store: ImageStore,
    work: PathBuf,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let store = ImageStore::open(dir.path().join("images")).unwrap();
    let work = dir.path().to_path_buf();
    Fixture { _dir: dir, store, work }
}

impl Fixture {
    fn archive(&self, name: &str, files: &BTreeMap<String, Vec<u8>>) -> PathBuf {
        let path = self.work.join(name);
        fs::write(&path, tar_of(files)).unwrap();
        path
    }
}

fn run_config() -> serde_json::Value {
    json!({"Entrypoint": ["/bin/tool"], "Cmd": ["serve", "-v"], "Env": ["PATH=/bin", "MODE=x"], "WorkingDir": "/srv", "StopSignal": "SIGQUIT"})
}

fn two_layers() -> Vec<Vec<u8>> {
    vec![
        layer(&[E::Dir("bin"), E::File("bin/tool", "v1"), E::File("bin/old", "o")]),
        layer(&[E::File("bin/.wh.old", ""), E::File("bin/tool", "v2")]),
    ]
}

#[test]
fn import_unpacks_the_layers_and_records_config_and_reference() {
    let f = fixture();
    let archive = f.archive("app.tar", &oci_layout(&two_layers(), run_config(), Some("example.com/team/app:1.0")));
    let imported = f.store.import(&archive).unwrap();
    assert_eq!(imported.len(), 1);
    assert!(!imported[0].already_present);
    let image = &imported[0].image;
    assert_eq!(image.references, ["example.com/team/app:1.0"]);
    assert_eq!(image.config.entrypoint, ["/bin/tool"]);
    assert_eq!(image.config.cmd, ["serve", "-v"]);
    assert_eq!(image.config.env, ["PATH=/bin", "MODE=x"]);
    assert_eq!(image.config.working_dir.as_deref(), Some("/srv"));
    assert_eq!(image.config.stop_signal.as_deref(), Some("SIGQUIT"));
    assert_eq!(image.layers.len(), 2);
    assert_eq!(fs::read_to_string(image.rootfs().join("bin/tool")).unwrap(), "v2");
    assert!(!image.rootfs().join("bin/old").exists());
    assert_eq!(image.size_bytes, 2);
    assert_eq!(f.store.list().unwrap(), vec![image.clone()], "the record reads back the same");
    // Importing again changes nothing but says so.
    assert!(f.store.import(&archive).unwrap()[0].already_present);
    let leftovers: Vec<_> = fs::read_dir(f.store.dir()).unwrap().flatten().filter(|e| e.file_name().to_string_lossy().starts_with(".import-")).collect();
    assert!(leftovers.is_empty(), "the staging directory is removed");
}

#[test]
fn a_blob_whose_content_does_not_match_its_digest_is_refused() {
    let f = fixture();
    let mut files = oci_layout(&two_layers(), run_config(), Some("app:1"));
    let (name, data) = files.iter_mut().find(|(_, data)| data.starts_with(&[0x1f, 0x8b])).unwrap();
    let blob = format!("sha256:{}", name.trim_start_matches("blobs/sha256/"));
    data.push(0);
    let archive = f.archive("corrupt.tar", &files);
    let err = f.store.import(&archive).unwrap_err();
    assert!(matches!(err, ImageError::DigestMismatch { .. }), "{err:?}");
    let text = err.to_string();
    assert!(text.contains(&blob) && text.contains("layer ") && text.contains("corrupt.tar") && text.contains("make or copy it again"), "{text}");
    assert!(err.is_bad_input());
    assert!(f.store.list().unwrap().is_empty(), "nothing was stored");
}

#[test]
fn a_corrupt_manifest_or_missing_layer_is_refused() {
    let f = fixture();
    let files = oci_layout(&two_layers(), run_config(), Some("app:1"));
    let index: serde_json::Value = serde_json::from_slice(&files["index.json"]).unwrap();
    let manifest = index["manifests"][0]["digest"].as_str().unwrap().to_string();
    let mut corrupt = files.clone();
    corrupt.insert(format!("blobs/sha256/{}", &manifest[7..]), b"{}".to_vec());
    let err = f.store.import(&f.archive("m.tar", &corrupt)).unwrap_err();
    assert!(err.to_string().contains(&format!("blob {manifest} (manifest) is corrupt")), "{err}");

    let mut missing = files.clone();
    let layer = missing.keys().find(|k| missing[*k].starts_with(&[0x1f, 0x8b])).unwrap().clone();
    missing.remove(&layer);
    let err = f.store.import(&f.archive("l.tar", &missing)).unwrap_err().to_string();
    assert!(err.contains("is missing") && err.contains(&layer), "{err}");
}

#[test]
fn an_uncompressed_layer_that_does_not_match_its_diff_id_is_refused() {
    let f = fixture();
    let mut files = oci_layout(&two_layers(), run_config(), Some("app:1"));
    // A config claiming another diff ID (its own digest updated, so only the diff ID is wrong).
    let index: serde_json::Value = serde_json::from_slice(&files["index.json"]).unwrap();
    let manifest_name = format!("blobs/sha256/{}", &index["manifests"][0]["digest"].as_str().unwrap()[7..]);
    let mut manifest: serde_json::Value = serde_json::from_slice(&files[&manifest_name]).unwrap();
    let config_name = format!("blobs/sha256/{}", &manifest["config"]["digest"].as_str().unwrap()[7..]);
    let mut config: serde_json::Value = serde_json::from_slice(&files[&config_name]).unwrap();
    config["rootfs"]["diff_ids"][1] = json!(digest(b"something else"));
    let config = config.to_string().into_bytes();
    manifest["config"] = json!({"mediaType": "application/vnd.oci.image.config.v1+json", "digest": digest(&config), "size": config.len()});
    files.insert(format!("blobs/sha256/{}", &digest(&config)[7..]), config);
    let manifest = manifest.to_string().into_bytes();
    let index = json!({"schemaVersion": 2, "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": digest(&manifest), "size": manifest.len()}]});
    files.insert(format!("blobs/sha256/{}", &digest(&manifest)[7..]), manifest);
    files.insert("index.json".into(), index.to_string().into_bytes());
    let err = f.store.import(&f.archive("d.tar", &files)).unwrap_err().to_string();
    assert!(err.contains("layer 2 of 2, uncompressed") && err.contains(&digest(b"something else")), "{err}");
    assert!(f.store.list().unwrap().is_empty());
}

#[test]
fn a_layer_with_a_traversal_path_fails_the_import() {
    let f = fixture();
    let archive = f.archive("t.tar", &oci_layout(&[layer(&[E::Unchecked("../../evil")])], run_config(), Some("evil:1")));
    let err = f.store.import(&archive).unwrap_err().to_string();
    assert!(err.contains("layer 1 of 1") && err.contains("unsafe path"), "{err}");
    assert!(!f.work.join("evil").exists() && f.store.list().unwrap().is_empty());
}

#[test]
fn resolve_normalises_names_and_explains_a_missing_image() {
    let f = fixture();
    let files = oci_layout(&two_layers(), run_config(), Some("busybox:latest"));
    let image = f.store.import(&f.archive("bb.tar", &files)).unwrap().remove(0).image;
    let manifest = image.manifest_digest.clone().unwrap();
    for name in ["busybox", "busybox:latest", "docker.io/library/busybox:latest", &format!("busybox@{manifest}")] {
        assert_eq!(f.store.resolve(name).unwrap().id, image.id, "{name}");
    }
    let err = f.store.resolve("busybox:1.36").unwrap_err();
    assert_eq!(err.reason(), "ErrImageNeverPull");
    let text = err.to_string();
    assert!(text.starts_with("Container image \"busybox:1.36\" is not present with pull policy of Never"), "{text}");
    assert!(text.contains("hooklet image import FILE") && text.contains(&f.store.dir().display().to_string()), "{text}");
    assert_eq!(f.store.resolve("BusyBox").unwrap_err().reason(), "InvalidImageName");
}

#[test]
fn a_name_moves_to_a_newer_import_and_rm_untags_then_deletes() {
    let f = fixture();
    let old = f.store.import(&f.archive("1.tar", &oci_layout(&two_layers(), run_config(), Some("app:latest")))).unwrap().remove(0).image;
    let new_layers = vec![layer(&[E::File("version", "2")])];
    let new = f.store.import(&f.archive("2.tar", &oci_layout(&new_layers, run_config(), Some("app:latest")))).unwrap().remove(0).image;
    let list = f.store.list().unwrap();
    assert_eq!(list.len(), 2);
    assert_eq!(list[0].id, new.id);
    assert_eq!(list[0].references, ["docker.io/library/app:latest"]);
    assert!(list[1].references.is_empty(), "the old image lost its name: {:?}", list[1]);
    assert_eq!(f.store.resolve("app").unwrap().id, new.id);

    let removed = f.store.remove("app").unwrap();
    assert_eq!(removed, Removed { untagged: vec!["docker.io/library/app:latest".into()], deleted: Some(new.id.clone()) });
    assert!(!new.dir.exists());
    let removed = f.store.remove(&old.short_id()[..8]).unwrap();
    assert_eq!(removed.deleted, Some(old.id.clone()));
    assert!(f.store.list().unwrap().is_empty());
    let err = f.store.remove("app").unwrap_err();
    assert!(matches!(err, ImageError::Unknown { .. }) && err.to_string().contains("hooklet image list"), "{err}");
}

#[test]
fn not_an_image_archive_says_what_is_expected() {
    let f = fixture();
    let mut files = BTreeMap::new();
    files.insert("hello.txt".to_string(), b"hi".to_vec());
    let err = f.store.import(&f.archive("x.tar", &files)).unwrap_err();
    assert!(err.is_bad_input());
    assert!(err.to_string().contains("neither index.json (an OCI image layout) nor manifest.json (docker save)"), "{err}");
}

#[test]
fn a_docker_save_archive_imports_with_its_layers_checked_against_the_diff_ids() {
    let f = fixture();
    let files = docker_save(&two_layers(), run_config(), &["app:2", "registry.local:5000/app:2"]);
    let image = f.store.import(&f.archive("save.tar", &files)).unwrap().remove(0).image;
    assert_eq!(image.references, ["docker.io/library/app:2", "registry.local:5000/app:2"]);
    assert_eq!(image.manifest_digest, None);
    assert_eq!(fs::read_to_string(image.rootfs().join("bin/tool")).unwrap(), "v2");
    assert_eq!(f.store.resolve("registry.local:5000/app:2").unwrap().id, image.id);

    // Into an empty store (an image already stored is not unpacked again).
    let f = fixture();
    let mut corrupt = files.clone();
    corrupt.insert("1/layer.tar".into(), layer(&[E::File("bin/tool", "tampered")]));
    let err = f.store.import(&f.archive("bad.tar", &corrupt)).unwrap_err().to_string();
    assert!(err.contains("layer 2 of 2, uncompressed") && err.contains("is corrupt"), "{err}");
}

#[test]
fn a_multi_platform_index_imports_the_image_for_this_machine() {
    let f = fixture();
    let mut files = oci_layout(&two_layers(), run_config(), None);
    let inner: serde_json::Value = serde_json::from_slice(&files["index.json"]).unwrap();
    let mut ours = inner["manifests"][0].clone();
    ours["platform"] = json!({"os": "linux", "architecture": crate::image::archive::host_architecture()});
    let other = json!({"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": digest(b"absent"), "size": 6,
                       "platform": {"os": "linux", "architecture": "s390x"}});
    let nested = json!({"schemaVersion": 2, "manifests": [other, ours]}).to_string().into_bytes();
    let nested_digest = digest(&nested);
    files.insert(format!("blobs/sha256/{}", &nested_digest[7..]), nested.clone());
    let index = json!({"schemaVersion": 2, "manifests": [{"mediaType": "application/vnd.oci.image.index.v1+json",
        "digest": nested_digest, "size": nested.len(), "annotations": {"io.containerd.image.name": "docker.io/library/multi:1"}}]});
    files.insert("index.json".into(), index.to_string().into_bytes());
    let image = f.store.import(&f.archive("multi.tar", &files)).unwrap().remove(0).image;
    assert_eq!(image.references, ["docker.io/library/multi:1"]);
    assert_eq!(image.manifest_digest.as_deref(), ours["digest"].as_str());
}
