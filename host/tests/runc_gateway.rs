//! `hooklet gateway` as a sidecar under the runc runtime: `examples/gateway-sidecar.yaml`
//! with the image `scripts/gateway-image` builds (the static musl binary and the example
//! plugins). The app's httpGet PostStart and PreStop reach the plugin through the sidecar.
//! The sidecar outlives the app's PreStop. A failing plugin's reason is in the
//! `FailedPostStartHook` event, with the pod the gateway knows from its downward API env.
//!
//! `$HOOKLET_GATEWAY_BIN` names a static hooklet binary to put in the image (what the
//! script ships; its musl release build takes half an hour on a cold 2-core machine,
//! too long for every CI run); without it the image gets the binary under test with its
//! shared libraries (`HOOKLET_BIN_LIBS=1`), the same code. Needs root, runc and umoci.

mod common;
mod runc_support;

use std::path::{Path, PathBuf};

use common::{messages, pod, test_config, trace_to_test_output, within};
use hooklet::hooks::HookOutcome;
use hooklet::image::ImageStore;

/// The example manifest, as users run it.
fn example() -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/gateway-sidecar.yaml")).unwrap()
}

/// Builds the gateway image into `dir` with the example plugins `noop`, `marker`
/// (granted `markers/`) and `failing`.
fn gateway_image(dir: &Path) -> PathBuf {
    let built = hooklet::testing::example_plugins_dir();
    let plugins = dir.join("image-plugins");
    std::fs::create_dir_all(plugins.join("markers")).unwrap();
    for name in ["noop", "marker", "failing"] {
        std::fs::copy(built.join(format!("{name}.wasm")), plugins.join(format!("{name}.wasm"))).unwrap();
    }
    std::fs::write(plugins.join("marker.toml"), "[[capabilities.dirs]]\nhost = \"markers\"\nguest = \"/out\"\naccess = \"read-write\"\n").unwrap();
    let out = dir.join("gateway-oci.tar");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/gateway-image");
    let mut command = std::process::Command::new(script);
    command.arg(&out).arg(&plugins).stdout(std::process::Stdio::null());
    match std::env::var_os("HOOKLET_GATEWAY_BIN") {
        Some(bin) => command.env("HOOKLET_BIN", bin),
        None => command.env("HOOKLET_BIN", env!("CARGO_BIN_EXE_hooklet")).env("HOOKLET_BIN_LIBS", "1"),
    };
    assert!(command.status().unwrap().success(), "scripts/gateway-image failed");
    out
}

#[tokio::test]
async fn the_example_sidecar_serves_the_apps_hooks_from_plugins() {
    if !runc_support::can_run() {
        return;
    }
    trace_to_test_output();
    let dir = tempfile::tempdir().unwrap();
    let image = gateway_image(dir.path());
    let state = runc_support::state_with_busybox(dir.path());
    ImageStore::open(state.join("images")).unwrap().import(&image).unwrap();
    let (node, _guard) = runc_support::node(dir.path(), 41, test_config(dir.path())).await;

    // PostStart: through the sidecar to `marker`, answered 200 (failOnHttpError would fail a 5xx).
    let handle = node.start_pod(pod(&example()));
    let started = tokio::time::timeout(std::time::Duration::from_secs(120), handle.wait_for(|s| s.containers[0].started)).await;
    let status = started.unwrap_or_else(|_| panic!("the app did not start in 120 s; the gateway's log:\n{}", runc_support::log(&node, &handle, "hooks")));
    let post_start = &status.containers[0].hooks[0];
    assert_eq!(post_start.outcome, HookOutcome::Succeeded, "{}", post_start.output);
    assert!(post_start.output.contains("200 OK"), "{}", post_start.output);
    assert!(post_start.detail.ends_with(":8686/hooks/marker?phase=postStart&container=app&message=hello"), "{}", post_start.detail);
    runc_support::wait_log(&node, &handle, "hooks", "/hooks/marker").await;

    // PreStop: the sidecar is still up when the app's PreStop runs, and stops after the app.
    handle.delete(None);
    let status = within(120, "termination", handle.finished()).await;
    let pre_stop = status.containers[0].hooks.iter().find(|h| h.phase == hooklet::spec::HookPhase::PreStop).expect("a PreStop ran");
    assert_eq!(pre_stop.outcome, HookOutcome::Succeeded, "the gateway answered the PreStop: {}", pre_stop.output);
    assert!(pre_stop.output.contains("200 OK"), "{}", pre_stop.output);
    assert!(messages(&node, handle.pod().uid(), "FailedPreStopHook").is_empty());

    // A failing plugin: its reason, from the gateway's 500, is in the event.
    let failing = example()
        .replace("name: gateway-demo", "name: gateway-failing")
        .replace("/hooks/marker?phase=postStart&container=app&message=hello", "/hooks/failing?phase=postStart&message=the+queue+is+not+ready");
    let handle = node.start_pod(pod(&failing));
    let uid = handle.pod().uid().to_string();
    let event = within(120, "FailedPostStartHook", node.events().wait_for(|e| e.object.uid == uid && e.reason == "FailedPostStartHook")).await;
    let events = [event.message];
    assert!(events[0].contains("HTTP request failed with statuscode: 500"), "{}", events[0]);
    assert!(events[0].contains("the plugin failed the hook: the queue is not ready"), "{}", events[0]);
    // The gateway's own message names the pod: its identity came from the fieldRef env.
    assert!(events[0].contains(&format!(r#"in Pod \"gateway-failing_default({uid})\""#)), "{}", events[0]);
    handle.delete(Some(2));
    let finished = tokio::time::timeout(std::time::Duration::from_secs(120), handle.finished()).await;
    let log = runc_support::log(&node, &handle, "hooks");
    assert!(finished.is_ok(), "termination within 120 s; the pod is at {:#?}; the gateway's log:\n{log}", handle.status());
}
