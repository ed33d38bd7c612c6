//! Disk pressure with a real full filesystem: the state directory on a 64 MiB
//! tmpfs, filled by a container's log (its image is not the stored one, which no
//! pod uses). DiskPressure is reported, the unused image
//! is reclaimed first, then the pod filling the disk is evicted (its PreStop runs)
//! and the leftovers of that dead container are reclaimed. Needs root (mount).

mod daemon_support;
#[allow(dead_code)]
mod runc_support;

use std::path::{Path, PathBuf};

use daemon_support::{request, write, Daemon};

/// Mounts a tmpfs of `size` at `dir`; unmounts it (lazily) when dropped, even
/// when the test fails.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(dir: &Path, size: &str) -> Option<Tmpfs> {
        std::fs::create_dir_all(dir).unwrap();
        let status = std::process::Command::new("mount").args(["-t", "tmpfs", "-o", &format!("size={size},mode=0700"), "tmpfs"]).arg(dir).status().ok()?;
        status.success().then(|| Tmpfs(dir.to_path_buf()))
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
    if !nix::unistd::Uid::effective().is_root() {
        eprintln!("skipped: mounting a tmpfs needs root");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let Some(tmpfs) = Tmpfs::mount(&dir.path().join("state"), "64m") else {
        eprintln!("skipped: cannot mount a tmpfs here");
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
            "--container-log-max-size", "1Gi",
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
