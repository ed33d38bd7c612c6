//! The flags of the node commands, `hooklet serve` and `hooklet run`: where the state
//! lives, the API's listeners, the node settings both share, and the node's resources
//! and eviction thresholds spelled as the kubelet's. Parse errors name the flag; the
//! daemon refuses to start on any of them.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use super::format::{parse_duration, parse_log_max_files, parse_log_size, parse_positive_duration};
use super::{api_args, plugin, registry_args};
use crate::lifecycle::{BackoffPolicy, NodeConfig};
use crate::runtime::network::Ipv4Subnet;
use crate::runtime::runc::{PodNetworkOptions, RuntimeChoice};
use crate::wasm::WasmConfig;

use crate::eviction::thresholds::{parse_go_duration, parse_thresholds, EvictionFlags};
use crate::eviction::EvictionConfig;
use crate::nodestatus::addresses::parse_node_ip;
use crate::nodestatus::{parse_reserved, NodeIp, NodeSettings, Reserved, DEFAULT_MAX_PODS};

/// The node's resources and eviction (kubelet flags).
#[derive(Debug, Clone, Args)]
pub struct NodeResourceArgs {
    /// The node's name (default: the host name, lower-cased).
    #[arg(long, value_name = "NAME")]
    pub hostname_override: Option<String>,

    /// The node's address, or a dual-stack pair `IPv4,IPv6` (its `InternalIP`s and the
    /// pods' `status.hostIPs`). Default: the source address of the default route,
    /// IPv4 first (`0.0.0.0` / `::` pick the family).
    #[arg(long, value_name = "IP[,IP]")]
    pub node_ip: Option<String>,

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
        let node_ip = self.node_ip.as_deref().map_or(Ok(NodeIp::default()), parse_node_ip)?;
        node_ip.resolve()?;
        Ok(NodeSettings {
            name: self.hostname_override.clone().filter(|n| !n.is_empty()),
            max_pods: self.max_pods,
            system_reserved: reserved("--system-reserved", &self.system_reserved)?,
            kube_reserved: reserved("--kube-reserved", &self.kube_reserved)?,
            node_ip,
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

/// Flags of `hooklet serve`.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Where the state lives (database, token, socket, container logs); created
    /// with mode 0700. Default: $HOOKLET_STATE_DIR, /var/lib/hooklet for root,
    /// else ~/.local/state/hooklet.
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,

    /// The API's unix socket (mode 0600). Default: STATE_DIR/hooklet.sock.
    #[arg(long, value_name = "PATH")]
    pub socket: Option<PathBuf>,

    /// Also serve the API on TCP at this address (e.g. 127.0.0.1:6443), over HTTPS;
    /// every request then needs `Authorization: Bearer <token>`. kubectl talks to
    /// it with the kubeconfig of `hooklet kubeconfig`.
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<String>,

    /// The TCP listener's certificate chain (PEM). Default: a serving certificate
    /// signed by a CA that hooklet generates into STATE_DIR/tls at first start.
    #[arg(long, value_name = "FILE", requires = "tls_private_key_file")]
    pub tls_cert_file: Option<PathBuf>,

    /// The private key (PEM) of --tls-cert-file.
    #[arg(long, value_name = "FILE", requires = "tls_cert_file")]
    pub tls_private_key_file: Option<PathBuf>,

    /// The TCP API token (at least 16 characters); default: STATE_DIR/api-token,
    /// generated at first start.
    #[arg(long, env = "HOOKLET_TOKEN", hide_env_values = true)]
    pub token: Option<String>,

    /// How long a deleted pod's events, hook runs and journal rows are kept (like
    /// the apiserver's 1 h event TTL); `0s` removes them with the pod.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "1h")]
    pub deleted_pod_retention: Duration,

    /// Rotate a container's log file when it would grow past this size (a quantity,
    /// as the kubelet's flag).
    #[arg(long, value_name = "QUANTITY", value_parser = parse_log_size, default_value = "10Mi")]
    pub container_log_max_size: u64,

    /// How many log files a container keeps, the current one included (at least 2).
    #[arg(long, value_name = "N", value_parser = parse_log_max_files, default_value = "5")]
    pub container_log_max_files: u32,

    #[command(flatten)]
    pub api: api_args::ApiArgs,

    #[command(flatten)]
    pub resources: NodeResourceArgs,

    #[command(flatten)]
    pub node: NodeArgs,
}

/// Flags of `hooklet run`.
#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    /// Pod manifest: YAML or JSON, one or more `v1` Pods (multi-document YAML).
    #[arg(short = 'f', long = "filename", value_name = "FILE")]
    pub file: PathBuf,

    /// Delete the pods after this long (e.g. `10s`, `2m`); default: run until
    /// Ctrl-C/SIGTERM, or until every container has finished for good.
    #[arg(long = "for", value_name = "DURATION", value_parser = parse_duration)]
    pub run_for: Option<Duration>,

    /// Grace period for the deletion, in seconds (overrides the pods'
    /// terminationGracePeriodSeconds). A second Ctrl-C shortens it to 1 s.
    #[arg(long, value_name = "SECONDS")]
    pub grace_period: Option<i64>,

    /// Where container logs (stdout/stderr) are written.
    #[arg(long, value_name = "DIR")]
    pub log_dir: Option<PathBuf>,

    /// With --runtime runc: the state directory whose image store (STATE_DIR/images,
    /// filled by `hooklet image import`) pods' images come from; containers' bundles
    /// are kept under STATE_DIR/run. Default: as for `hooklet serve`.
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,

    #[command(flatten)]
    pub node: NodeArgs,
}

/// Node settings shared by `hooklet run` and `hooklet serve`.
#[derive(Debug, Clone, Args)]
pub struct NodeArgs {
    /// Directory of wasm plugins (`NAME.wasm`, optional `NAME.toml`).
    #[arg(long, value_name = "DIR", env = "HOOKLET_PLUGINS", default_value = "plugins")]
    pub plugins: PathBuf,

    /// Put the kubelet's fixed texts ("PostStartHook failed") in hook failure events
    /// instead of the handler's failure detail.
    #[arg(long)]
    pub redact_hook_messages: bool,

    /// CrashLoopBackOff's first delay (Kubernetes: 10s).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "10s")]
    pub backoff_initial: Duration,

    /// CrashLoopBackOff's longest delay (Kubernetes: 5m).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "5m")]
    pub backoff_max: Duration,

    /// Default fuel budget of one wasm hook delivery.
    #[arg(long, value_name = "UNITS")]
    pub wasm_fuel: Option<u64>,

    /// Wasm deliveries that can run at once (slots of the instance pool); more wait.
    #[arg(long, value_name = "N", default_value_t = 64)]
    pub wasm_pool_slots: u32,

    /// Cache of compiled plugins (default: STATE_DIR/plugin-cache for `serve`,
    /// ~/.cache/hooklet/plugins for `run`).
    #[arg(long, value_name = "DIR")]
    pub plugin_cache: Option<PathBuf>,

    /// The container runtime: `process` (host processes, no root, no images) or `runc`
    /// (real containers from images in STATE_DIR/images, pod network namespaces with
    /// pod IPs; needs root and Debian's runc package).
    #[arg(long, value_enum, default_value_t = RuntimeKind::Process)]
    pub runtime: RuntimeKind,

    /// With --runtime runc: the node bridge pods' veths attach to (default `hooklet0`
    /// for `serve`, `hooklet1` for `run`, so both can run at once).
    #[arg(long, value_name = "NAME")]
    pub pod_bridge: Option<String>,

    /// With --runtime runc: the private range pod IPs come from, its first address
    /// being the bridge's (default 10.213.0.0/16 for `serve`, 10.214.0.0/16 for `run`).
    #[arg(long, value_name = "CIDR")]
    pub pod_subnet: Option<Ipv4Subnet>,

    /// How long one second of a probe's initialDelaySeconds, periodSeconds and
    /// timeoutSeconds lasts (1s, as in Kubernetes; tests and demos shrink it).
    #[arg(long, value_name = "DURATION", default_value = "1s", value_parser = parse_positive_duration)]
    pub probe_time_unit: Duration,

    #[command(flatten)]
    pub images: registry_args::NodeImageArgs,
}

impl NodeArgs {
    /// The runtime these flags choose; `serve` and `run` have their own network defaults.
    pub fn runtime_choice(&self, default_bridge: &str, default_subnet: Ipv4Subnet) -> RuntimeChoice {
        match self.runtime {
            RuntimeKind::Process => RuntimeChoice::Process,
            RuntimeKind::Runc => RuntimeChoice::Runc(PodNetworkOptions {
                bridge: self.pod_bridge.clone().unwrap_or_else(|| default_bridge.to_string()),
                subnet: self.pod_subnet.unwrap_or(default_subnet),
            }),
        }
    }
}

/// `--runtime`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum RuntimeKind {
    /// Containers are host processes.
    Process,
    /// Containers are runc containers.
    Runc,
}

impl NodeArgs {
    /// The node configuration these flags ask for.
    pub fn node_config(&self) -> NodeConfig {
        let mut wasm = WasmConfig {
            plugin_dir: self.plugins.clone(),
            pool_slots: self.wasm_pool_slots,
            cache_dir: self.plugin_cache.clone().or_else(plugin::default_plugin_cache),
            watch: true,
            ..WasmConfig::default()
        };
        if let Some(fuel) = self.wasm_fuel {
            wasm.default_fuel = fuel;
        }
        NodeConfig {
            backoff: BackoffPolicy { initial: self.backoff_initial, max: self.backoff_max, ..BackoffPolicy::default() },
            redact_hook_messages: self.redact_hook_messages,
            wasm,
            probe_time_unit: self.probe_time_unit,
            ..NodeConfig::default()
        }
    }
}
