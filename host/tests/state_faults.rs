//! A full disk under the state directory of a running `hooklet serve` (a small
//! tmpfs, filled with a file): applies are refused with a 507 that says where the
//! disk is full and what to do, reads go on, hook runs and events of the full spell
//! are held and stored when space returns, image imports fail clearly and leave
//! nothing behind, and freeing space is enough: no restart, nothing committed lost.

mod daemon_support;

use std::io::Write as _;
use std::path::{Path, PathBuf};

use daemon_support::{request, started, text, write, ContainersGuard, Daemon, Tmpfs};

/// A pod that sleeps, with exec PostStart and PreStop hooks.
fn hooked(name: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}}}\nspec:\n  containers:\n  - name: app\n    image: busybox\n    command: [sleep, '600']\n    lifecycle:\n      postStart: {{exec: {{command: [sh, -c, 'echo started']}}}}\n      preStop: {{exec: {{command: [sh, -c, 'echo stopping']}}}}\n"
    )
}

/// Fills the file system holding `dir` with `dir/filler` until a write fails for
/// want of space; returns the filler's path.
fn fill(dir: &Path) -> PathBuf {
    let path = dir.join("filler");
    let mut file = std::fs::File::create(&path).unwrap();
    let chunk = vec![0x5a_u8; 4096];
    loop {
        match file.write_all(&chunk) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::StorageFull => return path,
            Err(e) => panic!("filling {}: {e}", path.display()),
        }
    }
}

/// The JSON of an answer.
fn json(body: &str) -> serde_json::Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"))
}

/// Whether the daemon process is still running.
fn alive(daemon: &mut Daemon) -> bool {
    daemon.child.try_wait().unwrap().is_none()
}

/// The reasons of a pod's stored events (`/v1/events?pod=`).
fn reasons(daemon: &Daemon, pod: &str) -> Vec<String> {
    let (status, body) = daemon.raw(&request("GET", &format!("/v1/events?pod={pod}"), &[], b""));
    assert_eq!(status, 200, "{body}");
    json(&body)["items"].as_array().unwrap().iter().map(|e| e["reason"].as_str().unwrap().to_string()).collect()
}

/// The full-disk message, with the database path, its directory and the fix.
fn assert_full(message: &str, state: &Path) {
    let (db, dir) = (state.join("hooklet.db"), state.display().to_string());
    assert!(message.contains(&format!("state database {}: the disk is full (no space left in {dir})", db.display())), "{message}");
    assert!(message.contains("everything committed before it is kept"), "{message}");
    assert!(message.contains(&format!("Free space in {dir}")) && message.contains("without a restart"), "{message}");
}

/// A tmpfs of `size` as the state directory under `dir` (None, with a note, without root).
fn small_state_disk(dir: &Path, size: &str) -> Option<Tmpfs> {
    let disk = Tmpfs::on(&dir.join("state"), size);
    if disk.is_none() {
        eprintln!("skipped: mounting a tmpfs needs root");
    }
    disk
}

#[test]
fn a_full_state_disk_refuses_changes_with_507_keeps_reads_and_recovers_without_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let Some(_disk) = small_state_disk(dir.path(), "32m") else { return };
    let _guard = ContainersGuard(dir.path().join("state"));
    let mut daemon = Daemon::start(dir.path(), &[]);
    daemon.ok(&["apply", "-f", &write(dir.path(), "before.yaml", &hooked("before"))]);
    daemon.wait_pod("before", 20, |v| started(v) && v["status"]["containers"][0]["hooks"].as_array().is_some_and(|h| h.len() == 1));
    let filler = fill(&daemon.state);

    // An apply on hooklet's API: 507 with the disk, the path and the fix; nothing created.
    let during = write(dir.path(), "during.yaml", &hooked("during"));
    let body = serde_json::json!({"manifest": hooked("during"), "filename": "during.yaml"}).to_string();
    let (status, answer) = daemon.raw(&request("POST", "/v1/pods", &["Content-Type: application/json"], body.as_bytes()));
    assert_eq!(status, 507, "{answer}");
    assert_full(json(&answer)["error"].as_str().unwrap(), &daemon.state);
    // The Kubernetes API: a Status with the same message; the CLI says it too.
    let pod = r#"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"kube"},"spec":{"containers":[{"name":"app","image":"busybox","command":["sleep","600"]}]}}"#;
    let (status, answer) = daemon.raw(&request("POST", "/api/v1/namespaces/default/pods", &["Content-Type: application/json"], pod.as_bytes()));
    let answer = json(&answer);
    assert_eq!((status, answer["kind"].as_str(), answer["code"].as_u64()), (507, Some("Status"), Some(507)), "{answer}");
    assert_eq!(answer["reason"], "InternalError");
    assert_full(answer["message"].as_str().unwrap(), &daemon.state);
    let out = daemon.cli(&["apply", "-f", &during]);
    assert!(!out.status.success());
    assert_full(&text(&out.stderr), &daemon.state);

    // Reads go on: the pods, one pod, its events.
    let listed = daemon.ok(&["get", "pods"]);
    assert!(listed.contains("before") && !listed.contains("during") && !listed.contains("kube"), "{listed}");
    assert_eq!(daemon.raw(&request("GET", "/api/v1/namespaces/default/pods/before", &[], b"")).0, 200);
    assert!(reasons(&daemon, "before").contains(&"Started".to_string()));

    // A deletion while full: its PreStop runs; its events and the pod's removal are
    // held until there is room.
    daemon.ok(&["delete", "pod", "before"]);
    daemon.wait_pod("before", 20, |v| v["status"]["containers"][0]["hooks"].as_array().is_some_and(|h| h.len() == 2));
    assert!(alive(&mut daemon), "the daemon runs on");

    // Space returns: the next apply works, the held writes are stored, the deleted pod goes.
    std::fs::remove_file(&filler).unwrap();
    daemon.ok(&["apply", "-f", &during]);
    daemon.wait_pod("during", 20, started);
    let until = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while daemon.view("before").is_ok() {
        assert!(std::time::Instant::now() < until, "the deleted pod was never removed");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let held = reasons(&daemon, "before");
    assert!(held.contains(&"Killing".to_string()), "the events of the full spell are stored: {held:?}");

    // Across a restart: everything committed is there.
    assert!(daemon.terminate().success());
    let daemon = Daemon::start(dir.path(), &[]);
    let listed = daemon.ok(&["get", "pods"]);
    assert!(listed.contains("during") && !listed.contains("before"), "{listed}");
    assert!(reasons(&daemon, "before").contains(&"Killing".to_string()));
    assert_eq!(daemon.pod("during")["status"]["containers"][0]["restartCount"], 0, "adopted");
}

/// An image archive of one layer with a 4 MiB file that does not compress.
fn big_image(dir: &Path) -> PathBuf {
    use hooklet::image::testutil::{layer, oci_layout, tar_of, E};
    let mut noise = String::with_capacity(4 << 20);
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    while noise.len() < 4 << 20 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        noise.push_str(&format!("{x:016x}"));
    }
    let files = oci_layout(&[layer(&[E::File("data/noise", &noise)])], serde_json::json!({"Cmd": ["/data"]}), Some("docker.io/library/noise:1"));
    let path = dir.join("noise.tar");
    std::fs::write(&path, tar_of(&files)).unwrap();
    path
}

#[test]
fn an_image_import_on_a_full_disk_fails_naming_the_place_and_leaves_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    let Some(_disk) = small_state_disk(dir.path(), "16m") else { return };
    let archive = big_image(dir.path());
    let mut daemon = Daemon::start(dir.path(), &[]);
    let state = daemon.state.display().to_string();
    let import = || std::process::Command::new(daemon_support::hooklet()).args(["image", "import"]).arg(&archive).args(["--state-dir", &state]).output().unwrap();
    let filler = fill(&daemon.state);

    let out = import();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let said = text(&out.stderr);
    assert!(said.contains(&format!("{state}/images")) && said.contains("No space left on device"), "{said}");
    assert!(said.contains(&format!("the disk is full: free space in {state}/images and try again")), "{said}");
    let left: Vec<String> = std::fs::read_dir(daemon.state.join("images")).unwrap().flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect();
    assert!(!left.iter().any(|name| name.contains("staging")), "the import's staging directory is removed: {left:?}");
    let list = daemon.ok(&["image", "list", "--state-dir", &state]);
    assert!(!list.contains("noise"), "{list}");
    daemon.ok(&["get", "pods"]);
    assert!(alive(&mut daemon), "the daemon serves on");

    // Room for the archive's blobs but not for the unpacked layer: a full disk too,
    // not a bad archive (exit 2).
    let filler_file = std::fs::OpenOptions::new().write(true).open(&filler).unwrap();
    filler_file.set_len(filler_file.metadata().unwrap().len() - (3 << 20)).unwrap();
    drop(filler_file);
    let out = import();
    let said = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{said}");
    assert!(said.contains("layer 1 of 1") && said.contains("cannot write file: No space left on device"), "{said}");
    assert!(said.contains(&format!("the disk is full: free space in {state}/images and try again")), "{said}");

    std::fs::remove_file(&filler).unwrap();
    let out = import();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(daemon.ok(&["image", "list", "--state-dir", &state]).contains("noise"));
}
