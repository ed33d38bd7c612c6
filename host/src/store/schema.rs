//! The schema, its version, and the checks made when the file is opened.
//!
//! `PRAGMA application_id` marks the file as hooklet's; `PRAGMA user_version` is the
//! schema version. Migrations run in order inside one transaction; a file whose
//! version is newer than [`SCHEMA_VERSION`] is refused (an older hooklet must not
//! write a newer schema).

use std::path::Path;

use rusqlite::Connection;

use super::{classify, Result, StoreError};

/// `hklt`: the `application_id` of hooklet state files.
pub const APPLICATION_ID: i32 = 0x686b_6c74;

/// The schema version this build writes.
pub const SCHEMA_VERSION: i32 = 2;

/// Migration `n` (1-based) brings the schema from version `n - 1` to `n`.
pub(super) const MIGRATIONS: &[&str] = &[
    // 1: the first schema.
    r#"
    CREATE TABLE pods (
        uid                TEXT PRIMARY KEY,
        namespace          TEXT NOT NULL,
        name               TEXT NOT NULL,
        manifest           TEXT NOT NULL,   -- the Pod as applied, JSON
        applied_at_ms      INTEGER NOT NULL,
        status             TEXT,            -- the last PodStatus, JSON
        UNIQUE (namespace, name)
    );
    CREATE TABLE containers (
        pod_uid            TEXT NOT NULL REFERENCES pods(uid) ON DELETE CASCADE,
        name               TEXT NOT NULL,
        runtime_id         TEXT,            -- the live instance's runtime handle
        state              TEXT NOT NULL,   -- Waiting / Running / Terminated
        started_at_ms      INTEGER,
        restart_count      INTEGER NOT NULL DEFAULT 0,
        backoff            TEXT,            -- the CrashLoopBackOff message, if waiting in back-off
        PRIMARY KEY (pod_uid, name)
    );
    CREATE TABLE events (
        key                TEXT PRIMARY KEY, -- object, type, reason, message
        seq                INTEGER NOT NULL,
        pod_uid            TEXT NOT NULL,
        namespace          TEXT NOT NULL,
        pod_name           TEXT NOT NULL,
        event              TEXT NOT NULL     -- JSON
    );
    CREATE INDEX events_by_seq ON events (seq);
    CREATE TABLE hook_runs (
        seq                INTEGER PRIMARY KEY AUTOINCREMENT,
        pod_uid            TEXT NOT NULL,
        container          TEXT NOT NULL,
        delivery_id        TEXT NOT NULL,
        attempt            INTEGER NOT NULL,
        run                TEXT NOT NULL     -- the HookRun, JSON
    );
    CREATE INDEX hook_runs_by_pod ON hook_runs (pod_uid, container);
    CREATE TABLE deliveries (
        id                 TEXT PRIMARY KEY, -- the delivery id (stable across attempts)
        pod_uid            TEXT NOT NULL,
        container          TEXT NOT NULL,
        runtime_id         TEXT NOT NULL,    -- the container instance it is for
        phase              TEXT NOT NULL CHECK (phase IN ('PostStart', 'PreStop')),
        attempt            INTEGER NOT NULL,
        state              TEXT NOT NULL CHECK (state IN ('pending', 'done')),
        pending_at_ms      INTEGER NOT NULL,
        termination_began_ms INTEGER,        -- PreStop: when termination began (wall clock)
        grace_ms           INTEGER,          -- PreStop: the grace of that termination
        done_at_ms         INTEGER,
        outcome            TEXT
    );
    CREATE INDEX deliveries_pending ON deliveries (state);
    "#,
    // 2: CrashLoopBackOff state with the container (resumed after a restart);
    //    deleted pods, whose rows are pruned after a retention (those a version 1
    //    file kept of deleted pods count as deleted at the upgrade), and indexes.
    r#"
    ALTER TABLE containers ADD COLUMN backoff_next_ms INTEGER;         -- delay of the next back-off
    ALTER TABLE containers ADD COLUMN backoff_last_restart_ms INTEGER; -- start of the reset window
    ALTER TABLE containers ADD COLUMN backoff_restart_at_ms INTEGER;   -- while in back-off: restart time
    CREATE INDEX events_by_pod ON events (pod_uid);
    CREATE INDEX deliveries_by_pod ON deliveries (pod_uid);
    CREATE TABLE deleted_pods (
        uid                TEXT PRIMARY KEY,
        deleted_at_ms      INTEGER NOT NULL
    );
    INSERT INTO deleted_pods (uid, deleted_at_ms)
        SELECT pod_uid, CAST(strftime('%s', 'now') AS INTEGER) * 1000
        FROM (SELECT pod_uid FROM events WHERE coalesce(json_extract(event, '$.object.kind'), 'Pod') = 'Pod'
              UNION SELECT pod_uid FROM hook_runs UNION SELECT pod_uid FROM deliveries)
        WHERE pod_uid NOT IN (SELECT uid FROM pods);
    "#,
];

/// Sets durability pragmas, checks the file's identity and integrity, migrates.
pub(super) fn prepare(conn: &Connection, path: &Path) -> Result<()> {
    let err = |e| classify(path, e);
    // Reading the header is the first thing that fails on a file that is not a database.
    let app_id: i32 = conn.query_row("PRAGMA application_id", [], |r| r.get(0)).map_err(err)?;
    let version: i32 = conn.query_row("PRAGMA user_version", [], |r| r.get(0)).map_err(err)?;
    let tables: i64 = conn
        .query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))
        .map_err(err)?;
    if app_id != APPLICATION_ID && (app_id != 0 || tables > 0) {
        return Err(StoreError::Incompatible {
            path: path.to_path_buf(),
            detail: format!(
                "it is an SQLite database but not a hooklet state file (application_id {app_id:#x}); \
                 point --state-dir at another directory"
            ),
        });
    }
    if version > SCHEMA_VERSION {
        return Err(StoreError::Incompatible {
            path: path.to_path_buf(),
            detail: format!(
                "it has schema version {version}, written by a newer hooklet; this hooklet understands \
                 versions up to {SCHEMA_VERSION}: run the newer hooklet, or use another --state-dir"
            ),
        });
    }
    if tables > 0 {
        let check: String = conn.query_row("PRAGMA quick_check", [], |r| r.get(0)).map_err(err)?;
        if check != "ok" {
            return Err(StoreError::Corrupt { path: path.to_path_buf(), detail: format!("integrity check: {check}") });
        }
    }
    conn.pragma_update(None, "journal_mode", "WAL").map_err(err)?;
    conn.pragma_update(None, "synchronous", "FULL").map_err(err)?;
    // The WAL is cut back to nothing when it restarts after a checkpoint, rather than
    // kept at its largest for reuse: the disk holds only what is not checkpointed yet,
    // and on a full disk every write is refused at once (none fits in old WAL room).
    conn.pragma_update(None, "journal_size_limit", 0).map_err(err)?;
    conn.pragma_update(None, "foreign_keys", "ON").map_err(err)?;
    conn.busy_timeout(std::time::Duration::from_secs(5)).map_err(err)?;
    for (index, migration) in MIGRATIONS.iter().enumerate().skip(version as usize) {
        let to = index as i32 + 1;
        tracing::info!(path = %path.display(), "migrating the state schema to version {to}");
        let sql = format!(
            "BEGIN IMMEDIATE; {migration}; PRAGMA application_id = {APPLICATION_ID}; PRAGMA user_version = {to}; COMMIT;"
        );
        conn.execute_batch(&sql).map_err(err)?;
    }
    Ok(())
}
