//! A real registry for the pull tests: Debian's `docker-registry` (the reference
//! distribution registry) started on 127.0.0.1 on a free port with its config and
//! storage in a temporary directory; plain HTTP, TLS with a test CA (a CA and a leaf:
//! rustls refuses a self-signed CA as a server certificate) or htpasswd basic auth.
//! Tests fill it with oci-client pushes of images built here.
//!
//! Without `docker-registry` the tests skip loudly; under `CI=true` they fail instead.
#![allow(dead_code)]

pub mod gate;
pub mod token;

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use oci_client::client::{Certificate, CertificateEncoding, ClientConfig, ClientProtocol, Config, ImageLayer};
use oci_client::manifest::{ImageIndexEntry, OciImageIndex, OciImageManifest, Platform};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};
use sha2::{Digest as _, Sha256};

/// Whether the registry tests can run; prints why not (or panics under CI).
pub fn registry_available() -> bool {
    let missing: Vec<&str> = ["docker-registry", "htpasswd"].into_iter().filter(|b| !on_path(b)).collect();
    if missing.is_empty() {
        return true;
    }
    let why = format!("{} not installed (Debian packages docker-registry, apache2-utils)", missing.join(" and "));
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("the registry tests need {why}; .ci/run installs them");
    }
    eprintln!("\n*** SKIPPING the registry test: {why}; `apt-get install docker-registry apache2-utils` to run it ***\n");
    false
}

fn on_path(binary: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(binary).is_file()))
}

/// How the registry is reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Plain HTTP (an `--insecure-registry`).
    Plain,
    /// HTTPS with a leaf certificate from a test CA.
    Tls,
    /// Plain HTTP with htpasswd basic auth for [`USER`] / [`PASSWORD`].
    Htpasswd,
    /// Plain HTTP with bearer tokens from a [`token::TokenServer`] that knows
    /// [`USER`] / [`PASSWORD`].
    Token,
}

/// The htpasswd registry's user and password.
pub const USER: &str = "alice";
/// See [`USER`].
pub const PASSWORD: &str = "s3cret-pw";

/// A running `docker-registry serve`.
pub struct TestRegistry {
    /// `127.0.0.1:PORT`.
    pub addr: String,
    pub mode: Mode,
    /// Holds config, storage, certificates and the log.
    pub dir: tempfile::TempDir,
    child: Option<Child>,
    token: Option<token::TokenServer>,
}

impl TestRegistry {
    /// Starts a registry in `mode`.
    pub async fn start(mode: Mode) -> TestRegistry {
        let dir = tempfile::tempdir().unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let addr = format!("127.0.0.1:{port}");
        let root = dir.path();
        let mut config = format!(
            "version: 0.1\nlog:\n  level: info\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: {addr}\n",
            root.join("data").display()
        );
        match mode {
            Mode::Plain | Mode::Token => {}
            Mode::Tls => {
                write_test_ca(root, &addr);
                config.push_str(&format!(
                    "  tls:\n    certificate: {}\n    key: {}\n",
                    root.join("leaf.pem").display(),
                    root.join("leaf.key").display()
                ));
            }
            Mode::Htpasswd => {
                let out = Command::new("htpasswd").args(["-Bbn", USER, PASSWORD]).output().unwrap();
                assert!(out.status.success(), "htpasswd failed");
                std::fs::write(root.join("htpasswd"), out.stdout).unwrap();
                config.push_str(&format!("auth:\n  htpasswd:\n    realm: hooklet-test\n    path: {}\n", root.join("htpasswd").display()));
            }
        }
        let mut token = None;
        if mode == Mode::Token {
            let server = token::TokenServer::start().await;
            std::fs::write(root.join("token.pem"), &server.cert_pem).unwrap();
            config.push_str(&format!(
                "auth:\n  token:\n    realm: {}\n    service: {}\n    issuer: {}\n    rootcertbundle: {}\n",
                server.realm,
                token::SERVICE,
                token::ISSUER,
                root.join("token.pem").display()
            ));
            token = Some(server);
        }
        std::fs::write(root.join("config.yml"), config).unwrap();
        let mut registry = TestRegistry { addr, mode, dir, child: None, token };
        registry.up().await;
        registry
    }

    /// Starts the registry process (again, on the same port and storage).
    pub async fn up(&mut self) {
        let log = std::fs::OpenOptions::new().create(true).append(true).open(self.log_path()).unwrap();
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(self.dir.path().join("config.yml"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("docker-registry starts");
        self.child = Some(child);
        // The registry gives no readiness signal: its port accepting is the one.
        for _ in 0..250 {
            if tokio::net::TcpStream::connect(&self.addr).await.is_ok() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("docker-registry did not listen on {} within 5 s; its log:\n{}", self.addr, self.log());
    }

    /// Stops the registry process (storage kept).
    pub fn down(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("registry.log")
    }

    /// Everything the registry logged.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// How many GET requests for the blob `digest` the registry served.
    pub fn blob_gets(&self, digest: &str) -> usize {
        self.log().lines().filter(|l| l.contains("\"GET /v2/") && l.contains(&format!("/blobs/{digest} "))).count()
    }

    /// `DIR/certs.d`, holding `127.0.0.1:PORT/ca.crt` for a TLS registry.
    pub fn certs_dir(&self) -> PathBuf {
        self.dir.path().join("certs.d")
    }

    /// Where the registry stores blob `digest` (tests overwrite it to corrupt it).
    pub fn blob_file(&self, digest: &str) -> PathBuf {
        let hex = digest.trim_start_matches("sha256:");
        self.dir.path().join(format!("data/docker/registry/v2/blobs/sha256/{}/{hex}/data", &hex[..2]))
    }

    /// A client that pushes to this registry.
    pub fn client(&self) -> Client {
        let extra_root_certificates = match self.mode {
            Mode::Tls => vec![Certificate { encoding: CertificateEncoding::Pem, data: std::fs::read(self.dir.path().join("ca.pem")).unwrap() }],
            _ => vec![],
        };
        let _ = rustls::crypto::ring::default_provider().install_default();
        Client::new(ClientConfig {
            protocol: if self.mode == Mode::Tls { ClientProtocol::Https } else { ClientProtocol::Http },
            extra_root_certificates,
            ..ClientConfig::default()
        })
    }

    fn auth(&self) -> RegistryAuth {
        match self.mode {
            Mode::Htpasswd | Mode::Token => RegistryAuth::Basic(USER.into(), PASSWORD.into()),
            _ => RegistryAuth::Anonymous,
        }
    }

    /// Pushes `image` to `REPO:TAG` (relative to this registry); returns the manifest digest.
    pub async fn push(&self, name: &str, image: &TestImage) -> String {
        let reference: Reference = format!("{}/{name}", self.addr).parse().unwrap();
        let layers: Vec<ImageLayer> = image.layers.iter().map(|l| ImageLayer::oci_v1_gzip(l.gzipped.clone(), None)).collect();
        let config = Config::oci_v1(image.config.clone(), None);
        let manifest = OciImageManifest::build(&layers, &config, None);
        let client = self.client();
        client.push(&reference, &layers, config, &self.auth(), Some(manifest)).await.expect("push");
        self.manifest(name).await.1
    }

    /// The raw manifest of `REPO:TAG` and its digest.
    pub async fn manifest(&self, name: &str) -> (Vec<u8>, String) {
        let reference: Reference = format!("{}/{name}", self.addr).parse().unwrap();
        let types = ["application/vnd.oci.image.manifest.v1+json", "application/vnd.oci.image.index.v1+json"];
        let (body, digest) = self.client().pull_manifest_raw(&reference, &self.auth(), &types).await.expect("the pushed manifest");
        (body.to_vec(), digest)
    }

    /// Pushes an index of `images` (each pushed by digest first) to `REPO:TAG`; returns its digest.
    pub async fn push_index(&self, name: &str, images: &[(&TestImage, &str, Option<&str>)]) -> String {
        let repo = name.split(':').next().unwrap();
        let mut manifests = Vec::new();
        for (image, arch, variant) in images {
            let tag = format!("{repo}:{arch}-only");
            self.push(&tag, image).await;
            let (body, digest) = self.manifest(&tag).await;
            manifests.push(ImageIndexEntry {
                media_type: "application/vnd.oci.image.manifest.v1+json".into(),
                digest,
                size: body.len() as i64,
                platform: Some(Platform {
                    architecture: (*arch).into(),
                    os: "linux".into(),
                    os_version: None,
                    os_features: None,
                    variant: variant.map(String::from),
                    features: None,
                }),
                annotations: None,
                artifact_type: None,
            });
        }
        let index = OciImageIndex {
            schema_version: 2,
            media_type: Some("application/vnd.oci.image.index.v1+json".into()),
            manifests,
            artifact_type: None,
            annotations: None,
        };
        let reference: Reference = format!("{}/{name}", self.addr).parse().unwrap();
        self.client().push_manifest_list(&reference, &self.auth(), index).await.expect("push the index");
        self.manifest(name).await.1
    }
}

impl Drop for TestRegistry {
    fn drop(&mut self) {
        self.down();
    }
}

/// A registry in `mode` holding `image` as `name` (`REPO:TAG`), and an empty store in
/// a temporary directory.
pub async fn with_image(mode: Mode, name: &str, image: &TestImage) -> (TestRegistry, tempfile::TempDir, hooklet::image::ImageStore) {
    let registry = TestRegistry::start(mode).await;
    registry.push(name, image).await;
    let dir = tempfile::tempdir().unwrap();
    let store = hooklet::image::ImageStore::open(dir.path().join("images")).unwrap();
    (registry, dir, store)
}

/// A CA, and a leaf for 127.0.0.1 signed by it, in `dir` (`ca.pem`, `leaf.pem`,
/// `leaf.key`), the CA also as `certs.d/ADDR/ca.crt`.
fn write_test_ca(dir: &Path, addr: &str) {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.distinguished_name.push(rcgen::DnType::CommonName, "hooklet test CA");
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, &ca_key);
    let leaf_key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()]).unwrap().signed_by(&leaf_key, &issuer).unwrap();
    std::fs::write(dir.join("ca.pem"), ca.pem()).unwrap();
    std::fs::write(dir.join("leaf.pem"), leaf.pem()).unwrap();
    std::fs::write(dir.join("leaf.key"), leaf_key.serialize_pem()).unwrap();
    let certs = dir.join("certs.d").join(addr);
    std::fs::create_dir_all(&certs).unwrap();
    std::fs::write(certs.join("ca.crt"), ca.pem()).unwrap();
}

/// One gzip layer: the tar's sha256 (diff ID) and the gzip bytes.
pub struct TestLayer {
    pub diff_id: String,
    pub gzipped: Vec<u8>,
}

impl TestLayer {
    /// A layer holding `files` (path, content), mode 0755.
    pub fn of(files: &[(&str, &[u8])]) -> TestLayer {
        let mut builder = tar::Builder::new(Vec::new());
        for (path, content) in files {
            let mut header = tar::Header::new_gnu();
            header.set_size(content.len() as u64);
            header.set_mode(0o755);
            header.set_mtime(0);
            header.set_cksum();
            builder.append_data(&mut header, path, *content).unwrap();
        }
        let tar = builder.into_inner().unwrap();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&tar).unwrap();
        TestLayer { diff_id: sha256(&tar), gzipped: gz.finish().unwrap() }
    }

    pub fn digest(&self) -> String {
        sha256(&self.gzipped)
    }
}

/// An image: layers and the config naming their diff IDs.
pub struct TestImage {
    pub layers: Vec<TestLayer>,
    pub config: Vec<u8>,
}

impl TestImage {
    /// An image for `arch` (OCI name: amd64, arm64) with one layer of `files`.
    pub fn new(arch: &str, files: &[(&str, &[u8])]) -> TestImage {
        let layers = vec![TestLayer::of(files)];
        let config = serde_json::json!({
            "architecture": arch, "os": "linux",
            "config": {"Cmd": ["/bin/sh"], "Env": ["PATH=/bin"]},
            "rootfs": {"type": "layers", "diff_ids": layers.iter().map(|l| l.diff_id.clone()).collect::<Vec<_>>()},
        });
        TestImage { layers, config: serde_json::to_vec(&config).unwrap() }
    }

    /// The image ID: the config's digest.
    pub fn id(&self) -> String {
        sha256(&self.config)
    }

    /// Writes the image as an OCI image layout tar (what `hooklet image import`
    /// reads) named `name`.
    pub fn write_oci_archive(&self, name: &str, path: &Path) {
        let mut files: Vec<(String, Vec<u8>)> = Vec::new();
        let mut blob = |data: Vec<u8>, media_type: &str| {
            let descriptor = serde_json::json!({"mediaType": media_type, "digest": sha256(&data), "size": data.len()});
            files.push((format!("blobs/sha256/{}", &sha256(&data)[7..]), data));
            descriptor
        };
        let layers: Vec<_> = self.layers.iter().map(|l| blob(l.gzipped.clone(), "application/vnd.oci.image.layer.v1.tar+gzip")).collect();
        let config = blob(self.config.clone(), "application/vnd.oci.image.config.v1+json");
        let manifest = serde_json::json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json", "config": config, "layers": layers});
        let mut manifest = blob(serde_json::to_vec(&manifest).unwrap(), "application/vnd.oci.image.manifest.v1+json");
        manifest["annotations"] = serde_json::json!({"io.containerd.image.name": name});
        files.push(("index.json".into(), serde_json::to_vec(&serde_json::json!({"schemaVersion": 2, "manifests": [manifest]})).unwrap()));
        files.push(("oci-layout".into(), br#"{"imageLayoutVersion":"1.0.0"}"#.to_vec()));
        let mut builder = tar::Builder::new(std::fs::File::create(path).unwrap());
        for (name, data) in files {
            let mut header = tar::Header::new_gnu();
            header.set_size(data.len() as u64);
            header.set_mode(0o644);
            header.set_cksum();
            builder.append_data(&mut header, name, data.as_slice()).unwrap();
        }
        builder.finish().unwrap();
    }
}

/// `n` bytes that do not compress (xorshift64), for big layers.
pub fn random_bytes(n: usize) -> Vec<u8> {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut out = Vec::with_capacity(n + 8);
    while out.len() < n {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(n);
    out
}

/// `sha256:HEX` of `data`.
pub fn sha256(data: &[u8]) -> String {
    format!("sha256:{:x}", Sha256::digest(data))
}

/// The host's OCI architecture name.
pub fn host_arch() -> &'static str {
    hooklet::image::archive::host_architecture()
}

/// Waits until a pull into the store at `images` is unpacking a layer (a staged
/// `.import-*/ID/rootfs/` file with bytes in it) and returns that file; panics if
/// `still_running` says the puller ended first.
pub fn wait_for_unpacking(images: &Path, mut still_running: impl FnMut() -> bool) -> PathBuf {
    loop {
        let staged = std::fs::read_dir(images).into_iter().flatten().flatten().filter(|e| e.file_name().to_string_lossy().starts_with(".import-"));
        let found = staged.flat_map(|e| std::fs::read_dir(e.path()).into_iter().flatten().flatten()).find_map(|image| {
            let file = image.path().join("rootfs/data/blob");
            file.metadata().is_ok_and(|m| m.len() > 0).then_some(file)
        });
        if let Some(found) = found {
            return found;
        }
        assert!(still_running(), "the pull ended before it could be killed");
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
}

/// The staging directories left in the store at `images`.
pub fn staged(images: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(images).unwrap().flatten().map(|e| e.path()).filter(|p| p.file_name().unwrap().to_string_lossy().starts_with(".import-")).collect()
}
