//! `ImageStore::import` of an image archive, the whole of it: the outer tar staged and
//! hashed, `index.json` (OCI layout, nested indexes) or `manifest.json` (`docker save`)
//! walked, every blob checked against its digest and size, the config read, the layers
//! unpacked (see `layer_unpack`) and the image moved into the store with its names.
//! The first byte picks raw mode (the rest is the archive as is) or built mode: an
//! archive whose JSON files, digests, sizes, media types, names and layers come from the
//! fuzzer's bytes, right or wrong by its choice, with extra entries of every kind (links
//! out of the archive, `..` paths) around them. Nothing is written outside the store's
//! directory, and the answer is the imported images or an error, never a panic.
#![no_main]

mod common;

use std::sync::OnceLock;

use common::{digest, gzip, tar_file, tar_stream, text, Bytes, Sandbox};
use hooklet::image::store::ImageStore;
use libfuzzer_sys::fuzz_target;
use serde_json::{json, Value};

fn sandbox() -> &'static Sandbox {
    static SANDBOX: OnceLock<Sandbox> = OnceLock::new();
    SANDBOX.get_or_init(Sandbox::new)
}

const MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const INDEX: &str = "application/vnd.oci.image.index.v1+json";
const LAYER: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
const NAMES: [&str; 6] = ["busybox:latest", "latest", "Bad:Name", "localhost:5000/a/b:c", "docker.io/library/x@sha256:0", ""];

/// One of `choices`, or the fuzzer's own text.
fn pick(input: &mut Bytes, choices: &[&str]) -> String {
    let i = usize::from(input.byte());
    choices.get(i % (choices.len() + 1)).map_or_else(|| text(input, 32), |s| s.to_string())
}

/// `data`'s descriptor; `wrong` (fuzzer's flags) may spoil its digest or size.
fn descriptor(media_type: &str, data: &[u8], wrong: u8) -> Value {
    let mut d = digest(data);
    if wrong & 1 != 0 {
        d = digest(b"something else");
    }
    let size = data.len() as u64 + u64::from(wrong & 2 != 0);
    json!({"mediaType": media_type, "digest": d, "size": size})
}

/// A built archive: blobs, JSON, names and extra entries from `input`.
fn archive(input: &mut Bytes, outside: &std::path::Path) -> Vec<u8> {
    let flags = input.byte();
    let mut blobs: Vec<Vec<u8>> = Vec::new();
    let (mut layers, mut diff_ids) = (Vec::new(), Vec::new());
    for _ in 0..input.byte() % 3 {
        let tar = tar_stream(input, outside, 8);
        diff_ids.push(digest(&tar));
        let blob = if input.byte() & 1 == 0 { gzip(&tar) } else { tar };
        layers.push(descriptor(LAYER, &blob, input.byte() % 8));
        blobs.push(blob);
    }
    if flags & 1 != 0 {
        diff_ids.pop();
    }
    let config = json!({
        "architecture": pick(input, &["amd64", "", "arm64"]),
        "os": pick(input, &["linux", "", "windows"]),
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "config": {"Entrypoint": [text(input, 16)], "Cmd": [text(input, 16)], "Env": [text(input, 32)],
                   "WorkingDir": text(input, 16), "User": text(input, 8), "StopSignal": text(input, 8)},
    });
    let config = serde_json::to_vec(&config).expect("JSON");
    let mut out = Vec::new();
    if flags & 2 != 0 {
        // `docker save`: HEX.json configs, ID/layer.tar layers, manifest.json.
        let hex = &digest(&config)[7..];
        let config_name = if flags & 4 != 0 { format!("{}.json", text(input, 16)) } else { format!("{hex}.json") };
        tar_file(&mut out, &format!("{hex}.json"), &config);
        let names: Vec<String> = blobs.iter().enumerate().map(|(i, _)| format!("{i}/layer.tar")).collect();
        for (name, blob) in names.iter().zip(&blobs) {
            tar_file(&mut out, name, blob);
        }
        let manifest = json!([{"Config": config_name, "RepoTags": [pick(input, &NAMES)], "Layers": names}]);
        tar_file(&mut out, "manifest.json", &serde_json::to_vec(&manifest).expect("JSON"));
    } else {
        let manifest = json!({"schemaVersion": 2, "mediaType": MANIFEST,
            "config": descriptor("application/vnd.oci.image.config.v1+json", &config, input.byte() % 4), "layers": layers});
        let manifest = serde_json::to_vec(&manifest).expect("JSON");
        let mut top = descriptor(&pick(input, &[MANIFEST, INDEX]), &manifest, input.byte() % 4);
        blobs.push(config);
        blobs.push(manifest);
        for _ in 0..input.byte() % 3 {
            // Nested indexes, with or without a platform that fits.
            let arch = pick(input, &["amd64", "arm64"]);
            let mut entry = top.clone();
            entry["platform"] = json!({"os": "linux", "architecture": arch});
            let index = json!({"schemaVersion": 2, "manifests": [entry]});
            let index = serde_json::to_vec(&index).expect("JSON");
            top = descriptor(INDEX, &index, input.byte() % 4);
            blobs.push(index);
        }
        top["annotations"] = json!({"io.containerd.image.name": pick(input, &NAMES)});
        for blob in &blobs {
            tar_file(&mut out, &format!("blobs/sha256/{}", &digest(blob)[7..]), blob);
        }
        tar_file(&mut out, "oci-layout", br#"{"imageLayoutVersion": "1.0.0"}"#);
        let index = serde_json::to_vec(&json!({"schemaVersion": 2, "manifests": [top]})).expect("JSON");
        tar_file(&mut out, "index.json", &index);
    }
    // Extra entries of the fuzzer's own: links, `..` paths, lying sizes, more files.
    let mut extra = tar_stream(input, outside, 4);
    if flags & 8 != 0 {
        out.splice(0..0, extra.drain(..extra.len().saturating_sub(1024)));
    } else {
        out.append(&mut extra);
    }
    out.extend_from_slice(&[0; 1024]);
    out
}

fuzz_target!(|data: &[u8]| {
    let sandbox = sandbox();
    let mut input = Bytes(data);
    let bytes = if input.byte() & 1 == 1 { input.0.to_vec() } else { archive(&mut input, &sandbox.outside) };
    let file = sandbox.work.join("archive.tar");
    std::fs::write(&file, bytes).expect("write the archive");
    let store = ImageStore::open(sandbox.work.join("store")).expect("open the store");
    match store.import(&file) {
        Ok(images) => assert!(!images.is_empty()),
        Err(err) => assert!(!err.to_string().is_empty()),
    }
    sandbox.check_and_reset();
});
