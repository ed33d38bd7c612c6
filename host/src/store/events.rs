//! Events, and the batched write that commits events together with finished
//! deliveries (so an outcome's events are never behind its journal `done`).

use rusqlite::params;

use super::deliveries::{finish_in, FinishedDelivery};
use super::{Result, Store};

/// One stored event (merged occurrences share a row).
#[derive(Debug, Clone, PartialEq)]
pub struct EventRow {
    pub seq: i64,
    pub pod_uid: String,
    pub event: serde_json::Value,
}

/// An event to insert, or to update under its key (a merged occurrence).
#[derive(Debug, Clone, PartialEq)]
pub struct EventWrite {
    /// Object, type, reason and message: merged occurrences share it.
    pub key: String,
    pub pod_uid: String,
    pub namespace: String,
    pub pod_name: String,
    pub event: serde_json::Value,
}

const UPSERT_EVENT: &str = "INSERT INTO events (key, seq, pod_uid, namespace, pod_name, event)
     VALUES (?1, (SELECT coalesce(max(seq), 0) + 1 FROM events), ?2, ?3, ?4, ?5)
     ON CONFLICT (key) DO UPDATE SET event = excluded.event, seq = excluded.seq
     RETURNING seq";

impl Store {
    /// Inserts or updates (a merged occurrence) an event under `key`.
    pub fn upsert_event(&self, key: &str, pod_uid: &str, namespace: &str, pod: &str, event: &serde_json::Value) -> Result<i64> {
        let text = serde_json::to_string(event).map_err(|e| self.json("event", e))?;
        self.write()?
            .query_row(UPSERT_EVENT, params![key, pod_uid, namespace, pod, text], |r| r.get(0))
            .map_err(|e| self.sql(e))
    }

    /// Writes `events` (in order) and then `finished` deliveries (hook run + `done`)
    /// in ONE durable transaction.
    pub fn write_batch(&self, events: &[EventWrite], finished: &[FinishedDelivery]) -> Result<()> {
        let texts = events
            .iter()
            .map(|e| serde_json::to_string(&e.event))
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| self.json("event", e))?;
        let runs = finished
            .iter()
            .map(|d| serde_json::to_string(&d.run))
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| self.json("hook run", e))?;
        let mut conn = self.write()?;
        let tx = conn.transaction().map_err(|e| self.sql(e))?;
        {
            let mut upsert = tx.prepare_cached(UPSERT_EVENT).map_err(|e| self.sql(e))?;
            for (e, text) in events.iter().zip(&texts) {
                upsert
                    .query_row(params![e.key, e.pod_uid, e.namespace, e.pod_name, text], |r| r.get::<_, i64>(0))
                    .map_err(|e| self.sql(e))?;
            }
        }
        for (d, run) in finished.iter().zip(&runs) {
            finish_in(&tx, d, run).map_err(|e| self.sql(e))?;
        }
        tx.commit().map_err(|e| self.sql(e))
    }

    /// Events, oldest update first, optionally for one namespace and/or pod name.
    pub fn list_events(&self, namespace: Option<&str>, pod: Option<&str>) -> Result<Vec<EventRow>> {
        self.json_rows(
            "SELECT seq, pod_uid, event FROM events WHERE (?1 IS NULL OR namespace = ?1) AND (?2 IS NULL OR pod_name = ?2) ORDER BY seq",
            params![namespace, pod],
            "event",
            |seq, pod_uid, event| EventRow { seq, pod_uid, event },
        )
    }
}
