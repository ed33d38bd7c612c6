//! The `hooklet` binary: see `hooklet --help`.

use clap::Parser;
use hooklet::cli::{self, Cli, Command};

fn main() {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("HOOKLET_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
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
