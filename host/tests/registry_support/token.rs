//! A bearer-token server for the registry's `auth: token` mode: checks Basic
//! credentials ([`super::USER`] / [`super::PASSWORD`]), and answers with an ES256 JWT
//! (signed with ring, its certificate in the `x5c` header and in the registry's
//! `rootcertbundle`) granting what the scope asks for; anonymous callers get nothing.

use std::sync::Arc;

use base64::Engine as _;
use http_body_util::Full;
use hyper::body::Bytes;
use hyper::{Request, Response};
use ring::rand::SystemRandom;
use ring::signature::{EcdsaKeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};

/// The issuer and service names the registry's config repeats.
pub const ISSUER: &str = "hooklet-test-issuer";
/// See [`ISSUER`].
pub const SERVICE: &str = "hooklet-registry";

/// A running token server.
pub struct TokenServer {
    /// `http://127.0.0.1:PORT/token`.
    pub realm: String,
    /// The signing certificate (PEM), for `rootcertbundle`.
    pub cert_pem: String,
    task: tokio::task::JoinHandle<()>,
}

struct Signer {
    key: EcdsaKeyPair,
    x5c: String,
}

impl TokenServer {
    /// Starts on a free port.
    pub async fn start() -> TokenServer {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name.push(rcgen::DnType::CommonName, "hooklet-test-token-signer");
        let cert = params.self_signed(&key).unwrap();
        let signing = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &key.serialize_der(), &SystemRandom::new()).unwrap();
        let signer = Arc::new(Signer { key: signing, x5c: base64::engine::general_purpose::STANDARD.encode(cert.der()) });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let realm = format!("http://{}/token", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let signer = signer.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req| {
                        let signer = signer.clone();
                        async move { Ok::<_, std::convert::Infallible>(answer(&signer, &req)) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new().serve_connection(hyper_util::rt::TokioIo::new(stream), service).await;
                });
            }
        });
        TokenServer { realm, cert_pem: cert.pem(), task }
    }
}

impl Drop for TokenServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn answer(signer: &Signer, req: &Request<hyper::body::Incoming>) -> Response<Full<Bytes>> {
    let b64 = base64::engine::general_purpose::STANDARD;
    let user = match req.headers().get("authorization").and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Basic ")) {
        None => None,
        Some(encoded) => {
            let decoded = String::from_utf8(b64.decode(encoded).unwrap_or_default()).unwrap_or_default();
            if decoded != format!("{}:{}", super::USER, super::PASSWORD) {
                return Response::builder()
                    .status(401)
                    .body(Full::new(Bytes::from(r#"{"errors":[{"code":"UNAUTHORIZED","message":"bad credentials"}]}"#)))
                    .unwrap();
            }
            Some(super::USER)
        }
    };
    let query = req.uri().query().unwrap_or("");
    let access: Vec<serde_json::Value> = query
        .split('&')
        .filter_map(|kv| kv.strip_prefix("scope="))
        .map(|scope| {
            let scope = scope.replace("%3A", ":").replace("%2F", "/").replace("%2C", ",");
            let mut parts = scope.splitn(3, ':');
            let (kind, name, actions) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""), parts.next().unwrap_or(""));
            let granted: Vec<&str> = if user.is_some() { actions.split(',').filter(|a| !a.is_empty()).collect() } else { vec![] };
            serde_json::json!({"type": kind, "name": name, "actions": granted})
        })
        .collect();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let url = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let header = url.encode(serde_json::json!({"typ": "JWT", "alg": "ES256", "x5c": [signer.x5c]}).to_string());
    let claims = serde_json::json!({
        "iss": ISSUER, "sub": user.unwrap_or(""), "aud": SERVICE, "exp": now + 300, "nbf": now - 10, "iat": now,
        "jti": format!("{now}-{}", rand_suffix()), "access": access,
    });
    let body = url.encode(claims.to_string());
    let input = format!("{header}.{body}");
    let signature = signer.key.sign(&SystemRandom::new(), input.as_bytes()).unwrap();
    let token = format!("{input}.{}", url.encode(signature.as_ref()));
    let json = serde_json::json!({"token": token, "access_token": token, "expires_in": 300});
    Response::builder().header("content-type", "application/json").body(Full::new(Bytes::from(json.to_string()))).unwrap()
}

fn rand_suffix() -> u64 {
    let mut bytes = [0u8; 8];
    ring::rand::SecureRandom::fill(&SystemRandom::new(), &mut bytes).unwrap();
    u64::from_le_bytes(bytes)
}
