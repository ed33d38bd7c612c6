//! What a failed pull says: oci-client's errors turned into one line naming what failed
//! and where, with what to do (the `<err>` of the kubelet's `Failed to pull image "x":
//! <err>`). Never a credential.

use oci_client::errors::{OciDistributionError, OciErrorCode};

/// A pull failure, its message ready for the pod's status and events.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct PullError {
    /// One line: what failed, where, what to do.
    pub message: String,
    /// The registry refused the credentials (or wants some): the next credential is tried.
    pub unauthorized: bool,
}

impl PullError {
    /// A failure with this message.
    pub fn new(message: impl Into<String>) -> PullError {
        PullError { message: message.into(), unauthorized: false }
    }
}

/// Describes `err`, from pulling `image` (as normalised) from `registry` (`HOST:PORT`).
pub fn describe(err: &OciDistributionError, image: &str, registry: &str) -> PullError {
    let message = match err {
        OciDistributionError::UnauthorizedError { .. } | OciDistributionError::AuthenticationFailure(_) => {
            return PullError { message: format!("unauthorized: {registry} refused access to {image}"), unauthorized: true };
        }
        OciDistributionError::RegistryError { envelope, .. } => {
            if envelope.errors.iter().any(|e| matches!(e.code, OciErrorCode::Unauthorized | OciErrorCode::Denied)) {
                return PullError { message: format!("unauthorized: {registry} refused access to {image}"), unauthorized: true };
            }
            let codes: Vec<String> = envelope.errors.iter().map(|e| e.message.clone()).collect();
            if envelope.errors.iter().any(|e| matches!(e.code, OciErrorCode::ManifestUnknown | OciErrorCode::NameUnknown)) {
                format!("{}: {image} not found in {registry}", codes.join("; "))
            } else {
                format!("{registry} answered for {image}: {}", codes.join("; "))
            }
        }
        OciDistributionError::ImageManifestNotFoundError(why) if why.contains("platform") => format!(
            "no matching manifest for linux/{} in the manifest list entries of {image}",
            crate::image::archive::host_architecture()
        ),
        OciDistributionError::DigestError(oci_client::errors::DigestError::VerificationError { expected, actual }) => {
            format!("blob {expected} of {image}: digest mismatch, got {actual}; the registry's copy is corrupt")
        }
        OciDistributionError::RequestError(e) => transport(e, registry),
        other => format!("{image}: {}", chain(other)),
    };
    PullError::new(message)
}

/// A connection-level failure: refused, TLS, DNS, timeouts.
fn transport(err: &dyn std::error::Error, registry: &str) -> String {
    let detail = chain(err);
    if detail.contains("InvalidCertificate") || detail.contains("certificate") {
        format!(
            "tls: the certificate of {registry} is not trusted ({}); put its CA in CERTS_DIR/{registry}/ca.crt (--registry-certs-dir)",
            detail.rsplit(": ").next().unwrap_or(&detail)
        )
    } else if detail.contains("InvalidContentType") || detail.contains("corrupt message") || detail.contains("wrong version number") {
        format!("tls: {registry} does not speak TLS ({detail}); if it is a plain-HTTP registry, name it with --insecure-registry {registry}")
    } else if detail.contains("Connection refused") || detail.contains("ConnectionRefused") {
        format!("cannot reach {registry}: connection refused")
    } else {
        format!("cannot reach {registry}: {detail}")
    }
}

/// `err` and its sources, `: `-separated.
fn chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        let s_text = s.to_string();
        if !text.contains(&s_text) {
            text.push_str(": ");
            text.push_str(&s_text);
        }
        source = s.source();
    }
    text
}
