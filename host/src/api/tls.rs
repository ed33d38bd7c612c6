//! HTTPS for the TCP listener: the operator's certificate and key
//! (`--tls-cert-file`, `--tls-private-key-file`), or a CA and a serving certificate
//! that hooklet generates into `STATE_DIR/tls` at first start (keys mode 0600), as
//! the kubelet does for its own serving certificate. kubectl sends its bearer token
//! over TLS only, so the Kubernetes API needs this.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use rcgen::{BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsAcceptor;

/// The directory under the state directory holding the generated files.
pub const TLS_DIR: &str = "tls";
/// The generated CA certificate (what a kubeconfig trusts).
pub const CA_CERT: &str = "ca.crt";
const CA_KEY: &str = "ca.key";
const SERVING_CERT: &str = "serving.crt";
const SERVING_KEY: &str = "serving.key";
/// The names the serving certificate was made for, one per line.
const SERVING_NAMES: &str = "serving.names";

/// Where the serving certificate comes from.
#[derive(Debug, Clone)]
pub enum TlsSource {
    /// Generated (once) into `STATE_DIR/tls`, for these names (IPs or DNS names).
    Generated { state_dir: PathBuf, names: Vec<String> },
    /// The operator's PEM files.
    Files { cert: PathBuf, key: PathBuf },
}

/// The TLS side of the TCP listener, ready to accept.
pub struct Tls {
    pub acceptor: TlsAcceptor,
    /// The CA certificate (PEM) that clients should trust, when hooklet made it.
    pub ca_pem: Option<String>,
}

/// Loads (generating when needed) the certificate and builds the acceptor.
pub fn prepare(source: &TlsSource) -> anyhow::Result<Tls> {
    let (cert, key, ca_pem) = match source {
        TlsSource::Files { cert, key } => (cert.clone(), key.clone(), None),
        TlsSource::Generated { state_dir, names } => {
            let dir = state_dir.join(TLS_DIR);
            generate(&dir, names)?;
            let ca = std::fs::read_to_string(dir.join(CA_CERT)).with_context(|| format!("reading {}", dir.join(CA_CERT).display()))?;
            (dir.join(SERVING_CERT), dir.join(SERVING_KEY), Some(ca))
        }
    };
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&cert)
        .with_context(|| format!("--tls-cert-file {}: cannot read it", cert.display()))?
        .collect::<Result<_, _>>()
        .with_context(|| format!("--tls-cert-file {}: not a PEM certificate chain", cert.display()))?;
    anyhow::ensure!(!chain.is_empty(), "--tls-cert-file {}: no certificate in it (expected PEM `BEGIN CERTIFICATE`)", cert.display());
    let key = PrivateKeyDer::from_pem_file(&key)
        .with_context(|| format!("--tls-private-key-file {}: not a PEM private key", key.display()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .context("the TLS certificate and private key do not go together")?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Tls { acceptor: TlsAcceptor::from(Arc::new(config)), ca_pem })
}

/// The CA's subject: fixed, so that a serving certificate signed again later
/// (other names) still chains to the CA made at first start.
fn ca_params() -> CertificateParams {
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, "hooklet-ca");
    dn.push(DnType::OrganizationName, "hooklet");
    params.distinguished_name = dn;
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
    params
}

/// Makes the CA at first start, and the serving certificate whenever the names it
/// must cover change (a new `--listen` address).
fn generate(dir: &Path, names: &[String]) -> anyhow::Result<()> {
    create_dir(dir)?;
    let ca_key_path = dir.join(CA_KEY);
    let ca_key = match std::fs::read_to_string(&ca_key_path) {
        Ok(pem) => KeyPair::from_pem(&pem).with_context(|| format!("{}: not a private key; remove {} to make a new CA", ca_key_path.display(), dir.display()))?,
        Err(_) => {
            let key = KeyPair::generate().context("generating the CA key")?;
            let cert = ca_params().self_signed(&key).context("making the CA certificate")?;
            write_private(&ca_key_path, key.serialize_pem().as_bytes())?;
            write_public(&dir.join(CA_CERT), cert.pem().as_bytes())?;
            let _ = std::fs::remove_file(dir.join(SERVING_NAMES));
            tracing::info!(dir = %dir.display(), "generated the API's certificate authority");
            key
        }
    };
    let wanted = names.join("\n");
    let current = std::fs::read_to_string(dir.join(SERVING_NAMES)).ok();
    if current.as_deref() == Some(wanted.as_str()) && dir.join(SERVING_CERT).is_file() && dir.join(SERVING_KEY).is_file() {
        return Ok(());
    }
    let mut params = CertificateParams::new(names.to_vec()).context("the serving certificate's names")?;
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, "hooklet");
    params.distinguished_name = dn;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment];
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
    let key = KeyPair::generate().context("generating the serving key")?;
    let issuer = Issuer::new(ca_params(), &ca_key);
    let cert = params.signed_by(&key, &issuer).context("signing the serving certificate")?;
    write_private(&dir.join(SERVING_KEY), key.serialize_pem().as_bytes())?;
    write_public(&dir.join(SERVING_CERT), cert.pem().as_bytes())?;
    write_public(&dir.join(SERVING_NAMES), wanted.as_bytes())?;
    tracing::info!(names = %names.join(","), "generated the API's serving certificate");
    Ok(())
}

fn create_dir(dir: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir).with_context(|| format!("creating {}", dir.display()))
}

/// Writes a key: mode 0600 from the start (never readable by others, even briefly).
fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    write_mode(path, bytes, 0o600)
}

fn write_public(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    write_mode(path, bytes, 0o644)
}

fn write_mode(path: &Path, bytes: &[u8], mode: u32) -> anyhow::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = path.with_extension("tmp");
    let _ = std::fs::remove_file(&tmp);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(&tmp)
        .with_context(|| format!("cannot write {}", tmp.display()))?;
    std::io::Write::write_all(&mut file, bytes)?;
    file.sync_all()?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))
}
