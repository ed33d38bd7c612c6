//! The `hooklet` command line.

pub mod describe;
pub mod format;
mod run;

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

pub use run::{run, RunOutcome};

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
}

/// Flags of `hooklet run`.
#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    /// Pod manifest: YAML or JSON, one or more `v1` Pods (multi-document YAML).
    #[arg(short = 'f', long = "filename", value_name = "FILE")]
    pub file: PathBuf,

    /// Directory of wasm plugins (`NAME.wasm`, optional `NAME.toml`).
    #[arg(long, value_name = "DIR", env = "HOOKLET_PLUGINS", default_value = "plugins")]
    pub plugins: PathBuf,

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
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s).map_err(|e| format!("{e} (examples: 500ms, 10s, 2m)"))
}
