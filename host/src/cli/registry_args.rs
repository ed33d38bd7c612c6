//! The flags about registries: shared by `hooklet image pull` and the node
//! (`serve`, `run`), which also takes the pull back-off.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use super::format::parse_positive_duration;
use crate::eviction::thresholds::parse_go_duration;
use crate::image::gc::ImageGcPolicy;
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

    /// Pull one image at a time (the kubelet's default);
    /// --serialize-image-pulls=false pulls several at once, up to
    /// --max-parallel-image-pulls.
    #[arg(long, value_name = "BOOL", default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub serialize_image_pulls: bool,

    /// The most pulls at once with --serialize-image-pulls=false (default: no limit).
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    pub max_parallel_image_pulls: Option<i64>,

    /// The image filesystem's usage (percent) at which unused images are deleted;
    /// 100 turns image garbage collection off.
    #[arg(long, value_name = "PERCENT", default_value_t = 85, allow_negative_numbers = true)]
    pub image_gc_high_threshold: i64,

    /// The usage image garbage collection frees down to.
    #[arg(long, value_name = "PERCENT", default_value_t = 80, allow_negative_numbers = true)]
    pub image_gc_low_threshold: i64,

    /// No image younger than this (since the daemon first saw it) is deleted.
    #[arg(long, value_name = "DURATION", default_value = "2m", value_parser = parse_go_duration)]
    pub minimum_image_ttl_duration: Duration,

    /// An image unused for longer is deleted whatever the disk usage (0s: never).
    #[arg(long, value_name = "DURATION", default_value = "0s", value_parser = parse_go_duration)]
    pub image_maximum_gc_age: Duration,

    /// How often image garbage collection runs (hooklet's; the kubelet's is a fixed 5m).
    #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = parse_positive_duration)]
    pub image_gc_period: Duration,
}

impl NodeImageArgs {
    /// The image manager's settings; the kubelet's checks of
    /// `maxParallelImagePulls` and `serializeImagePulls`, with its messages.
    pub fn manager_config(&self) -> Result<ImageManagerConfig, String> {
        let max_parallel_pulls = match (self.serialize_image_pulls, self.max_parallel_image_pulls) {
            (_, Some(n)) if n < 1 => {
                return Err(format!("invalid configuration: maxParallelImagePulls (--max-parallel-image-pulls) {n} must be a positive number"))
            }
            (true, Some(n)) if n != 1 => {
                return Err(format!(
                    "invalid configuration: maxParallelImagePulls (--max-parallel-image-pulls) {n} cannot be larger than 1 unless \
                     SerializeImagePulls (--serialize-image-pulls) is set to false"
                ))
            }
            (true, _) => Some(1),
            (false, n) => n.map(|n| usize::try_from(n).unwrap_or(usize::MAX)),
        };
        Ok(ImageManagerConfig {
            pull: self.registry.pull_config(),
            backoff_initial: self.image_pull_backoff,
            backoff_max: self.image_pull_backoff_max,
            secrets: None,
            max_parallel_pulls,
            gc: self.gc_policy()?,
        })
    }

    /// The image garbage collector's settings, checked as the kubelet checks them.
    pub fn gc_policy(&self) -> Result<ImageGcPolicy, String> {
        let policy = ImageGcPolicy {
            high_threshold_percent: self.image_gc_high_threshold,
            low_threshold_percent: self.image_gc_low_threshold,
            min_age: self.minimum_image_ttl_duration,
            max_age: self.image_maximum_gc_age,
            period: self.image_gc_period,
        };
        policy.validate()?;
        Ok(policy)
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    #[derive(Parser)]
    struct Flags {
        #[command(flatten)]
        images: super::NodeImageArgs,
    }

    fn parallel(args: &[&str]) -> Result<Option<usize>, String> {
        let flags = Flags::try_parse_from(std::iter::once("hooklet").chain(args.iter().copied())).map_err(|e| e.to_string())?;
        flags.images.manager_config().map(|c| c.max_parallel_pulls)
    }

    #[test]
    fn image_gc_flags_default_and_are_checked_like_the_kubelets() {
        let policy = |args: &[&str]| {
            let flags = Flags::try_parse_from(std::iter::once("hooklet").chain(args.iter().copied())).map_err(|e| e.to_string())?;
            flags.images.manager_config().map(|c| c.gc)
        };
        assert_eq!(policy(&[]), Ok(crate::image::gc::ImageGcPolicy::default()));
        let p = policy(&["--image-gc-high-threshold", "60", "--image-gc-low-threshold", "40", "--minimum-image-ttl-duration", "0s", "--image-maximum-gc-age", "1h30m", "--image-gc-period", "100ms"]).unwrap();
        assert_eq!((p.high_threshold_percent, p.low_threshold_percent, p.min_age), (60, 40, std::time::Duration::ZERO));
        assert_eq!((p.max_age.as_secs(), p.period.as_millis()), (5400, 100));
        let err = policy(&["--image-gc-low-threshold", "90"]).unwrap_err();
        assert!(err.contains("imageGCLowThresholdPercent (--image-gc-low-threshold) 90 must be less than imageGCHighThresholdPercent (--image-gc-high-threshold) 85"), "{err}");
        assert!(policy(&["--image-gc-high-threshold", "-5"]).unwrap_err().contains("-5 must be between 0 and 100"));
        assert!(policy(&["--minimum-image-ttl-duration", "soon"]).is_err());
    }

    #[test]
    fn pulls_are_serialized_unless_asked_and_checked_like_the_kubelet() {
        assert_eq!(parallel(&[]), Ok(Some(1)));
        assert_eq!(parallel(&["--serialize-image-pulls"]), Ok(Some(1)));
        assert_eq!(parallel(&["--max-parallel-image-pulls", "1"]), Ok(Some(1)));
        assert_eq!(parallel(&["--serialize-image-pulls=false"]), Ok(None));
        assert_eq!(parallel(&["--serialize-image-pulls=false", "--max-parallel-image-pulls", "3"]), Ok(Some(3)));
        let err = parallel(&["--max-parallel-image-pulls", "3"]).unwrap_err();
        assert!(err.contains("3 cannot be larger than 1 unless SerializeImagePulls (--serialize-image-pulls) is set to false"), "{err}");
        let err = parallel(&["--serialize-image-pulls=false", "--max-parallel-image-pulls", "0"]).unwrap_err();
        assert!(err.contains("maxParallelImagePulls (--max-parallel-image-pulls) 0 must be a positive number"), "{err}");
        assert!(parallel(&["--serialize-image-pulls=maybe"]).is_err());
    }
}
