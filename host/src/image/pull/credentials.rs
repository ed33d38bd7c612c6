//! Registry credentials from a Docker `config.json` (the node's keyring in the
//! kubelet's words): `{"auths": {"HOST[:PORT][/PATH]": {"auth": base64("user:pass")}}}`,
//! or `username` + `password`, or `registrytoken` (a bearer token). Every entry that
//! matches the image is tried, most specific first; anonymous only when none matches.
//! The secrets stay in memory: `Debug` and the errors show the user name at most.

use std::fmt;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use oci_client::secrets::RegistryAuth;
use serde::Deserialize;

/// Keys under which Docker Hub credentials are written.
const DOCKER_HUB: [&str; 4] = ["docker.io", "index.docker.io", "registry-1.docker.io", "registry.hub.docker.com"];

/// One credential for one registry (and optional path prefix).
#[derive(Clone)]
pub struct Credential {
    /// `HOST[:PORT]`, normalised (`docker.io` for Docker Hub).
    host: String,
    /// A repository path prefix (`team/` in `HOST/team`), or empty.
    path: String,
    /// The user name, for messages.
    pub user: String,
    auth: RegistryAuth,
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Credential({}/{} as {:?})", self.host, self.path, self.user)
    }
}

impl Credential {
    /// What oci-client sends.
    pub fn auth(&self) -> &RegistryAuth {
        &self.auth
    }
}

/// The credentials of a node, read once from a `config.json`.
#[derive(Debug, Clone, Default)]
pub struct Keyring {
    /// The file read (for messages), if any.
    pub file: Option<PathBuf>,
    entries: Vec<Credential>,
}

#[derive(Deserialize)]
struct ConfigFile {
    #[serde(default)]
    auths: std::collections::BTreeMap<String, Entry>,
}

#[derive(Deserialize, Default)]
struct Entry {
    #[serde(default)]
    auth: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    registrytoken: Option<String>,
}

impl Keyring {
    /// The keyring of `--image-credentials FILE` when given, else the first
    /// `config.json` found in `$DOCKER_CONFIG`, then `$HOME/.docker`; empty when none is.
    pub fn load(explicit: Option<&Path>) -> Result<Keyring, String> {
        if let Some(file) = explicit {
            return Keyring::read(file);
        }
        let candidates = [
            std::env::var_os("DOCKER_CONFIG").map(|d| PathBuf::from(d).join("config.json")),
            std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".docker/config.json")),
        ];
        match candidates.into_iter().flatten().find(|p| p.is_file()) {
            Some(file) => Keyring::read(&file),
            None => Ok(Keyring::default()),
        }
    }

    /// Reads one Docker `config.json`. Errors name the file and the entry, never a secret.
    pub fn read(file: &Path) -> Result<Keyring, String> {
        let text = std::fs::read(file).map_err(|e| format!("cannot read the image credentials {}: {e}", file.display()))?;
        let config: ConfigFile = serde_json::from_slice(&text).map_err(|e| {
            format!("{}: not a Docker config.json ({e}); expected {{\"auths\": {{\"HOST:PORT\": {{\"auth\": \"BASE64(user:password)\"}}}}}}", file.display())
        })?;
        let mut entries = Vec::new();
        for (key, entry) in config.auths {
            let bad = |why: &str| format!("{}: auths.\"{key}\": {why}", file.display());
            let (host, path) = split_key(&key);
            let (user, auth) = if let Some(token) = entry.registrytoken.filter(|t| !t.is_empty()) {
                (String::new(), RegistryAuth::Bearer(token))
            } else if let Some(encoded) = entry.auth.filter(|a| !a.is_empty()) {
                let decoded = base64::engine::general_purpose::STANDARD
                    .decode(encoded.trim())
                    .map_err(|_| bad("\"auth\" is not base64"))?;
                let decoded = String::from_utf8(decoded).map_err(|_| bad("\"auth\" is not base64 of user:password"))?;
                let (user, password) = decoded.split_once(':').ok_or_else(|| bad("\"auth\" is not base64 of user:password"))?;
                (user.to_string(), RegistryAuth::Basic(user.to_string(), password.to_string()))
            } else if let (Some(user), Some(password)) = (entry.username, entry.password) {
                (user.clone(), RegistryAuth::Basic(user, password))
            } else {
                continue;
            };
            entries.push(Credential { host, path, user, auth });
        }
        // Most specific first: longer path prefixes before shorter ones.
        entries.sort_by(|a, b| b.path.len().cmp(&a.path.len()).then_with(|| a.host.cmp(&b.host)));
        Ok(Keyring { file: Some(file.to_path_buf()), entries })
    }

    /// The credentials for `registry` (`HOST[:PORT]`) and repository path `repository`
    /// (`library/busybox`), most specific first.
    pub fn lookup(&self, registry: &str, repository: &str) -> Vec<Credential> {
        let registry = normalise_host(registry);
        self.entries
            .iter()
            .filter(|c| c.host == registry && (c.path.is_empty() || format!("{repository}/").starts_with(&format!("{}/", c.path))))
            .cloned()
            .collect()
    }
}

/// `https://HOST:PORT/PATH/` -> (`HOST:PORT`, `PATH`), Docker Hub's aliases folded.
fn split_key(key: &str) -> (String, String) {
    let key = key.trim_start_matches("https://").trim_start_matches("http://");
    let (host, path) = key.split_once('/').unwrap_or((key, ""));
    let host = normalise_host(host);
    // `https://index.docker.io/v1/` is Docker Hub itself, not a path.
    let path = if host == "docker.io" && path.trim_matches('/') == "v1" { "" } else { path.trim_matches('/') };
    (host, path.to_string())
}

fn normalise_host(host: &str) -> String {
    let host = host.to_ascii_lowercase();
    if DOCKER_HUB.contains(&host.as_str()) {
        "docker.io".to_string()
    } else {
        host
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keyring(json: &str) -> Keyring {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("config.json");
        std::fs::write(&file, json).unwrap();
        Keyring::read(&file).unwrap()
    }

    #[test]
    fn entries_match_host_port_and_path_most_specific_first() {
        let k = keyring(
            r#"{"auths": {"127.0.0.1:5000": {"auth": "YWxpY2U6czNjcmV0"},
                          "127.0.0.1:5000/team": {"username": "bob", "password": "pw"},
                          "https://index.docker.io/v1/": {"auth": "ZG9jOmh1Yg=="}}}"#,
        );
        let users = |reg: &str, repo: &str| k.lookup(reg, repo).into_iter().map(|c| c.user).collect::<Vec<_>>();
        assert_eq!(users("127.0.0.1:5000", "team/app"), ["bob", "alice"]);
        assert_eq!(users("127.0.0.1:5000", "teamx/app"), ["alice"]);
        assert_eq!(users("127.0.0.1:5001", "team/app"), Vec::<String>::new());
        assert_eq!(users("docker.io", "library/busybox"), ["doc"]);
        assert!(matches!(k.lookup("127.0.0.1:5000", "x")[0].auth(), RegistryAuth::Basic(u, p) if u == "alice" && p == "s3cret"));
    }

    #[test]
    fn bad_files_name_the_entry_and_never_the_secret() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("config.json");
        std::fs::write(&file, r#"{"auths": {"reg:1": {"auth": "bm9jb2xvbg=="}}}"#).unwrap();
        let err = Keyring::read(&file).unwrap_err();
        assert!(err.contains("auths.\"reg:1\"") && err.contains("user:password"), "{err}");
        assert!(!err.contains("nocolon") && !err.contains("bm9jb2xvbg"), "{err}");
        let k = keyring(r#"{"auths": {"reg:1": {"auth": "YWxpY2U6czNjcmV0"}}}"#);
        assert!(!format!("{k:?}").contains("s3cret"));
    }
}
