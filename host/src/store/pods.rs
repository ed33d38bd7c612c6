//! Pods (desired state and last status), container instances, events and hook output.

use std::time::SystemTime;

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

/// One stored event (merged occurrences share a row).
#[derive(Debug, Clone, PartialEq)]
pub struct EventRow {
    pub seq: i64,
    pub pod_uid: String,
    pub event: serde_json::Value,
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
    pub backoff: Option<String>,
}

impl Store {
    /// Inserts a new pod. Fails if the uid or namespace/name is taken.
    pub fn insert_pod(&self, row: &PodRow) -> Result<()> {
        let manifest = serde_json::to_string(&row.manifest).map_err(|e| self.json("manifest", e))?;
        self.conn()
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
        let mut conn = self.conn();
        let tx = conn.transaction().map_err(|e| self.sql(e))?;
        tx.execute("UPDATE pods SET status = ?2 WHERE uid = ?1", params![uid, text]).map_err(|e| self.sql(e))?;
        for c in containers {
            tx.execute(
                "INSERT INTO containers (pod_uid, name, runtime_id, state, started_at_ms, restart_count, backoff)
                 SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7 WHERE EXISTS (SELECT 1 FROM pods WHERE uid = ?1)
                 ON CONFLICT (pod_uid, name) DO UPDATE SET runtime_id = ?3, state = ?4, started_at_ms = ?5,
                   restart_count = ?6, backoff = ?7",
                params![uid, c.name, c.runtime_id, c.state, c.started_at.map(to_ms), c.restart_count, c.backoff],
            )
            .map_err(|e| self.sql(e))?;
        }
        tx.commit().map_err(|e| self.sql(e))
    }

    /// The container instances of a pod, by name.
    pub fn containers(&self, uid: &str) -> Result<Vec<ContainerRow>> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare("SELECT name, runtime_id, state, started_at_ms, restart_count, backoff FROM containers WHERE pod_uid = ?1 ORDER BY name")
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
                })
            })
            .map_err(|e| self.sql(e))?;
        rows.collect::<std::result::Result<_, _>>().map_err(|e| self.sql(e))
    }

    /// Removes a pod and its container instances. Its events, hook runs and
    /// delivery journal rows stay: they are the node's record of what was delivered.
    pub fn delete_pod(&self, uid: &str) -> Result<()> {
        let mut conn = self.conn();
        let tx = conn.transaction().map_err(|e| self.sql(e))?;
        for sql in ["DELETE FROM containers WHERE pod_uid = ?1", "DELETE FROM pods WHERE uid = ?1"] {
            tx.execute(sql, [uid]).map_err(|e| self.sql(e))?;
        }
        tx.commit().map_err(|e| self.sql(e))
    }

    /// Inserts or updates (a merged occurrence) an event under `key`.
    pub fn upsert_event(&self, key: &str, pod_uid: &str, namespace: &str, pod: &str, event: &serde_json::Value) -> Result<i64> {
        let text = serde_json::to_string(event).map_err(|e| self.json("event", e))?;
        let conn = self.conn();
        conn.query_row(
            "INSERT INTO events (key, seq, pod_uid, namespace, pod_name, event)
             VALUES (?1, (SELECT coalesce(max(seq), 0) + 1 FROM events), ?2, ?3, ?4, ?5)
             ON CONFLICT (key) DO UPDATE SET event = excluded.event, seq = excluded.seq
             RETURNING seq",
            params![key, pod_uid, namespace, pod, text],
            |r| r.get(0),
        )
        .map_err(|e| self.sql(e))
    }

    /// Events, oldest update first, optionally for one namespace and/or pod name.
    pub fn list_events(&self, namespace: Option<&str>, pod: Option<&str>) -> Result<Vec<EventRow>> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare(
                "SELECT seq, pod_uid, event FROM events WHERE (?1 IS NULL OR namespace = ?1) AND (?2 IS NULL OR pod_name = ?2) ORDER BY seq",
            )
            .map_err(|e| self.sql(e))?;
        let rows = stmt
            .query_map(params![namespace, pod], |r| Ok((r.get(0)?, r.get(1)?, r.get::<_, String>(2)?)))
            .map_err(|e| self.sql(e))?;
        let mut events = Vec::new();
        for row in rows {
            let (seq, pod_uid, text) = row.map_err(|e| self.sql(e))?;
            let event = serde_json::from_str(&text).map_err(|e| self.json("event", e))?;
            events.push(EventRow { seq, pod_uid, event });
        }
        Ok(events)
    }

    /// Appends a hook run (its output included) of a container.
    pub fn insert_hook_run(&self, pod_uid: &str, container: &str, delivery_id: &str, attempt: u32, run: &serde_json::Value) -> Result<()> {
        let text = serde_json::to_string(run).map_err(|e| self.json("hook run", e))?;
        self.conn()
            .execute(
                "INSERT INTO hook_runs (pod_uid, container, delivery_id, attempt, run) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![pod_uid, container, delivery_id, attempt, text],
            )
            .map_err(|e| self.sql(e))?;
        Ok(())
    }

    /// A pod's hook runs, oldest first, optionally for one container.
    pub fn hook_runs(&self, pod_uid: &str, container: Option<&str>) -> Result<Vec<HookRunRow>> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare("SELECT seq, container, run FROM hook_runs WHERE pod_uid = ?1 AND (?2 IS NULL OR container = ?2) ORDER BY seq")
            .map_err(|e| self.sql(e))?;
        let rows = stmt
            .query_map(params![pod_uid, container], |r| Ok((r.get(0)?, r.get(1)?, r.get::<_, String>(2)?)))
            .map_err(|e| self.sql(e))?;
        let mut runs = Vec::new();
        for row in rows {
            let (seq, container, text) = row.map_err(|e| self.sql(e))?;
            let run = serde_json::from_str(&text).map_err(|e| self.json("hook run", e))?;
            runs.push(HookRunRow { seq, container, run });
        }
        Ok(runs)
    }

    /// Reads one pod by namespace and name.
    pub fn pod_uid(&self, namespace: &str, name: &str) -> Result<Option<String>> {
        self.conn()
            .query_row("SELECT uid FROM pods WHERE namespace = ?1 AND name = ?2", [namespace, name], |r| r.get(0))
            .optional()
            .map_err(|e| self.sql(e))
    }
}
