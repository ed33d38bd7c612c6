//! `hooklet serve`: the node daemon in the foreground.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use tokio::signal::unix::{signal, SignalKind};
use tokio_util::sync::CancellationToken;

use super::client::default_state_dir;
use super::kubeconfig::{self, KubeconfigParts};
use crate::api::tls::TlsSource;
use crate::api::token::{new_token, write_private, ApiToken, OnRotate, TokenFile};
use crate::runtime::network::{DEFAULT_BRIDGE, DEFAULT_SUBNET};
use super::{RunOutcome, ServeArgs, EXIT_BAD_INPUT, EXIT_POD_FAILED};
use crate::daemon::{Daemon, DaemonConfig};

/// The token file in the state directory.
pub const TOKEN_FILE: &str = "api-token";

/// Runs the daemon until SIGTERM/SIGINT; then stops accepting, flushes the state and
/// returns exit code 0, leaving containers running.
pub async fn serve(args: ServeArgs) -> RunOutcome {
    // Malformed node or eviction flags: bad input, refused before anything exists.
    if let Err(reason) = args.resources.node_settings().and(args.resources.eviction_config()).and(args.node.images.manager_config()) {
        return RunOutcome { exit_code: EXIT_BAD_INPUT, reason: Some(reason) };
    }
    match serve_inner(args).await {
        Ok(()) => RunOutcome { exit_code: 0, reason: None },
        Err(err) => RunOutcome { exit_code: EXIT_POD_FAILED, reason: Some(format!("{err:#}")) },
    }
}

async fn serve_inner(args: ServeArgs) -> anyhow::Result<()> {
    raise_open_files_limit();
    let state_dir = args.state_dir.clone().unwrap_or_else(default_state_dir);
    let mut node = args.node.node_config();
    if args.node.plugin_cache.is_none() {
        node.wasm.cache_dir = Some(state_dir.join("plugin-cache"));
    }
    let monitor_exe = monitor_exe()?;
    let mut sigterm = signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
    let mut sigint = signal(SignalKind::interrupt()).context("installing the SIGINT handler")?;
    let retention = args.deleted_pod_retention;
    // Bad node or eviction flags stop the daemon before anything is created.
    let node_status = args.resources.node_settings().map_err(anyhow::Error::msg)?;
    let eviction = args.resources.eviction_config().map_err(anyhow::Error::msg)?;
    let images = args.node.images.manager_config().map_err(anyhow::Error::msg)?;
    let config = DaemonConfig {
        state_dir: state_dir.clone(),
        node,
        monitor_exe,
        log_rotation: hooklet_monitor::cri::Rotation { max_size: args.container_log_max_size, max_files: args.container_log_max_files },
        deleted_pod_retention: retention,
        runtime: args.node.runtime_choice(DEFAULT_BRIDGE, DEFAULT_SUBNET),
        images,
        node_status,
        eviction,
    };
    let daemon = Daemon::start(config).await?;
    let socket = args.socket.clone().unwrap_or_else(|| state_dir.join("hooklet.sock"));
    // What a rotated token's kubeconfig needs, known once the listener is bound.
    let kubeconfig_slot: KubeconfigSlot = Arc::default();
    let tcp = match &args.listen {
        Some(addr) => {
            let source = match (&args.tls_cert_file, &args.tls_private_key_file) {
                (Some(cert), Some(key)) => TlsSource::Files { cert: cert.clone(), key: key.clone() },
                _ => TlsSource::Generated { state_dir: state_dir.clone(), names: serving_names(addr, daemon.node_name()) },
            };
            Some((addr.as_str(), api_token(&state_dir, args.token.clone(), kubeconfig_slot.clone())?, crate::api::tls::prepare(&source)?))
        }
        None => None,
    };
    let listeners = crate::api::bind(&socket, tcp).await?;
    println!("hooklet serving on unix://{}", socket.display());
    if let Some(tcp) = &listeners.tcp {
        let addr = tcp.listener.local_addr()?;
        let server = format!("https://{}", client_address(addr));
        let known = KnownKubeconfig { server, ca_pem: tcp.tls.ca_pem.clone(), node: daemon.node_name().to_string() };
        let kubeconfig = known.write(&state_dir, &tcp.token.current())?;
        let server = known.server.clone();
        *kubeconfig_slot.lock().unwrap_or_else(|e| e.into_inner()) = Some(known);
        println!("hooklet serving on {server} (bearer token in {}; kubeconfig in {})", state_dir.join(TOKEN_FILE).display(), kubeconfig.display());
    }
    let shutdown = CancellationToken::new();
    let server = tokio::spawn(crate::api::serve(daemon.clone(), listeners, args.api.limits(), shutdown.clone()));
    tokio::select! {
        _ = sigterm.recv() => tracing::info!("SIGTERM: shutting down"),
        _ = sigint.recv() => tracing::info!("SIGINT: shutting down"),
    }
    shutdown.cancel();
    let _ = server.await;
    daemon.flush().context("flushing the state")?;
    println!("hooklet stopped; containers keep running");
    Ok(())
}

/// The names the generated serving certificate covers: loopback, the node's name
/// and the host part of `--listen` (when it is one address, not all of them).
fn serving_names(listen: &str, node: &str) -> Vec<String> {
    let mut names: Vec<String> = vec!["localhost".into(), "127.0.0.1".into(), "::1".into(), node.to_string()];
    let host = listen.rsplit_once(':').map(|(h, _)| h).unwrap_or(listen).trim_start_matches('[').trim_end_matches(']');
    let unspecified = host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_unspecified());
    if !host.is_empty() && !unspecified && !names.iter().any(|n| n == host) {
        names.push(host.to_string());
    }
    names
}

/// The address a client on this machine dials: loopback for a wildcard bind.
fn client_address(addr: std::net::SocketAddr) -> String {
    match addr.ip() {
        std::net::IpAddr::V4(ip) if ip.is_unspecified() => format!("127.0.0.1:{}", addr.port()),
        std::net::IpAddr::V6(ip) if ip.is_unspecified() => format!("[::1]:{}", addr.port()),
        _ => addr.to_string(),
    }
}

/// The container monitor, `hooklet-monitor` next to the hooklet executable (it ships
/// beside it; every build of hooklet builds it).
fn monitor_exe() -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe().context("cannot find the hooklet executable (the container monitor is next to it)")?;
    let monitor = exe.with_file_name("hooklet-monitor");
    if !monitor.is_file() {
        anyhow::bail!(
            "the container monitor {} is missing: it ships next to hooklet (`cargo build` builds both; install both binaries together)",
            monitor.display()
        );
    }
    Ok(monitor)
}

/// The most open files the daemon asks for (containerd and Go programs do the same).
const OPEN_FILES_WANTED: u64 = 1 << 20;

/// Raises the soft limit on open files to the hard limit (at most [`OPEN_FILES_WANTED`]):
/// the daemon holds one descriptor per supervised container (tokio watches each child
/// with a pidfd), so the common soft default of 1024 runs out near 1,000 pods. Returns
/// the soft limit in force afterwards. Supervisors and containers inherit it, as they
/// would under containerd.
pub fn raise_open_files_limit() -> u64 {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE) else { return 0 };
    let wanted = hard.min(OPEN_FILES_WANTED);
    if soft >= wanted {
        return soft;
    }
    match setrlimit(Resource::RLIMIT_NOFILE, wanted, hard) {
        Ok(()) => {
            tracing::info!(from = soft, to = wanted, "raised the open-files limit");
            wanted
        }
        Err(err) => {
            tracing::warn!("cannot raise the open-files limit from {soft} to {wanted} ({err}); with many pods, raise it (ulimit -n, or LimitNOFILE= in the service unit)");
            soft
        }
    }
}

/// The TCP token: the operator's (`--token`, also saved; not rotatable), else the
/// state directory's, else a new random one written there (mode 0600). A token of
/// the state directory's is rotatable: the file and the kubeconfig are rewritten.
fn api_token(state_dir: &Path, given: Option<String>, kubeconfig: KubeconfigSlot) -> anyhow::Result<ApiToken> {
    let path: PathBuf = state_dir.join(TOKEN_FILE);
    let saved = |token: &str| write_private(&path, token).with_context(|| format!("cannot write the API token to {}", path.display()));
    if let Some(t) = given {
        if t.trim().len() < 16 {
            anyhow::bail!("--token: use at least 16 characters");
        }
        saved(t.trim())?;
        return Ok(ApiToken::new(t.trim().to_string(), None));
    }
    let token = match std::fs::read_to_string(&path) {
        Ok(t) if !t.trim().is_empty() => t.trim().to_string(),
        _ => {
            let token = new_token();
            saved(&token)?;
            token
        }
    };
    let dir = state_dir.to_path_buf();
    let on_rotate: OnRotate = Box::new(move |token| match &*kubeconfig.lock().unwrap_or_else(|e| e.into_inner()) {
        Some(known) => known.write(&dir, token).map(drop),
        None => Ok(()),
    });
    Ok(ApiToken::new(token, Some(TokenFile { path, on_rotate })))
}

/// The kubeconfig's parts other than the token, once the listener is bound.
type KubeconfigSlot = Arc<std::sync::Mutex<Option<KnownKubeconfig>>>;

struct KnownKubeconfig {
    server: String,
    ca_pem: Option<String>,
    node: String,
}

impl KnownKubeconfig {
    /// Writes `STATE_DIR/kubeconfig` with `token`.
    fn write(&self, state_dir: &Path, token: &str) -> anyhow::Result<PathBuf> {
        let parts = KubeconfigParts { server: &self.server, ca_pem: self.ca_pem.as_deref(), token, node: &self.node };
        kubeconfig::write(state_dir, &parts)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn open_files_limit_is_raised_to_the_hard_limit() {
        use nix::sys::resource::{getrlimit, setrlimit, Resource};
        let (_, hard) = getrlimit(Resource::RLIMIT_NOFILE).unwrap();
        // Just below the target, never low: other tests of this process keep their files.
        let wanted = hard.min(super::OPEN_FILES_WANTED);
        setrlimit(Resource::RLIMIT_NOFILE, wanted - 1, hard).unwrap();
        let raised = super::raise_open_files_limit();
        assert_eq!(raised, hard.min(super::OPEN_FILES_WANTED));
        assert_eq!(getrlimit(Resource::RLIMIT_NOFILE).unwrap().0, raised);
    }
}
