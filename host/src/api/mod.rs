//! The control API: HTTP/1.1 with JSON bodies, served by hyper on a unix socket
//! (mode 0600) and optionally on TCP over HTTPS ([`tls`]), where every request needs
//! `Authorization: Bearer <token>`; without a valid token the answer is a 401 (a
//! Kubernetes `Status` on the Kubernetes paths, else empty).
//!
//! Two APIs share the listeners: hooklet's own (`/v1/…`, below) and the slice of
//! the Kubernetes API that kubectl needs ([`kube`]: `/api`, `/apis`, `/version`,
//! `/openapi/v3`).
//!
//! | method | path | what |
//! |---|---|---|
//! | GET | `/healthz` | `{"status":"ok"}` |
//! | GET | `/metrics` | Prometheus text |
//! | GET, POST | `/v1/pods` | list (`?namespace=`), apply ([`types::ApplyRequest`]) |
//! | GET, DELETE | `/v1/namespaces/NS/pods/NAME` | get (with events), delete (`?gracePeriodSeconds=`) |
//! | GET | `/v1/namespaces/NS/pods/NAME/log` | container log (`?container=`) |
//! | GET | `/v1/namespaces/NS/pods/NAME/hooks` | hook runs with output (`?container=`) |
//! | GET | `/v1/events` | events (`?namespace=&pod=`), `&watch=true` streams NDJSON |
//! | GET | `/v1/plugins` | the plugin directory |
//! | GET | `/v1/secrets` | Secrets (`?namespace=`): names, type, each key's size, never a value |
//! | GET, DELETE | `/v1/namespaces/NS/secrets/NAME` | get, delete a Secret (applied with `POST /v1/pods`) |

pub mod body;
pub mod error;
pub mod kube;
pub mod logs;
pub(crate) mod routes;
pub mod tls;
pub mod types;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{header, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, UnixListener};
use tokio_util::sync::CancellationToken;

use crate::daemon::Daemon;

/// The bound listeners of the API.
pub struct Listeners {
    pub unix: UnixListener,
    pub socket_path: PathBuf,
    /// TCP (HTTPS), with the token every request must carry.
    pub tcp: Option<TcpServing>,
}

/// The TCP listener: HTTPS, and the token every request must carry.
pub struct TcpServing {
    pub listener: TcpListener,
    pub token: Arc<String>,
    pub tls: tls::Tls,
}

/// How long a TCP client may take over its TLS handshake.
const HANDSHAKE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Binds the unix socket (mode 0600; a stale socket file is replaced, a live one
/// refused) and, if asked, the TCP address.
pub async fn bind(socket: &Path, tcp: Option<(&str, String, tls::Tls)>) -> anyhow::Result<Listeners> {
    use std::os::unix::fs::PermissionsExt;
    if socket.exists() {
        if tokio::net::UnixStream::connect(socket).await.is_ok() {
            anyhow::bail!("another hooklet daemon is serving on {}; stop it first, or give this one another --socket", socket.display());
        }
        std::fs::remove_file(socket).with_context(|| format!("removing the stale socket {}", socket.display()))?;
    }
    let unix = UnixListener::bind(socket).with_context(|| format!("cannot listen on unix socket {}", socket.display()))?;
    std::fs::set_permissions(socket, std::fs::Permissions::from_mode(0o600))
        .with_context(|| format!("cannot set mode 0600 on {}", socket.display()))?;
    let tcp = match tcp {
        Some((addr, token, tls)) => {
            let listener = TcpListener::bind(addr).await.with_context(|| format!("cannot listen on --listen {addr}"))?;
            Some(TcpServing { listener, token: Arc::new(token), tls })
        }
        None => None,
    };
    Ok(Listeners { unix, socket_path: socket.to_path_buf(), tcp })
}

/// Serves the API until `shutdown` is cancelled; then stops accepting and returns.
pub async fn serve(daemon: Arc<Daemon>, listeners: Listeners, shutdown: CancellationToken) {
    let Listeners { unix, socket_path, tcp } = listeners;
    let tcp_task = tcp.map(|tcp| tokio::spawn(accept_tcp(daemon.clone(), tcp, shutdown.clone())));
    loop {
        tokio::select! {
            accepted = unix.accept() => match accepted {
                Ok((stream, _)) => spawn_connection(daemon.clone(), stream, None, shutdown.clone()),
                Err(err) => tracing::warn!("accepting on the unix socket: {err}"),
            },
            _ = shutdown.cancelled() => break,
        }
    }
    if let Some(task) = tcp_task {
        let _ = task.await;
    }
    let _ = std::fs::remove_file(&socket_path);
    tracing::info!("the API stopped accepting connections");
}

async fn accept_tcp(daemon: Arc<Daemon>, tcp: TcpServing, shutdown: CancellationToken) {
    let TcpServing { listener, token, tls } = tcp;
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    tracing::debug!(%peer, "TCP connection");
                    let (acceptor, daemon, token, shutdown) = (tls.acceptor.clone(), daemon.clone(), token.clone(), shutdown.clone());
                    // The handshake runs in its own task: a slow client holds up no one.
                    tokio::spawn(async move {
                        match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                            Ok(Ok(stream)) => spawn_connection(daemon, stream, Some(token), shutdown),
                            Ok(Err(err)) => tracing::debug!(%peer, "TLS handshake failed: {err}"),
                            Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                        }
                    });
                }
                Err(err) => tracing::warn!("accepting on TCP: {err}"),
            },
            _ = shutdown.cancelled() => return,
        }
    }
}

fn spawn_connection(
    daemon: Arc<Daemon>,
    stream: impl AsyncRead + AsyncWrite + Unpin + Send + 'static,
    token: Option<Arc<String>>,
    shutdown: CancellationToken,
) {
    tokio::spawn(async move {
        let service = service_fn(move |req| {
            let (daemon, token) = (daemon.clone(), token.clone());
            async move { Ok::<_, std::convert::Infallible>(handle(daemon, token.as_deref(), req).await) }
        });
        // Upgrades: `kubectl exec`'s WebSocket takes the connection over.
        let connection = http1::Builder::new().serve_connection(TokioIo::new(stream), service).with_upgrades();
        tokio::select! {
            result = connection => if let Err(err) = result {
                tracing::debug!("API connection ended: {err}");
            },
            _ = shutdown.cancelled() => {}
        }
    });
}

async fn handle(daemon: Arc<Daemon>, token: Option<&String>, req: Request<hyper::body::Incoming>) -> Response<body::Body> {
    let is_kube = kube::handles(req.uri().path());
    if let Some(token) = token {
        if !authorized(&req, token) {
            if is_kube {
                return kube::unauthorized();
            }
            return Response::builder().status(StatusCode::UNAUTHORIZED).body(body::empty()).expect("a valid response");
        }
    }
    let (method, path) = (req.method().clone(), req.uri().path().to_string());
    let response = if is_kube { kube::route(&daemon, req).await } else { routes::route(&daemon, req).await.unwrap_or_else(body::error) };
    tracing::debug!(%method, %path, status = response.status().as_u16(), "API request");
    response
}

/// Does the request carry `Authorization: Bearer <token>`? (constant-time compare)
fn authorized<B>(req: &Request<B>, token: &str) -> bool {
    let Some(given) = req.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let Some(given) = given.strip_prefix("Bearer ") else {
        return false;
    };
    let (a, b) = (given.as_bytes(), token.as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
