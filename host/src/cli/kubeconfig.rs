//! `hooklet kubeconfig`: the kubeconfig that points kubectl at this node's HTTPS
//! listener (server, CA data, token, a context named after the node). `hooklet
//! serve --listen` writes it to `STATE_DIR/kubeconfig` (mode 0600: it holds the
//! token) each time the listener starts; this command prints it.

use std::path::{Path, PathBuf};

use anyhow::Context;
use base64::Engine;

use super::client::default_state_dir;
use crate::api::token::write_private;

/// The kubeconfig file in the state directory.
pub const KUBECONFIG_FILE: &str = "kubeconfig";

/// What a kubeconfig names.
pub struct KubeconfigParts<'a> {
    /// `https://HOST:PORT`.
    pub server: &'a str,
    /// The CA certificate (PEM) to trust; None: the system's roots (an operator's
    /// own certificate).
    pub ca_pem: Option<&'a str>,
    pub token: &'a str,
    /// The node's name: the context's, and in the cluster's and user's names.
    pub node: &'a str,
}

/// The kubeconfig text (YAML).
pub fn render(parts: &KubeconfigParts) -> String {
    let name = format!("hooklet-{}", parts.node);
    let mut cluster = serde_json::json!({"server": parts.server});
    if let Some(ca) = parts.ca_pem {
        cluster["certificate-authority-data"] = base64::engine::general_purpose::STANDARD.encode(ca).into();
    }
    let config = serde_json::json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": name, "cluster": cluster}],
        "users": [{"name": name, "user": {"token": parts.token}}],
        "contexts": [{"name": parts.node, "context": {"cluster": name, "user": name, "namespace": "default"}}],
        "current-context": parts.node,
        "preferences": {},
    });
    serde_norway::to_string(&config).expect("a kubeconfig serialises")
}

/// Writes the kubeconfig into the state directory, mode 0600 (by rename, like the
/// token file it carries).
pub fn write(state_dir: &Path, parts: &KubeconfigParts) -> anyhow::Result<PathBuf> {
    let path = state_dir.join(KUBECONFIG_FILE);
    write_private(&path, &render(parts)).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(path)
}

/// `hooklet kubeconfig`: prints the state directory's kubeconfig; returns the exit code.
pub fn print(state_dir: Option<PathBuf>) -> i32 {
    let dir = state_dir.unwrap_or_else(default_state_dir);
    let path = dir.join(KUBECONFIG_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            print!("{text}");
            0
        }
        Err(err) => {
            eprintln!(
                "error: cannot read {} ({err}): it is written when `hooklet serve --state-dir {} --listen ADDR` starts its HTTPS listener",
                path.display(),
                dir.display()
            );
            1
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kubeconfig_names_server_ca_token_and_context() {
        let text = render(&KubeconfigParts { server: "https://127.0.0.1:6443", ca_pem: Some("PEM"), token: "t0k3n", node: "edge1" });
        let v: serde_json::Value = serde_norway::from_str(&text).unwrap();
        assert_eq!(v["current-context"], "edge1");
        assert_eq!(v["clusters"][0]["cluster"]["server"], "https://127.0.0.1:6443");
        assert_eq!(v["clusters"][0]["cluster"]["certificate-authority-data"], "UEVN");
        assert_eq!(v["users"][0]["user"]["token"], "t0k3n");
        assert_eq!(v["contexts"][0]["context"]["cluster"], "hooklet-edge1");
    }
}
