//! Schema version 2: migration from version 1, back-off state, batched writes, pruning.

use std::time::{Duration, SystemTime};

use serde_json::json;

use super::*;

fn event(key: &str, uid: &str, count: u32) -> EventWrite {
    EventWrite {
        key: key.into(),
        pod_uid: uid.into(),
        namespace: "default".into(),
        pod_name: format!("pod-{uid}"),
        event: json!({"count": count}),
    }
}

fn finished(id: &str, uid: &str) -> FinishedDelivery {
    FinishedDelivery {
        pod_uid: uid.into(),
        container: "app".into(),
        id: id.into(),
        attempt: 1,
        run: json!({"output": id}),
        outcome: "Failed".into(),
    }
}

fn pending(id: &str, uid: &str) -> NewDelivery {
    NewDelivery {
        id: id.into(),
        attempt: 1,
        pod_uid: uid.into(),
        container: "app".into(),
        runtime_id: format!("r-{id}"),
        phase: "PostStart".into(),
        termination: None,
    }
}

fn pod(uid: &str) -> PodRow {
    PodRow {
        uid: uid.into(),
        namespace: "default".into(),
        name: format!("pod-{uid}"),
        manifest: json!({}),
        applied_at: SystemTime::now(),
        status: None,
    }
}

#[test]
fn a_version_1_file_is_migrated_with_its_rows_kept() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(DB_FILE);
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        let v1 = format!("BEGIN; {}; PRAGMA application_id = {}; PRAGMA user_version = 1; COMMIT;", schema::MIGRATIONS[0], schema::APPLICATION_ID);
        conn.execute_batch(&v1).unwrap();
        conn.execute_batch(
            "INSERT INTO pods VALUES ('u1', 'default', 'web', '{}', 1, NULL);
             INSERT INTO containers (pod_uid, name, state, restart_count, backoff) VALUES ('u1', 'app', 'Waiting', 3, 'back-off 40s');
             INSERT INTO events VALUES ('k', 1, 'old', 'default', 'old', '{}');
             INSERT INTO events VALUES ('p', 2, 'plugin:m', 'default', 'm', '{\"object\": {\"kind\": \"Plugin\"}}');",
        )
        .unwrap();
    }
    let store = Store::open(dir.path()).unwrap();
    let version: i32 = store.conn().query_row("PRAGMA user_version", [], |r| r.get(0)).unwrap();
    assert_eq!(version, schema::SCHEMA_VERSION);
    let c = &store.containers("u1").unwrap()[0];
    assert_eq!((c.restart_count, c.backoff.as_deref()), (3, Some("back-off 40s")));
    assert_eq!(c.backoff_state, BackoffRow::default(), "no back-off timing was recorded by version 1");
    // A pod deleted under version 1 counts as deleted at the upgrade.
    assert_eq!(store.prune_deleted(SystemTime::now() - Duration::from_secs(60)).unwrap(), 0);
    assert_eq!(store.prune_deleted(SystemTime::now() + Duration::from_secs(1)).unwrap(), 2, "its event and deletion record");
    assert_eq!(store.list_pods().unwrap().len(), 1, "a live pod stays");
    assert_eq!(store.list_events(None, None).unwrap().len(), 1, "an event about a plugin stays");
}

#[test]
fn the_back_off_state_round_trips_with_the_container() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    store.insert_pod(&pod("u1")).unwrap();
    let state = BackoffRow {
        next: Some(Duration::from_millis(800)),
        last_restart: Some(from_ms(1_700_000_000_500)),
        restart_at: Some(from_ms(1_700_000_000_500)),
    };
    let row = ContainerRow {
        name: "app".into(),
        runtime_id: None,
        state: "Waiting".into(),
        started_at: None,
        restart_count: 2,
        backoff: Some("back-off 1s".into()),
        backoff_state: state,
    };
    store.save_status("u1", &json!({}), &[row]).unwrap();
    assert_eq!(store.containers("u1").unwrap()[0].backoff_state, state);
}

#[test]
fn a_batch_commits_events_and_finished_deliveries_together() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    store.delivery_pending(&pending("d1", "u1")).unwrap();
    let events = [event("k1", "u1", 1), event("k2", "u1", 1), event("k1", "u1", 2)];
    store.write_batch(&events, &[finished("d1", "u1")]).unwrap();
    let stored = store.list_events(None, None).unwrap();
    assert_eq!(stored.iter().map(|e| e.event["count"].as_u64().unwrap()).collect::<Vec<_>>(), [1, 2], "merges applied in order");
    assert!(store.deliveries(true).unwrap().is_empty());
    assert_eq!(store.hook_runs("u1", None).unwrap().len(), 1);
    // A batch that fails (here: its hook run cannot be inserted) writes nothing.
    store.conn().execute_batch("DROP TABLE hook_runs").unwrap();
    store.delivery_pending(&pending("d2", "u1")).unwrap();
    assert!(store.write_batch(&[event("k3", "u1", 1)], &[finished("d2", "u1")]).is_err());
    assert_eq!(store.list_events(None, None).unwrap().len(), 2, "the batch's event was rolled back");
    assert_eq!(store.deliveries(true).unwrap().len(), 1, "still pending");
}

#[test]
fn a_deleted_pods_rows_are_pruned_after_the_retention_but_never_a_pending_delivery() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    for uid in ["gone", "kept"] {
        store.insert_pod(&pod(uid)).unwrap();
        store.delivery_pending(&pending(&format!("{uid}-done"), uid)).unwrap();
        store.delivery_pending(&pending(&format!("{uid}-open"), uid)).unwrap();
        store.write_batch(&[event(uid, uid, 1)], &[finished(&format!("{uid}-done"), uid)]).unwrap();
    }
    let ids = |store: &Store| store.deliveries(false).unwrap().into_iter().map(|d| d.delivery.id).collect::<Vec<_>>();
    let uids = |store: &Store| store.list_events(None, None).unwrap().into_iter().map(|e| e.pod_uid).collect::<Vec<_>>();
    let deleted_at = SystemTime::now();
    store.delete_pod("gone").unwrap();
    // Within the retention, everything recorded about the deleted pod stays.
    assert_eq!(store.prune_deleted(deleted_at - Duration::from_secs(1)).unwrap(), 0);
    assert_eq!(store.hook_runs("gone", None).unwrap().len(), 1);
    let after = SystemTime::now() + Duration::from_millis(5);
    assert_eq!(store.prune_deleted(after).unwrap(), 3, "its event, hook run and done delivery");
    assert_eq!(ids(&store), ["gone-open", "kept-done", "kept-open"], "a pending delivery is never pruned");
    assert!(store.hook_runs("gone", None).unwrap().is_empty());
    assert_eq!(store.hook_runs("kept", None).unwrap().len(), 1);
    assert_eq!(uids(&store), ["kept"]);
    // An event written after the pruning goes at the next one; the pending delivery
    // once closed (start-up does that) goes too, and with it the deletion record.
    store.upsert_event("late", "gone", "default", "pod-gone", &json!({})).unwrap();
    store.upsert_event("plugin", "plugin:m", "default", "m", &json!({"object": {"kind": "Plugin"}})).unwrap();
    store.delivery_done("gone-open", "ContainerGone").unwrap();
    assert_eq!(store.prune_deleted(after).unwrap(), 3, "the late event, the closed delivery, the deletion record");
    assert_eq!(ids(&store), ["kept-done", "kept-open"]);
    assert_eq!(uids(&store), ["kept", "plugin:m"], "events about plugins are not a pod's");
    assert_eq!(store.prune_deleted(after).unwrap(), 0);
}
