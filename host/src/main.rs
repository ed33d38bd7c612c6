//! The `hooklet` binary: see `hooklet --help`.

use clap::Parser;
use hooklet::cli::{self, Cli, Command};
use tracing_subscriber::filter::{filter_fn, EnvFilter, FilterExt};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::Layer;

/// hooklet's log on stderr, filtered by `HOOKLET_LOG` (default `warn`). The WebSocket
/// library's trace lines are left out at every level: they print each frame's payload,
/// which for `kubectl exec` is the command's input and output (never logged).
fn init_logging() {
    let level = EnvFilter::try_from_env("HOOKLET_LOG").unwrap_or_else(|_| EnvFilter::new("warn"));
    let no_payloads = filter_fn(|m| !(*m.level() == tracing::Level::TRACE && m.target().starts_with("tungstenite")));
    let layer = tracing_subscriber::fmt::layer().with_writer(std::io::stderr).with_filter(level.and(no_payloads));
    tracing_subscriber::registry().with(layer).init();
}

fn main() {
    let cli = Cli::parse();
    init_logging();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(err) => {
            eprintln!("error: cannot start the async runtime: {err}");
            std::process::exit(cli::EXIT_POD_FAILED);
        }
    };
    let outcome = runtime.block_on(async {
        match cli.command.into_client() {
            Ok((args, command)) => cli::RunOutcome { exit_code: cli::run_client(args, command).await, reason: None },
            Err(Command::Run(args)) => cli::run(args).await,
            Err(Command::Serve(args)) => cli::serve(args).await,
            Err(Command::Plugin { command }) => cli::RunOutcome { exit_code: cli::run_plugin_command(command).await, reason: None },
            Err(Command::Kubeconfig { state_dir }) => cli::RunOutcome { exit_code: cli::print_kubeconfig(state_dir), reason: None },
            Err(Command::Image { command }) => cli::RunOutcome { exit_code: cli::run_image_command(command).await, reason: None },
            Err(Command::Gateway(args)) => cli::gateway(args).await,
            Err(_) => unreachable!("every other command is a client command"),
        }
    });
    if let Some(reason) = &outcome.reason {
        eprintln!("error: {reason}");
    }
    // Leftover tasks (e.g. a wasm delivery being cancelled) must not hold the exit.
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    std::process::exit(outcome.exit_code);
}
