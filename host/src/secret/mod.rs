//! The secret manager (the kubelet's `pkg/kubelet/secret`): the Secrets applied to
//! this node, one file each, `STATE/secrets/NAMESPACE_NAME.json`, mode 0600 in a 0700
//! directory, so only hooklet's user reads them. They are never written to the
//! database, the logs or the events; the API shows their keys and sizes only.
//! (`_` is in neither a namespace nor a Secret name, so the file names are unique.)

use std::io::Write as _;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use crate::spec::secret::Secret;

/// A Secret as stored: the applied object and when it was first applied.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StoredSecret {
    pub secret: Secret,
    pub created_at: SystemTime,
}

/// What storing an applied Secret did (kubectl's words).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stored {
    Created,
    Configured,
    Unchanged,
}

impl Stored {
    /// `created`, `configured`, `unchanged`.
    pub fn as_str(self) -> &'static str {
        match self {
            Stored::Created => "created",
            Stored::Configured => "configured",
            Stored::Unchanged => "unchanged",
        }
    }
}

/// The Secrets of the node, in their directory. Cheap to clone; clones share the
/// change notices ([`SecretStore::subscribe`]).
#[derive(Debug, Clone)]
pub struct SecretStore {
    dir: PathBuf,
    /// Bumped by every stored change (containers waiting for a Secret retry on it).
    changes: std::sync::Arc<tokio::sync::watch::Sender<u64>>,
}

/// Errors name the file, never a value.
pub type SecretResult<T> = Result<T, String>;

impl SecretStore {
    /// Opens (creating, mode 0700) the directory `dir`.
    pub fn open(dir: &Path) -> SecretResult<SecretStore> {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| format!("cannot create the secrets directory {}: {e}", dir.display()))?;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            .map_err(|e| format!("cannot make {} private: {e}", dir.display()))?;
        let (changes, _) = tokio::sync::watch::channel(0);
        Ok(SecretStore { dir: dir.to_path_buf(), changes: std::sync::Arc::new(changes) })
    }

    fn file(&self, namespace: &str, name: &str) -> PathBuf {
        self.dir.join(format!("{namespace}_{name}.json"))
    }

    /// Stores an applied Secret: a new one, or new data for one of the same name (its
    /// uid and creation time kept).
    pub fn put(&self, mut secret: Secret) -> SecretResult<Stored> {
        let existing = self.get(&secret.namespace, &secret.name)?;
        let created_at = match &existing {
            Some(old) => {
                secret.uid = old.secret.uid.clone();
                if old.secret == secret {
                    return Ok(Stored::Unchanged);
                }
                old.created_at
            }
            None => SystemTime::now(),
        };
        let file = self.file(&secret.namespace, &secret.name);
        let bytes = serde_json::to_vec(&StoredSecret { secret, created_at }).expect("a secret serialises");
        let staging = self.dir.join(format!(".{}.tmp", uuid::Uuid::new_v4()));
        let write = || -> std::io::Result<()> {
            let mut out = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&staging)?;
            out.write_all(&bytes)?;
            out.sync_all()?;
            std::fs::rename(&staging, &file)
        };
        write().map_err(|e| {
            let _ = std::fs::remove_file(&staging);
            format!("cannot write {}: {e}", file.display())
        })?;
        self.changed();
        Ok(if existing.is_some() { Stored::Configured } else { Stored::Created })
    }

    /// A receiver that sees each later change (a Secret stored or deleted).
    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<u64> {
        self.changes.subscribe()
    }

    fn changed(&self) {
        self.changes.send_modify(|n| *n += 1);
    }

    /// The Secret `namespace/name`, if applied.
    pub fn get(&self, namespace: &str, name: &str) -> SecretResult<Option<StoredSecret>> {
        let file = self.file(namespace, name);
        match std::fs::read(&file) {
            Ok(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| format!("{}: not a stored secret ({e})", file.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(format!("cannot read {}: {e}", file.display())),
        }
    }

    /// Every Secret, or those of `namespace`, by namespace and name.
    pub fn list(&self, namespace: Option<&str>) -> SecretResult<Vec<StoredSecret>> {
        let entries = std::fs::read_dir(&self.dir).map_err(|e| format!("cannot list {}: {e}", self.dir.display()))?;
        let mut secrets = Vec::new();
        for entry in entries.flatten() {
            let file_name = entry.file_name();
            let Some((ns, name)) = file_name.to_str().and_then(|n| n.strip_suffix(".json")).and_then(|n| n.split_once('_')) else {
                continue;
            };
            if namespace.is_none_or(|wanted| wanted == ns) {
                secrets.extend(self.get(ns, name)?);
            }
        }
        secrets.sort_by(|a, b| (&a.secret.namespace, &a.secret.name).cmp(&(&b.secret.namespace, &b.secret.name)));
        Ok(secrets)
    }

    /// Deletes `namespace/name`; whether it existed.
    pub fn delete(&self, namespace: &str, name: &str) -> SecretResult<bool> {
        let file = self.file(namespace, name);
        match std::fs::remove_file(&file) {
            Ok(()) => {
                self.changed();
                Ok(true)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(format!("cannot remove {}: {e}", file.display())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn secret(value: &str) -> Secret {
        let data = BTreeMap::from([("k".to_string(), value.to_string())]);
        Secret { name: "s".into(), namespace: "ns".into(), uid: "u1".into(), secret_type: "Opaque".into(), labels: BTreeMap::new(), data }
    }

    #[test]
    fn secrets_are_private_files_updated_in_place() {
        let dir = tempfile::tempdir().unwrap();
        let store = SecretStore::open(&dir.path().join("secrets")).unwrap();
        assert_eq!(store.put(secret("YQ==")).unwrap(), Stored::Created);
        assert_eq!(store.put(secret("YQ==")).unwrap(), Stored::Unchanged);
        let mut changed = secret("Yg==");
        changed.uid = "u2".into();
        assert_eq!(store.put(changed).unwrap(), Stored::Configured);
        let got = store.get("ns", "s").unwrap().unwrap();
        assert_eq!((got.secret.uid.as_str(), got.secret.value("k").unwrap()), ("u1", b"b".to_vec()));
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&dir.path().join("secrets")), 0o700);
        assert_eq!(mode(&dir.path().join("secrets/ns_s.json")), 0o600);
        assert_eq!(store.list(Some("ns")).unwrap().len(), 1);
        assert!(store.list(Some("other")).unwrap().is_empty());
        assert!(store.delete("ns", "s").unwrap());
        assert!(!store.delete("ns", "s").unwrap());
        assert!(store.get("ns", "s").unwrap().is_none());
    }
}
