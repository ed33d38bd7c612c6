//! Disk pressure with a real full filesystem: the state directory on a 64 MiB
//! tmpfs, filled by a container's log (its image is not the stored one, which no
//! pod uses). DiskPressure is reported, the unused image
//! is reclaimed first, then the pod filling the disk is evicted (its PreStop runs)
//! and the leftovers of that dead container are reclaimed. And image garbage
//! collection on a real filesystem: down to the low threshold, never the image a pod
//! uses, the kubelet's node events when it cannot free enough. Needs root (mount).

mod daemon_support;
mod registry_support;
mod runc_support;

use std::path::{Path, PathBuf};

use daemon_support::{request, write, Daemon};

/// Mounts a tmpfs of `size` at `dir`; unmounts it (lazily) when dropped, even
/// when the test fails.
struct Tmpfs(PathBuf);

impl Tmpfs {
    /// Mounts a tmpfs of `size` on `dir`. Without root (or `mount`) the test is
    /// skipped with a printed reason, except under `CI=true`, where it fails.
    fn mount_as_root(dir: &Path, size: &str) -> Option<Tmpfs> {
        std::fs::create_dir_all(dir).unwrap();
        let mounted = nix::unistd::Uid::effective().is_root()
            && std::process::Command::new("mount")
                .args(["-t", "tmpfs", "-o", &format!("size={size},mode=0700"), "tmpfs"])
                .arg(dir)
                .status()
                .is_ok_and(|s| s.success());
        if mounted {
            return Some(Tmpfs(dir.to_path_buf()));
        }
        assert!(std::env::var("CI").is_err(), "CI=true: mounting a tmpfs on {} needs root and mount(8)", dir.display());
        eprintln!("skipped: mounting a tmpfs needs root and mount(8)");
        None
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        daemon_support::kill_containers(&self.0);
        let _ = std::process::Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// Writes 1 MiB to its log every 20 ms until `cap_mib`, then waits.
fn filler(cap_mib: u64) -> String {
    format!(
        r#"
apiVersion: v1
kind: Pod
metadata: {{name: filler}}
spec:
  containers:
  - name: writer
    image: example.com/filler:1
    command: [sh, -c, "i=0; while [ $i -lt {cap_mib} ]; do head -c 1048576 /dev/zero | tr '\\0' x; i=$((i+1)); sleep 0.02; done; exec sleep 600"]
    lifecycle:
      preStop:
        exec: {{command: [sh, -c, "echo prestop of the filler"]}}
"#
    )
}

fn statvfs_available(dir: &Path) -> u64 {
    let out = std::process::Command::new("df").args(["--output=avail", "-B1"]).arg(dir).output().unwrap();
    String::from_utf8_lossy(&out.stdout).lines().nth(1).unwrap().trim().parse().unwrap()
}

#[test]
fn a_full_state_directory_reclaims_the_unused_image_then_evicts_the_pod_filling_it() {
    let dir = tempfile::tempdir().unwrap();
    let Some(tmpfs) = Tmpfs::mount_as_root(&dir.path().join("state"), "64m") else {
        return;
    };
    // An image no pod uses, in the store on the same filesystem.
    let state = runc_support::state_with_busybox(dir.path());
    assert_eq!(state, tmpfs.0);
    // The log is what fills the disk here: rotation (10Mi × 5 by default) would cap it.
    let daemon = Daemon::start(
        dir.path(),
        &[
            "--housekeeping-interval", "200ms", "--eviction-hard", "nodefs.available<16Mi", "--eviction-pressure-transition-period", "60s",
            "--container-log-max-size", "1Gi", "--minimum-image-ttl-duration", "0s",
        ],
    );
    assert!(daemon.ok(&["image", "list", "--state-dir", state.to_str().unwrap()]).contains("docker.io/library/busybox"));
    let free_mib = statvfs_available(&state) >> 20;
    // Enough to go below the threshold even after the image is gone, never enough to fill it.
    daemon.ok(&["apply", "-f", &write(dir.path(), "filler.yaml", &filler(free_mib.saturating_sub(4)))]);

    let filler = daemon.wait_pod("filler", 120, |v| v["status"]["reason"] == "Evicted" && v["status"]["finished"] == true);
    let message = filler["status"]["message"].as_str().unwrap();
    assert!(message.starts_with("The node was low on resource: ephemeral-storage. Threshold quantity: 16Mi, available: "), "{message}");
    assert!(message.contains("Container writer was using ") && message.ends_with(", request is 0, has larger consumption of ephemeral-storage. "), "{message}");
    assert!(daemon.ok(&["logs", "filler", "--hooks"]).contains("prestop of the filler"));
    // The image was reclaimed before the pod was evicted.
    let images = daemon.ok(&["image", "list", "--state-dir", state.to_str().unwrap()]);
    assert!(!images.contains("docker.io/library/busybox"), "{images}");
    let (_, body) = daemon.raw(&request("GET", "/v1/nodes", &[], b""));
    let nodes: serde_json::Value = serde_json::from_str(&body).unwrap();
    let node = &nodes["items"][0];
    let disk = node["conditions"].as_array().unwrap().iter().find(|c| c["type"] == "DiskPressure").unwrap();
    assert_eq!((disk["status"].as_str(), disk["reason"].as_str()), (Some("True"), Some("KubeletHasDiskPressure")));
    let events = daemon.ok(&["describe", "node", node["name"].as_str().unwrap()]);
    assert!(events.contains("NodeHasDiskPressure"), "{events}");
    let (_, metrics) = daemon.raw(&request("GET", "/metrics", &[], b""));
    assert!(metrics.contains("kubelet_evictions{eviction_signal=\"nodefs.available\"} 1"), "{metrics}");
    // Its dead container's log is reclaimed next: the disk recovers, nothing else goes.
    let until = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while statvfs_available(&state) < 32 << 20 {
        assert!(std::time::Instant::now() < until, "the evicted pod's log was never reclaimed");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    drop(daemon);
}

/// The node's name and `describe node` output.
fn describe_node(daemon: &Daemon) -> String {
    let (_, body) = daemon.raw(&request("GET", "/v1/nodes", &[], b""));
    let nodes: serde_json::Value = serde_json::from_str(&body).unwrap();
    daemon.ok(&["describe", "node", nodes["items"][0]["name"].as_str().unwrap()])
}

/// Waits (up to 60 s) until `describe node` shows what `pred` looks for.
fn wait_node(daemon: &Daemon, what: &str, pred: impl Fn(&str) -> bool) -> String {
    let until = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let node = describe_node(daemon);
        if pred(&node) {
            return node;
        }
        assert!(std::time::Instant::now() < until, "never {what}:\n{node}");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

#[test]
fn image_gc_frees_down_to_the_low_threshold_keeps_used_images_and_says_when_it_cannot() {
    let dir = tempfile::tempdir().unwrap();
    let Some(tmpfs) = Tmpfs::mount_as_root(&dir.path().join("state"), "100m") else {
        return;
    };
    let state = tmpfs.0.clone();
    let pod = "apiVersion: v1\nkind: Pod\nmetadata: {name: user}\nspec:\n  containers:\n  - {name: app, image: example.com/gc/used:1, command: [sleep, '600']}\n";
    // GC off while the pod is applied, so that its image is in use from the first pass.
    let daemon = Daemon::start(dir.path(), &["--image-gc-high-threshold", "100"]);
    daemon.ok(&["apply", "-f", &write(dir.path(), "user.yaml", pod)]);
    daemon.wait_pod("user", 30, daemon_support::started);
    assert!(daemon.terminate().success());

    // Five images of 10 MiB (half the filesystem): the pod's and four unused ones.
    let store = hooklet::image::ImageStore::open(state.join("images")).unwrap();
    for (i, name) in ["used", "b", "c", "d", "e"].iter().enumerate() {
        let mut content = registry_support::random_bytes(10 << 20);
        content[0] = i as u8;
        let image = registry_support::TestImage::new(registry_support::host_arch(), &[("data", &content)]);
        let archive = dir.path().join(format!("{name}.tar"));
        image.write_oci_archive(&format!("example.com/gc/{name}:1"), &archive);
        store.import(&archive).unwrap();
    }
    let stored = |store: &hooklet::image::ImageStore| store.list().unwrap().into_iter().flat_map(|i| i.references).collect::<Vec<_>>();
    assert_eq!(stored(&store).len(), 5);

    // Over 45 %: about 25 MiB to free to get down to 25 %: three unused images go.
    let gc = ["--image-gc-high-threshold", "45", "--image-gc-low-threshold", "25", "--minimum-image-ttl-duration", "0s", "--image-gc-period", "200ms"];
    let daemon = Daemon::start(dir.path(), &gc);
    let until = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let (_, metrics) = daemon.raw(&request("GET", "/metrics", &[], b""));
        if metrics.contains("kubelet_image_garbage_collected_total{reason=\"space\"} 3") {
            break;
        }
        assert!(std::time::Instant::now() < until, "image GC never deleted three images:\n{metrics}");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let left = stored(&store);
    assert_eq!(left.len(), 2, "{left:?}");
    assert!(left.contains(&"example.com/gc/used:1".to_string()), "{left:?}");
    assert!(!describe_node(&daemon).contains("FreeDiskSpaceFailed"));

    // Something else fills the disk: the last unused image is not enough, then nothing
    // is left to delete, twice in a row. The pod's image stays.
    std::fs::write(state.join("filler"), vec![1u8; 50 << 20]).unwrap();
    let node = wait_node(&daemon, "ImageGCFailed", |n| n.contains("ImageGCFailed"));
    assert!(node.contains("FreeDiskSpaceFailed"), "{node}");
    assert!(node.contains("but only found 10485760 bytes eligible to free."), "{node}");
    assert!(node.contains("but only found 0 bytes eligible to free."), "{node}");
    assert_eq!(stored(&store), ["example.com/gc/used:1"]);
    assert_eq!(daemon.pod("user")["status"]["phase"], "Running");
    drop(daemon);
}
