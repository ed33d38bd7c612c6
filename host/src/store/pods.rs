//! Pods (desired state and last status), container instances, events and hook output.

use std::time::{Duration, SystemTime};

use rusqlite::{params, OptionalExtension};
use serde::{Deserialize, Serialize};

use super::{from_ms, to_ms, Result, Store};

/// A stored pod: the manifest as applied and its last status (both JSON values, so
/// the store does not depend on the lifecycle's types).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PodRow {
    pub uid: String,
    pub namespace: String,
    pub name: String,
    pub manifest: serde_json::Value,
    pub applied_at: SystemTime,
    pub status: Option<serde_json::Value>,
}

/// One stored hook run.
#[derive(Debug, Clone, PartialEq)]
pub struct HookRunRow {
    pub seq: i64,
    pub container: String,
    pub run: serde_json::Value,
}

/// A container instance as the store keeps it (from a status snapshot).
#[derive(Debug, Clone, PartialEq)]
pub struct ContainerRow {
    pub name: String,
    pub runtime_id: Option<String>,
    pub state: String,
    pub started_at: Option<SystemTime>,
    pub restart_count: u32,
    /// The CrashLoopBackOff message while waiting in back-off.
    pub backoff: Option<String>,
    /// The back-off entry, so a restarted hooklet resumes its timing.
    pub backoff_state: BackoffRow,
}

/// A container's CrashLoopBackOff entry in wall-clock time (schema version 2).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BackoffRow {
    /// The delay of the next back-off (None: the next restart is immediate).
    pub next: Option<Duration>,
    /// When the last restart happened, or is due: the start of the reset window.
    pub last_restart: Option<SystemTime>,
    /// While waiting in CrashLoopBackOff: when the container is restarted.
    pub restart_at: Option<SystemTime>,
}

impl Store {
    /// Inserts a new pod. Fails if the uid or namespace/name is taken.
    pub fn insert_pod(&self, row: &PodRow) -> Result<()> {
        let manifest = serde_json::to_string(&row.manifest).map_err(|e| self.json("manifest", e))?;
        self.write()?
            .execute(
                "INSERT INTO pods (uid, namespace, name, manifest, applied_at_ms, status) VALUES (?1, ?2, ?3, ?4, ?5, NULL)",
                params![row.uid, row.namespace, row.name, manifest, to_ms(row.applied_at)],
            )
            .map_err(|e| self.sql(e))?;
        Ok(())
    }

    /// Every stored pod, by namespace and name.
    pub fn list_pods(&self) -> Result<Vec<PodRow>> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare("SELECT uid, namespace, name, manifest, applied_at_ms, status FROM pods ORDER BY namespace, name")
            .map_err(|e| self.sql(e))?;
        let rows = stmt
            .query_map([], |r| {
                Ok((r.get::<_, String>(0)?, r.get(1)?, r.get(2)?, r.get::<_, String>(3)?, r.get(4)?, r.get::<_, Option<String>>(5)?))
            })
            .map_err(|e| self.sql(e))?;
        let mut pods = Vec::new();
        for row in rows {
            let (uid, namespace, name, manifest, applied, status) = row.map_err(|e| self.sql(e))?;
            pods.push(PodRow {
                uid,
                namespace,
                name,
                manifest: serde_json::from_str(&manifest).map_err(|e| self.json("manifest", e))?,
                applied_at: from_ms(applied),
                status: status
                    .map(|s| serde_json::from_str(&s))
                    .transpose()
                    .map_err(|e| self.json("status", e))?,
            });
        }
        Ok(pods)
    }

    /// Saves a pod's status and its container instances, in one transaction.
    pub fn save_status(&self, uid: &str, status: &serde_json::Value, containers: &[ContainerRow]) -> Result<()> {
        let text = serde_json::to_string(status).map_err(|e| self.json("status", e))?;
        let mut conn = self.write()?;
        let tx = conn.transaction().map_err(|e| self.sql(e))?;
        tx.execute("UPDATE pods SET status = ?2 WHERE uid = ?1", params![uid, text]).map_err(|e| self.sql(e))?;
        for c in containers {
            tx.execute(
                "INSERT INTO containers (pod_uid, name, runtime_id, state, started_at_ms, restart_count, backoff,
                   backoff_next_ms, backoff_last_restart_ms, backoff_restart_at_ms)
                 SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10 WHERE EXISTS (SELECT 1 FROM pods WHERE uid = ?1)
                 ON CONFLICT (pod_uid, name) DO UPDATE SET runtime_id = ?3, state = ?4, started_at_ms = ?5,
                   restart_count = ?6, backoff = ?7, backoff_next_ms = ?8, backoff_last_restart_ms = ?9,
                   backoff_restart_at_ms = ?10",
                params![
                    uid,
                    c.name,
                    c.runtime_id,
                    c.state,
                    c.started_at.map(to_ms),
                    c.restart_count,
                    c.backoff,
                    c.backoff_state.next.map(|d| d.as_millis() as i64),
                    c.backoff_state.last_restart.map(to_ms),
                    c.backoff_state.restart_at.map(to_ms)
                ],
            )
            .map_err(|e| self.sql(e))?;
        }
        tx.commit().map_err(|e| self.sql(e))
    }

    /// The container instances of a pod, by name.
    pub fn containers(&self, uid: &str) -> Result<Vec<ContainerRow>> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare(
                "SELECT name, runtime_id, state, started_at_ms, restart_count, backoff, backoff_next_ms,
                   backoff_last_restart_ms, backoff_restart_at_ms FROM containers WHERE pod_uid = ?1 ORDER BY name",
            )
            .map_err(|e| self.sql(e))?;
        let rows = stmt
            .query_map([uid], |r| {
                Ok(ContainerRow {
                    name: r.get(0)?,
                    runtime_id: r.get(1)?,
                    state: r.get(2)?,
                    started_at: r.get::<_, Option<i64>>(3)?.map(from_ms),
                    restart_count: r.get(4)?,
                    backoff: r.get(5)?,
                    backoff_state: BackoffRow {
                        next: r.get::<_, Option<i64>>(6)?.map(|ms| Duration::from_millis(ms.max(0) as u64)),
                        last_restart: r.get::<_, Option<i64>>(7)?.map(from_ms),
                        restart_at: r.get::<_, Option<i64>>(8)?.map(from_ms),
                    },
                })
            })
            .map_err(|e| self.sql(e))?;
        rows.collect::<std::result::Result<_, _>>().map_err(|e| self.sql(e))
    }

    /// Removes a deleted pod and its container instances, and notes when it was
    /// deleted: [`Store::prune_deleted`] removes its other rows after the retention.
    pub fn delete_pod(&self, uid: &str) -> Result<()> {
        let mut conn = self.write()?;
        let tx = conn.transaction().map_err(|e| self.sql(e))?;
        for sql in ["DELETE FROM containers WHERE pod_uid = ?1", "DELETE FROM pods WHERE uid = ?1"] {
            tx.execute(sql, [uid]).map_err(|e| self.sql(e))?;
        }
        tx.execute("INSERT OR REPLACE INTO deleted_pods (uid, deleted_at_ms) VALUES (?1, ?2)", params![uid, to_ms(SystemTime::now())])
            .map_err(|e| self.sql(e))?;
        tx.commit().map_err(|e| self.sql(e))
    }

    /// Removes the events, hook runs and finished journal rows of pods deleted at or
    /// before `deleted_before`, and events of pods the store knows nothing of (written
    /// after their pod was pruned); events about plugins stay. Never a delivery still pending: a pod keeps its
    /// deletion record until start-up has closed its last one. Returns the rows removed.
    pub fn prune_deleted(&self, deleted_before: SystemTime) -> Result<usize> {
        const GONE: &str = "(SELECT uid FROM deleted_pods WHERE deleted_at_ms <= ?1
            UNION SELECT pod_uid FROM events WHERE coalesce(json_extract(event, '$.object.kind'), 'Pod') = 'Pod'
              AND pod_uid NOT IN (SELECT uid FROM pods UNION SELECT uid FROM deleted_pods))";
        let mut conn = self.write()?;
        let tx = conn.transaction().map_err(|e| self.sql(e))?;
        let mut removed = 0;
        for sql in [
            format!("DELETE FROM events WHERE pod_uid IN {GONE}"),
            format!("DELETE FROM hook_runs WHERE pod_uid IN {GONE}"),
            format!("DELETE FROM deliveries WHERE state = 'done' AND pod_uid IN {GONE}"),
            "DELETE FROM deleted_pods WHERE deleted_at_ms <= ?1
               AND uid NOT IN (SELECT pod_uid FROM deliveries WHERE state = 'pending')"
                .to_string(),
        ] {
            removed += tx.execute(&sql, [to_ms(deleted_before)]).map_err(|e| self.sql(e))?;
        }
        tx.commit().map_err(|e| self.sql(e))?;
        Ok(removed)
    }

    /// Appends a hook run (its output included) of a container.
    pub fn insert_hook_run(&self, pod_uid: &str, container: &str, delivery_id: &str, attempt: u32, run: &serde_json::Value) -> Result<()> {
        let text = serde_json::to_string(run).map_err(|e| self.json("hook run", e))?;
        self.write()?
            .execute(
                "INSERT INTO hook_runs (pod_uid, container, delivery_id, attempt, run) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![pod_uid, container, delivery_id, attempt, text],
            )
            .map_err(|e| self.sql(e))?;
        Ok(())
    }

    /// A pod's hook runs, oldest first, optionally for one container.
    pub fn hook_runs(&self, pod_uid: &str, container: Option<&str>) -> Result<Vec<HookRunRow>> {
        self.json_rows(
            "SELECT seq, container, run FROM hook_runs WHERE pod_uid = ?1 AND (?2 IS NULL OR container = ?2) ORDER BY seq",
            params![pod_uid, container],
            "hook run",
            |seq, container, run| HookRunRow { seq, container, run },
        )
    }

    /// Reads one pod by namespace and name.
    pub fn pod_uid(&self, namespace: &str, name: &str) -> Result<Option<String>> {
        self.conn()
            .query_row("SELECT uid FROM pods WHERE namespace = ?1 AND name = ?2", [namespace, name], |r| r.get(0))
            .optional()
            .map_err(|e| self.sql(e))
    }
}
