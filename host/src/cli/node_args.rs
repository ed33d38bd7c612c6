//! `hooklet serve`'s node flags, spelled as the kubelet's: the node's resources
//! and the eviction thresholds. Parse errors name the flag; the daemon refuses to
//! start on any of them.

use std::time::Duration;

use clap::Args;

use crate::eviction::thresholds::{parse_go_duration, parse_thresholds, EvictionFlags};
use crate::eviction::EvictionConfig;
use crate::nodestatus::{parse_reserved, NodeSettings, Reserved, DEFAULT_MAX_PODS};

/// The node's resources and eviction (kubelet flags).
#[derive(Debug, Clone, Args)]
pub struct NodeResourceArgs {
    /// The node's name (default: the host name, lower-cased).
    #[arg(long, value_name = "NAME")]
    pub hostname_override: Option<String>,

    /// Pods this node runs at most (allocatable `pods`).
    #[arg(long, value_name = "N", default_value_t = DEFAULT_MAX_PODS)]
    pub max_pods: u64,

    /// Resources kept for the system, e.g. `cpu=500m,memory=1Gi,ephemeral-storage=1Gi,pid=100`.
    #[arg(long, value_name = "LIST")]
    pub system_reserved: Option<String>,

    /// Resources kept for hooklet itself, same form as --system-reserved.
    #[arg(long, value_name = "LIST")]
    pub kube_reserved: Option<String>,

    /// Hard eviction thresholds, e.g. `memory.available<100Mi,nodefs.available<10%`
    /// (default: the kubelet's Linux defaults, memory.available<100Mi,
    /// nodefs.available<10%, imagefs.available<15%, nodefs.inodesFree<5%; given,
    /// only what is listed).
    #[arg(long, value_name = "LIST")]
    pub eviction_hard: Option<String>,

    /// Soft eviction thresholds (each needs --eviction-soft-grace-period).
    #[arg(long, value_name = "LIST")]
    pub eviction_soft: Option<String>,

    /// How long each soft threshold must hold, e.g. `memory.available=1m30s`.
    #[arg(long, value_name = "LIST")]
    pub eviction_soft_grace_period: Option<String>,

    /// The longest grace (seconds) a soft eviction gives a pod (kubelet default 0:
    /// the 1 s minimum).
    #[arg(long, value_name = "SECONDS", default_value_t = 0, allow_negative_numbers = true)]
    pub eviction_max_pod_grace_period: i64,

    /// How much beyond a threshold to reclaim once it is met, e.g. `memory.available=64Mi`.
    #[arg(long, value_name = "LIST")]
    pub eviction_minimum_reclaim: Option<String>,

    /// How long a pressure condition stays after its threshold was last met.
    #[arg(long, value_name = "DURATION", default_value = "5m")]
    pub eviction_pressure_transition_period: String,

    /// How often the eviction manager measures the node.
    #[arg(long, value_name = "DURATION", default_value = "10s")]
    pub housekeeping_interval: String,
}

impl NodeResourceArgs {
    /// The node settings; an error names the flag and says what is wrong.
    pub fn node_settings(&self) -> Result<NodeSettings, String> {
        let reserved = |flag: &str, v: &Option<String>| v.as_deref().map_or(Ok(Reserved::default()), |v| parse_reserved(flag, v));
        if self.max_pods == 0 {
            return Err("--max-pods: must be at least 1".into());
        }
        Ok(NodeSettings {
            name: self.hostname_override.clone().filter(|n| !n.is_empty()),
            max_pods: self.max_pods,
            system_reserved: reserved("--system-reserved", &self.system_reserved)?,
            kube_reserved: reserved("--kube-reserved", &self.kube_reserved)?,
        })
    }

    /// The eviction settings; an error names the flag, with the kubelet's message.
    pub fn eviction_config(&self) -> Result<EvictionConfig, String> {
        let flags = EvictionFlags {
            hard: self.eviction_hard.clone(),
            soft: self.eviction_soft.clone(),
            soft_grace_period: self.eviction_soft_grace_period.clone(),
            minimum_reclaim: self.eviction_minimum_reclaim.clone(),
        };
        let duration = |flag: &str, v: &str| parse_go_duration(v).map_err(|e| format!("{flag}: {e}"));
        let housekeeping = duration("--housekeeping-interval", &self.housekeeping_interval)?;
        if housekeeping < Duration::from_millis(10) {
            return Err(format!("--housekeeping-interval: {:?} is too short; use at least 10ms", self.housekeeping_interval));
        }
        if self.eviction_max_pod_grace_period < 0 {
            return Err(format!("--eviction-max-pod-grace-period: must not be negative, got {}", self.eviction_max_pod_grace_period));
        }
        Ok(EvictionConfig {
            thresholds: parse_thresholds(&flags)?,
            max_pod_grace_period: self.eviction_max_pod_grace_period,
            pressure_transition_period: duration("--eviction-pressure-transition-period", &self.eviction_pressure_transition_period)?,
            housekeeping_interval: housekeeping,
        })
    }
}
