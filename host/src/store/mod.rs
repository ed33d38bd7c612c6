//! hooklet's durable state: one SQLite database (`hooklet.db`) in the state directory.
//!
//! It holds the pods as applied (desired state) with their last status (container
//! instances, restart counts, hook records), the events, every hook run's output, and
//! the **hook delivery journal** (D2). The connection runs in WAL mode with
//! `synchronous=FULL`, so a committed write survives a crash of hooklet or of the
//! machine; journal writes are committed before the hook they guard starts.
//!
//! Opening checks that the file is a hooklet database of a schema version this build
//! understands; a corrupt or foreign file, or one written by a newer hooklet, is an
//! error naming the file and what to do, never silently replaced.

mod deliveries;
mod events;
mod identity;
mod pods;
mod schema;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_v2;

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rusqlite::Connection;

pub use deliveries::{DeliveryRow, DeliveryState, FinishedDelivery, NewDelivery, HOOK_RUNS_KEPT};
pub use events::{EventRow, EventWrite};
pub use pods::{BackoffRow, ContainerRow, HookRunRow, PodRow};

/// The database file's name in the state directory.
pub const DB_FILE: &str = "hooklet.db";

/// Why the state could not be opened or used.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The file is damaged (or not an SQLite database at all).
    #[error("state file {path} is corrupt ({detail}); hooklet did not modify it. Move it aside (e.g. `mv {path} {path}.broken`) to start with an empty state, or restore a backup")]
    Corrupt { path: PathBuf, detail: String },
    /// The file is a database, but not one this hooklet can use.
    #[error("state file {path} is incompatible: {detail}")]
    Incompatible { path: PathBuf, detail: String },
    /// The file system holding the database is full: nothing was written.
    #[error("state database {path}: the disk is full (no space left in {dir}); this change was not made and everything committed before it is kept. Free space in {dir} (delete files there or grow the file system): hooklet writes again by itself, without a restart")]
    Full { path: PathBuf, dir: PathBuf },
    /// The database cannot be written (a read-only file or file system).
    #[error("state database {path} cannot be written ({detail}); this change was not made and everything committed before it is kept. Make it writable again (`chattr -i {path}`, `chmod u+w {path}`, or remount its file system read-write): hooklet writes again by itself, without a restart")]
    ReadOnly { path: PathBuf, detail: String },
    /// The file at the database's path is no longer the one hooklet has open.
    #[error("state file {path} {what} while hooklet was running; hooklet keeps serving what it committed from the file it opened, but refuses changes, which would be lost. {fix}")]
    Moved { path: PathBuf, what: String, fix: String },
    /// Any other database error.
    #[error("state database {path}: {source}")]
    Sqlite {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    /// A stored JSON value could not be (de)serialised.
    #[error("state database {path}: stored {what} is unreadable: {source}")]
    Json {
        path: PathBuf,
        what: &'static str,
        #[source]
        source: serde_json::Error,
    },
}

/// Result of store operations.
pub type Result<T> = std::result::Result<T, StoreError>;

/// The state database. Cheap to share behind an `Arc`; calls are serialised.
pub struct Store {
    path: PathBuf,
    conn: Mutex<Connection>,
    /// The device and inode of the file the connection has open (see [`identity`]).
    id: Mutex<Option<identity::FileId>>,
}

impl Store {
    /// Opens (or creates) `state_dir/hooklet.db`, checking and migrating its schema.
    pub fn open(state_dir: &Path) -> Result<Store> {
        Self::open_file(&state_dir.join(DB_FILE))
    }

    /// Opens (or creates) the database at `path`.
    pub fn open_file(path: &Path) -> Result<Store> {
        let path = path.to_path_buf();
        let conn = Connection::open(&path).map_err(|e| classify(&path, e))?;
        schema::prepare(&conn, &path)?;
        tracing::debug!(path = %path.display(), "state database opened");
        let id = Mutex::new(identity::FileId::of(&path).ok());
        Ok(Store { path, conn: Mutex::new(conn), id })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn conn(&self) -> MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn sql(&self, source: rusqlite::Error) -> StoreError {
        classify(&self.path, source)
    }

    fn json(&self, what: &'static str, source: serde_json::Error) -> StoreError {
        StoreError::Json { path: self.path.clone(), what, source }
    }

    /// Runs a query whose rows are `(seq, TEXT, JSON text)` and builds one value per
    /// row from the seq, the text and the parsed JSON (`what` names it in errors).
    fn json_rows<T>(
        &self,
        sql: &str,
        params: impl rusqlite::Params,
        what: &'static str,
        build: impl Fn(i64, String, serde_json::Value) -> T,
    ) -> Result<Vec<T>> {
        let conn = self.conn();
        let mut stmt = conn.prepare(sql).map_err(|e| self.sql(e))?;
        let rows = stmt
            .query_map(params, |r| Ok((r.get(0)?, r.get(1)?, r.get::<_, String>(2)?)))
            .map_err(|e| self.sql(e))?;
        let mut out = Vec::new();
        for row in rows {
            let (seq, text, json) = row.map_err(|e| self.sql(e))?;
            let value = serde_json::from_str(&json).map_err(|e| self.json(what, e))?;
            out.push(build(seq, text, value));
        }
        Ok(out)
    }

    /// Writes everything to the database file (checkpoints the WAL); for shutdown.
    pub fn flush(&self) -> Result<()> {
        self.conn()
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
            .map_err(|e| self.sql(e))
    }
}

/// Maps SQLite's "not a database" / "malformed" errors to [`StoreError::Corrupt`],
/// a full disk to [`StoreError::Full`], a read-only file to [`StoreError::ReadOnly`].
fn classify(path: &Path, source: rusqlite::Error) -> StoreError {
    use rusqlite::ErrorCode::{DatabaseCorrupt, DiskFull, NotADatabase, ReadOnly, SystemIoFailure};
    match source.sqlite_error_code() {
        Some(NotADatabase) | Some(DatabaseCorrupt) => StoreError::Corrupt {
            path: path.to_path_buf(),
            detail: source.to_string(),
        },
        Some(DiskFull) => StoreError::Full {
            path: path.to_path_buf(),
            dir: path.parent().unwrap_or(Path::new(".")).to_path_buf(),
        },
        Some(ReadOnly) => StoreError::ReadOnly { path: path.to_path_buf(), detail: source.to_string() },
        // A write refused by the system (an immutable file, a file system gone
        // read-only) is an I/O error to SQLite: tell it apart by opening for writing.
        Some(SystemIoFailure) => match unwritable(path) {
            Some(detail) => StoreError::ReadOnly { path: path.to_path_buf(), detail },
            None => StoreError::Sqlite { path: path.to_path_buf(), source },
        },
        _ => StoreError::Sqlite { path: path.to_path_buf(), source },
    }
}

/// Why the database or its WAL cannot be opened for writing, if it cannot.
fn unwritable(path: &Path) -> Option<String> {
    use std::io::ErrorKind::{PermissionDenied, ReadOnlyFilesystem};
    let wal = PathBuf::from(format!("{}-wal", path.display()));
    let refused = [path, wal.as_path()].into_iter().find_map(|file| match std::fs::OpenOptions::new().write(true).open(file) {
        Err(e) if matches!(e.kind(), PermissionDenied | ReadOnlyFilesystem) => Some(format!("{}: {e}", file.display())),
        _ => None,
    });
    refused
}

/// Milliseconds since the Unix epoch (the store's time format).
pub fn to_ms(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

/// The inverse of [`to_ms`].
pub fn from_ms(ms: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(ms.max(0) as u64)
}
