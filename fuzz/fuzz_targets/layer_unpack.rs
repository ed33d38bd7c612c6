//! One or two image layers unpacked over a rootfs (`image::unpack`): the first byte picks
//! raw mode (the rest is the layer stream as is: tar, gzip or anything) or built mode (tar
//! entries of every kind from the fuzzer's bytes: `..` and absolute paths, symbolic and
//! hard links out of the rootfs, whiteouts and opaque markers, modes, lying sizes, a
//! content repeated to 1 MiB; gzip-compressed or not, cut short or not). The rootfs sits
//! in a sandbox beside a directory that must come through untouched: nothing is ever
//! written outside the rootfs, whatever the layer; the unpacker answers a diff ID or an
//! error, never a panic.
#![no_main]

mod common;

use std::io::BufReader;
use std::sync::OnceLock;

use common::{gzip, tar_stream, Bytes, Sandbox};
use hooklet::image::unpack::{apply_layer, decompressed};
use libfuzzer_sys::fuzz_target;

fn sandbox() -> &'static Sandbox {
    static SANDBOX: OnceLock<Sandbox> = OnceLock::new();
    SANDBOX.get_or_init(Sandbox::new)
}

fn apply(rootfs: &std::path::Path, stream: Vec<u8>) {
    let Ok(reader) = decompressed(BufReader::new(std::io::Cursor::new(stream))) else { return };
    if let Ok(diff_id) = apply_layer(rootfs, reader) {
        assert!(diff_id.starts_with("sha256:") && diff_id.len() == 71, "{diff_id}");
    }
}

fuzz_target!(|data: &[u8]| {
    let sandbox = sandbox();
    let rootfs = sandbox.work.join("rootfs");
    std::fs::create_dir(&rootfs).expect("create the rootfs");
    let mut input = Bytes(data);
    let mode = input.byte();
    if mode & 1 == 1 {
        apply(&rootfs, input.0.to_vec());
    } else {
        let layers = if mode & 2 == 2 { 2 } else { 1 };
        for _ in 0..layers {
            let mut stream = tar_stream(&mut input, &sandbox.outside, 16);
            if mode & 4 == 4 {
                stream = gzip(&stream);
            }
            if mode & 8 == 8 {
                let keep = usize::from(input.u16()) % (stream.len() + 1);
                stream.truncate(keep);
            }
            apply(&rootfs, stream);
        }
    }
    // Nor does it touch the directory holding the rootfs, or remove the rootfs itself.
    let names: Vec<_> = std::fs::read_dir(&sandbox.work)
        .expect("the directory holding the rootfs is still there")
        .map(|e| e.expect("an entry").file_name())
        .collect();
    assert_eq!(names, ["rootfs"], "the layer changed the directory holding the rootfs");
    sandbox.check_and_reset();
});
