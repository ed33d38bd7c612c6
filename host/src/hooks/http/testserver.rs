//! Test support: a raw HTTP/1.1 server (optionally behind TLS) on an ephemeral
//! port that records every request head exactly as received and answers with
//! bytes the test chooses.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio_rustls::rustls;
use tokio_rustls::TlsAcceptor;

use crate::spec::model::{Container, ContainerPort, HttpGetAction, HttpHeader, IntOrString};

/// What the server does after reading a request head.
pub(crate) enum Reply {
    /// Write these bytes, then close the connection.
    Close(Vec<u8>),
    /// Write these bytes and keep the connection open.
    Hold(Vec<u8>),
    /// Write these bytes, then zeros until the client goes away.
    Endless(Vec<u8>),
}

/// A response head with `Content-Length: 0` unless `headers` sets a length.
pub(crate) fn head(status_line: &str, headers: &[(&str, &str)]) -> Vec<u8> {
    let mut out = format!("{status_line}\r\n");
    for (name, value) in headers {
        out.push_str(&format!("{name}: {value}\r\n"));
    }
    if !headers.iter().any(|(n, _)| {
        n.eq_ignore_ascii_case("content-length") || n.eq_ignore_ascii_case("transfer-encoding")
    }) {
        out.push_str("Content-Length: 0\r\n");
    }
    out.push_str("\r\n");
    out.into_bytes()
}

/// `Reply::Close(head(status_line, headers))`.
pub(crate) fn reply(status_line: &str, headers: &[(&str, &str)]) -> Reply {
    Reply::Close(head(status_line, headers))
}

type Handler = Arc<dyn Fn(usize, &str) -> Reply + Send + Sync>;

/// The server; stops when dropped.
pub(crate) struct TestServer {
    pub addr: SocketAddr,
    heads: Arc<Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl TestServer {
    /// A plain HTTP server on 127.0.0.1. `handler(index, head)` answers the
    /// `index`-th request (0-based).
    pub async fn http(handler: impl Fn(usize, &str) -> Reply + Send + Sync + 'static) -> Self {
        Self::start(IpAddr::V4(Ipv4Addr::LOCALHOST), Arc::new(handler), None)
            .await
            .expect("bind 127.0.0.1")
    }

    /// An HTTPS server on 127.0.0.1 with a fresh self-signed certificate.
    pub async fn https(handler: impl Fn(usize, &str) -> Reply + Send + Sync + 'static) -> Self {
        Self::start(
            IpAddr::V4(Ipv4Addr::LOCALHOST),
            Arc::new(handler),
            Some(self_signed_acceptor()),
        )
        .await
        .expect("bind 127.0.0.1")
    }

    /// A plain HTTP server on `ip`, if that address can be bound here.
    pub async fn http_on(
        ip: IpAddr,
        handler: impl Fn(usize, &str) -> Reply + Send + Sync + 'static,
    ) -> Option<Self> {
        Self::start(ip, Arc::new(handler), None).await.ok()
    }

    async fn start(
        ip: IpAddr,
        handler: Handler,
        tls: Option<TlsAcceptor>,
    ) -> std::io::Result<Self> {
        let listener = TcpListener::bind(SocketAddr::new(ip, 0)).await?;
        let addr = listener.local_addr()?;
        let heads = Arc::new(Mutex::new(Vec::new()));
        let recorded = heads.clone();
        let task = tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let (handler, heads, tls) = (handler.clone(), recorded.clone(), tls.clone());
                tokio::spawn(async move {
                    match tls {
                        Some(acceptor) => {
                            if let Ok(stream) = acceptor.accept(tcp).await {
                                serve(stream, handler, heads).await;
                            }
                        }
                        None => serve(tcp, handler, heads).await,
                    }
                });
            }
        });
        Ok(TestServer { addr, heads, task })
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// The request heads received so far, in order.
    pub fn heads(&self) -> Vec<String> {
        self.heads.lock().unwrap().clone()
    }
}

/// Serves one connection: one request, one reply.
async fn serve<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    handler: Handler,
    heads: Arc<Mutex<Vec<String>>>,
) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let Ok(n) = stream.read(&mut chunk).await else {
            return;
        };
        if n == 0 {
            return;
        }
        buf.extend_from_slice(&chunk[..n]);
        if !buf[0].is_ascii_uppercase() {
            // Not HTTP (a TLS ClientHello, say): answer like Go's and hyper's servers.
            let _ = stream
                .write_all(&head(
                    "HTTP/1.1 400 Bad Request",
                    &[("Connection", "close")],
                ))
                .await;
            return;
        }
        if buf.windows(4).any(|w| w == b"\r\n\r\n") {
            break;
        }
    }
    let text = String::from_utf8_lossy(&buf).into_owned();
    let index = {
        let mut heads = heads.lock().unwrap();
        heads.push(text.clone());
        heads.len() - 1
    };
    match handler(index, &text) {
        Reply::Close(bytes) => {
            let _ = stream.write_all(&bytes).await;
            let _ = stream.shutdown().await;
        }
        Reply::Hold(bytes) => {
            let _ = stream.write_all(&bytes).await;
            let _ = stream.read(&mut chunk).await;
        }
        Reply::Endless(bytes) => {
            let _ = stream.write_all(&bytes).await;
            let zeros = vec![0u8; 16 * 1024];
            while stream.write_all(&zeros).await.is_ok() {}
        }
    }
}

fn self_signed_acceptor() -> TlsAcceptor {
    let key = rcgen::generate_simple_self_signed(vec!["localhost".to_string()])
        .expect("self-signed certificate");
    let cert = key.cert.der().clone();
    let private = rustls::pki_types::PrivateKeyDer::Pkcs8(key.signing_key.serialize_der().into());
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("protocol versions")
    .with_no_client_auth()
    .with_single_cert(vec![cert], private)
    .expect("server certificate");
    TlsAcceptor::from(Arc::new(config))
}

/// The request line of a recorded head.
pub(crate) fn request_line(head: &str) -> &str {
    head.lines().next().unwrap_or("")
}

/// The header lines of a recorded head, in wire order.
pub(crate) fn header_lines(head: &str) -> Vec<&str> {
    head.split("\r\n")
        .skip(1)
        .take_while(|l| !l.is_empty())
        .collect()
}

/// An httpGet action for tests.
pub(crate) fn action(
    host: Option<&str>,
    port: IntOrString,
    path: &str,
    scheme: &str,
    headers: &[(&str, &str)],
) -> HttpGetAction {
    HttpGetAction {
        path: path.into(),
        port,
        host: host.map(str::to_string),
        scheme: scheme.into(),
        http_headers: headers
            .iter()
            .map(|(n, v)| HttpHeader {
                name: (*n).into(),
                value: (*v).into(),
            })
            .collect(),
        fail_on_http_error: false,
    }
}

/// `action` for `http://127.0.0.1:<port><path>`.
pub(crate) fn local(port: u16, path: &str) -> HttpGetAction {
    action(
        Some("127.0.0.1"),
        IntOrString::Int(port.into()),
        path,
        "HTTP",
        &[],
    )
}

/// A container with the given named ports.
pub(crate) fn container(ports: &[(&str, u16)]) -> Container {
    Container {
        name: "app".into(),
        ports: ports
            .iter()
            .map(|(name, port)| ContainerPort {
                name: Some((*name).into()),
                container_port: (*port).into(),
                protocol: None,
            })
            .collect(),
        ..Container::default()
    }
}

/// The user agent the tests' client sends.
pub(crate) const UA: &str = "kube-lifecycle/1.34";

/// A client with [`UA`].
pub(crate) fn client() -> super::HttpHookClient {
    super::HttpHookClient::new(UA.into())
}
