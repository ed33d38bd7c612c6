//! The `hooklet` command line.

mod api_args;
pub mod client;
pub mod describe;
pub mod describe_env;
pub mod format;
mod image;
mod kubeconfig;
mod gateway;
mod kubectl;
mod objects;
pub mod describe_node;
pub mod node_args;
mod plugin;
mod plugin_compile;
mod plugin_oci;
mod pod_row;
pub mod registry_args;
mod run;
mod secret;
mod serve;

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

pub use gateway::{gateway, GatewayArgs};
pub use image::{run_image_command, ImageCommand};
pub use kubeconfig::print as print_kubeconfig;
pub use kubectl::run_client;
pub use plugin::run_plugin_command;
pub use run::{run, RunOutcome};
pub use serve::serve;

use crate::lifecycle::{BackoffPolicy, NodeConfig};
use crate::runtime::network::Ipv4Subnet;
pub use crate::runtime::runc::{PodNetworkOptions, RuntimeChoice};
use crate::wasm::WasmConfig;
use format::{parse_duration, parse_log_max_files, parse_log_size, parse_positive_duration};

/// Exit code: the pod did not run or terminate as its manifest asked.
pub const EXIT_POD_FAILED: i32 = 1;
/// Exit code: bad input (unreadable or invalid manifest, bad flags).
pub const EXIT_BAD_INPUT: i32 = 2;

/// hooklet runs Kubernetes pod manifests on this machine, with the kubelet's
/// PostStart/PreStop hook semantics and sandboxed WebAssembly hooks.
#[derive(Debug, Parser)]
#[command(name = "hooklet", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

/// hooklet's subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the pods of a manifest in the foreground, print events as they happen,
    /// then delete them (on Ctrl-C, SIGTERM, or after --for) and describe them.
    ///
    /// Exit codes: 0 when every container started, every hook succeeded and the pods
    /// terminated as asked; 1 when a pod did not (a one-line reason is printed);
    /// 2 for bad input (unreadable or invalid manifest).
    Run(RunArgs),

    /// Run the node agent: pods survive restarts of hooklet, hooks are delivered at
    /// least once, and the control API listens on a unix socket (and optionally TCP).
    ///
    /// SIGTERM/SIGINT stop the API, flush the state and exit 0; containers keep
    /// running and the next `hooklet serve` with the same --state-dir adopts them.
    Serve(ServeArgs),

    /// Create the pods and Secrets of a manifest on the daemon (like `kubectl apply -f`).
    Apply {
        /// Manifest of Pods and Secrets (YAML or JSON; `-` for stdin).
        #[arg(short = 'f', long = "filename", value_name = "FILE")]
        file: String,
        #[command(flatten)]
        client: ClientArgs,
    },

    /// List pods, or show one (`hooklet get pods [NAME] [-o wide|json|yaml]`).
    Get {
        /// `pods` (also `pod`, `po`), `secrets`, `nodes`.
        resource: String,
        name: Option<String>,
        /// Output format.
        #[arg(short = 'o', long = "output", value_enum)]
        output: Option<OutputFormat>,
        #[command(flatten)]
        client: ClientArgs,
    },

    /// Show a pod in detail: containers, hook runs, events (`hooklet describe pod NAME`).
    Describe {
        /// `pod`, `secret` or `node`.
        resource: String,
        name: String,
        #[command(flatten)]
        client: ClientArgs,
    },

    /// Delete a pod: PreStop hooks, stop signal, KILL after the grace period.
    Delete {
        /// `pod` or `secret`.
        resource: String,
        name: String,
        /// Seconds of grace (default: the pod's terminationGracePeriodSeconds).
        #[arg(long, value_name = "SECONDS")]
        grace_period: Option<i64>,
        /// Wait until the pod is gone.
        #[arg(long)]
        wait: bool,
        #[command(flatten)]
        client: ClientArgs,
    },

    /// Print a container's log, or with --hooks its hook runs and their output.
    Logs {
        pod: String,
        /// The container (needed when the pod has several).
        #[arg(short = 'c', long)]
        container: Option<String>,
        /// Hook runs (PostStart, PreStop) with their output, instead of the container log.
        #[arg(long)]
        hooks: bool,
        #[command(flatten)]
        log: LogFlags,
        #[command(flatten)]
        client: ClientArgs,
    },

    /// List events, or follow them with --watch.
    Events {
        #[arg(short = 'w', long)]
        watch: bool,
        #[command(flatten)]
        client: ClientArgs,
    },

    /// Replace the TCP listener's bearer token (`STATE_DIR/api-token` and the
    /// kubeconfig are rewritten; the old token gets 401 from then on). On the node
    /// only: it uses the unix socket.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },

    /// Wasm plugins: `hooklet plugin list`, `hooklet plugin check FILE`.
    Plugin {
        #[command(subcommand)]
        command: PluginCommand,
    },

    /// Print the kubeconfig for kubectl: the daemon's HTTPS address, its CA, the
    /// token and a context named after the node (`hooklet kubeconfig > k.yaml;
    /// kubectl --kubeconfig k.yaml get pods`). `hooklet serve --listen` writes it.
    Kubeconfig {
        /// The daemon's state directory (default as for `hooklet serve`).
        #[arg(long, value_name = "DIR")]
        state_dir: Option<PathBuf>,
    },

    /// The local image store: `hooklet image import FILE`, `image list`, `image rm NAME`
    /// (no daemon needed).
    Image {
        #[command(subcommand)]
        command: ImageCommand,
    },

    /// Serve a pod's httpGet hooks from wasm plugins: `GET /hooks/PLUGIN?phase=postStart`
    /// (or `preStop`; other query parameters are the plugin's config) runs the plugin as a
    /// hooklet node would and answers 200, or 500/504 with the reason. Run it as a sidecar
    /// in any Kubernetes cluster; the pod's identity comes from the downward API
    /// (HOOKLET_POD_NAME, HOOKLET_POD_NAMESPACE, HOOKLET_POD_UID, HOOKLET_POD_IP).
    Gateway(GatewayArgs),
}

/// How `hooklet logs` shows a container's log (kubectl's flags).
#[derive(Debug, Clone, Args)]
pub struct LogFlags {
    /// Prefix each line with the time it was written (RFC 3339).
    #[arg(long)]
    pub timestamps: bool,
    /// Only the last N lines; -1 for all.
    #[arg(long, value_name = "N", default_value_t = -1, allow_negative_numbers = true)]
    pub tail: i64,
    /// Only the container's stdout or stderr (Stdout, Stderr or All).
    #[arg(long, value_name = "STREAM", default_value = "All")]
    pub stream: String,
    /// Keep printing lines as they are written, across the container's restarts,
    /// until the pod is finished or deleted (or Ctrl-C).
    #[arg(short = 'f', long)]
    pub follow: bool,
    /// The log of the container's last terminated instance.
    #[arg(short = 'p', long)]
    pub previous: bool,
    /// Only lines newer than this duration (5s, 2m, 3h).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub since: Option<std::time::Duration>,
}

/// `hooklet plugin …`.
#[derive(Debug, Subcommand)]
pub enum PluginCommand {
    /// List the plugins of the daemon's plugin directory, or with --plugins DIR those of a
    /// directory (no daemon needed): name, version, digest, limits, capabilities, whether
    /// compiled, deliveries and fuel used.
    ///
    /// Exit codes: 0 every plugin is usable; 1 a plugin has a problem (shown in STATUS);
    /// 2 the directory cannot be read.
    List {
        /// List this directory instead of asking the daemon.
        #[arg(long, value_name = "DIR")]
        plugins: Option<PathBuf>,
        /// Cache of compiled plugins consulted for the COMPILED column (with --plugins).
        #[arg(long, value_name = "DIR")]
        plugin_cache: Option<PathBuf>,
        #[command(flatten)]
        client: ClientArgs,
    },

    /// Check a plugin file: that it is a component of the hook world that imports only
    /// what hooklet provides, that its manifest (NAME.toml beside it) is valid and its
    /// pin matches; print its limits and everything it would be granted.
    ///
    /// Exit codes: 0 valid; 1 invalid (the reason is printed); 2 no such file.
    Check {
        /// The component, `NAME.wasm`, or a precompiled `NAME.cwasm`.
        file: PathBuf,
    },

    /// Precompile a plugin for a node, this one or another (e.g. an ARM64 board), so that
    /// the node loads it without compiling: writes `NAME.cwasm`, which goes into the
    /// node's plugin directory in place of (or beside: it wins) `NAME.wasm`. The code uses
    /// the target's baseline CPU features, so it runs on every CPU of that architecture; a
    /// node refuses it, saying what to do, if it is for another target or another hooklet
    /// version. hooklet's runtime-only build (no compiler) runs only such plugins.
    ///
    /// Exit codes: 0 written; 1 the file is not a valid component, the target is not
    /// supported, or this is the runtime-only build; 2 no such file.
    Compile {
        /// The component, `NAME.wasm`.
        file: PathBuf,
        /// The node's target triple, e.g. `aarch64-unknown-linux-gnu`; default this
        /// machine's.
        #[arg(long, value_name = "TRIPLE")]
        target: Option<String>,
        /// Where to write the artefact; default `NAME.cwasm` beside FILE.
        #[arg(short, long, value_name = "OUT")]
        output: Option<PathBuf>,
    },

    /// Publish a plugin to a registry as a CNCF wasm OCI artifact (config
    /// application/vnd.wasm.config.v0+json, one application/wasm layer: the component).
    /// Prints the manifest digest, so `REF@sha256:…` names exactly this push.
    ///
    /// Exit codes: 0 pushed; 1 the push failed or the file is not a component; 2 the
    /// reference is invalid.
    Push {
        /// The component, `NAME.wasm`.
        file: PathBuf,
        /// Where to push it: `HOST[:PORT]/REPO[:TAG]`.
        reference: String,
        #[command(flatten)]
        registry: registry_args::RegistryArgs,
    },

    /// Pull a plugin pushed as a wasm OCI artifact into the plugin directory: NAME.wasm,
    /// with NAME.toml pinning its sha256 and recording its source (other keys of an
    /// existing NAME.toml are kept). A running daemon loads it as any new file.
    /// `REF@sha256:…` pulls exactly that push.
    ///
    /// Exit codes: 0 pulled; 1 the pull failed or it is not a wasm plugin; 2 the
    /// reference or the name is invalid.
    Pull {
        /// What to pull: `HOST[:PORT]/REPO[:TAG|@sha256:…]`.
        reference: String,
        /// The plugin directory.
        #[arg(long, value_name = "DIR", default_value = "plugins")]
        plugins: PathBuf,
        /// The plugin's name (NAME.wasm); default the repository's last component.
        #[arg(long)]
        name: Option<String>,
        #[command(flatten)]
        registry: registry_args::RegistryArgs,
    },
}

/// `-o` of `hooklet get`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    Wide,
    Json,
    Yaml,
}

/// How client commands reach the daemon, and which namespace they mean.
#[derive(Debug, Clone, Args)]
pub struct ClientArgs {
    /// Namespace.
    #[arg(short = 'n', long, default_value = "default")]
    pub namespace: String,
    /// Every namespace (get, events).
    #[arg(short = 'A', long)]
    pub all_namespaces: bool,
    /// The daemon: `unix:///path/to/hooklet.sock` (default: hooklet.sock in the
    /// default state directory) or `https://HOST:PORT`.
    #[arg(long, env = "HOOKLET_SERVER", value_name = "ADDRESS")]
    pub server: Option<String>,
    /// The CA certificate (PEM) of an https:// server (default: tls/ca.crt in the
    /// default state directory).
    #[arg(long, env = "HOOKLET_CA", value_name = "FILE")]
    pub certificate_authority: Option<PathBuf>,
    /// Bearer token for a TCP server (the daemon writes it to STATE_DIR/api-token).
    #[arg(long, env = "HOOKLET_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
}

/// A client command with its arguments split off.
#[derive(Debug)]
pub enum ClientCommand {
    Apply { file: String },
    Get { resource: String, name: Option<String>, output: Option<OutputFormat> },
    Describe { resource: String, name: String },
    Delete { resource: String, name: String, grace_period: Option<i64>, wait: bool },
    Logs { pod: String, container: Option<String>, hooks: bool, log: LogFlags },
    Events { watch: bool },
    PluginList,
    RotateToken,
}

/// `hooklet token`.
#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// A new random token, in force at once, without a restart.
    Rotate {
        #[command(flatten)]
        client: ClientArgs,
    },
}

impl Command {
    /// The client command and its connection arguments, if this is one.
    pub fn into_client(self) -> Result<(ClientArgs, ClientCommand), Command> {
        Ok(match self {
            Command::Apply { file, client } => (client, ClientCommand::Apply { file }),
            Command::Get { resource, name, output, client } => (client, ClientCommand::Get { resource, name, output }),
            Command::Describe { resource, name, client } => (client, ClientCommand::Describe { resource, name }),
            Command::Delete { resource, name, grace_period, wait, client } => {
                (client, ClientCommand::Delete { resource, name, grace_period, wait })
            }
            Command::Logs { pod, container, hooks, log, client } => (client, ClientCommand::Logs { pod, container, hooks, log }),
            Command::Events { watch, client } => (client, ClientCommand::Events { watch }),
            Command::Token { command: TokenCommand::Rotate { client } } => (client, ClientCommand::RotateToken),
            Command::Plugin { command: PluginCommand::List { plugins: None, client, .. } } => {
                (client, ClientCommand::PluginList)
            }
            other => return Err(other),
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
    pub resources: node_args::NodeResourceArgs,

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
