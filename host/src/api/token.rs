//! The TCP listener's bearer token: checked in constant time on every request, and
//! rotated in place (`POST /v1/token/rotate`, on the unix socket only) without a
//! restart: the new token is written to its file (mode 0600, by rename), whoever
//! else keeps a copy is told ([`TokenFile::on_rotate`], the kubeconfig), and from
//! then on the old one gets 401.

use std::path::PathBuf;
use std::sync::{Arc, RwLock};

use hyper::StatusCode;

use super::error::ApiError;

/// Called with the new token once it is in its file (e.g. to rewrite a kubeconfig).
pub type OnRotate = Box<dyn Fn(&str) -> anyhow::Result<()> + Send + Sync>;

/// Where a rotated token goes.
pub struct TokenFile {
    /// The token file (`STATE_DIR/api-token`).
    pub path: PathBuf,
    /// The others that hold the token.
    pub on_rotate: OnRotate,
}

/// The token every TCP request must carry.
pub struct ApiToken {
    current: RwLock<Arc<String>>,
    /// `None` when the operator gave the token (`--token`): it is theirs to change.
    file: Option<TokenFile>,
}

impl ApiToken {
    /// `token`, rotatable into `file` (or not, when `None`).
    pub fn new(token: String, file: Option<TokenFile>) -> ApiToken {
        ApiToken { current: RwLock::new(Arc::new(token)), file }
    }

    /// The token now.
    pub fn current(&self) -> Arc<String> {
        self.current.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Whether `given` is the token (constant time: only the length can be told).
    pub fn matches(&self, given: &str) -> bool {
        let token = self.current();
        let (a, b) = (given.as_bytes(), token.as_bytes());
        a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
    }

    /// Replaces the token with a new random one, saved first; returns the file.
    pub fn rotate(&self) -> Result<PathBuf, ApiError> {
        let Some(file) = &self.file else {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "the token was given with --token (or HOOKLET_TOKEN): change it there and restart hooklet serve",
                None,
            ));
        };
        let token = new_token();
        let failed = |what: String| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, what, None);
        write_private(&file.path, &token).map_err(|err| failed(format!("cannot write {}: {err}; the old token stays in force", file.path.display())))?;
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(token.clone());
        tracing::info!(file = %file.path.display(), "rotated the API token");
        (file.on_rotate)(&token).map_err(|err| failed(format!("the new token is in {} and in force, but {err:#}", file.path.display())))?;
        Ok(file.path.clone())
    }
}

/// A new random token (256 bits, hex).
pub fn new_token() -> String {
    format!("{}{}", uuid::Uuid::new_v4().simple(), uuid::Uuid::new_v4().simple())
}

/// Writes `text` to `path` with mode 0600, by rename (readers never see half a token).
pub fn write_private(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let _ = std::fs::remove_file(&tmp);
    let mut file = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&tmp)?;
    std::io::Write::write_all(&mut file, text.as_bytes())?;
    file.sync_all()?;
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rotated_token_replaces_the_old_one_and_a_given_one_is_not_rotated() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("api-token");
        let told = Arc::new(std::sync::Mutex::new(String::new()));
        let sink = told.clone();
        let on_rotate: OnRotate = Box::new(move |t| {
            *sink.lock().unwrap() = t.to_string();
            Ok(())
        });
        let token = ApiToken::new("old-token-0123456789".into(), Some(TokenFile { path: path.clone(), on_rotate }));
        assert!(token.matches("old-token-0123456789") && !token.matches("old-token-012345678"));
        token.rotate().unwrap();
        let new = std::fs::read_to_string(&path).unwrap();
        assert!(token.matches(&new) && !token.matches("old-token-0123456789"));
        assert_eq!(*told.lock().unwrap(), new);
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);

        let given = ApiToken::new("given-token-0123456789".into(), None);
        let err = given.rotate().unwrap_err();
        assert_eq!(err.status, StatusCode::CONFLICT);
        assert!(given.matches("given-token-0123456789"));
    }
}
