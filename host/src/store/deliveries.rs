//! The hook delivery journal (D2): a delivery is `pending` from before its handler
//! starts until it ends, then `done`. Each write is its own durable transaction.

use std::time::{Duration, SystemTime};

use rusqlite::params;

use super::{from_ms, to_ms, Result, Store};

/// `pending` or `done`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryState {
    Pending,
    Done,
}

/// A delivery about to start (first attempt or redelivery).
#[derive(Debug, Clone, PartialEq)]
pub struct NewDelivery {
    pub id: String,
    pub attempt: u32,
    pub pod_uid: String,
    pub container: String,
    pub runtime_id: String,
    /// `PostStart` or `PreStop`.
    pub phase: String,
    /// PreStop: when termination began (wall clock) and its grace.
    pub termination: Option<(SystemTime, Duration)>,
}

/// A delivery that ended: its hook run (JSON) and outcome, to record with `done`.
#[derive(Debug, Clone, PartialEq)]
pub struct FinishedDelivery {
    pub pod_uid: String,
    pub container: String,
    pub id: String,
    pub attempt: u32,
    pub run: serde_json::Value,
    /// `Succeeded`, `Failed`, …
    pub outcome: String,
}

/// A journal row.
#[derive(Debug, Clone, PartialEq)]
pub struct DeliveryRow {
    pub delivery: NewDelivery,
    pub state: DeliveryState,
    pub pending_at: SystemTime,
    pub done_at: Option<SystemTime>,
    pub outcome: Option<String>,
}

impl Store {
    /// Journals `d` as pending (a new delivery, or the next attempt of one), durably.
    pub fn delivery_pending(&self, d: &NewDelivery) -> Result<()> {
        let (began, grace) = match d.termination {
            Some((at, grace)) => (Some(to_ms(at)), Some(grace.as_millis() as i64)),
            None => (None, None),
        };
        self.write()?
            .execute(
                "INSERT INTO deliveries (id, pod_uid, container, runtime_id, phase, attempt, state, pending_at_ms,
                    termination_began_ms, grace_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'pending', ?7, ?8, ?9)
                 ON CONFLICT (id) DO UPDATE SET attempt = ?6, state = 'pending', pending_at_ms = ?7,
                    done_at_ms = NULL, outcome = NULL",
                params![d.id, d.pod_uid, d.container, d.runtime_id, d.phase, d.attempt, to_ms(SystemTime::now()), began, grace],
            )
            .map_err(|e| self.sql(e))?;
        Ok(())
    }

    /// Marks a delivery done with its outcome (`Succeeded`, `Failed`, …), durably.
    pub fn delivery_done(&self, id: &str, outcome: &str) -> Result<()> {
        mark_done(&*self.write()?, id, outcome).map_err(|e| self.sql(e))
    }

    /// Records a delivery's hook run and marks the delivery done in ONE transaction:
    /// a crash can never leave a recorded run of an attempt that is still pending
    /// (which would be redelivered while its run already counts as the result).
    pub fn finish_delivery(&self, pod_uid: &str, container: &str, id: &str, attempt: u32, run: &serde_json::Value, outcome: &str) -> Result<()> {
        let finished = FinishedDelivery {
            pod_uid: pod_uid.to_string(),
            container: container.to_string(),
            id: id.to_string(),
            attempt,
            run: run.clone(),
            outcome: outcome.to_string(),
        };
        self.write_batch(&[], &[finished])
    }

    /// Deliveries, optionally only the pending ones, oldest first.
    pub fn deliveries(&self, only_pending: bool) -> Result<Vec<DeliveryRow>> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare(
                "SELECT id, attempt, pod_uid, container, runtime_id, phase, termination_began_ms, grace_ms, state,
                        pending_at_ms, done_at_ms, outcome
                 FROM deliveries WHERE (?1 = 0 OR state = 'pending') ORDER BY pending_at_ms, id",
            )
            .map_err(|e| self.sql(e))?;
        let rows = stmt
            .query_map([only_pending as i32], |r| {
                let began: Option<i64> = r.get(6)?;
                let grace: Option<i64> = r.get(7)?;
                let state: String = r.get(8)?;
                Ok(DeliveryRow {
                    delivery: NewDelivery {
                        id: r.get(0)?,
                        attempt: r.get(1)?,
                        pod_uid: r.get(2)?,
                        container: r.get(3)?,
                        runtime_id: r.get(4)?,
                        phase: r.get(5)?,
                        termination: began.zip(grace).map(|(b, g)| (from_ms(b), Duration::from_millis(g.max(0) as u64))),
                    },
                    state: if state == "done" { DeliveryState::Done } else { DeliveryState::Pending },
                    pending_at: from_ms(r.get(9)?),
                    done_at: r.get::<_, Option<i64>>(10)?.map(from_ms),
                    outcome: r.get(11)?,
                })
            })
            .map_err(|e| self.sql(e))?;
        rows.collect::<std::result::Result<_, _>>().map_err(|e| self.sql(e))
    }
}

/// How many hook runs (and finished deliveries) are kept per container of a pod that
/// still exists: the newest ones. A container that restarts for weeks (CrashLoopBackOff
/// runs its PostStart at each start) would otherwise grow the database without bound;
/// a deleted pod's rows all go when its retention ends.
pub const HOOK_RUNS_KEPT: u32 = 100;

/// Inserts a finished delivery's hook run and marks it done (inside a transaction), then
/// drops the container's runs and finished deliveries beyond the newest [`HOOK_RUNS_KEPT`].
pub(super) fn finish_in(conn: &rusqlite::Connection, d: &FinishedDelivery, run: &str) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT INTO hook_runs (pod_uid, container, delivery_id, attempt, run) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![d.pod_uid, d.container, d.id, d.attempt, run],
    )?;
    mark_done(conn, &d.id, &d.outcome)?;
    conn.execute(
        "DELETE FROM hook_runs WHERE pod_uid = ?1 AND container = ?2 AND seq <= (
             SELECT seq FROM hook_runs WHERE pod_uid = ?1 AND container = ?2 ORDER BY seq DESC LIMIT 1 OFFSET ?3)",
        params![d.pod_uid, d.container, HOOK_RUNS_KEPT],
    )?;
    conn.execute(
        "DELETE FROM deliveries WHERE state = 'done' AND pod_uid = ?1 AND container = ?2 AND rowid <= (
             SELECT rowid FROM deliveries WHERE state = 'done' AND pod_uid = ?1 AND container = ?2
             ORDER BY rowid DESC LIMIT 1 OFFSET ?3)",
        params![d.pod_uid, d.container, HOOK_RUNS_KEPT],
    )?;
    Ok(())
}

fn mark_done(conn: &rusqlite::Connection, id: &str, outcome: &str) -> rusqlite::Result<()> {
    conn.execute(
        "UPDATE deliveries SET state = 'done', done_at_ms = ?2, outcome = ?3 WHERE id = ?1",
        params![id, to_ms(SystemTime::now()), outcome],
    )?;
    Ok(())
}
