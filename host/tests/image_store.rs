//! The image store end to end: `scripts/build-busybox-image` makes the busybox image,
//! the real binary imports, lists and removes it.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const HOOKLET: &str = env!("CARGO_BIN_EXE_hooklet");

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/build-busybox-image")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn hooklet(args: &[&str], state: &Path) -> Output {
    Command::new(HOOKLET).args(args).arg("--state-dir").arg(state).output().expect("hooklet runs")
}

/// Whether Debian's busybox-static is installed, or can be (as root).
fn busybox_static_available() -> bool {
    let installed = Command::new("dpkg-query")
        .args(["-W", "-f=${Status}", "busybox-static"])
        .output()
        .is_ok_and(|o| text(&o.stdout).contains("install ok installed"));
    installed || nix::unistd::Uid::effective().is_root()
}

#[test]
fn the_busybox_image_builds_imports_lists_and_is_removed() {
    if !busybox_static_available() {
        eprintln!("SKIPPED: Debian's busybox-static is not installed and cannot be without root; `apt-get install -y busybox-static`");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let tar = dir.path().join("out/busybox.tar");
    let built = Command::new(script()).arg(&tar).output().expect("the builder runs");
    assert!(built.status.success(), "build-busybox-image failed: {}", text(&built.stderr));
    let manifest_digest = text(&built.stdout).trim().to_string();
    assert!(manifest_digest.starts_with("sha256:") && manifest_digest.len() == 71, "{manifest_digest}");

    // Deterministic: a second build has the same digest.
    let again = Command::new(script()).arg(dir.path().join("again.tar")).output().unwrap();
    assert_eq!(text(&again.stdout).trim(), manifest_digest, "the same busybox gives the same image");

    let state = dir.path().join("state");
    let import = hooklet(&["image", "import", tar.to_str().unwrap()], &state);
    assert!(import.status.success(), "{}{}", text(&import.stdout), text(&import.stderr));
    assert!(text(&import.stdout).starts_with("Imported: docker.io/library/busybox:latest (ID "), "{}", text(&import.stdout));

    let list = hooklet(&["image", "list"], &state);
    let stdout = text(&list.stdout);
    assert!(list.status.success());
    let row: Vec<&str> = stdout.lines().nth(1).expect("one image row").split_whitespace().collect();
    assert_eq!(&row[..2], ["docker.io/library/busybox", "latest"], "{stdout}");

    let images = std::fs::read_dir(state.join("images")).unwrap().flatten().map(|e| e.path()).filter(|p| p.join("image.json").exists());
    let image_dir = images.into_iter().next().expect("the image's directory");
    let rootfs = image_dir.join("rootfs");
    for applet in ["sh", "sleep", "wget", "httpd", "nc", "echo", "cat", "true"] {
        assert!(rootfs.join("bin").join(applet).symlink_metadata().is_ok(), "bin/{applet} in the rootfs");
    }
    let sh = Command::new(rootfs.join("bin/sh")).args(["-c", "echo hello from the image"]).output().unwrap();
    assert_eq!(text(&sh.stdout), "hello from the image\n", "the image's shell runs (busybox is static)");
    let record: serde_json::Value = serde_json::from_slice(&std::fs::read(image_dir.join("image.json")).unwrap()).unwrap();
    assert_eq!(record["manifest_digest"], manifest_digest.as_str());
    assert_eq!(record["config"]["cmd"], serde_json::json!(["sh"]));
    assert_eq!(record["config"]["stop_signal"], "SIGTERM");

    // A corrupt copy is refused with exit code 2, naming the blob.
    let mut bytes = std::fs::read(&tar).unwrap();
    let at = bytes.len() / 2;
    bytes[at] ^= 0xff;
    let corrupt = dir.path().join("corrupt.tar");
    std::fs::write(&corrupt, bytes).unwrap();
    let refused = hooklet(&["image", "import", corrupt.to_str().unwrap()], &state);
    assert_eq!(refused.status.code(), Some(2), "{}", text(&refused.stderr));
    assert!(text(&refused.stderr).contains("is corrupt"), "{}", text(&refused.stderr));

    let rm = hooklet(&["image", "rm", "busybox"], &state);
    assert!(rm.status.success(), "{}", text(&rm.stderr));
    assert!(!image_dir.exists(), "the image's directory is gone");
    let missing = hooklet(&["image", "rm", "busybox"], &state);
    assert_eq!(missing.status.code(), Some(1));
}
