//! The daemon's operations on Secrets: store an applied one, list, get, delete.
//! Views carry names, type and each key's size, never a value.

use super::Daemon;
use super::error::{DaemonError, ErrorKind};
use super::views::{Applied, SecretView};
use crate::secret::StoredSecret;
use crate::spec::secret::Secret;

impl Daemon {
    /// Stores an applied Secret (under the mutations lock).
    pub(crate) fn put_secret(&self, secret: Secret) -> Result<Applied, DaemonError> {
        let (namespace, name) = (secret.namespace.clone(), secret.name.clone());
        let result = self.secrets.put(secret).map_err(DaemonError::internal)?;
        let uid = self.secrets.get(&namespace, &name).map_err(DaemonError::internal)?.map(|s| s.secret.uid).unwrap_or_default();
        tracing::info!(%namespace, secret = %name, result = result.as_str(), "secret applied");
        Ok(Applied { namespace, name, uid, result: result.as_str().into() })
    }

    /// Every Secret, or those of one namespace.
    pub fn secrets(&self, namespace: Option<&str>) -> Result<Vec<SecretView>, DaemonError> {
        Ok(self.secrets.list(namespace).map_err(DaemonError::internal)?.iter().map(view).collect())
    }

    /// One Secret.
    pub fn secret(&self, namespace: &str, name: &str) -> Result<SecretView, DaemonError> {
        match self.secrets.get(namespace, name).map_err(DaemonError::internal)? {
            Some(stored) => Ok(view(&stored)),
            None => Err(no_secret(namespace, name)),
        }
    }

    /// Deletes a Secret. Pods already running keep their containers; a later pull
    /// for them goes without it.
    pub async fn delete_secret(&self, namespace: &str, name: &str) -> Result<SecretView, DaemonError> {
        let _guard = self.mutations.lock().await;
        let shown = self.secret(namespace, name)?;
        self.secrets.delete(namespace, name).map_err(DaemonError::internal)?;
        tracing::info!(namespace, secret = name, "secret deleted");
        Ok(shown)
    }
}

fn view(stored: &StoredSecret) -> SecretView {
    let s = &stored.secret;
    SecretView {
        name: s.name.clone(),
        namespace: s.namespace.clone(),
        uid: s.uid.clone(),
        secret_type: s.secret_type.clone(),
        labels: s.labels.clone(),
        data_sizes: s.sizes(),
        created_at: stored.created_at,
    }
}

fn no_secret(namespace: &str, name: &str) -> DaemonError {
    DaemonError::new(
        ErrorKind::NotFound,
        format!("secret {name:?} not found in namespace {namespace:?} (list secrets with `hooklet get secrets -n {namespace}`)"),
        Some("name"),
    )
    .about("secrets", name)
}
