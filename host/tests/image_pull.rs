//! Pulling images from a real registry (Debian's docker-registry on 127.0.0.1) into the
//! store: plain HTTP, TLS with a test CA, htpasswd credentials, corrupt blobs, indexes,
//! and the `hooklet image pull` command.

mod registry_support;

use std::path::Path;
use std::process::Command;

use hooklet::image::pull::{PullConfig, Puller};
use hooklet::image::ImageStore;
use registry_support::{host_arch, random_bytes, registry_available, staged, wait_for_unpacking, with_image, Mode, TestImage, TestRegistry, PASSWORD, USER};

fn puller(config: PullConfig) -> Puller {
    Puller::new(config).expect("the puller starts")
}

fn insecure(registry: &TestRegistry) -> PullConfig {
    PullConfig { insecure_registries: vec![registry.addr.clone()], ..PullConfig::default() }
}

fn quiet(_: String) {}

fn busybox_like() -> TestImage {
    TestImage::new(host_arch(), &[("bin/hello", b"#!/bin/sh\necho hello\n"), ("etc/motd", b"pulled\n")])
}

/// Only `.lock` (and no staging directory) is left in the store's directory.
fn store_is_empty(store: &ImageStore) {
    let names: Vec<String> = std::fs::read_dir(store.dir()).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    assert!(names.iter().all(|n| n == ".lock"), "left in the store: {names:?}");
}

#[tokio::test]
async fn pulls_an_image_then_finds_it_present_without_downloading_again() {
    if !registry_available() {
        return;
    }
    let image = busybox_like();
    let (registry, _dir, store) = with_image(Mode::Plain, "test/app:1", &image).await;
    let manifest = registry.manifest("test/app:1").await.1;
    let puller = puller(insecure(&registry));
    let name = format!("{}/test/app:1", registry.addr);
    let pulled = puller.pull(&store, &name, &Default::default(), &quiet).await.expect("pull");
    assert!(!pulled.already_present);
    assert_eq!(pulled.image.id, image.id());
    assert_eq!(pulled.image.manifest_digest.as_deref(), Some(manifest.as_str()));
    assert_eq!(pulled.image.references.as_slice(), std::slice::from_ref(&name));
    assert_eq!(pulled.size, (image.config.len() + image.layers[0].gzipped.len()) as u64);
    let rootfs = store.resolve(&name).unwrap().rootfs();
    assert_eq!(std::fs::read_to_string(rootfs.join("etc/motd")).unwrap(), "pulled\n");
    assert!(store.resolve(&format!("{}/test/app@{manifest}", registry.addr)).is_ok());
    // Pulled again (what Always does): the manifest only, no blob fetched again.
    let again = puller.pull(&store, &name, &Default::default(), &quiet).await.expect("second pull");
    assert!(again.already_present);
    assert_eq!(registry.blob_gets(&image.layers[0].digest()), 1, "{}", registry.log());
    store_is_empty_but_for(&store, &image.id());
}

fn store_is_empty_but_for(store: &ImageStore, id: &str) {
    let hex = id.trim_start_matches("sha256:");
    let names: Vec<String> = std::fs::read_dir(store.dir()).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    assert!(names.iter().all(|n| n == ".lock" || n == hex), "left in the store: {names:?}");
}

#[tokio::test]
async fn unknown_tags_and_repositories_say_what_is_missing_where() {
    if !registry_available() {
        return;
    }
    let (registry, _dir, store) = with_image(Mode::Plain, "test/app:1", &busybox_like()).await;
    let puller = puller(insecure(&registry));
    for name in ["test/app:nope", "test/nothere:1"] {
        let image = format!("{}/{name}", registry.addr);
        let err = puller.pull(&store, &image, &Default::default(), &quiet).await.unwrap_err();
        assert_eq!(err.message, format!("manifest unknown: {image} not found in {}", registry.addr));
    }
    store_is_empty(&store);
}

#[tokio::test]
async fn a_corrupt_blob_is_refused_and_nothing_is_left() {
    if !registry_available() {
        return;
    }
    let image = busybox_like();
    let (registry, _dir, store) = with_image(Mode::Plain, "test/app:1", &image).await;
    let layer = image.layers[0].digest();
    let file = registry.blob_file(&layer);
    let mut bytes = std::fs::read(&file).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&file, &bytes).unwrap();
    let err = puller(insecure(&registry)).pull(&store, &format!("{}/test/app:1", registry.addr), &Default::default(), &quiet).await.unwrap_err();
    assert!(err.message.contains(&format!("blob {layer}")) && err.message.contains("digest mismatch, got sha256:"), "{err}");
    store_is_empty(&store);
    // Longer than its descriptor says: stopped at the size.
    bytes.extend_from_slice(&[0; 4096]);
    std::fs::write(&file, &bytes).unwrap();
    let err = puller(insecure(&registry)).pull(&store, &format!("{}/test/app:1", registry.addr), &Default::default(), &quiet).await.unwrap_err();
    assert!(err.message.contains("more than the") || err.message.contains("digest mismatch"), "{err}");
    store_is_empty(&store);
    // Whole blobs, but a config whose diff ID is not the layer's: refused after unpacking.
    let mut lying = TestImage::new(host_arch(), &[("bin/sh", b"not the layer above")]);
    let claimed = registry_support::sha256(b"another layer");
    lying.config = String::from_utf8(lying.config).unwrap().replace(&lying.layers[0].diff_id, &claimed).into_bytes();
    registry.push("test/lying:1", &lying).await;
    let err = puller(insecure(&registry)).pull(&store, &format!("{}/test/lying:1", registry.addr), &Default::default(), &quiet).await.unwrap_err();
    let expected = format!("unpacks to {}, where the image config's rootfs.diff_ids says {claimed}; the image is corrupt", lying.layers[0].diff_id);
    assert!(err.message.contains(&expected), "{err}");
    store_is_empty(&store);
}

#[tokio::test]
async fn an_index_gives_the_hosts_platform() {
    if !registry_available() {
        return;
    }
    let registry = TestRegistry::start(Mode::Plain).await;
    let other = if host_arch() == "arm64" { "amd64" } else { "arm64" };
    let mine = TestImage::new(host_arch(), &[("arch", host_arch().as_bytes())]);
    let foreign = TestImage::new(other, &[("arch", other.as_bytes())]);
    let index = registry.push_index("test/multi:1", &[(&foreign, other, None), (&mine, host_arch(), None)]).await;
    let dir = tempfile::tempdir().unwrap();
    let store = ImageStore::open(dir.path()).unwrap();
    let puller = puller(insecure(&registry));
    let name = format!("{}/test/multi:1", registry.addr);
    let pulled = puller.pull(&store, &name, &Default::default(), &quiet).await.expect("pull through the index");
    assert_eq!(pulled.image.id, mine.id());
    assert_eq!(pulled.image.index_digest.as_deref(), Some(index.as_str()));
    assert_eq!(std::fs::read_to_string(pulled.image.rootfs().join("arch")).unwrap(), host_arch());
    assert_eq!(store.resolve(&format!("{}/test/multi@{index}", registry.addr)).unwrap().id, mine.id());
    // An index without this host's platform.
    registry.push_index("test/foreign:1", &[(&foreign, other, None)]).await;
    let err = puller.pull(&store, &format!("{}/test/foreign:1", registry.addr), &Default::default(), &quiet).await.unwrap_err();
    assert!(err.message.starts_with(&format!("no matching manifest for linux/{} in the manifest list entries", host_arch())), "{err}");
}

#[tokio::test]
async fn https_needs_a_trusted_certificate_and_plain_http_needs_insecure_registry() {
    if !registry_available() {
        return;
    }
    let image = busybox_like();
    let (tls, _dir, store) = with_image(Mode::Tls, "test/app:1", &image).await;
    let name = format!("{}/test/app:1", tls.addr);
    let err = puller(PullConfig::default()).pull(&store, &name, &Default::default(), &quiet).await.unwrap_err();
    assert!(err.message.starts_with(&format!("tls: the certificate of {} is not trusted", tls.addr)), "{err}");
    assert!(err.message.contains(&format!("CERTS_DIR/{}/ca.crt", tls.addr)), "{err}");
    store_is_empty(&store);
    let trusting = PullConfig { certs_dir: Some(tls.certs_dir()), ..PullConfig::default() };
    assert_eq!(puller(trusting).pull(&store, &name, &Default::default(), &quiet).await.expect("pull over TLS").image.id, image.id());

    let plain = TestRegistry::start(Mode::Plain).await;
    plain.push("test/app:1", &image).await;
    let err = puller(PullConfig::default()).pull(&store, &format!("{}/test/app:1", plain.addr), &Default::default(), &quiet).await.unwrap_err();
    assert!(err.message.contains(&format!("--insecure-registry {}", plain.addr)), "{err}");
}

fn config_json(dir: &Path, registry: &str, user: &str, password: &str) -> std::path::PathBuf {
    use base64::Engine as _;
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    let file = dir.join(format!("config-{user}-{}.json", password.len()));
    std::fs::write(&file, serde_json::json!({"auths": {registry: {"auth": auth}}}).to_string()).unwrap();
    file
}

#[tokio::test]
async fn credentials_come_from_a_docker_config_json_and_are_never_shown() {
    if !registry_available() {
        return;
    }
    let image = busybox_like();
    let (registry, dir, store) = with_image(Mode::Htpasswd, "test/app:1", &image).await;
    let name = format!("{}/test/app:1", registry.addr);
    let with = |credentials: Option<std::path::PathBuf>| puller(PullConfig { credentials, ..insecure(&registry) });

    let none = dir.path().join("empty.json");
    std::fs::write(&none, r#"{"auths": {}}"#).unwrap();
    let err = with(Some(none)).pull(&store, &name, &Default::default(), &quiet).await.unwrap_err();
    assert!(err.message.starts_with(&format!("unauthorized: {} refused anonymous access to {name}", registry.addr)), "{err}");

    let wrong = config_json(dir.path(), &registry.addr, USER, "not-the-password");
    let err = with(Some(wrong.clone())).pull(&store, &name, &Default::default(), &quiet).await.unwrap_err();
    assert!(err.message.contains("with each of the 1 credential(s)") && err.message.contains(&wrong.display().to_string()), "{err}");
    assert!(!err.message.contains("not-the-password"), "{err}");
    store_is_empty(&store);

    let right = config_json(dir.path(), &registry.addr, USER, PASSWORD);
    assert_eq!(with(Some(right)).pull(&store, &name, &Default::default(), &quiet).await.expect("pull with credentials").image.id, image.id());
}

#[tokio::test]
async fn the_cli_pulls_with_one_line_per_layer() {
    if !registry_available() {
        return;
    }
    let registry = TestRegistry::start(Mode::Plain).await;
    let image = busybox_like();
    registry.push("test/app:1", &image).await;
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().to_str().unwrap();
    let name = format!("{}/test/app:1", registry.addr);
    let hooklet = |args: &[&str]| Command::new(env!("CARGO_BIN_EXE_hooklet")).args(args).output().unwrap();
    let out = hooklet(&["image", "pull", &name, "--insecure-registry", &registry.addr, "--state-dir", state]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains(&format!("{}: layer 1 of 1 ({} bytes)", image.layers[0].digest(), image.layers[0].gzipped.len())), "{stdout}");
    assert!(stdout.contains(&format!("Pulled: {name} (ID {}", &image.id()[7..19])), "{stdout}");
    let list = String::from_utf8_lossy(&hooklet(&["image", "list", "--state-dir", state]).stdout).into_owned();
    assert!(list.contains(&format!("{}/test/app", registry.addr)), "{list}");
    let out = hooklet(&["image", "pull", "Bad/Name:1", "--state-dir", state]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("repository name must be lowercase"));
}

#[tokio::test]
async fn bearer_tokens_are_fetched_with_the_credentials() {
    if !registry_available() {
        return;
    }
    let image = busybox_like();
    let (registry, dir, store) = with_image(Mode::Token, "test/app:1", &image).await;
    let name = format!("{}/test/app:1", registry.addr);
    let with = |credentials: std::path::PathBuf| puller(PullConfig { credentials: Some(credentials), ..insecure(&registry) });
    let wrong = config_json(dir.path(), &registry.addr, USER, "not-the-password");
    let err = with(wrong).pull(&store, &name, &Default::default(), &quiet).await.unwrap_err();
    assert!(err.message.starts_with(&format!("unauthorized: {} refused access to {name}", registry.addr)), "{err}");
    store_is_empty(&store);
    let right = config_json(dir.path(), &registry.addr, USER, PASSWORD);
    assert_eq!(with(right).pull(&store, &name, &Default::default(), &quiet).await.expect("pull with a token").image.id, image.id());
}

#[tokio::test]
async fn a_pull_killed_midway_leaves_no_image_and_the_next_one_succeeds() {
    if !registry_available() {
        return;
    }
    let image = TestImage::new(host_arch(), &[("data/blob", &random_bytes(64 * 1024 * 1024))]);
    let (registry, dir, store) = with_image(Mode::Plain, "test/big:1", &image).await;
    let name = format!("{}/test/big:1", registry.addr);
    let state = dir.path().to_str().unwrap().to_string();
    let args = ["image", "pull", name.as_str(), "--insecure-registry", registry.addr.as_str(), "--state-dir", state.as_str()];
    let mut child = Command::new(env!("CARGO_BIN_EXE_hooklet")).args(args).stdout(std::process::Stdio::null()).spawn().unwrap();
    // SIGKILL once the layer is being unpacked into the staging directory.
    let images = dir.path().join("images");
    let partial = wait_for_unpacking(&images, || child.try_wait().unwrap().is_none());
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(partial.exists(), "killed mid-download");
    assert!(store.list().unwrap().is_empty(), "no image, not even a half one");
    assert!(store.resolve(&name).is_err());

    let out = Command::new(env!("CARGO_BIN_EXE_hooklet")).args(args).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(store.resolve(&name).expect("pulled again").id, image.id());
    assert_eq!(staged(&images), Vec::<std::path::PathBuf>::new(), "the killed pull's staging directory is swept");
}
