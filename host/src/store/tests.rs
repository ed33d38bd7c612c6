use std::time::{Duration, SystemTime};

use serde_json::json;

use super::*;

fn pod(uid: &str, name: &str) -> PodRow {
    PodRow {
        uid: uid.into(),
        namespace: "default".into(),
        name: name.into(),
        manifest: json!({"metadata": {"name": name}}),
        applied_at: SystemTime::now(),
        status: None,
    }
}

fn delivery(id: &str, attempt: u32) -> NewDelivery {
    NewDelivery {
        id: id.into(),
        attempt,
        pod_uid: "u1".into(),
        container: "app".into(),
        runtime_id: "r1".into(),
        phase: "PreStop".into(),
        termination: Some((from_ms(1_700_000_000_123), Duration::from_millis(30_000))),
    }
}

#[test]
fn pods_round_trip_and_survive_reopening() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = Store::open(dir.path()).unwrap();
        store.insert_pod(&pod("u1", "web")).unwrap();
        let err = store.insert_pod(&pod("u2", "web")).unwrap_err();
        assert!(err.to_string().contains("UNIQUE"), "{err}");
        let container = ContainerRow {
            name: "app".into(),
            runtime_id: Some("r1".into()),
            state: "Running".into(),
            started_at: Some(from_ms(1_000)),
            restart_count: 2,
            backoff: None,
            backoff_state: BackoffRow::default(),
        };
        store.save_status("u1", &json!({"phase": "Running"}), &[container]).unwrap();
        store.flush().unwrap();
    }
    let store = Store::open(dir.path()).unwrap();
    let pods = store.list_pods().unwrap();
    assert_eq!(pods.len(), 1);
    assert_eq!(pods[0].status, Some(json!({"phase": "Running"})));
    assert_eq!(store.pod_uid("default", "web").unwrap().as_deref(), Some("u1"));
    let containers = store.containers("u1").unwrap();
    assert_eq!((containers[0].restart_count, containers[0].runtime_id.as_deref()), (2, Some("r1")));
    store.delete_pod("u1").unwrap();
    assert!(store.list_pods().unwrap().is_empty());
    assert!(store.containers("u1").unwrap().is_empty());
}

#[test]
fn events_merge_under_their_key_and_filter() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    store.upsert_event("k1", "u1", "default", "web", &json!({"count": 1})).unwrap();
    store.upsert_event("k2", "u2", "other", "db", &json!({"count": 1})).unwrap();
    let seq = store.upsert_event("k1", "u1", "default", "web", &json!({"count": 2})).unwrap();
    let all = store.list_events(None, None).unwrap();
    assert_eq!(all.len(), 2);
    assert_eq!((all[1].seq, &all[1].event), (seq, &json!({"count": 2})), "a merge moves the event to the end");
    let web = store.list_events(Some("default"), Some("web")).unwrap();
    assert_eq!(web.len(), 1);
    assert!(store.list_events(Some("other"), Some("web")).unwrap().is_empty());
}

#[test]
fn hook_runs_are_kept_per_container() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    store.insert_hook_run("u1", "app", "d1", 1, &json!({"output": "a"})).unwrap();
    store.insert_hook_run("u1", "side", "d2", 1, &json!({"output": "b"})).unwrap();
    assert_eq!(store.hook_runs("u1", None).unwrap().len(), 2);
    let app = store.hook_runs("u1", Some("app")).unwrap();
    assert_eq!(app.len(), 1);
    assert_eq!(app[0].run, json!({"output": "a"}));
}

#[test]
fn journal_pending_then_done_and_redelivery_keeps_id_and_termination() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    store.delivery_pending(&delivery("d1", 1)).unwrap();
    store.delivery_pending(&NewDelivery { phase: "PostStart".into(), termination: None, ..delivery("d2", 1) }).unwrap();
    store.delivery_done("d2", "Succeeded").unwrap();
    let pending = store.deliveries(true).unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].delivery, delivery("d1", 1));
    // A redelivery: same id, next attempt, original termination kept by the caller.
    store.delivery_pending(&delivery("d1", 2)).unwrap();
    let pending = store.deliveries(true).unwrap();
    assert_eq!((pending.len(), pending[0].delivery.attempt), (1, 2));
    store.delivery_done("d1", "Failed").unwrap();
    assert!(store.deliveries(true).unwrap().is_empty());
    let all = store.deliveries(false).unwrap();
    assert_eq!(all.len(), 2);
    assert!(all.iter().all(|d| d.state == DeliveryState::Done && d.done_at.is_some()));
}

#[test]
fn a_file_that_is_not_a_database_is_reported_corrupt_and_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(DB_FILE);
    let garbage = b"this is not an sqlite file, it is just some bytes that a crash might leave".repeat(100);
    std::fs::write(&path, &garbage).unwrap();
    let err = Store::open(dir.path()).err().expect("refused");
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err:?}");
    let text = err.to_string();
    assert!(text.contains("is corrupt") && text.contains("hooklet.db") && text.contains("mv "), "{text}");
    assert_eq!(std::fs::read(&path).unwrap(), garbage, "the file is not modified");
}

#[test]
fn a_damaged_database_page_is_reported_corrupt() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = Store::open(dir.path()).unwrap();
        for i in 0..200 {
            store.insert_pod(&pod(&format!("u{i}"), &format!("pod-{i}"))).unwrap();
        }
        store.flush().unwrap();
    }
    let path = dir.path().join(DB_FILE);
    let mut bytes = std::fs::read(&path).unwrap();
    assert!(bytes.len() > 3 * 4096, "several pages");
    // Overwrite the second page (the first table's b-tree) with noise.
    for b in &mut bytes[4096..8192] {
        *b = 0xA5;
    }
    std::fs::write(&path, &bytes).unwrap();
    let err = Store::open(dir.path()).err().expect("refused");
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err:?}");
}

#[test]
fn a_foreign_or_newer_database_is_incompatible() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(DB_FILE);
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch("CREATE TABLE other (x); PRAGMA application_id = 42;").unwrap();
    }
    let err = Store::open(dir.path()).err().expect("refused");
    assert!(matches!(err, StoreError::Incompatible { .. }) && err.to_string().contains("not a hooklet state file"), "{err}");

    let dir = tempfile::tempdir().unwrap();
    drop(Store::open(dir.path()).unwrap());
    {
        let conn = rusqlite::Connection::open(dir.path().join(DB_FILE)).unwrap();
        conn.pragma_update(None, "user_version", 99).unwrap();
    }
    let err = Store::open(dir.path()).err().expect("refused");
    assert!(err.to_string().contains("schema version 99, written by a newer hooklet"), "{err}");
}

#[test]
fn finishing_a_delivery_records_its_run_and_marks_it_done_together() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    store.delivery_pending(&delivery("d9", 3)).unwrap();
    assert_eq!(store.deliveries(true).unwrap().len(), 1);
    store.finish_delivery("u1", "app", "d9", 3, &json!({"output": "x"}), "Succeeded").unwrap();
    assert!(store.deliveries(true).unwrap().is_empty(), "no longer pending");
    let runs = store.hook_runs("u1", Some("app")).unwrap();
    assert_eq!(runs.len(), 1);
}

#[test]
fn a_container_keeps_its_newest_hook_runs_and_finished_deliveries_only() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let kept = HOOK_RUNS_KEPT as usize;
    store.delivery_pending(&delivery("pending", 1)).unwrap();
    for i in 0..kept + 5 {
        let id = format!("d{i}");
        store.delivery_pending(&delivery(&id, 1)).unwrap();
        store.finish_delivery("u1", "app", &id, 1, &json!({"n": i}), "Succeeded").unwrap();
    }
    // Another container of the pod is counted on its own.
    let other = NewDelivery { container: "side".into(), ..delivery("side-1", 1) };
    store.delivery_pending(&other).unwrap();
    store.finish_delivery("u1", "side", "side-1", 1, &json!({"n": 0}), "Succeeded").unwrap();

    let runs = store.hook_runs("u1", Some("app")).unwrap();
    assert_eq!(runs.len(), kept);
    assert_eq!(runs[0].run["n"], 5, "the oldest five went");
    assert_eq!(store.hook_runs("u1", Some("side")).unwrap().len(), 1);
    let all = store.deliveries(false).unwrap();
    let done_app = all.iter().filter(|d| d.state == DeliveryState::Done && d.delivery.container == "app").count();
    assert_eq!(done_app, kept);
    assert!(!all.iter().any(|d| d.delivery.id == "d4") && all.iter().any(|d| d.delivery.id == "d5"));
    assert!(all.iter().any(|d| d.delivery.id == "pending" && d.state == DeliveryState::Pending), "a pending delivery stays");
}
