//! `hooklet plugin push FILE REF` and `hooklet plugin pull REF`: plugins through OCI
//! registries ([`crate::wasm::oci`]), with the registry flags of `image pull`.

use std::path::Path;

use super::registry_args::RegistryArgs;
use crate::image::pull::Puller;
use crate::wasm::oci;

/// Exit code: the reference (or name) is invalid.
const EXIT_BAD_INPUT: i32 = 2;

fn puller(registry: &RegistryArgs) -> Result<Puller, i32> {
    Puller::new(registry.pull_config()).map_err(|err| {
        eprintln!("error: {err}");
        EXIT_BAD_INPUT
    })
}

/// `plugin push`: returns the exit code.
pub async fn push(file: &Path, reference: &str, registry: &RegistryArgs) -> i32 {
    if let Err(err) = oci::parse_reference(reference) {
        eprintln!("error: {err}");
        return EXIT_BAD_INPUT;
    }
    let puller = match puller(registry) {
        Ok(p) => p,
        Err(code) => return code,
    };
    match oci::push(&puller, file, reference).await {
        Ok(pushed) => {
            println!("Pushed {} to {} (component {})", file.display(), pushed.reference, pushed.layer);
            println!("Digest: {}", pushed.digest);
            0
        }
        Err(err) => {
            eprintln!("error: {err}");
            1
        }
    }
}

/// `plugin pull`: returns the exit code.
pub async fn pull(reference: &str, dir: &Path, name: Option<&str>, registry: &RegistryArgs) -> i32 {
    if let Err(err) = oci::parse_reference(reference) {
        eprintln!("error: {err}");
        return EXIT_BAD_INPUT;
    }
    if let Some(why) = name.and_then(|n| crate::spec::names::is_plugin_name(n).into_iter().next()) {
        eprintln!("error: --name {:?}: {why}", name.unwrap_or_default());
        return EXIT_BAD_INPUT;
    }
    if !dir.is_dir() {
        eprintln!("error: the plugin directory {} does not exist; create it or give --plugins DIR", dir.display());
        return EXIT_BAD_INPUT;
    }
    let puller = match puller(registry) {
        Ok(p) => p,
        Err(code) => return code,
    };
    match oci::pull(&puller, reference, dir, name).await {
        Ok(plugin) => {
            println!("Pulled plugin {} from {} into {} (sha256 {})", plugin.name, plugin.source, plugin.path.display(), plugin.sha256);
            0
        }
        Err(err) => {
            eprintln!("error: {err}");
            1
        }
    }
}
