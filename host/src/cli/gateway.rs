//! `hooklet gateway`: serves a pod's `httpGet` hooks from wasm plugins (see
//! [`crate::gateway`]).

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use tokio::signal::unix::{signal, SignalKind};
use tokio_util::sync::CancellationToken;

use super::format::parse_positive_duration;
use super::{RunOutcome, EXIT_BAD_INPUT, EXIT_POD_FAILED};
use crate::gateway::pod::PodIdentity;
use crate::gateway::{serve, Gateway, GatewayConfig, OnFailure};
use crate::wasm::{WasmConfig, WasmHost};

/// Flags of `hooklet gateway`.
#[derive(Debug, Clone, Args)]
pub struct GatewayArgs {
    /// Directory of wasm plugins (`NAME.wasm`, optional `NAME.toml`), watched for changes.
    #[arg(long, value_name = "DIR", env = "HOOKLET_PLUGINS", default_value = "plugins")]
    pub plugins: PathBuf,

    /// Where to listen. The kubelet calls a hook at the pod's IP unless `httpGet.host`
    /// says otherwise, so a sidecar listens on 0.0.0.0:PORT (see the README).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8686")]
    pub listen: String,

    /// How long a PreStop hook may run when its request sets no `?deadline=`: the gateway
    /// cannot see the pod's grace period, so give it the pod's
    /// terminationGracePeriodSeconds (less the app's own stop time).
    #[arg(long, value_name = "DURATION", value_parser = parse_positive_duration, default_value = "30s")]
    pub prestop_deadline: Duration,

    /// Wasm deliveries that can run at once (slots of the instance pool).
    #[arg(long, value_name = "N", default_value_t = 16)]
    pub wasm_pool_slots: u32,

    /// Hook requests that may wait for a pool slot; past slots plus these, requests are
    /// answered 503 at once.
    #[arg(long, value_name = "N", default_value_t = 64)]
    pub max_queued: usize,

    /// How a hook that did not succeed is answered: `status` (a 4xx/5xx with the reason as
    /// the body; the caller must check it, e.g. hooklet's `failOnHttpError`) or `close`
    /// (the connection is closed unanswered: a stock kubelet, which counts any HTTP
    /// response as success, then fails the hook).
    #[arg(long, value_enum, value_name = "HOW", default_value = "status")]
    pub on_failure: OnFailure,

    /// Default fuel budget of one delivery (when the plugin's manifest sets none).
    #[arg(long, value_name = "UNITS")]
    pub wasm_fuel: Option<u64>,

    /// Cache of compiled plugins (default: ~/.cache/hooklet/plugins; none when there is
    /// no home directory).
    #[arg(long, value_name = "DIR")]
    pub plugin_cache: Option<PathBuf>,
}

/// Runs the gateway until SIGTERM/SIGINT; then stops accepting, answers the hooks in
/// flight and returns exit code 0.
pub async fn gateway(args: GatewayArgs) -> RunOutcome {
    if args.wasm_pool_slots == 0 {
        let reason = "--wasm-pool-slots 0 would run no plugin; give at least 1".to_string();
        return RunOutcome { exit_code: EXIT_BAD_INPUT, reason: Some(reason) };
    }
    match gateway_inner(args).await {
        Ok(()) => RunOutcome { exit_code: 0, reason: None },
        Err(err) => RunOutcome { exit_code: EXIT_POD_FAILED, reason: Some(format!("{err:#}")) },
    }
}

async fn gateway_inner(args: GatewayArgs) -> anyhow::Result<()> {
    let mut wasm = WasmConfig {
        plugin_dir: args.plugins.clone(),
        pool_slots: args.wasm_pool_slots,
        cache_dir: args.plugin_cache.clone().or_else(super::plugin::default_plugin_cache),
        watch: true,
        ..WasmConfig::default()
    };
    if let Some(fuel) = args.wasm_fuel {
        wasm.default_fuel = fuel;
    }
    let host = match WasmHost::new(wasm.clone()) {
        Ok(host) => host,
        // The default cache is a convenience: a container whose user cannot write its home
        // directory runs without it rather than not at all.
        Err(err) if args.plugin_cache.is_none() && wasm.cache_dir.is_some() => {
            tracing::warn!("running without a compiled-plugin cache: {err:#}; give --plugin-cache DIR to keep one");
            WasmHost::new(WasmConfig { cache_dir: None, ..wasm })?
        }
        Err(err) => return Err(err),
    };
    let pod = PodIdentity::from_env(|name| std::env::var(name).ok());
    let config = GatewayConfig { prestop_deadline: args.prestop_deadline, max_queued: args.max_queued, on_failure: args.on_failure };
    let gateway = Gateway::new(config, pod, host);
    let listener = tokio::net::TcpListener::bind(&args.listen)
        .await
        .with_context(|| format!("cannot listen on --listen {}", args.listen))?;
    let address = listener.local_addr().context("reading the listening address")?;
    let mut sigterm = signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
    let mut sigint = signal(SignalKind::interrupt()).context("installing the SIGINT handler")?;
    let shutdown = CancellationToken::new();
    let stop = shutdown.clone();
    tokio::spawn(async move {
        tokio::select! {
            _ = sigterm.recv() => {}
            _ = sigint.recv() => {}
        }
        stop.cancel();
    });
    println!("hooklet gateway serving on http://{address} (plugins in {})", args.plugins.display());
    serve(gateway, listener, shutdown).await;
    println!("hooklet gateway stopped");
    Ok(())
}
