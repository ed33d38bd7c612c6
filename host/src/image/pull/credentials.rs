//! Registry credentials (the kubelet's `credentialprovider` keyrings): the node's
//! Docker `config.json` and a pod's image-pull secrets, each
//! `{"auths": {"HOST[:PORT][/PATH]": {"auth": base64("user:pass")}}}` (or a legacy
//! `.dockercfg` without `auths`), or `username` + `password`, or `registrytoken` (a
//! bearer token). Keys match as the kubelet's `urlsMatch` does (port, label globs,
//! path prefix); every matching entry is tried, reverse-sorted by key (most specific
//! first), a pod's secrets before the node's; anonymous only when none matches.
//! The secrets stay in memory: `Debug` and the errors show the user name at most.

use std::fmt;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use oci_client::secrets::RegistryAuth;

/// Keys under which Docker Hub credentials are written.
const DOCKER_HUB: [&str; 4] = ["docker.io", "index.docker.io", "registry-1.docker.io", "registry.hub.docker.com"];

/// One credential for one registry (and optional path prefix).
#[derive(Clone)]
pub struct Credential {
    /// `HOST[:PORT]`, normalised (`docker.io` for Docker Hub); labels may be globs.
    host: String,
    /// A repository path prefix (`team` in `HOST/team`), or empty.
    path: String,
    /// The user name, for messages.
    pub user: String,
    /// Where it comes from: a file, or `secret NAMESPACE/NAME`.
    pub source: String,
    auth: RegistryAuth,
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Credential({}/{} as {:?} from {})", self.host, self.path, self.user, self.source)
    }
}

impl Credential {
    /// What oci-client sends.
    pub fn auth(&self) -> &RegistryAuth {
        &self.auth
    }

    /// The kubelet's index key: `HOST[:PORT][/PATH]`.
    fn key(&self) -> String {
        if self.path.is_empty() {
            self.host.clone()
        } else {
            format!("{}/{}", self.host, self.path)
        }
    }

    /// The kubelet's `urlsMatch`: the same port, as many host labels, each matching
    /// its glob (`*.example.com`), and the credential's path a prefix of the image's.
    fn matches(&self, registry: &str, repository: &str) -> bool {
        let (glob_host, glob_port) = split_port(&self.host);
        let (host, port) = split_port(registry);
        let (glob_labels, labels): (Vec<&str>, Vec<&str>) = (glob_host.split('.').collect(), host.split('.').collect());
        glob_port == port
            && glob_labels.len() == labels.len()
            && glob_labels.iter().zip(&labels).all(|(g, l)| glob_match(g.as_bytes(), l.as_bytes()))
            && repository.starts_with(&self.path)
    }
}

/// The credentials of a node (a `config.json`) or of a pod (its image-pull secrets).
#[derive(Debug, Clone, Default)]
pub struct Keyring {
    /// The node's file read (for messages), if any.
    pub file: Option<PathBuf>,
    entries: Vec<Credential>,
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
        let source = file.display().to_string();
        let entries = parse_entries(&text, &source, false).map_err(|why| format!("{source}: {why}"))?;
        Ok(Keyring { file: Some(file.to_path_buf()), entries: sorted(entries) })
    }

    /// A pod's keyring: the `(source, bytes, legacy)` of its image-pull secrets in the
    /// order the pod lists them (`legacy`: a `.dockercfg`, a bare map of registries).
    pub fn from_secrets(secrets: &[(String, Vec<u8>, bool)]) -> Result<Keyring, String> {
        let mut entries = Vec::new();
        for (source, bytes, legacy) in secrets {
            entries.extend(parse_entries(bytes, source, *legacy).map_err(|why| format!("{source}: {why}"))?);
        }
        Ok(Keyring { file: None, entries: sorted(entries) })
    }

    /// Checks the credentials of one secret's value (what `apply` refuses).
    pub fn check(bytes: &[u8], source: &str, legacy: bool) -> Result<(), String> {
        parse_entries(bytes, source, legacy).map(|_| ())
    }

    /// The credentials for `registry` (`HOST[:PORT]`) and repository path `repository`
    /// (`library/busybox`), most specific first.
    pub fn lookup(&self, registry: &str, repository: &str) -> Vec<Credential> {
        let registry = normalise_host(registry);
        self.entries.iter().filter(|c| c.matches(&registry, repository)).cloned().collect()
    }
}

/// The kubelet's order: keys reverse-sorted (`HOST/team` before `HOST`), the entries
/// of one key in the order they were read.
fn sorted(mut entries: Vec<Credential>) -> Vec<Credential> {
    entries.sort_by_key(|c| std::cmp::Reverse(c.key()));
    entries
}

/// The entries of a `config.json` (`{"auths": {KEY: ENTRY}}`) or a legacy
/// `.dockercfg` (`{KEY: ENTRY}`). Messages name the key, never a value.
fn parse_entries(text: &[u8], source: &str, legacy: bool) -> Result<Vec<Credential>, String> {
    let expected = if legacy {
        "expected {\"HOST:PORT\": {\"auth\": \"BASE64(user:password)\"}}"
    } else {
        "expected {\"auths\": {\"HOST:PORT\": {\"auth\": \"BASE64(user:password)\"}}}"
    };
    let value: serde_json::Value =
        serde_json::from_slice(text).map_err(|e| format!("not a Docker {} ({e}); {expected}", if legacy { ".dockercfg" } else { "config.json" }))?;
    let auths = if legacy { Some(&value) } else { value.get("auths") };
    let auths = match auths {
        None | Some(serde_json::Value::Null) => return Ok(Vec::new()),
        Some(serde_json::Value::Object(map)) => map,
        Some(_) => return Err(format!("{} is not a map of registries; {expected}", if legacy { "the document" } else { "\"auths\"" })),
    };
    let mut entries = Vec::new();
    for (key, entry) in auths {
        let bad = |why: &str| format!("auths.\"{key}\": {why}");
        let field = |name: &str| match entry.get(name) {
            None | Some(serde_json::Value::Null) => Ok(None),
            Some(serde_json::Value::String(s)) if s.is_empty() => Ok(None),
            Some(serde_json::Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(bad(&format!("\"{name}\" must be a string"))),
        };
        if !entry.is_object() {
            return Err(bad("must be a map with \"auth\" (or \"username\" and \"password\")"));
        }
        let (host, path) = split_key(key);
        let (user, auth) = if let Some(token) = field("registrytoken")? {
            (String::new(), RegistryAuth::Bearer(token))
        } else if let Some(encoded) = field("auth")? {
            let decoded = base64::engine::general_purpose::STANDARD.decode(encoded.trim()).map_err(|_| bad("\"auth\" is not base64"))?;
            let decoded = String::from_utf8(decoded).map_err(|_| bad("\"auth\" is not base64 of user:password"))?;
            let (user, password) = decoded.split_once(':').ok_or_else(|| bad("\"auth\" is not base64 of user:password"))?;
            (user.to_string(), RegistryAuth::Basic(user.to_string(), password.to_string()))
        } else if let (Some(user), Some(password)) = (field("username")?, field("password")?) {
            (user.clone(), RegistryAuth::Basic(user, password))
        } else {
            continue;
        };
        entries.push(Credential { host, path, user, source: source.to_string(), auth });
    }
    Ok(entries)
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

/// `HOST:PORT` -> (`HOST`, `PORT`); no port is the empty port.
fn split_port(host: &str) -> (&str, &str) {
    host.rsplit_once(':').unwrap_or((host, ""))
}

/// Go's `filepath.Match` on one host label: `*` any run, `?` one character.
fn glob_match(glob: &[u8], text: &[u8]) -> bool {
    match (glob.first(), text.first()) {
        (None, None) => true,
        (Some(b'*'), _) => glob_match(&glob[1..], text) || (!text.is_empty() && glob_match(glob, &text[1..])),
        (Some(b'?'), Some(_)) => glob_match(&glob[1..], &text[1..]),
        (Some(g), Some(t)) if g == t => glob_match(&glob[1..], &text[1..]),
        _ => false,
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
        // The kubelet's path match is a string prefix.
        assert_eq!(users("127.0.0.1:5000", "teamx/app"), ["bob", "alice"]);
        assert_eq!(users("127.0.0.1:5000", "other/app"), ["alice"]);
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
        std::fs::write(&file, r#"{"auths": {"reg:1": {"auth": 17}}, "x": "hunter2"}"#).unwrap();
        let err = Keyring::read(&file).unwrap_err();
        assert!(err.contains("\"auth\" must be a string") && !err.contains("17"), "{err}");
    }

    #[test]
    fn globs_ports_and_secrets_order() {
        let secret = |s: &str| s.as_bytes().to_vec();
        let k = Keyring::from_secrets(&[
            ("secret default/a".into(), secret(r#"{"auths": {"*.example.com": {"username": "glob", "password": "p"}}}"#), false),
            ("secret default/b".into(), secret(r#"{"reg.example.com": {"username": "legacy", "password": "p"}, "reg.example.com:5000": {"username": "port", "password": "p"}}"#), true),
        ])
        .unwrap();
        let users = |reg: &str| k.lookup(reg, "app").into_iter().map(|c| c.user).collect::<Vec<_>>();
        assert_eq!(users("reg.example.com"), ["legacy", "glob"]);
        assert_eq!(users("reg.example.com:5000"), ["port"]);
        assert_eq!(users("a.b.example.com"), Vec::<String>::new());
        assert_eq!(k.lookup("reg.example.com", "app")[0].source, "secret default/b");
    }
}
