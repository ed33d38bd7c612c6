//! The flags about registries: shared by `hooklet image pull` and the node
//! (`serve`, `run`), which also takes the pull back-off.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use super::format::parse_positive_duration;
use crate::image::manager::ImageManagerConfig;
use crate::image::pull::PullConfig;

/// Where per-registry CAs are by default: `DIR/HOST:PORT/*.crt`.
pub const DEFAULT_CERTS_DIR: &str = "/etc/hooklet/certs.d";

/// How to reach registries.
#[derive(Debug, Clone, Default, Args)]
pub struct RegistryArgs {
    /// A registry (HOST:PORT) spoken to over plain HTTP instead of HTTPS; repeatable.
    #[arg(long = "insecure-registry", value_name = "HOST:PORT")]
    pub insecure_registries: Vec<String>,

    /// Extra CAs of each registry, besides the system's: DIR/HOST:PORT/*.crt (the
    /// certs.d layout of Docker and containerd). Default /etc/hooklet/certs.d.
    #[arg(long, value_name = "DIR")]
    pub registry_certs_dir: Option<PathBuf>,

    /// A Docker config.json with registry credentials ("auths"). Default:
    /// $DOCKER_CONFIG/config.json, then ~/.docker/config.json.
    #[arg(long, value_name = "FILE")]
    pub image_credentials: Option<PathBuf>,
}

impl RegistryArgs {
    /// The puller's settings.
    pub fn pull_config(&self) -> PullConfig {
        PullConfig {
            insecure_registries: self.insecure_registries.clone(),
            certs_dir: Some(self.registry_certs_dir.clone().unwrap_or_else(|| PathBuf::from(DEFAULT_CERTS_DIR))),
            credentials: self.image_credentials.clone(),
        }
    }
}

/// The node's image flags (`--runtime runc` pulls images).
#[derive(Debug, Clone, Args)]
pub struct NodeImageArgs {
    #[command(flatten)]
    pub registry: RegistryArgs,

    /// The first pull back-off of an image that failed to pull (Kubernetes: 10s); it
    /// doubles with each failure up to --image-pull-backoff-max.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse_positive_duration)]
    pub image_pull_backoff: Duration,

    /// The longest pull back-off (Kubernetes: 5m).
    #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = parse_positive_duration)]
    pub image_pull_backoff_max: Duration,
}

impl NodeImageArgs {
    /// The image manager's settings.
    pub fn manager_config(&self) -> ImageManagerConfig {
        ImageManagerConfig {
            pull: self.registry.pull_config(),
            backoff_initial: self.image_pull_backoff,
            backoff_max: self.image_pull_backoff_max,
        }
    }
}
