//! Plugins as OCI artifacts, in the CNCF TAG Runtime "Wasm OCI Artifact layout" (the
//! one wkg, wash and Spin use): an image manifest whose config has media type
//! `application/vnd.wasm.config.v0+json` and whose only layer is the raw component,
//! `application/wasm`. `push` publishes `NAME.wasm`; `pull` fetches one (streamed to a
//! staging file in the plugin directory, its digest checked while it streams), checks
//! it is a component, and renames it into place as `NAME.wasm` with `NAME.toml`
//! pinning its `sha256` and recording its `source` (`REF@sha256:MANIFEST`). Hot reload
//! picks it up as any file. Registries, TLS and credentials are the image puller's.
//!
//! Also accepted when pulling: the older wasm-to-oci types
//! (`application/vnd.wasm.content.layer.v1+wasm`, config `…wasm.config.v1+json`).

use std::path::{Path, PathBuf};

use oci_client::client::{Config, ImageLayer};
use oci_client::manifest::{OciDescriptor, OciImageManifest};
use oci_client::secrets::RegistryAuth;
use oci_client::Client;
use sha2::{Digest as _, Sha256};

use crate::image::pull::{blob, errors, oci_reference, Keyring, PullError, Puller};
use crate::image::Reference;
use crate::spec::names::is_plugin_name;

/// The CNCF layout's config media type.
pub const WASM_CONFIG: &str = "application/vnd.wasm.config.v0+json";
/// The CNCF layout's layer media type: the component's bytes.
pub const WASM_LAYER: &str = "application/wasm";
const LEGACY_CONFIG: &str = "application/vnd.wasm.config.v1+json";
const LEGACY_LAYER: &str = "application/vnd.wasm.content.layer.v1+wasm";
const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
/// `\0asm` and the component layer's version: what a component file starts with.
const COMPONENT_MAGIC: [u8; 8] = [0x00, 0x61, 0x73, 0x6d, 0x0d, 0x00, 0x01, 0x00];
/// A core module's.
const MODULE_MAGIC: [u8; 8] = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00];

/// What `push` published.
#[derive(Debug, Clone)]
pub struct Pushed {
    /// The reference pushed to, normalised.
    pub reference: String,
    /// The manifest's digest (`sha256:…`): `REF@DIGEST` names exactly this push.
    pub digest: String,
    /// The component's digest.
    pub layer: String,
}

/// What `pull` installed.
#[derive(Debug, Clone)]
pub struct PulledPlugin {
    /// The plugin's name (`NAME.wasm`).
    pub name: String,
    /// Where it is now.
    pub path: PathBuf,
    /// The component's SHA-256 (hex), as `NAME.toml` pins it.
    pub sha256: String,
    /// `REF@sha256:MANIFEST`, as `NAME.toml` records it.
    pub source: String,
}

/// The reference `image` names, or an invalid-name error (exit code 2 for the CLI).
pub fn parse_reference(image: &str) -> Result<Reference, PullError> {
    Reference::parse(image).map_err(|e| PullError::new(e.to_string()))
}

/// What a file's first bytes say it is; `Err` when not a component.
fn check_component(head: &[u8], what: &str) -> Result<(), PullError> {
    match head.get(..8) {
        Some(h) if h == COMPONENT_MAGIC => Ok(()),
        Some(h) if h == MODULE_MAGIC => Err(PullError::new(format!(
            "{what} is a core WebAssembly module, not a component; hooklet plugins are components (build for wasm32-wasip2)"
        ))),
        _ => Err(PullError::new(format!("{what} is not a WebAssembly component (it does not start with \\0asm and the component version)"))),
    }
}

/// Publishes the component `file` as `image` (a tag or a repository; untagged is `:latest`).
pub async fn push(puller: &Puller, file: &Path, image: &str) -> Result<Pushed, PullError> {
    let wanted = parse_reference(image)?;
    let bytes = tokio::fs::read(file).await.map_err(|e| PullError::new(format!("cannot read {}: {e}", file.display())))?;
    check_component(&bytes, &file.display().to_string())?;
    let layer_digest = format!("sha256:{:x}", Sha256::digest(&bytes));
    let title = file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let annotations = std::collections::BTreeMap::from([("org.opencontainers.image.title".to_string(), title)]);
    let config = serde_json::json!({
        "created": humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
        "architecture": "wasm",
        "os": "wasip2",
        "layerDigests": [layer_digest],
    });
    let layer = ImageLayer::new(bytes, WASM_LAYER.to_string(), Some(annotations.clone()));
    let config = Config::new(serde_json::to_vec(&config).expect("serialises"), WASM_CONFIG.to_string(), None);
    let mut manifest = OciImageManifest::build(std::slice::from_ref(&layer), &config, Some(annotations));
    manifest.artifact_type = Some(WASM_CONFIG.to_string());
    let whole = wanted.to_string();
    let registry = wanted.registry().to_string();
    let reference = oci_reference(&wanted)?;
    let (layer_ref, config_ref, manifest_ref) = (&layer, &config, &manifest);
    let (reference_ref, whole_ref, registry_ref) = (&reference, &whole, &registry);
    let digest = puller
        .with_credentials(&wanted, &Keyring::default(), |client: Client, auth: RegistryAuth| async move {
            let describe = |e: oci_client::errors::OciDistributionError| errors::describe(&e, whole_ref, registry_ref);
            let layers = std::slice::from_ref(layer_ref);
            client.push(reference_ref, layers, config_ref.clone(), &auth, Some(manifest_ref.clone())).await.map_err(describe)?;
            client.fetch_manifest_digest(reference_ref, &auth).await.map_err(describe)
        })
        .await?;
    Ok(Pushed { reference: whole, digest, layer: layer_digest })
}

/// Pulls the plugin `image` into `dir` as `NAME.wasm` (`name`, else the repository's
/// last component) and pins it in `NAME.toml` (other keys of an existing one kept).
pub async fn pull(puller: &Puller, image: &str, dir: &Path, name: Option<&str>) -> Result<PulledPlugin, PullError> {
    let wanted = parse_reference(image)?;
    let name = name.map(str::to_string).unwrap_or_else(|| wanted.path().rsplit('/').next().unwrap_or_default().to_string());
    if let Some(why) = is_plugin_name(&name).first() {
        return Err(PullError::new(format!("{name:?} is not a plugin name: {why}; choose one with --name")));
    }
    let whole = wanted.to_string();
    let registry = wanted.registry().to_string();
    let reference = oci_reference(&wanted)?;
    let staging = dir.join(format!(".pull-{}", uuid::Uuid::new_v4()));
    let (wanted_ref, name_ref, staging_ref) = (&wanted, &name, &staging);
    let (reference, whole, registry) = (&reference, &whole, &registry);
    let result = puller
        .with_credentials(&wanted, &Keyring::default(), |client: Client, auth: RegistryAuth| async move {
            let (wanted, name, staging) = (wanted_ref, name_ref, staging_ref);
            let accepted = [OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_LIST];
            let (raw, digest) =
                client.pull_manifest_raw(reference, &auth, &accepted).await.map_err(|e| errors::describe(&e, whole, registry))?;
            let actual = format!("sha256:{:x}", Sha256::digest(&raw));
            if wanted.digest.as_ref().is_some_and(|d| *d != actual) {
                return Err(PullError::new(format!("the manifest of {whole}: digest mismatch, got {actual}; the registry's copy is corrupt")));
            }
            let layer = wasm_layer(&raw, whole)?;
            let (blob, _) = blob::fetch(&client, reference, &layer, staging, "the wasm layer", registry).await?;
            let mut head = Vec::with_capacity(8);
            let file = std::fs::File::open(&blob.path).map_err(|e| PullError::new(format!("cannot read the pulled layer: {e}")))?;
            std::io::Read::read_to_end(&mut std::io::Read::take(file, 8), &mut head)
                .map_err(|e| PullError::new(format!("cannot read the pulled layer: {e}")))?;
            check_component(&head, &format!("the wasm layer of {whole}"))?;
            let source = match &wanted.digest {
                Some(_) => whole.clone(),
                None => format!("{whole}@{digest}"),
            };
            let sha256 = layer.digest.trim_start_matches("sha256:").to_string();
            let path = install(dir, name, &blob.path, &sha256, &source).map_err(PullError::new)?;
            Ok(PulledPlugin { name: name.clone(), path, sha256, source })
        })
        .await;
    if let Err(err) = tokio::fs::remove_dir_all(&staging).await {
        if err.kind() != std::io::ErrorKind::NotFound {
            tracing::warn!(dir = %staging.display(), %err, "cannot remove the plugin pull's staging directory");
        }
    }
    result
}

/// The one wasm layer of a wasm artifact's manifest; a clear error for anything else.
fn wasm_layer(raw: &[u8], image: &str) -> Result<OciDescriptor, PullError> {
    let value: serde_json::Value =
        serde_json::from_slice(raw).map_err(|e| PullError::new(format!("the manifest of {image} is not JSON: {e}")))?;
    if value.get("manifests").is_some() {
        return Err(PullError::new(format!(
            "{image} is an image index (several platforms), not a wasm plugin: push the component with `hooklet plugin push`"
        )));
    }
    let manifest: OciImageManifest =
        serde_json::from_value(value).map_err(|e| PullError::new(format!("the manifest of {image} is not an image manifest: {e}")))?;
    let config = manifest.config.media_type.as_str();
    if config != WASM_CONFIG && config != LEGACY_CONFIG {
        return Err(PullError::new(format!(
            "{image} is not a wasm plugin: its config has media type {config:?}, not {WASM_CONFIG:?} (a container image? pull those with `hooklet image pull`)"
        )));
    }
    match manifest.layers.as_slice() {
        [layer] if layer.media_type == WASM_LAYER || layer.media_type == LEGACY_LAYER => Ok(layer.clone()),
        [layer] => Err(PullError::new(format!("the layer of {image} has media type {:?}, not {WASM_LAYER:?}", layer.media_type))),
        layers => Err(PullError::new(format!("{image} has {} layers; a wasm plugin has exactly one, the component", layers.len()))),
    }
}

/// Renames the component into place as `DIR/NAME.wasm`, after `NAME.toml` with `sha256`
/// and `source` set (its other keys kept; each file renamed into place whole).
fn install(dir: &Path, name: &str, wasm: &Path, sha256: &str, source: &str) -> Result<PathBuf, String> {
    let manifest = dir.join(format!("{name}.toml"));
    let mut table = match std::fs::read_to_string(&manifest) {
        Ok(text) => text
            .parse::<toml::Table>()
            .map_err(|e| format!("the existing plugin manifest {} is not valid TOML ({e}); fix or remove it", manifest.display()))?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => toml::Table::new(),
        Err(e) => return Err(format!("cannot read {}: {e}", manifest.display())),
    };
    table.insert("sha256".into(), toml::Value::String(sha256.into()));
    table.insert("source".into(), toml::Value::String(source.into()));
    let text = toml::to_string(&table).map_err(|e| format!("cannot write {}: {e}", manifest.display()))?;
    let staged = dir.join(format!(".{name}.toml.pull"));
    let target = dir.join(format!("{name}.wasm"));
    let io = |what: &Path, e: std::io::Error| format!("cannot write {}: {e}", what.display());
    std::fs::write(&staged, text).map_err(|e| io(&staged, e))?;
    std::fs::rename(&staged, &manifest).map_err(|e| io(&manifest, e))?;
    std::fs::rename(wasm, &target).map_err(|e| io(&target, e))?;
    Ok(target)
}
