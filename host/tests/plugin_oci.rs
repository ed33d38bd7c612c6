//! `hooklet plugin push` and `hooklet plugin pull` against a real registry: the CNCF
//! wasm artifact layout, a round trip with the digest pinned and the source recorded,
//! a pull by digest, a running daemon loading the pulled plugin, and the failures
//! (bad reference, unreachable registry, unknown tag, a container image, a core module).

mod daemon_support;
mod registry_support;

use std::path::Path;
use std::process::Output;
use std::time::{Duration, Instant};

use daemon_support::{hooklet, text, Daemon};
use hooklet::testing::example_plugins_dir;
use registry_support::{host_arch, registry_available, sha256, Mode, TestImage, TestRegistry};

fn run(args: &[&str]) -> Output {
    std::process::Command::new(hooklet()).args(args).output().expect("hooklet runs")
}

fn ok(args: &[&str]) -> String {
    let out = run(args);
    assert!(out.status.success(), "hooklet {args:?}: {}{}", text(&out.stdout), text(&out.stderr));
    text(&out.stdout)
}

/// No staging directory or half-written file is left in `dir`.
fn nothing_staged(dir: &Path) {
    let left: Vec<String> = std::fs::read_dir(dir).unwrap().flatten().map(|e| e.file_name().to_string_lossy().into_owned()).filter(|n| n.starts_with('.')).collect();
    assert!(left.is_empty(), "{left:?}");
}

#[tokio::test]
async fn plugins_round_trip_through_a_registry_pinned_by_digest() {
    if !registry_available() {
        return;
    }
    let registry = TestRegistry::start(Mode::Plain).await;
    let addr = registry.addr.clone();
    let dir = tempfile::tempdir().unwrap();
    let wasm = example_plugins_dir().join("marker.wasm");
    let bytes = std::fs::read(&wasm).unwrap();
    let layer = sha256(&bytes);
    let reference = format!("{addr}/hooklet/plugins/marker:v1");
    let insecure = ["--insecure-registry", addr.as_str()];

    let pushed = ok(&[&["plugin", "push", wasm.to_str().unwrap(), reference.as_str()][..], &insecure[..]].concat());
    assert!(pushed.contains(&format!("to {reference} (component {layer})")), "{pushed}");
    let digest = pushed.lines().find_map(|l| l.strip_prefix("Digest: ")).expect("a digest line").to_string();

    // The CNCF layout, as the registry holds it.
    let (raw, stored) = registry.manifest("hooklet/plugins/marker:v1").await;
    assert_eq!(stored, digest);
    let manifest: serde_json::Value = serde_json::from_slice(&raw).unwrap();
    assert_eq!(manifest["config"]["mediaType"], "application/vnd.wasm.config.v0+json");
    assert_eq!(manifest["artifactType"], "application/vnd.wasm.config.v0+json");
    let layers = manifest["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 1);
    assert_eq!((layers[0]["mediaType"].as_str(), layers[0]["digest"].as_str()), (Some("application/wasm"), Some(layer.as_str())));

    // A daemon watching its plugin directory loads what is pulled there.
    let daemon = Daemon::start(dir.path(), &[]);
    let plugins = daemon.plugins.to_str().unwrap().to_string();
    let pulled = ok(&[&["plugin", "pull", reference.as_str(), "--plugins", plugins.as_str()][..], &insecure[..]].concat());
    let source = format!("{reference}@{digest}");
    assert!(pulled.contains(&format!("Pulled plugin marker from {source}")), "{pulled}");
    assert_eq!(std::fs::read(daemon.plugins.join("marker.wasm")).unwrap(), bytes);
    let toml: toml::Table = std::fs::read_to_string(daemon.plugins.join("marker.toml")).unwrap().parse().unwrap();
    assert_eq!(toml["sha256"].as_str(), Some(&layer[7..]));
    assert_eq!(toml["source"].as_str(), Some(source.as_str()));
    nothing_staged(&daemon.plugins);
    let until = Instant::now() + Duration::from_secs(60);
    loop {
        let out = daemon.cli(&["plugin", "list"]);
        let listed = text(&out.stdout);
        if out.status.success() && listed.contains(&source) && listed.contains(" ok ") && listed.contains(" loaded ") {
            break;
        }
        assert!(Instant::now() < until, "the daemon never loaded the pulled plugin: {listed}{}", text(&out.stderr));
        std::thread::sleep(Duration::from_millis(100));
    }
    drop(daemon);

    // By digest, under another name; an existing manifest keeps its other keys.
    let other = dir.path().join("other");
    std::fs::create_dir(&other).unwrap();
    std::fs::write(other.join("pinned.toml"), "description = \"kept\"\n[limits]\nfuel = 5000000\n").unwrap();
    let by_digest = format!("{addr}/hooklet/plugins/marker@{digest}");
    ok(&[&["plugin", "pull", by_digest.as_str(), "--plugins", other.to_str().unwrap(), "--name", "pinned"][..], &insecure[..]].concat());
    let toml: toml::Table = std::fs::read_to_string(other.join("pinned.toml")).unwrap().parse().unwrap();
    assert_eq!(toml["source"].as_str(), Some(by_digest.as_str()));
    assert_eq!(toml["description"].as_str(), Some("kept"));
    assert_eq!(toml["limits"]["fuel"].as_integer(), Some(5_000_000));
    let listed = ok(&["plugin", "list", "--plugins", other.to_str().unwrap()]);
    assert!(listed.contains(&by_digest) && listed.contains("kept"), "{listed}");
}

#[tokio::test]
async fn bad_references_and_artifacts_are_refused_leaving_nothing() {
    if !registry_available() {
        return;
    }
    let registry = TestRegistry::start(Mode::Plain).await;
    let addr = registry.addr.clone();
    registry.push("test/app:1", &TestImage::new(host_arch(), &[("bin/app", b"app")])).await;
    let dir = tempfile::tempdir().unwrap();
    let plugins = dir.path().to_str().unwrap();
    let insecure = ["--insecure-registry", addr.as_str()];
    let fails = |args: &[&str], code: i32, says: &str| {
        let out = run(&[args, &insecure[..]].concat());
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(code), "{args:?}: {stderr}");
        assert!(stderr.contains(says), "{args:?}: {stderr}");
    };
    fails(&["plugin", "pull", "Bad/Name:1", "--plugins", plugins], 2, "repository name must be lowercase");
    fails(&["plugin", "pull", &format!("{addr}/p/x:1"), "--plugins", plugins, "--name", "x.wasm"], 2, "without the .wasm extension");
    fails(&["plugin", "pull", &format!("{addr}/hooklet/plugins/nope:1"), "--plugins", plugins], 1, "manifest unknown");
    fails(&["plugin", "pull", &format!("{addr}/test/app:1"), "--plugins", plugins], 1, "is not a wasm plugin: its config has media type");
    let down = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().to_string();
    let out = run(&["plugin", "pull", &format!("{down}/p/marker:1"), "--plugins", plugins, "--insecure-registry", &down]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains(&format!("cannot reach {down}: connection refused")), "{}", text(&out.stderr));

    let module = dir.path().join("core.wasm");
    std::fs::write(&module, [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00]).unwrap();
    fails(&["plugin", "push", module.to_str().unwrap(), &format!("{addr}/p/core:1")], 1, "is a core WebAssembly module, not a component");
    std::fs::remove_file(&module).unwrap();
    let entries: Vec<_> = std::fs::read_dir(dir.path()).unwrap().flatten().map(|e| e.file_name()).collect();
    assert!(entries.is_empty(), "nothing written: {entries:?}");
}
