//! The database file under a running daemon: every write first checks that the file
//! at the store's path is still the one its connection has open (same device and
//! inode), since a write to a file that is no longer there would be lost at the next
//! start.
//!
//! - **Deleted** (nothing at the path): hooklet puts the file back from its open
//!   connection (`VACUUM INTO` a temporary file beside it, fsync, rename), reopens it
//!   and goes on with the write: nothing committed is lost. A warning says so. When it
//!   cannot be put back (the directory is gone, the disk is full), the write is
//!   refused with [`StoreError::Moved`] and tried again at the next write.
//! - **Replaced** (another file at the path): the write is refused with
//!   [`StoreError::Moved`]: hooklet never overwrites a file someone put there. Reads go
//!   on from the open file. Moving the new file away lets hooklet put its own back;
//!   a restart uses the new one.

use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::sync::MutexGuard;

use rusqlite::Connection;

use super::{schema, Result, Store, StoreError};

/// A file's device and inode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct FileId {
    dev: u64,
    ino: u64,
}

impl FileId {
    /// The identity of the file at `path` now.
    pub(super) fn of(path: &Path) -> std::io::Result<FileId> {
        let meta = std::fs::metadata(path)?;
        Ok(FileId { dev: meta.dev(), ino: meta.ino() })
    }
}

impl Store {
    /// The connection, for a write: refused when the file at the path is no longer the
    /// open one, after putting a deleted file back.
    pub(super) fn write(&self) -> Result<MutexGuard<'_, Connection>> {
        let mut conn = self.conn();
        let mut id = self.id.lock().unwrap_or_else(|e| e.into_inner());
        let Some(open) = *id else { return Ok(conn) };
        match FileId::of(&self.path) {
            Ok(now) if now == open => Ok(conn),
            Ok(_) => {
                // Nothing is left in the WAL, whose name is the new file's too: a
                // hooklet killed now leaves no frames for a later one to apply to it.
                let _ = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()));
                Err(self.moved(
                    "was replaced by another file",
                    "Move the new file away (hooklet then writes its own back) or restart hooklet to use it".into(),
                ))
            }
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                tracing::warn!(path = %self.path.display(), "the state file was deleted under the running daemon; writing it back from the open database");
                match self.restore(&mut conn) {
                    Ok(restored) => {
                        *id = Some(restored);
                        tracing::warn!(path = %self.path.display(), "the state file was written back; nothing committed was lost");
                        Ok(conn)
                    }
                    Err(err) => Err(self.moved(
                        "was deleted",
                        format!("Putting it back failed ({err}): make room in (or recreate) {} and retry, or restart hooklet", self.dir().display()),
                    )),
                }
            }
            Err(err) => Err(self.moved(&format!("cannot be checked ({err})"), "Restore access to it and retry".into())),
        }
    }

    /// Writes a copy of the open database to the path and reopens the connection on it.
    fn restore(&self, conn: &mut Connection) -> std::result::Result<FileId, String> {
        let tmp = PathBuf::from(format!("{}.restore", self.path.display()));
        let _ = std::fs::remove_file(&tmp);
        let copied = conn
            .execute("VACUUM INTO ?1", [tmp.to_string_lossy()])
            .map_err(|e| e.to_string())
            .and_then(|_| std::fs::File::open(&tmp).and_then(|f| f.sync_all()).map_err(|e| e.to_string()));
        if let Err(err) = copied {
            let _ = std::fs::remove_file(&tmp);
            return Err(err);
        }
        std::fs::rename(&tmp, &self.path).map_err(|e| e.to_string())?;
        if let Ok(dir) = std::fs::File::open(self.dir()) {
            let _ = dir.sync_all();
        }
        // The old connection is closed before the new one opens: closing removes its
        // `-wal` and `-shm` files by name, which must not be the new connection's.
        let placeholder = Connection::open_in_memory().map_err(|e| e.to_string())?;
        drop(std::mem::replace(conn, placeholder));
        let reopened = Connection::open(&self.path).map_err(|e| e.to_string())?;
        schema::prepare(&reopened, &self.path).map_err(|e| e.to_string())?;
        *conn = reopened;
        FileId::of(&self.path).map_err(|e| e.to_string())
    }

    fn moved(&self, what: &str, fix: String) -> StoreError {
        StoreError::Moved { path: self.path.clone(), what: what.to_string(), fix }
    }

    /// The directory holding the database file.
    pub(super) fn dir(&self) -> &Path {
        self.path.parent().unwrap_or(Path::new("."))
    }
}
