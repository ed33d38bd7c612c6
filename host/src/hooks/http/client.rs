//! The HTTP client: Go's `http.Client` with a bare `http.Transport`
//! (`InsecureSkipVerify`, `RedirectChecker(false)`, no timeouts, no proxy) and
//! the kubelet's body discarding. One connection per request (keep-alive
//! reuse is not needed for correctness).

use std::net::{IpAddr, SocketAddr};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::body::Incoming;
use hyper::header::{CONTENT_ENCODING, LOCATION};
use hyper::{Method, Request, Response, StatusCode, Version};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use super::gotext::{dial_error, go_quote, lookup_error_text, response_error, url_error};
use super::gourl::GoUrl;
use super::request::HookRequest;
use super::tls::{handshake_error, insecure_client_config, recorded, server_name, Recording};

/// The kubelet's `maxRespBodyLength`: at most this much of the final body is read.
const FINAL_BODY_LIMIT: u64 = 10 * 1024;
/// Go's `maxBodySlurpSize`: what the client reads of a redirect response body.
const REDIRECT_BODY_LIMIT: u64 = 2 * 1024;
/// Go's `RedirectChecker` / default policy limit.
const MAX_REDIRECTS: usize = 10;
/// Go's default `Transport.MaxResponseHeaderBytes`.
pub(crate) const GO_MAX_RESPONSE_HEADER_BYTES: usize = 10 << 20;
/// How many response header lines are accepted (Go has no count limit, only the byte limit).
const MAX_RESPONSE_HEADERS: usize = 1000;

/// The client that runs httpGet hooks: one per node agent. The TLS
/// configuration (certificate verification skipped, as the kubelet's
/// `insecureContainerLifecycleHTTPClient`) is built once here.
#[derive(Clone)]
pub struct HttpHookClient {
    user_agent: String,
    tls: TlsConnector,
    /// The prober's transport: `DisableCompression` and the final body kept (10 KiB).
    probe: bool,
}

impl std::fmt::Debug for HttpHookClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpHookClient")
            .field("user_agent", &self.user_agent)
            .finish_non_exhaustive()
    }
}

/// What Go's `Client.Do` (followed by the kubelet's body discard) produced.
#[derive(Debug, Clone, Default)]
pub(crate) struct DoOutcome {
    /// The last response's status code, if a response arrived.
    pub status: Option<u16>,
    /// The last response's status line, e.g. `HTTP/1.1 404 Not Found`.
    pub status_line: Option<String>,
    /// The `*url.Error` text, if `Do` failed.
    pub error: Option<String>,
    /// Whether the failure is Go's `ErrSchemeMismatch` (HTTPS to a plain HTTP server).
    pub scheme_mismatch: bool,
    /// The final body, at most 10 KiB of it: the prober's client always, the hook client
    /// when the status is outside 2xx/3xx (for `failOnHttpError`'s message, D9).
    pub body: Vec<u8>,
    /// The final response is a redirect to another host that was not followed.
    pub redirect_not_followed: bool,
}

/// A transport failure: Go's error text without the `*url.Error` wrapping.
struct TransportError {
    text: String,
    scheme_mismatch: bool,
}

impl From<String> for TransportError {
    fn from(text: String) -> Self {
        TransportError {
            text,
            scheme_mismatch: false,
        }
    }
}

/// A response whose connection is kept alive until the body is discarded.
struct Exchange {
    response: Response<Incoming>,
    /// Go's `Response.ContentLength`; `None` is Go's -1 (unknown).
    content_length: Option<u64>,
    _connection: AbortOnDrop,
}

/// Stops the spawned connection task when the exchange (or the hook) is dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl HttpHookClient {
    /// A client sending `user_agent` (e.g. `kube-lifecycle/1.34`) unless a hook sets its own.
    pub fn new(user_agent: String) -> Self {
        HttpHookClient {
            user_agent,
            tls: TlsConnector::from(insecure_client_config()),
            probe: false,
        }
    }

    /// The prober's client (`pkg/probe/http`): like the hook client, but no
    /// `Accept-Encoding: gzip` (`DisableCompression`) and the final response's body is
    /// kept, up to 10 KiB, for the probe's output.
    pub fn for_probes(user_agent: String) -> Self {
        HttpHookClient { probe: true, ..HttpHookClient::new(user_agent) }
    }

    /// The default `User-Agent`.
    pub fn user_agent(&self) -> &str {
        &self.user_agent
    }

    /// Go's `Client.Do` with `RedirectChecker(false)`, then the kubelet's
    /// `discardHTTPRespBody` on the final response.
    pub(crate) async fn execute(&self, first: &HookRequest) -> DoOutcome {
        let mut via: Vec<GoUrl> = Vec::new();
        let mut req = first.clone();
        loop {
            let url = req.url.to_go_string();
            tracing::debug!(url = %url, "httpGet hook: sending request");
            let mut exchange = match self.round_trip(&req).await {
                Ok(exchange) => exchange,
                Err(e) => {
                    tracing::debug!(url = %url, error = %e.text, "httpGet hook: request failed");
                    let error = Some(url_error(&url, &e.text));
                    return DoOutcome {
                        error,
                        scheme_mismatch: e.scheme_mismatch,
                        ..DoOutcome::default()
                    };
                }
            };
            via.push(req.url.clone());
            let status = exchange.response.status();
            let line = status_line(&exchange.response);
            let done = |error: Option<String>| DoOutcome {
                status: Some(status.as_u16()),
                status_line: Some(line.clone()),
                error,
                ..DoOutcome::default()
            };
            let location = match status.as_u16() {
                301 | 302 | 303 | 307 | 308 => exchange.response.headers().get(LOCATION),
                _ => None,
            };
            let Some(location) = location
                .map(|l| String::from_utf8_lossy(l.as_bytes()).into_owned())
                .filter(|l| !l.is_empty())
            else {
                return self.finish(done(None), &mut exchange).await;
            };
            let next = match req.url.parse_reference(&location) {
                Ok(next) => next,
                Err(e) => {
                    let why = format!(
                        "failed to parse Location header {}: {e}",
                        go_quote(&location)
                    );
                    return done(Some(url_error(&url, &why)));
                }
            };
            if next.hostname() != via[0].hostname() {
                tracing::debug!(location = %location, "httpGet hook: redirect to another host not followed");
                let outcome = DoOutcome { redirect_not_followed: true, ..done(None) };
                return self.finish(outcome, &mut exchange).await;
            }
            let outcome = done(None);
            discard_body(&mut exchange, REDIRECT_BODY_LIMIT).await;
            drop(exchange);
            if via.len() >= MAX_REDIRECTS {
                return DoOutcome {
                    error: Some(url_error(&location, "stopped after 10 redirects")),
                    ..outcome
                };
            }
            tracing::debug!(location = %location, hop = via.len(), "httpGet hook: following redirect");
            req = redirected_request(first, &req, next, &location);
        }
    }

    /// The final response: its body discarded (hooks) or kept up to the limit (probes,
    /// and a hook's error response, whose start D9 puts in the failure message).
    async fn finish(&self, mut outcome: DoOutcome, exchange: &mut Exchange) -> DoOutcome {
        let error_status = outcome.status.is_some_and(|s| !(200..400).contains(&s));
        let keep = self.probe || error_status;
        let body = read_body(exchange, FINAL_BODY_LIMIT, keep).await;
        if keep {
            outcome.body = body;
        }
        outcome
    }

    /// One request on a fresh connection, up to the response head.
    async fn round_trip(&self, req: &HookRequest) -> Result<Exchange, TransportError> {
        let scheme = req.url.scheme.as_str();
        if scheme != "http" && scheme != "https" {
            return Err(format!("unsupported protocol scheme {}", go_quote(scheme)).into());
        }
        req.validate_headers()?;
        if req.url.host.is_empty() {
            return Err(String::from("http: no Host in request URL").into());
        }
        let mut request = Request::builder()
            .method(Method::GET)
            .uri(req.wire_target()?)
            .version(Version::HTTP_11)
            .body(Empty::<Bytes>::new())
            .map_err(|e| e.to_string())?;
        *request.headers_mut() = req.wire_headers(!self.probe);
        let gzip = req.adds_gzip() && !self.probe;

        let tcp = dial(&req.url).await?;
        let local = tcp.local_addr().ok();
        let remote = tcp.peer_addr().map_err(|e| e.to_string())?;
        if scheme == "https" {
            let (tcp, first_bytes) = Recording::new(tcp);
            let name = server_name(req.url.hostname(), remote.ip());
            let tls = self.tls.connect(name, tcp).await.map_err(|e| {
                let (text, scheme_mismatch) =
                    handshake_error(&e, &recorded(&first_bytes), local, remote);
                TransportError {
                    text,
                    scheme_mismatch,
                }
            })?;
            exchange(tls, request, gzip, local, remote).await
        } else {
            exchange(tcp, request, gzip, local, remote).await
        }
    }
}

/// The next hop as Go's client builds it: the first request's headers, a
/// `Referer`, and the custom `Host` kept only for a relative `Location`.
fn redirected_request(
    first: &HookRequest,
    prev: &HookRequest,
    next: GoUrl,
    location: &str,
) -> HookRequest {
    let last = &prev.url;
    let relative = GoUrl::parse(location).is_ok_and(|u| u.scheme.is_empty());
    let host = if !prev.host.is_empty() && prev.host != prev.url.host && relative {
        prev.host.clone()
    } else {
        String::new()
    };
    let mut header = first.header.clone();
    if !(last.scheme == "https" && next.scheme == "http") {
        let referer = match header.get("Referer") {
            "" => last.to_go_string(),
            explicit => explicit.to_string(),
        };
        header.set("Referer", &referer);
    }
    HookRequest {
        url: next,
        header,
        host,
    }
}

/// Go's dialer: the URL's host and port (default 80/443), resolved, tried in order.
async fn dial(url: &GoUrl) -> Result<TcpStream, String> {
    let hostname = url.hostname();
    let port = match url.port() {
        "" if url.scheme == "https" => "443",
        "" => "80",
        port => port,
    };
    let port: u16 = port
        .parse()
        .map_err(|_| format!("dial tcp: address {port}: invalid port"))?;
    dial_host(hostname, port).await
}

/// Go's `net.Dial("tcp", host:port)`: `host` resolved (an IP literal as is), each
/// address tried in order; the error is Go's text for the first failure
/// (`dial tcp 10.1.2.3:80: connect: connection refused`). Shared with the tcpSocket probe.
pub(crate) async fn dial_host(hostname: &str, port: u16) -> Result<TcpStream, String> {
    let addrs: Vec<SocketAddr> = match hostname.parse::<IpAddr>() {
        Ok(ip) => vec![SocketAddr::new(ip, port)],
        Err(_) => match tokio::net::lookup_host((hostname, port)).await {
            Ok(addrs) => addrs.collect(),
            Err(e) => return Err(format!("dial tcp: {}", lookup_error_text(hostname, &e))),
        },
    };
    let mut first_error = None;
    for addr in &addrs {
        match TcpStream::connect(addr).await {
            Ok(stream) => return Ok(stream),
            Err(e) => {
                first_error.get_or_insert_with(|| dial_error(*addr, &e));
            }
        }
    }
    Err(first_error.unwrap_or_else(|| format!("dial tcp: lookup {hostname}: no such host")))
}

/// Sends the request over `io` with hyper's HTTP/1.1 client and waits for the response head.
async fn exchange<S>(
    io: S,
    request: Request<Empty<Bytes>>,
    gzip: bool,
    local: Option<SocketAddr>,
    remote: SocketAddr,
) -> Result<Exchange, TransportError>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (io, seen) = Recording::new(io);
    let (mut sender, connection) = hyper::client::conn::http1::Builder::new()
        .title_case_headers(true)
        // Go: response heads up to `MaxResponseHeaderBytes` (10 MiB), any
        // number of headers, continuation lines accepted.
        .max_buf_size(GO_MAX_RESPONSE_HEADER_BYTES + 64 * 1024)
        .max_header_size(GO_MAX_RESPONSE_HEADER_BYTES)
        .max_headers(MAX_RESPONSE_HEADERS)
        .allow_obsolete_multiline_headers_in_responses(true)
        .handshake::<_, Empty<Bytes>>(TokioIo::new(io))
        .await
        .map_err(|e| e.to_string())?;
    let connection = AbortOnDrop(tokio::spawn(async move {
        let _ = connection.await;
    }));
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| TransportError::from(response_error(&e, &recorded(&seen), local, remote)))?;
    let mut content_length = hyper::body::Body::size_hint(response.body()).exact();
    let gzipped = response
        .headers()
        .get(CONTENT_ENCODING)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"gzip"));
    if gzip && gzipped && content_length != Some(0) {
        // Go's transport decompresses transparently and reports the length as unknown.
        content_length = None;
    }
    Ok(Exchange {
        response,
        content_length,
        _connection: connection,
    })
}

/// Reads and drops at most `limit` body bytes when the length is unknown or
/// at most `limit` (the kubelet's `discardHTTPRespBody`, Go's redirect slurp).
async fn discard_body(exchange: &mut Exchange, limit: u64) {
    read_body(exchange, limit, false).await;
}

/// Reads at most `limit` body bytes, returning them when `keep` (the prober's
/// `ReadAtMost`, which reads whatever the length); without `keep`, a body longer than
/// `limit` is not read at all, as the kubelet's hook client does.
async fn read_body(exchange: &mut Exchange, limit: u64, keep: bool) -> Vec<u8> {
    let mut kept = Vec::new();
    if !keep && exchange.content_length.is_some_and(|n| n > limit) {
        return kept;
    }
    let body = exchange.response.body_mut();
    let mut read = 0u64;
    while read < limit {
        match body.frame().await {
            Some(Ok(frame)) => {
                let data = frame.data_ref().map_or(&[][..], |d| &d[..]);
                if keep {
                    let room = (limit - read) as usize;
                    kept.extend_from_slice(&data[..data.len().min(room)]);
                }
                read += data.len() as u64;
            }
            _ => break,
        }
    }
    kept
}

/// `HTTP/1.1 404 Not Found`, with the server's reason phrase when it sent its own.
fn status_line(response: &Response<Incoming>) -> String {
    let status: StatusCode = response.status();
    let reason = match response.extensions().get::<hyper::ext::ReasonPhrase>() {
        Some(reason) => String::from_utf8_lossy(reason.as_bytes()).into_owned(),
        None => status.canonical_reason().unwrap_or("").to_string(),
    };
    format!("{:?} {} {}", response.version(), status.as_u16(), reason)
        .trim_end()
        .to_string()
}
