//! Tests of [`super`]: layers applied over a rootfs, whiteouts, links, and nothing
//! ever written outside the rootfs (the last two are what writing the fuzz target
//! `layer_unpack` found, FUZZING.md).

use super::*;
use crate::image::testutil::{gzip, layer, E};

fn apply(root: &Path, entries: &[E]) -> Result<String, String> {
    apply_layer(root, layer(entries).as_slice())
}

fn exists(root: &Path, rel: &str) -> bool {
    root.join(rel).symlink_metadata().is_ok()
}

#[test]
fn layers_apply_in_order_and_whiteouts_delete_lower_files() {
    let root = tempfile::tempdir().unwrap();
    let root = root.path();
    apply(root, &[E::Dir("etc"), E::File("etc/keep", "1"), E::File("etc/gone", "2"), E::Dir("var/cache"), E::File("var/cache/x", "3")]).unwrap();
    apply(root, &[E::File("etc/.wh.gone", ""), E::File("var/.wh.cache", ""), E::File("etc/keep", "new"), E::File("etc/.wh.never-there", "")]).unwrap();
    assert_eq!(fs::read_to_string(root.join("etc/keep")).unwrap(), "new");
    assert!(!exists(root, "etc/gone"), "the whiteout deleted the lower file");
    assert!(!exists(root, "var/cache"), "the whiteout deleted the lower directory with its content");
    assert!(exists(root, "var"));
    assert!(!exists(root, "etc/.wh.gone"), "whiteout markers are not unpacked");
}

#[test]
fn an_opaque_directory_hides_lower_content_but_keeps_its_own_layer() {
    let root = tempfile::tempdir().unwrap();
    let root = root.path();
    apply(root, &[E::Dir("app"), E::File("app/old", "1"), E::Dir("app/sub"), E::File("app/sub/deep", "2"), E::File("other", "3")]).unwrap();
    // The marker after a sibling of the same layer: that sibling stays.
    apply(root, &[E::Dir("app"), E::File("app/new", "n"), E::File("app/.wh..wh..opq", ""), E::File("app/newer", "m")]).unwrap();
    assert!(!exists(root, "app/old") && !exists(root, "app/sub"), "lower content is hidden");
    assert_eq!(fs::read_to_string(root.join("app/new")).unwrap(), "n");
    assert_eq!(fs::read_to_string(root.join("app/newer")).unwrap(), "m");
    assert!(exists(root, "other"), "only the opaque directory is emptied");
    assert!(!exists(root, "app/.wh..wh..opq"));
}

#[test]
fn absolute_and_parent_paths_are_refused() {
    for bad in ["../escape", "a/../../escape", "/etc/escape"] {
        let root = tempfile::tempdir().unwrap();
        let err = apply(&root.path().join("rootfs"), &[E::Unchecked(bad)]).unwrap_err();
        assert!(err.contains("unsafe path") && err.contains("outside the rootfs"), "{bad}: {err}");
        assert!(!root.path().join("escape").exists());
    }
}

#[test]
fn symlinks_never_lead_writes_out_of_the_rootfs() {
    let outside = tempfile::tempdir().unwrap();
    let base = tempfile::tempdir().unwrap();
    let root = base.path().join("rootfs");
    fs::create_dir(&root).unwrap();
    // A relative link climbing out is refused as an entry.
    let err = apply(&root, &[E::Symlink("up", "../../..")]).unwrap_err();
    assert!(err.contains("\"up\"") && err.contains("leads out of the rootfs"), "{err}");
    // An absolute link is taken inside the rootfs: writing through it stays in.
    let target = outside.path().to_str().unwrap();
    apply(&root, &[E::Symlink("abs", target), E::File("abs/file", "x")]).unwrap();
    assert!(!outside.path().join("file").exists(), "nothing written in the host directory");
    assert_eq!(fs::read_to_string(root.join(target.trim_start_matches('/')).join("file")).unwrap(), "x");
    // A link planted by a lower layer on disk cannot be used to climb out either.
    std::os::unix::fs::symlink("../..", root.join("planted")).unwrap();
    let err = apply(&root, &[E::File("planted/x/escape", "x")]).unwrap_err();
    assert!(err.contains("leads out of the rootfs"), "{err}");
    assert!(!base.path().join("x").exists());
}

#[test]
fn links_files_and_replacements() {
    let root = tempfile::tempdir().unwrap();
    let root = root.path();
    apply(root, &[E::Dir("bin"), E::File("bin/busybox", "bb"), E::Symlink("bin/sh", "busybox"), E::HardLink("bin/ls", "bin/busybox"), E::Dir("x")]).unwrap();
    assert_eq!(fs::read_link(root.join("bin/sh")).unwrap(), Path::new("busybox"));
    assert_eq!(fs::read_to_string(root.join("bin/ls")).unwrap(), "bb");
    // A file replaces a directory, a directory replaces a file.
    apply(root, &[E::File("x", "file now"), E::Dir("bin/busybox")]).unwrap();
    assert_eq!(fs::read_to_string(root.join("x")).unwrap(), "file now");
    assert!(root.join("bin/busybox").is_dir());
    let err = apply(root, &[E::HardLink("bad", "nowhere")]).unwrap_err();
    assert!(err.contains("not a file of the rootfs"), "{err}");
}

#[test]
fn the_diff_id_is_the_digest_of_the_uncompressed_stream() {
    let root = tempfile::tempdir().unwrap();
    let tar = layer(&[E::File("a", "1")]);
    let file = root.path().join("layer.gz");
    fs::write(&file, gzip(&tar)).unwrap();
    let diff_id = apply_layer(root.path(), open_layer(&file).unwrap()).unwrap();
    assert_eq!(diff_id, crate::image::testutil::digest(&tar));
    fs::write(&file, [0x28, 0xb5, 0x2f, 0xfd, 0]).unwrap();
    assert!(open_layer(&file).err().unwrap().contains("zstd"));
}

/// Found writing the fuzz target `layer_unpack` (FUZZING.md): a directory's mode is set when its layer is done,
/// and a later entry of the same layer had replaced the directory (or one of its parents)
/// by a symbolic link to a host path: the mode went to the host directory.
#[test]
fn a_directory_replaced_by_a_link_in_its_own_layer_leaves_the_host_alone() {
    use std::os::unix::fs::PermissionsExt;
    let outside = tempfile::tempdir().unwrap();
    let base = tempfile::tempdir().unwrap();
    let root = base.path().join("rootfs");
    fs::create_dir(&root).unwrap();
    fs::create_dir(outside.path().join("d")).unwrap();
    for dir in [outside.path().to_path_buf(), outside.path().join("d")] {
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o700)).unwrap();
    }
    let host = outside.path().to_str().unwrap();
    // The directory itself, then a parent of one, replaced by a link to the host directory.
    apply(&root, &[E::Dir("d"), E::Symlink("d", host)]).unwrap();
    apply(&root, &[E::Dir("p"), E::Dir("p/d"), E::Symlink("p", host)]).unwrap();
    for dir in [outside.path().to_path_buf(), outside.path().join("d")] {
        let mode = fs::metadata(&dir).unwrap().permissions().mode() & 0o7777;
        assert_eq!(mode, 0o700, "the mode of {} outside the rootfs changed", dir.display());
    }
    assert_eq!(fs::read_link(root.join("d")).unwrap(), outside.path());
}

/// Found writing the fuzz target `layer_unpack` (FUZZING.md): a whiteout is `.wh.` and a file name; `.wh.` alone,
/// `.wh..` and `.wh...` named the directory itself or its parent, and removed it (from the
/// top of the layer: the rootfs, or the directory holding it).
#[test]
fn a_whiteout_that_names_no_file_is_refused() {
    for bad in [".wh.", ".wh..", ".wh...", "a/.wh...", "a/.wh."] {
        let base = tempfile::tempdir().unwrap();
        let root = base.path().join("rootfs");
        fs::create_dir(&root).unwrap();
        apply(&root, &[E::Dir("a"), E::File("a/keep", "1")]).unwrap();
        let err = apply(&root, &[E::File(bad, "")]).unwrap_err();
        assert!(err.contains("names no file") && err.contains(".wh.NAME"), "{bad}: {err}");
        assert!(root.join("a/keep").is_file(), "{bad}: the layer removed what it did not name");
    }
}
