//! TLS for `scheme: HTTPS` hooks, as the kubelet's
//! `tls.Config{InsecureSkipVerify: true}`: any certificate is accepted, but the
//! handshake signatures are still checked, no ALPN (HTTP/1.1 only), no session
//! resumption, SNI only for DNS names. Also: a stream wrapper that records the
//! first bytes read, to tell "the server answered in plain HTTP" apart and to
//! quote a malformed status line.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_rustls::rustls;
use tokio_rustls::rustls::client::danger::{
    HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier,
};
use tokio_rustls::rustls::crypto::{
    verify_tls12_signature, verify_tls13_signature, CryptoProvider,
};
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use tokio_rustls::rustls::{DigitallySignedStruct, SignatureScheme};

/// Go's `ErrSchemeMismatch` text.
pub(crate) const SCHEME_MISMATCH: &str = "http: server gave HTTP response to HTTPS client";

/// Accepts every server certificate (no chain, name or date checks) and still
/// verifies the handshake signatures with the provider's algorithms.
#[derive(Debug)]
struct SkipCertificateVerification(Arc<CryptoProvider>);

impl ServerCertVerifier for SkipCertificateVerification {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// The client TLS configuration, built once per [`super::HttpHookClient`].
pub(crate) fn insecure_client_config() -> Arc<rustls::ClientConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .expect("the ring provider supports TLS 1.2 and 1.3")
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(SkipCertificateVerification(provider)))
        .with_no_client_auth();
    config.resumption = rustls::client::Resumption::disabled();
    Arc::new(config)
}

/// The name to present: the host name for SNI, or the peer IP (no SNI) when
/// the host is an IP literal or not a valid DNS name.
pub(crate) fn server_name(hostname: &str, peer: IpAddr) -> ServerName<'static> {
    ServerName::try_from(hostname.to_string())
        .unwrap_or_else(|_| ServerName::IpAddress(peer.into()))
}

/// Go's text for a failed client handshake. `first` holds the first bytes the
/// server sent. Returns the text and whether it is the scheme mismatch (the
/// server answered `HTTP/`), which triggers the kubelet's HTTP fallback.
pub(crate) fn handshake_error(
    err: &io::Error,
    first: &[u8],
    local: Option<SocketAddr>,
    remote: SocketAddr,
) -> (String, bool) {
    if first.starts_with(b"HTTP/") {
        return (SCHEME_MISMATCH.to_string(), true);
    }
    let first_record_bad =
        first.len() >= 3 && (!matches!(first[0], 0x15 | 0x16) || first[1] != 0x03);
    if let Some(tls) = err
        .get_ref()
        .and_then(|e| e.downcast_ref::<rustls::Error>())
    {
        let text = match tls {
            _ if first_record_bad => {
                "tls: first record does not look like a TLS handshake".to_string()
            }
            rustls::Error::AlertReceived(alert) => {
                format!("remote error: {}", go_alert(u8::from(*alert)))
            }
            other => format!("tls: {other}"),
        };
        return (text, false);
    }
    if err.kind() == io::ErrorKind::UnexpectedEof {
        return ("EOF".to_string(), false);
    }
    (super::gotext::conn_io_error(local, remote, err), false)
}

/// Go's `crypto/tls` alert texts.
fn go_alert(code: u8) -> String {
    let text = match code {
        0 => "close notify",
        10 => "unexpected message",
        20 => "bad record MAC",
        21 => "decryption failed",
        22 => "record overflow",
        30 => "decompression failure",
        40 => "handshake failure",
        42 => "bad certificate",
        43 => "unsupported certificate",
        44 => "revoked certificate",
        45 => "expired certificate",
        46 => "unknown certificate",
        47 => "illegal parameter",
        48 => "unknown certificate authority",
        49 => "access denied",
        50 => "error decoding message",
        51 => "error decrypting message",
        70 => "protocol version not supported",
        71 => "insufficient security level",
        80 => "internal error",
        86 => "inappropriate fallback",
        90 => "user canceled",
        100 => "no renegotiation",
        109 => "missing extension",
        110 => "unsupported extension",
        112 => "unrecognized name",
        115 => "unknown PSK identity",
        116 => "certificate required",
        120 => "no application protocol",
        other => return format!("tls: alert({other})"),
    };
    format!("tls: {text}")
}

/// How many leading bytes [`Recording`] keeps.
const RECORD_LIMIT: usize = 1024;

/// Wraps a stream and keeps a copy of the first [`RECORD_LIMIT`] bytes read.
pub(crate) struct Recording<S> {
    inner: S,
    seen: Arc<Mutex<Vec<u8>>>,
}

impl<S> Recording<S> {
    /// Wraps `inner`; the returned handle reads what was recorded so far.
    pub fn new(inner: S) -> (Self, Arc<Mutex<Vec<u8>>>) {
        let seen = Arc::new(Mutex::new(Vec::new()));
        (
            Recording {
                inner,
                seen: seen.clone(),
            },
            seen,
        )
    }
}

/// A copy of what a [`Recording`] saw.
pub(crate) fn recorded(seen: &Mutex<Vec<u8>>) -> Vec<u8> {
    seen.lock().map(|v| v.clone()).unwrap_or_default()
}

impl<S: AsyncRead + Unpin> AsyncRead for Recording<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let poll = Pin::new(&mut self.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = poll {
            if let Ok(mut seen) = self.seen.lock() {
                let room = RECORD_LIMIT.saturating_sub(seen.len());
                let fresh = &buf.filled()[before..];
                seen.extend_from_slice(&fresh[..fresh.len().min(room)]);
            }
        }
        poll
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Recording<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, data)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_http_answer_is_the_scheme_mismatch() {
        let remote: SocketAddr = "127.0.0.1:8443".parse().unwrap();
        let err = io::Error::new(
            io::ErrorKind::InvalidData,
            rustls::Error::General("x".into()),
        );
        assert_eq!(
            handshake_error(&err, b"HTTP/1.1 400 Bad Request", None, remote),
            (SCHEME_MISMATCH.to_string(), true)
        );
        assert_eq!(
            handshake_error(&err, b"SSH-2.0-OpenSSH", None, remote).0,
            "tls: first record does not look like a TLS handshake"
        );
        let alert = io::Error::new(
            io::ErrorKind::InvalidData,
            rustls::Error::AlertReceived(rustls::AlertDescription::HandshakeFailure),
        );
        assert_eq!(
            handshake_error(&alert, &[0x15, 0x03, 0x03], None, remote).0,
            "remote error: tls: handshake failure"
        );
        let eof = io::Error::from(io::ErrorKind::UnexpectedEof);
        assert_eq!(handshake_error(&eof, b"", None, remote).0, "EOF");
    }

    #[test]
    fn server_names() {
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        assert!(matches!(
            server_name("example.test", ip),
            ServerName::DnsName(_)
        ));
        assert!(matches!(
            server_name("10.0.0.2", ip),
            ServerName::IpAddress(_)
        ));
        assert!(matches!(
            server_name("bad name!", ip),
            ServerName::IpAddress(_)
        ));
    }
}
