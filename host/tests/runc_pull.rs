//! Pods under the runc runtime whose images come from a real registry: the busybox
//! image (scripts/build-busybox-image) pushed with skopeo, pulled by the image manager
//! and run; a missing tag cycling `ErrImagePull` / `ImagePullBackOff` with shrunken
//! back-off windows.

mod common;
mod registry_support;
mod runc_support;

use std::process::Command;
use std::time::Duration;

use common::{pod, within};
use hooklet::image::manager::ImageManagerConfig;
use hooklet::image::pull::PullConfig;
use hooklet::lifecycle::{ContainerState, Node, NodeConfig};
use hooklet::runtime::runc::{RuncConfig, RuncRuntime};
use registry_support::{registry_available, Mode, TestRegistry};

const NET: u8 = 24;

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
