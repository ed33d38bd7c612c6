//! Shared pieces of the end-to-end tests: a node on the process runtime with shrunken
//! timings, manifests from YAML, and a real HTTP(S) server on loopback that records
//! what it receives (the kubelet e2e tests' "logging pod").
#![allow(dead_code)]

pub mod grpc_server;
pub mod probes;

use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::Notify;

use hooklet::lifecycle::{BackoffPolicy, Node, NodeConfig};
use hooklet::runtime::process::ProcessRuntime;
use hooklet::spec::parse::parse_manifests;
use hooklet::spec::Pod;
use hooklet::wasm::WasmConfig;

/// Test timings: back-off 200 ms doubling to 800 ms (Kubernetes: 10 s to 300 s).
pub fn test_config(plugin_dir: &Path) -> NodeConfig {
    NodeConfig {
        backoff: BackoffPolicy {
            initial: Duration::from_millis(200),
            max: Duration::from_millis(800),
            reset_after: Duration::from_secs(60),
        },
        wasm: WasmConfig { plugin_dir: plugin_dir.to_path_buf(), ..WasmConfig::default() },
        ..NodeConfig::default()
    }
}

/// Sends hooklet's `tracing` lines (debug and up) to the test's captured output, which
/// libtest prints only when the test fails: a failing test then shows what the node did.
pub fn trace_to_test_output() {
    let filter = tracing_subscriber::EnvFilter::new("hooklet=debug");
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_test_writer().try_init();
}

/// A node on the process runtime with logs under `dir`.
pub fn node(dir: &Path) -> Arc<Node> {
    node_with(dir, test_config(dir))
}

/// A node with a custom configuration.
pub fn node_with(dir: &Path, config: NodeConfig) -> Arc<Node> {
    Node::new(Arc::new(ProcessRuntime::new(dir.join("logs"))), config).expect("node starts")
}

/// Parses one pod manifest (it must be valid).
pub fn pod(yaml: &str) -> Pod {
    let mut pods = parse_manifests(yaml, "test.yaml").unwrap_or_else(|e| panic!("manifest: {e}"));
    assert_eq!(pods.len(), 1);
    pods.remove(0).pod
}

/// The reasons of a pod's events, oldest first.
pub fn reasons(node: &Node, uid: &str) -> Vec<String> {
    node.events().for_pod(uid).into_iter().map(|e| e.reason).collect()
}

/// The exit code of a terminated container state.
pub fn exit_code(state: &hooklet::lifecycle::ContainerState) -> Option<i32> {
    match state {
        hooklet::lifecycle::ContainerState::Terminated { exit_code, .. } => Some(*exit_code),
        _ => None,
    }
}

/// The messages of a pod's events with `reason`, oldest first.
pub fn messages(node: &Node, uid: &str, reason: &str) -> Vec<String> {
    node.events().for_pod(uid).into_iter().filter(|e| e.reason == reason).map(|e| e.message).collect()
}

/// Safety net against hangs (not a speed assertion): fails the test after `secs`.
pub async fn within<T>(secs: u64, what: &str, fut: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(secs), fut)
        .await
        .unwrap_or_else(|_| panic!("timed out after {secs}s waiting for {what}"))
}

/// `%XX` escapes decoded (enough for the redirect targets of the probe tests).
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let Ok(b) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// One request as the server saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    /// Path and query.
    pub target: String,
    pub headers: Vec<(String, String)>,
    pub at: std::time::Instant,
}

impl Seen {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// A loopback HTTP server recording requests; answers "ok" with the status set by
/// [`RecordingServer::set_status`] (200 at first), and `/redirect?loc=URL` with a 302
/// to URL (the body Go's `http.Redirect` writes), as agnhost's `liveness` server does.
#[derive(Clone)]
pub struct RecordingServer {
    pub addr: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
    notify: Arc<Notify>,
    status: Arc<std::sync::atomic::AtomicU16>,
}

impl RecordingServer {
    /// Plain HTTP on 127.0.0.1, an ephemeral port.
    pub async fn start() -> Self {
        Self::start_with_tls(None).await
    }

    /// HTTPS with a fresh self-signed certificate for `localhost`/127.0.0.1.
    pub async fn start_https() -> Self {
        let cert = rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()]).unwrap();
        let key = tokio_rustls::rustls::pki_types::PrivateKeyDer::Pkcs8(cert.signing_key.serialize_der().into());
        let config = tokio_rustls::rustls::ServerConfig::builder_with_provider(Arc::new(
            tokio_rustls::rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert.cert.der().clone()], key)
        .unwrap();
        Self::start_with_tls(Some(tokio_rustls::TlsAcceptor::from(Arc::new(config)))).await
    }

    async fn start_with_tls(tls: Option<tokio_rustls::TlsAcceptor>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let server = RecordingServer {
            addr: listener.local_addr().unwrap(),
            seen: Arc::default(),
            notify: Arc::default(),
            status: Arc::new(std::sync::atomic::AtomicU16::new(200)),
        };
        let s = server.clone();
        tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else { return };
                let (s, tls) = (s.clone(), tls.clone());
                tokio::spawn(async move {
                    let service = service_fn(move |req| {
                        let s = s.clone();
                        async move { s.handle(req) }
                    });
                    match tls {
                        Some(acceptor) => {
                            if let Ok(stream) = acceptor.accept(tcp).await {
                                let _ = http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
                            }
                        }
                        None => {
                            let _ = http1::Builder::new().serve_connection(TokioIo::new(tcp), service).await;
                        }
                    }
                });
            }
        });
        server
    }

    fn handle(&self, req: Request<Incoming>) -> Result<Response<Full<Bytes>>, std::convert::Infallible> {
        let seen = Seen {
            method: req.method().to_string(),
            target: req.uri().path_and_query().map(|p| p.to_string()).unwrap_or_default(),
            headers: req
                .headers()
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_str().unwrap_or("").to_string()))
                .collect(),
            at: std::time::Instant::now(),
        };
        let target = seen.target.clone();
        self.seen.lock().unwrap().push(seen);
        self.notify.notify_waiters();
        if let Some(loc) = target.strip_prefix("/redirect?loc=") {
            let loc = percent_decode(loc);
            let body = format!("<a href=\"{loc}\">Found</a>.\n\n");
            let response = Response::builder().status(302).header("Location", loc).body(Full::new(Bytes::from(body)));
            return Ok(response.unwrap());
        }
        let status = self.status.load(std::sync::atomic::Ordering::SeqCst);
        Ok(Response::builder().status(status).body(Full::new(Bytes::from_static(b"ok"))).unwrap())
    }

    /// The status every later answer (but redirects) has.
    pub fn set_status(&self, status: u16) {
        self.status.store(status, std::sync::atomic::Ordering::SeqCst);
    }

    /// How many requests have arrived.
    pub fn count(&self) -> usize {
        self.seen.lock().unwrap().len()
    }

    /// Waits until at least `n` requests have arrived.
    pub async fn wait_for_count(&self, n: usize) {
        loop {
            let notified = self.notify.notified();
            if self.count() >= n {
                return;
            }
            notified.await;
        }
    }

    /// Everything received so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    /// Waits for a request whose path+query starts with `prefix`.
    pub async fn wait_for(&self, prefix: &str) -> Seen {
        loop {
            let notified = self.notify.notified();
            if let Some(s) = self.seen().into_iter().find(|s| s.target.starts_with(prefix)) {
                return s;
            }
            notified.await;
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}
