//! The CLI's HTTP client for the daemon's control API (unix socket or TCP).

use std::path::PathBuf;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{header, Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde::de::DeserializeOwned;

use crate::api::kube::wire::Status;
use crate::api::types::ErrorBody;

/// The environment variable naming the daemon (`unix:///path`, `/path`, `https://host:port`).
pub const SERVER_ENV: &str = "HOOKLET_SERVER";
/// The environment variable holding the API token (TCP only).
pub const TOKEN_ENV: &str = "HOOKLET_TOKEN";

/// The state directory used when none is given: `$HOOKLET_STATE_DIR`, else
/// `/var/lib/hooklet` for root, else `$XDG_STATE_HOME/hooklet` or `~/.local/state/hooklet`.
pub fn default_state_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("HOOKLET_STATE_DIR") {
        return dir.into();
    }
    if nix::unistd::Uid::effective().is_root() {
        return "/var/lib/hooklet".into();
    }
    match (std::env::var_os("XDG_STATE_HOME"), std::env::var_os("HOME")) {
        (Some(state), _) => PathBuf::from(state).join("hooklet"),
        (None, Some(home)) => PathBuf::from(home).join(".local/state/hooklet"),
        (None, None) => std::env::temp_dir().join("hooklet-state"),
    }
}

/// The daemon's default unix socket: `hooklet.sock` in the default state directory.
pub fn default_socket() -> PathBuf {
    default_state_dir().join("hooklet.sock")
}

/// Where the daemon is.
#[derive(Debug, Clone, PartialEq)]
pub enum Server {
    Unix(PathBuf),
    Tcp(String),
}

impl Server {
    /// Parses `--server`: `unix:///path`, `unix:/path`, `/path`, or `https://host:port`.
    pub fn parse(s: &str) -> Result<Server, String> {
        if let Some(rest) = s.strip_prefix("https://") {
            return Ok(Server::Tcp(rest.trim_end_matches('/').to_string()));
        }
        if let Some(rest) = s.strip_prefix("http://") {
            return Err(format!("--server {s}: the daemon's TCP listener speaks HTTPS; use https://{}", rest.trim_end_matches('/')));
        }
        let path = s.strip_prefix("unix://").or_else(|| s.strip_prefix("unix:")).unwrap_or(s);
        if path.is_empty() {
            return Err("--server: empty socket path".into());
        }
        Ok(Server::Unix(path.into()))
    }

    fn display(&self) -> String {
        match self {
            Server::Unix(p) => format!("unix://{}", p.display()),
            Server::Tcp(a) => format!("https://{a}"),
        }
    }
}

/// A client of one daemon.
pub struct Client {
    pub server: Server,
    token: Option<String>,
    /// The CA certificate (PEM file) that signed the TCP listener's certificate.
    ca: Option<PathBuf>,
}

/// A non-2xx answer or a transport failure, ready to print.
#[derive(Debug)]
pub struct ClientError(pub String);

impl std::fmt::Display for ClientError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl Client {
    /// A client for `server` (default: the default socket) with an optional token.
    pub fn new(server: Option<&str>, token: Option<String>) -> Result<Client, ClientError> {
        let server = match server {
            Some(s) => Server::parse(s).map_err(ClientError)?,
            None => Server::Unix(default_socket()),
        };
        Ok(Client { server, token, ca: None })
    }

    /// Trusts the CA certificate in `ca` (PEM) for the TCP listener; without one,
    /// `STATE_DIR/tls/ca.crt` of the default state directory.
    pub fn with_ca(mut self, ca: Option<PathBuf>) -> Client {
        self.ca = ca;
        self
    }

    /// A TLS connector trusting the daemon's CA.
    fn tls(&self) -> Result<tokio_rustls::TlsConnector, ClientError> {
        use rustls::pki_types::pem::PemObject;
        let path = self.ca.clone().unwrap_or_else(|| default_state_dir().join(crate::api::tls::TLS_DIR).join(crate::api::tls::CA_CERT));
        let certs: Vec<_> = rustls::pki_types::CertificateDer::pem_file_iter(&path)
            .and_then(|it| it.collect::<Result<Vec<_>, _>>())
            .map_err(|e| ClientError(format!("cannot read the daemon's CA certificate {} ({e}); pass --certificate-authority STATE_DIR/tls/ca.crt", path.display())))?;
        let mut roots = rustls::RootCertStore::empty();
        for cert in certs {
            roots.add(cert).map_err(|e| ClientError(format!("{}: {e}", path.display())))?;
        }
        let config = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .map_err(|e| ClientError(e.to_string()))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(tokio_rustls::TlsConnector::from(std::sync::Arc::new(config)))
    }

    /// Sends a request and returns the raw response (the body still streaming).
    pub async fn send(&self, method: Method, path: &str, body: Option<Vec<u8>>) -> Result<Response<Incoming>, ClientError> {
        let unreachable = |err: &dyn std::fmt::Display| {
            ClientError(format!(
                "cannot reach the hooklet daemon at {} ({err}). Is it running? Start it with `hooklet serve`, \
                 or point --server / ${SERVER_ENV} at it",
                self.server.display()
            ))
        };
        let (mut sender, host) = match &self.server {
            Server::Unix(path) => {
                let stream = tokio::net::UnixStream::connect(path).await.map_err(|e| unreachable(&e))?;
                let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.map_err(|e| unreachable(&e))?;
                tokio::spawn(conn);
                (sender, "localhost".to_string())
            }
            Server::Tcp(addr) => {
                let connector = self.tls()?;
                let host = addr.rsplit_once(':').map(|(h, _)| h).unwrap_or(addr).trim_start_matches('[').trim_end_matches(']');
                let name = rustls::pki_types::ServerName::try_from(host.to_string()).map_err(|e| unreachable(&e))?;
                let stream = tokio::net::TcpStream::connect(addr).await.map_err(|e| unreachable(&e))?;
                let stream = connector.connect(name, stream).await.map_err(|e| unreachable(&e))?;
                let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.map_err(|e| unreachable(&e))?;
                tokio::spawn(conn);
                (sender, addr.clone())
            }
        };
        let mut req = Request::builder().method(method).uri(path).header(header::HOST, host);
        if let Some(token) = &self.token {
            req = req.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        if body.is_some() {
            req = req.header(header::CONTENT_TYPE, "application/json");
        }
        let req = req.body(Full::new(Bytes::from(body.unwrap_or_default()))).map_err(|e| ClientError(e.to_string()))?;
        let response = sender.send_request(req).await.map_err(|e| unreachable(&e))?;
        if response.status().is_success() {
            return Ok(response);
        }
        let status = response.status();
        let bytes = response.into_body().collect().await.map(|c| c.to_bytes()).unwrap_or_default();
        Err(error_from(status, &bytes, self.token.is_some()))
    }

    /// Sends a request and reads the whole body.
    pub async fn bytes(&self, method: Method, path: &str, body: Option<Vec<u8>>) -> Result<Bytes, ClientError> {
        let response = self.send(method, path, body).await?;
        let collected = response.into_body().collect().await.map_err(|e| ClientError(format!("reading the daemon's answer: {e}")))?;
        Ok(collected.to_bytes())
    }

    /// Sends a request and decodes a JSON answer.
    pub async fn json<T: DeserializeOwned>(&self, method: Method, path: &str, body: Option<Vec<u8>>) -> Result<T, ClientError> {
        let bytes = self.bytes(method, path, body).await?;
        serde_json::from_slice(&bytes).map_err(|e| ClientError(format!("the daemon's answer is not what this client expects ({e}); are client and daemon the same version?")))
    }
}

fn error_from(status: StatusCode, bytes: &[u8], had_token: bool) -> ClientError {
    if status == StatusCode::UNAUTHORIZED {
        let hint = if had_token { "the token is not the daemon's" } else { "TCP requests need the daemon's token" };
        return ClientError(format!(
            "Error from server (Unauthorized): {hint}; pass --token or set ${TOKEN_ENV} (the daemon keeps it in STATE_DIR/api-token)"
        ));
    }
    let reason = status.canonical_reason().unwrap_or("Error").replace(' ', "");
    if let Ok(body) = serde_json::from_slice::<ErrorBody>(bytes) {
        return ClientError(format!("Error from server ({reason}): {}", body.error));
    }
    // The Kubernetes paths answer with a `Status`, printed as kubectl prints it.
    match serde_json::from_slice::<Status>(bytes) {
        Ok(s) if !s.reason.is_empty() => ClientError(format!("Error from server ({}): {}", s.reason, s.message)),
        Ok(s) => ClientError(format!("Error from server ({reason}): {}", s.message)),
        Err(_) => ClientError(format!("Error from server ({reason}): {}", String::from_utf8_lossy(bytes).trim())),
    }
}
