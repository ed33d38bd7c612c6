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
pub mod guard;
pub mod kube;
pub mod logs;
pub mod query;
/// Public (hidden) only for the fuzz targets (`fuzz/`, FUZZING.md): its pure parts, the
/// query and body readers. Not a stable API.
#[doc(hidden)]
pub mod routes;
pub mod tls;
pub mod token;
pub mod types;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{header, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, UnixListener};
use tokio_util::sync::CancellationToken;

use crate::daemon::Daemon;
use guard::{Admitted, ApiLimits, Client, Connections};

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
    pub token: Arc<token::ApiToken>,
    pub tls: tls::Tls,
}

/// How long a TCP client may take over its TLS handshake.
const HANDSHAKE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Binds the unix socket (mode 0600; a stale socket file is replaced, a live one
/// refused) and, if asked, the TCP address.
pub async fn bind(socket: &Path, tcp: Option<(&str, token::ApiToken, tls::Tls)>) -> anyhow::Result<Listeners> {
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
/// `limits` bound what one client may hold ([`guard`]).
pub async fn serve(daemon: Arc<Daemon>, listeners: Listeners, limits: ApiLimits, shutdown: CancellationToken) {
    let Listeners { unix, socket_path, tcp } = listeners;
    let connections = Connections::new(limits.max_connections_per_client);
    let token = tcp.as_ref().map(|tcp| tcp.token.clone());
    let serving = Serving { daemon, limits, token, shutdown };
    let tcp_task = tcp.map(|tcp| tokio::spawn(accept_tcp(serving.clone(), tcp, connections.clone())));
    loop {
        tokio::select! {
            accepted = unix.accept() => match accepted {
                Ok((stream, _)) => {
                    let uid = match stream.peer_cred() {
                        Ok(cred) => cred.uid(),
                        Err(err) => {
                            tracing::warn!("refused an API connection on the unix socket: cannot read its peer's credentials: {err}");
                            continue;
                        }
                    };
                    if !guard::peer_allowed(uid) {
                        tracing::warn!(
                            "refused an API connection from uid {uid} on {}: only root and hooklet's own user may use it; check the socket's mode (0600) and who can reach it",
                            socket_path.display()
                        );
                        continue;
                    }
                    if let Some(admitted) = admit(&connections, Client::Uid(uid)) {
                        serving.spawn_connection(stream, false, admitted);
                    }
                }
                Err(err) => tracing::warn!("accepting on the unix socket: {err}"),
            },
            _ = serving.shutdown.cancelled() => break,
        }
    }
    if let Some(task) = tcp_task {
        let _ = task.await;
    }
    let _ = std::fs::remove_file(&socket_path);
    tracing::info!("the API stopped accepting connections");
}

/// A place for a new connection of `client`, or a warning and `None` (the
/// connection is then closed by dropping it).
fn admit(connections: &Arc<Connections>, client: Client) -> Option<Admitted> {
    let admitted = connections.admit(client.clone());
    if admitted.is_none() {
        tracing::warn!(
            "closed a new API connection from {client}: it already holds {} (--max-connections-per-client); close idle ones",
            connections.limit()
        );
    }
    admitted
}

/// What every connection is served with.
#[derive(Clone)]
struct Serving {
    daemon: Arc<Daemon>,
    limits: ApiLimits,
    /// The TCP listener's token, if there is one.
    token: Option<Arc<token::ApiToken>>,
    shutdown: CancellationToken,
}

async fn accept_tcp(serving: Serving, tcp: TcpServing, connections: Arc<Connections>) {
    let TcpServing { listener, tls, .. } = tcp;
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    tracing::debug!(%peer, "TCP connection");
                    // Counted from the handshake on: a flood of handshakes is capped too.
                    let Some(admitted) = admit(&connections, Client::Address(peer.ip())) else { continue };
                    let (acceptor, serving) = (tls.acceptor.clone(), serving.clone());
                    // The handshake runs in its own task: a slow client holds up no one.
                    tokio::spawn(async move {
                        match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                            Ok(Ok(stream)) => serving.spawn_connection(stream, true, admitted),
                            Ok(Err(err)) => tracing::debug!(%peer, "TLS handshake failed: {err}"),
                            Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                        }
                    });
                }
                Err(err) => tracing::warn!("accepting on TCP: {err}"),
            },
            _ = serving.shutdown.cancelled() => return,
        }
    }
}

impl Serving {
    /// Serves one connection; `tcp`: every request needs the token.
    fn spawn_connection(&self, stream: impl AsyncRead + AsyncWrite + Unpin + Send + 'static, tcp: bool, admitted: Admitted) {
        let serving = self.clone();
        let (limits, shutdown) = (self.limits, self.shutdown.clone());
        tokio::spawn(async move {
            let client = admitted.client().clone();
            let service = service_fn(move |req| {
                let (serving, client) = (serving.clone(), client.clone());
                async move { Ok::<_, std::convert::Infallible>(serving.handle(tcp, &client, req).await) }
            });
            // Headers must arrive within the read timeout, also between requests on a
            // kept-alive connection. Upgrades: `kubectl exec`'s WebSocket takes the
            // connection over.
            let connection = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(limits.read_timeout)
                .serve_connection(TokioIo::new(stream), service)
                .with_upgrades();
            tokio::select! {
                result = connection => if let Err(err) = result {
                    tracing::debug!("API connection ended: {err}");
                },
                _ = shutdown.cancelled() => {}
            }
            drop(admitted);
        });
    }
}

impl Serving {
    async fn handle(&self, tcp: bool, client: &Client, mut req: Request<hyper::body::Incoming>) -> Response<body::Body> {
        let is_kube = kube::handles(req.uri().path());
        if let (true, Some(token)) = (tcp, &self.token) {
            if !authorized(&req, token) {
                if is_kube {
                    return kube::unauthorized();
                }
                return Response::builder().status(StatusCode::UNAUTHORIZED).body(body::empty()).expect("a valid response");
            }
        }
        let (method, path) = (req.method().clone(), req.uri().path().to_string());
        req.extensions_mut().insert(body::ReadTimeout(self.limits.read_timeout));
        let response = if method == hyper::Method::POST && path == ROTATE_PATH {
            self.rotate_token(tcp).unwrap_or_else(body::error)
        } else if is_kube {
            kube::route(&self.daemon, req).await
        } else {
            routes::route(&self.daemon, req).await.unwrap_or_else(body::error)
        };
        tracing::debug!(%method, %path, status = response.status().as_u16(), "API request");
        guard::audit(client, &method, &path, response.status().as_u16());
        response
    }

    /// `POST /v1/token/rotate`: on the unix socket only (whoever holds the token
    /// must not be able to keep the node to themselves).
    fn rotate_token(&self, tcp: bool) -> Result<Response<body::Body>, error::ApiError> {
        if tcp {
            let message = "the token is rotated on the node itself: run `hooklet token rotate` there (it uses the unix socket)";
            return Err(error::ApiError::new(StatusCode::FORBIDDEN, message, None));
        }
        let Some(token) = &self.token else {
            let message = "hooklet serve runs without --listen: there is no TCP token to rotate";
            return Err(error::ApiError::new(StatusCode::CONFLICT, message, None));
        };
        let file = token.rotate()?;
        Ok(body::json(StatusCode::OK, &serde_json::json!({ "tokenFile": file })))
    }
}

/// Where the token is rotated.
pub const ROTATE_PATH: &str = "/v1/token/rotate";

/// Does the request carry `Authorization: Bearer <token>`? (constant-time compare)
fn authorized<B>(req: &Request<B>, token: &token::ApiToken) -> bool {
    let Some(given) = req.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    given.strip_prefix("Bearer ").is_some_and(|given| token.matches(given))
}
