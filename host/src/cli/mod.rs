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

use clap::{Args, Parser, Subcommand};

pub use gateway::{gateway, GatewayArgs};
pub use image::{run_image_command, ImageCommand};
pub use kubeconfig::print as print_kubeconfig;
pub use kubectl::run_client;
pub use node_args::{NodeArgs, RunArgs, RuntimeKind, ServeArgs};
pub use plugin::{run_plugin_command, PluginCommand};
pub use run::{run, RunOutcome};
pub use serve::serve;

pub use crate::runtime::runc::{PodNetworkOptions, RuntimeChoice};
use format::parse_duration;

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
