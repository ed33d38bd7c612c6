//! The image config: what a container of the image runs by default.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::archive::{host_architecture, parse_json};
use super::error::ImageError;

/// The parts of an OCI image config that running a container needs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageConfig {
    /// `Entrypoint`: replaced by a container's `command`.
    #[serde(default)]
    pub entrypoint: Vec<String>,
    /// `Cmd`: replaced by a container's `args` (and dropped when only `command` is set).
    #[serde(default)]
    pub cmd: Vec<String>,
    /// `Env`, `NAME=value`; a container's `env` is applied over it.
    #[serde(default)]
    pub env: Vec<String>,
    /// `WorkingDir`; a container's `workingDir` wins.
    #[serde(default)]
    pub working_dir: Option<String>,
    /// `StopSignal` (`SIGTERM` when absent).
    #[serde(default)]
    pub stop_signal: Option<String>,
    /// `User` (`uid[:gid]` or a name).
    #[serde(default)]
    pub user: Option<String>,
    /// `architecture` (`amd64`, `arm64` ...).
    #[serde(default)]
    pub architecture: String,
    /// The uncompressed digests of the layers (`rootfs.diff_ids`), bottom first.
    #[serde(default)]
    pub diff_ids: Vec<String>,
}

/// The config blob as written (fields that hooklet reads).
#[derive(Deserialize)]
struct RawConfig {
    #[serde(default)]
    architecture: String,
    #[serde(default)]
    os: String,
    #[serde(default)]
    config: Option<RawRunConfig>,
    rootfs: RawRootfs,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
struct RawRunConfig {
    entrypoint: Option<Vec<String>>,
    cmd: Option<Vec<String>>,
    env: Option<Vec<String>>,
    working_dir: Option<String>,
    stop_signal: Option<String>,
    user: Option<String>,
}

#[derive(Deserialize)]
struct RawRootfs {
    #[serde(default)]
    diff_ids: Vec<String>,
}

impl ImageConfig {
    /// Reads the config blob at `path` of `archive`; `layers` is how many layers the
    /// manifest lists (the config must have as many diff IDs).
    pub fn read(path: &Path, archive: &Path, layers: usize) -> Result<ImageConfig, ImageError> {
        let raw: RawConfig = parse_json(path, "the image config", archive)?;
        if !raw.os.is_empty() && raw.os != "linux" {
            return Err(ImageError::archive(archive, format!("the image is for os {:?}; hooklet runs linux images", raw.os)));
        }
        if !raw.architecture.is_empty() && raw.architecture != host_architecture() {
            tracing::warn!(archive = %archive.display(), image = %raw.architecture, node = host_architecture(), "the image is for another architecture; its programs may not run here");
        }
        if raw.rootfs.diff_ids.len() != layers {
            return Err(ImageError::archive(
                archive,
                format!("the image config lists {} layer diff IDs (rootfs.diff_ids) for {layers} layers", raw.rootfs.diff_ids.len()),
            ));
        }
        let run = raw.config.unwrap_or_default();
        Ok(ImageConfig {
            entrypoint: run.entrypoint.unwrap_or_default(),
            cmd: run.cmd.unwrap_or_default(),
            env: run.env.unwrap_or_default(),
            working_dir: run.working_dir.filter(|d| !d.is_empty()),
            stop_signal: run.stop_signal.filter(|s| !s.is_empty()),
            user: run.user.filter(|u| !u.is_empty()),
            architecture: raw.architecture,
            diff_ids: raw.rootfs.diff_ids,
        })
    }
}
