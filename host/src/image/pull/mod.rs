//! Pulling an image from a registry (the OCI distribution API, through `oci-client`)
//! into the local store, by the path `image import` takes: the store's lock, the config
//! staged and checked against its digest, each layer unpacked into the staging
//! directory while it downloads (both its digests checked), the image renamed into
//! place. A crash leaves only the staging directory, which the next change of the
//! store removes.
//!
//! | file | what |
//! |---|---|
//! | [`credentials`] | the node's Docker `config.json`: which credentials go to which registry |
//! | [`blob`] | one blob into the staging directory, size-capped, digest-checked |
//! | [`layer`] | one layer unpacked while it downloads, both digests checked |
//! | [`errors`] | one-line failure messages naming what, where, what to do |
//!
//! TLS: system roots plus `CERTS_DIR/HOST:PORT/*.crt` (the certs.d convention of
//! Docker and containerd). Plain HTTP only for registries named `insecure`.

pub mod blob;
pub mod credentials;
pub mod errors;
pub mod layer;

use std::path::PathBuf;

use oci_client::client::{Certificate, CertificateEncoding, ClientConfig, ClientProtocol};
use oci_client::manifest::{ImageIndexEntry, OciImageManifest};
use oci_client::secrets::RegistryAuth;
use oci_client::Client;

pub use credentials::Keyring;
pub use errors::PullError;

use super::archive::{host_architecture, Blob, ImageSource};
use super::config::ImageConfig;
use super::error::ImageError;
use super::store::{Image, ImageStore};
use super::Reference;

/// Layer media types hooklet unpacks (tar, tar+gzip; gzip is recognised by its magic).
const LAYER_TYPES: [&str; 4] = [
    "application/vnd.oci.image.layer.v1.tar",
    "application/vnd.oci.image.layer.v1.tar+gzip",
    "application/vnd.docker.image.rootfs.diff.tar.gzip",
    "application/vnd.docker.image.rootfs.diff.tar",
];
/// Config media types of container images.
const CONFIG_TYPES: [&str; 2] = ["application/vnd.oci.image.config.v1+json", "application/vnd.docker.container.image.v1+json"];

/// Where registries are and how to talk to them.
#[derive(Debug, Clone, Default)]
pub struct PullConfig {
    /// `HOST:PORT` of registries spoken to over plain HTTP (`--insecure-registry`).
    pub insecure_registries: Vec<String>,
    /// `DIR/HOST:PORT/*.crt` are extra CAs for that registry (`--registry-certs-dir`).
    pub certs_dir: Option<PathBuf>,
    /// A Docker `config.json` (`--image-credentials`); default `$DOCKER_CONFIG/config.json`,
    /// then `~/.docker/config.json`.
    pub credentials: Option<PathBuf>,
}

/// What a pull did.
#[derive(Debug, Clone)]
pub struct Pulled {
    /// The image as stored now.
    pub image: Image,
    /// Its config was stored already: only the manifest was fetched.
    pub already_present: bool,
    /// Bytes of the image in the registry: config plus compressed layers.
    pub size: u64,
}

/// Pulls images from registries into a store.
#[derive(Debug, Clone)]
pub struct Puller {
    config: PullConfig,
    keyring: Keyring,
}

impl Puller {
    /// A puller with `config`'s registries and credentials (read now; a bad
    /// credentials file is an error naming it).
    pub fn new(config: PullConfig) -> Result<Puller, String> {
        // reqwest's rustls has no provider of its own here: ring, as for the hooks.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let keyring = Keyring::load(config.credentials.as_deref())?;
        Ok(Puller { config, keyring })
    }

    /// Pulls `image` (a pod's `image`, a CLI argument) into `store`. `progress` gets one
    /// line per blob fetched. Every credential matching the registry is tried in
    /// order, those of `pod` (its image-pull secrets) before the node's; anonymous
    /// only when none matches.
    pub async fn pull(
        &self,
        store: &ImageStore,
        image: &str,
        pod: &Keyring,
        progress: &(dyn Fn(String) + Send + Sync),
    ) -> Result<Pulled, PullError> {
        let wanted = Reference::parse(image).map_err(|e| PullError::new(e.to_string()))?;
        let whole = wanted.to_string();
        let registry = wanted.registry();
        let reference = oci_reference(&wanted)?;
        let (reference, whole) = (&reference, &whole);
        self.with_credentials(&wanted, pod, |client, auth| async move {
            self.pull_with(&client, &auth, store, reference, whole, registry, progress).await
        })
        .await
    }

    /// Runs `op` against `wanted`'s registry with each credential that matches it (the
    /// pod's, then the node's) until one is not refused; anonymously when none matches.
    /// A refusal of every one says how many were tried and where they came from.
    pub async fn with_credentials<T, F>(
        &self,
        wanted: &Reference,
        pod: &Keyring,
        op: impl Fn(Client, RegistryAuth) -> F,
    ) -> Result<T, PullError>
    where
        F: std::future::Future<Output = Result<T, PullError>>,
    {
        let whole = wanted.to_string();
        let (registry, repository) = (wanted.registry(), wanted.path());
        let mut credentials = pod.lookup(registry, repository);
        credentials.extend(self.keyring.lookup(registry, repository));
        let auths: Vec<RegistryAuth> = match credentials.is_empty() {
            true => vec![RegistryAuth::Anonymous],
            false => credentials.iter().map(|c| c.auth().clone()).collect(),
        };
        for auth in auths {
            let client = self.client(registry)?;
            match op(client, auth).await {
                Err(err) if err.unauthorized => tracing::info!(image = %whole, "{err}; trying the next credential if any"),
                other => return other,
            }
        }
        let file = self.keyring.file.as_ref().map(|f| f.display().to_string()).unwrap_or_default();
        let message = if credentials.is_empty() {
            format!(
                "unauthorized: {registry} refused anonymous access to {whole}; give the pod an imagePullSecrets Secret for \
                 {registry}, or put credentials for it in a Docker config.json (--image-credentials FILE or \
                 $DOCKER_CONFIG/config.json){}",
                if file.is_empty() { String::new() } else { format!(" ({file} has none for it)") }
            )
        } else {
            let mut sources: Vec<&str> = credentials.iter().map(|c| c.source.as_str()).collect();
            sources.dedup();
            format!(
                "unauthorized: {registry} refused access to {whole} with each of the {} credential(s) for it (from {})",
                credentials.len(),
                sources.join(", ")
            )
        };
        Err(PullError { message, unauthorized: true })
    }

    fn client(&self, registry: &str) -> Result<Client, PullError> {
        let mut extra_root_certificates = Vec::new();
        if let Some(dir) = &self.config.certs_dir {
            let dir = dir.join(registry);
            for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
                let path = entry.path();
                if path.extension().is_some_and(|e| e == "crt") {
                    let data = std::fs::read(&path).map_err(|e| PullError::new(format!("cannot read the CA {}: {e}", path.display())))?;
                    extra_root_certificates.push(Certificate { encoding: CertificateEncoding::Pem, data });
                }
            }
        }
        Ok(Client::new(ClientConfig {
            protocol: ClientProtocol::HttpsExcept(self.config.insecure_registries.clone()),
            extra_root_certificates,
            platform_resolver: Some(Box::new(resolve_platform)),
            connect_timeout: Some(std::time::Duration::from_secs(30)),
            user_agent: concat!("hooklet/", env!("CARGO_PKG_VERSION")),
            ..ClientConfig::default()
        }))
    }

    #[allow(clippy::too_many_arguments)]
    async fn pull_with(
        &self,
        client: &Client,
        auth: &RegistryAuth,
        store: &ImageStore,
        reference: &oci_client::Reference,
        whole: &str,
        registry: &str,
        progress: &(dyn Fn(String) + Send + Sync),
    ) -> Result<Pulled, PullError> {
        let (manifest, digest, index_digest) = client
            .pull_image_manifest_and_list_digest(reference, auth)
            .await
            .map_err(|e| errors::describe(&e, whole, registry))?;
        check_types(&manifest, whole)?;
        let size = u64::try_from(manifest.config.size).unwrap_or(0)
            + manifest.layers.iter().map(|l| u64::try_from(l.size).unwrap_or(0)).sum::<u64>();
        let origin = PathBuf::from(whole);
        let name = Reference { digest: None, ..Reference::parse(whole).expect("parsed above") };
        // A digest-only reference names the image by that digest.
        let names = vec![if name.tag.is_some() { name.to_string() } else { whole.to_string() }];
        let store_for_lock = store.clone();
        let (lock, staging) = tokio::task::spawn_blocking(move || store_for_lock.begin_change())
            .await
            .expect("the store's lock task does not panic")
            .map_err(|e| PullError::new(e.to_string()))?;
        let already_present = store.has(&manifest.config.digest);
        let fetched = async {
            let config = if already_present {
                None
            } else {
                Some(blob::fetch(client, reference, &manifest.config, &staging, "the config", registry).await?.0)
            };
            let mut source = ImageSource {
                manifest_digest: Some(digest.clone()),
                index_digest,
                names,
                config: config.clone().unwrap_or(Blob { path: staging.join("unused"), digest: manifest.config.digest.clone() }),
                layers: Vec::new(),
            };
            let (store, staging) = (store.clone(), staging.clone());
            let Some(config) = config else {
                // Stored already: only its names change.
                return tokio::task::spawn_blocking(move || store.add(&origin, &source, &staging)).await.expect("naming does not panic").map_err(stored);
            };
            let config = ImageConfig::read(&config.path, &origin, manifest.layers.len()).map_err(stored)?;
            let rootfs = ImageStore::rootfs_in(&staging, &manifest.config.digest);
            tokio::fs::create_dir_all(&rootfs)
                .await
                .map_err(|e| PullError::new(format!("cannot create {}: {e}", rootfs.display())))?;
            let count = manifest.layers.len();
            for (i, (layer, diff_id)) in manifest.layers.iter().zip(&config.diff_ids).enumerate() {
                let what = format!("layer {} of {count}", i + 1);
                layer::fetch_and_apply(client, reference, layer, &rootfs, diff_id, &what, registry).await?;
                progress(format!("{}: {} ({} bytes)", layer.digest, what, layer.size));
                source.layers.push(Blob { path: PathBuf::new(), digest: layer.digest.clone() });
            }
            tokio::task::spawn_blocking(move || store.add_unpacked(&origin, &source, config, &staging))
                .await
                .expect("storing does not panic")
                .map_err(stored)
        }
        .await;
        if let Err(err) = tokio::fs::remove_dir_all(&staging).await {
            if err.kind() != std::io::ErrorKind::NotFound {
                tracing::warn!(dir = %staging.display(), %err, "cannot remove the pull's staging directory");
            }
        }
        drop(lock);
        let imported = fetched?;
        progress(format!("Digest: {digest}"));
        Ok(Pulled { image: imported.image, already_present, size })
    }
}

/// A store error as a pull's.
fn stored(err: ImageError) -> PullError {
    PullError::new(err.to_string())
}

/// `wanted` as oci-client's reference.
pub fn oci_reference(wanted: &Reference) -> Result<oci_client::Reference, PullError> {
    let whole = wanted.to_string();
    whole.parse().map_err(|e| PullError::new(format!("{whole}: not a reference oci-client accepts: {e}")))
}

/// Refuses what is not a container image hooklet can unpack, before any blob is fetched.
fn check_types(manifest: &OciImageManifest, image: &str) -> Result<(), PullError> {
    let config_type = manifest.config.media_type.as_str();
    if !CONFIG_TYPES.contains(&config_type) {
        return Err(PullError::new(format!(
            "{image} is not a container image: its config has media type {config_type:?} (an artifact, such as a wasm plugin?)"
        )));
    }
    for (i, layer) in manifest.layers.iter().enumerate() {
        if !LAYER_TYPES.contains(&layer.media_type.as_str()) {
            return Err(PullError::new(format!(
                "layer {} of {image} has media type {:?}, which hooklet does not unpack (it reads tar and tar+gzip layers)",
                i + 1,
                layer.media_type
            )));
        }
    }
    Ok(())
}

/// The host's `linux/ARCH` entry of an index, the exact variant preferred (arm64's
/// default variant is v8).
pub fn resolve_platform(entries: &[ImageIndexEntry]) -> Option<String> {
    let arch = host_architecture();
    let default_variant = (arch == "arm64").then_some("v8");
    let matching: Vec<&ImageIndexEntry> = entries
        .iter()
        .filter(|e| e.platform.as_ref().is_some_and(|p| p.os.to_string() == "linux" && p.architecture.to_string() == arch))
        .collect();
    let variant_of = |e: &ImageIndexEntry| e.platform.as_ref().and_then(|p| p.variant.clone());
    matching
        .iter()
        .find(|e| variant_of(e).as_deref() == default_variant || variant_of(e).is_none())
        .or(matching.first())
        .map(|e| e.digest.clone())
}
