//! Pods under the runc runtime whose images come from a real registry: the busybox
//! image (scripts/build-busybox-image) pushed with skopeo, pulled by the image manager
//! and run; a missing tag cycling `ErrImagePull` / `ImagePullBackOff` with shrunken
//! back-off windows. And `hooklet serve` SIGKILLed in the middle of a pod's pull:
//! no image, not even half of one, and the restarted daemon pulls it again and runs
//! the pod.

mod common;
mod daemon_support;
mod registry_support;
mod runc_support;

use std::process::Command;
use std::time::Duration;

use common::{pod, within};
use hooklet::image::manager::ImageManagerConfig;
use hooklet::image::pull::PullConfig;
use hooklet::lifecycle::{ContainerState, Node, NodeConfig};
use hooklet::runtime::runc::{RuncConfig, RuncRuntime};
use daemon_support::{started, write, Daemon};
use hooklet::image::ImageStore;
use registry_support::{host_arch, random_bytes, registry_available, staged, wait_for_unpacking, Mode, TestImage, TestRegistry};

const NET: u8 = 24;
const NET_KILLED: u8 = 44;

fn waiting_reason(state: &ContainerState) -> Option<&str> {
    match state {
        ContainerState::Waiting { reason, .. } => Some(reason.as_str()),
        _ => None,
    }
}

#[tokio::test]
async fn a_pod_pulls_its_image_and_runs_and_a_missing_tag_backs_off() {
    if !runc_support::can_run() || !registry_available() {
        return;
    }
    let registry = TestRegistry::start(Mode::Plain).await;
    let archive = runc_support::busybox_archive();
    let target = format!("docker://{}/library/busybox:1.35", registry.addr);
    let out = Command::new("skopeo")
        .args(["copy", "--dest-tls-verify=false", &format!("oci-archive:{}", archive.display()), &target])
        .output()
        .expect("skopeo (Debian package skopeo) runs");
    assert!(out.status.success(), "skopeo copy: {}", String::from_utf8_lossy(&out.stderr));

    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let guard = runc_support::RuncGuard::new(&state.join("runc"), NET);
    let images = ImageManagerConfig {
        pull: PullConfig { insecure_registries: vec![registry.addr.clone()], ..PullConfig::default() },
        backoff_initial: Duration::from_millis(300),
        backoff_max: Duration::from_millis(1200),
        ..ImageManagerConfig::default()
    };
    let config = RuncConfig { images, ..runc_support::config(&state, NET) };
    let runtime = std::sync::Arc::new(RuncRuntime::open(config).await.expect("the runc runtime opens"));
    let node = Node::new(runtime, NodeConfig::default()).expect("node starts");

    let image = format!("{}/library/busybox:1.35", registry.addr);
    let good = node.start_pod(pod(&format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: pulled}}\nspec:\n  containers:\n  - name: app\n    image: {image}\n    command: [sh, -c, 'echo pulled-and-running; sleep 300']\n"
    )));
    within(120, "the pulled image running", good.wait_for(|s| matches!(s.containers[0].state, ContainerState::Running { .. }))).await;
    runc_support::wait_log(&node, &good, "app", "pulled-and-running").await;
    let uid = good.pod().uid().to_string();
    let reasons: Vec<(String, String)> =
        node.events().list().into_iter().filter(|e| e.object.uid == uid).map(|e| (e.reason.clone(), e.message.clone())).collect();
    assert_eq!(reasons[0], ("Pulling".to_string(), format!("Pulling image \"{image}\"")), "{reasons:?}");
    assert!(reasons[1].0 == "Pulled" && reasons[1].1.starts_with(&format!("Successfully pulled image \"{image}\" in ")), "{reasons:?}");

    let missing = format!("{}/library/busybox:nope", registry.addr);
    let bad = node.start_pod(pod(&format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: unpulled}}\nspec:\n  containers:\n  - name: app\n    image: {missing}\n    command: [sleep, '300']\n"
    )));
    let status = within(60, "ErrImagePull", bad.wait_for(|s| waiting_reason(&s.containers[0].state) == Some("ErrImagePull"))).await;
    let ContainerState::Waiting { message: Some(message), .. } = &status.containers[0].state else { unreachable!() };
    assert_eq!(message, &format!("manifest unknown: {missing} not found in {}", registry.addr));
    within(60, "ImagePullBackOff", bad.wait_for(|s| waiting_reason(&s.containers[0].state) == Some("ImagePullBackOff"))).await;
    let bad_uid = bad.pod().uid().to_string();
    // Tried again when the window ended: a second Failed pull.
    let failed = format!("Failed to pull image \"{missing}\": {message}");
    within(60, "a second pull", node.events().wait_for(|e| e.object.uid == bad_uid && e.message == failed && e.count >= 2)).await;
    within(60, "Error: ErrImagePull", node.events().wait_for(|e| e.object.uid == bad_uid && e.message == "Error: ErrImagePull")).await;
    assert_eq!(bad.status().containers[0].restart_count, 0);

    good.delete(Some(1));
    bad.delete(Some(1));
    within(60, "deletion", async {
        good.finished().await;
        bad.finished().await;
    })
    .await;
    drop(guard);
}

#[test]
fn a_daemon_killed_mid_pull_leaves_no_image_and_pulls_it_again_when_restarted() {
    if !runc_support::can_run() || !registry_available() {
        return;
    }
    let tokio = tokio::runtime::Runtime::new().unwrap();
    let registry = tokio.block_on(TestRegistry::start(Mode::Plain));
    // Big enough to be caught mid-layer: busybox (static) beside 64 MiB of noise.
    let busybox = std::fs::read("/bin/busybox").expect("/bin/busybox (Debian package busybox-static)");
    let image = TestImage::new(host_arch(), &[("bin/busybox", &busybox), ("data/blob", &random_bytes(64 * 1024 * 1024))]);
    let name = format!("{}/test/big:1", registry.addr);
    tokio.block_on(registry.push("test/big:1", &image));

    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let _guard = runc_support::RuncGuard::new(&state.join("runc"), NET_KILLED);
    let net = runc_support::network(NET_KILLED);
    let subnet = net.subnet.to_string();
    let args = ["--runtime", "runc", "--pod-bridge", net.bridge.as_str(), "--pod-subnet", subnet.as_str(), "--insecure-registry", registry.addr.as_str()];
    let pod = format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: big}}\nspec:\n  terminationGracePeriodSeconds: 1\n  containers:\n  - name: app\n    image: {name}\n    command: [/bin/busybox, sleep, '300']\n"
    );
    let daemon = Daemon::start(dir.path(), &args);
    daemon.ok(&["apply", "-f", &write(dir.path(), "big.yaml", &pod)]);
    let images = state.join("images");
    let store = ImageStore::open(&images).unwrap();
    let partial = wait_for_unpacking(&images, || store.list().unwrap().is_empty());
    daemon.kill();
    assert!(partial.exists(), "killed mid-layer");
    assert!(store.list().unwrap().is_empty(), "no image, not even a half one");

    let daemon = Daemon::start(dir.path(), &args);
    daemon.wait_pod("big", 120, started);
    assert_eq!(store.resolve(&name).expect("pulled after the restart").id, image.id());
    assert_eq!(staged(&images), Vec::<std::path::PathBuf>::new(), "the killed pull's staging directory is swept");
    let events = daemon.ok(&["events"]);
    assert!(events.contains(&format!("Successfully pulled image \"{name}\"")), "{events}");
    daemon.ok(&["delete", "pod", "big"]);
}
