use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use super::aggregate::{Aggregator, COMBINED_PREFIX};
use super::*;

fn app() -> ObjectRef {
    ObjectRef::pod("default", "web", "uid-1").container("app")
}

#[test]
fn identical_events_merge_and_count_up() {
    let recorder = EventRecorder::new();
    for _ in 0..3 {
        recorder.record(&app(), EventType::Warning, "FailedPostStartHook", "PostStartHook failed");
    }
    let events = recorder.list();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].count, 3);
    assert!(events[0].last_seen >= events[0].first_seen);
}

#[test]
fn different_object_type_reason_or_message_stay_apart() {
    let recorder = EventRecorder::new();
    let pod = ObjectRef::pod("default", "web", "uid-1");
    recorder.record(&app(), EventType::Normal, "Started", "Started container app");
    recorder.record(&pod.container("side"), EventType::Normal, "Started", "Started container app");
    recorder.record(&app(), EventType::Warning, "Started", "Started container app");
    recorder.record(&app(), EventType::Normal, "Created", "Started container app");
    recorder.record(&app(), EventType::Normal, "Started", "other");
    assert_eq!(recorder.list().len(), 5);
}

#[test]
fn more_than_ten_similar_events_are_combined() {
    let mut agg = Aggregator::new(AggregationPolicy::default());
    let now = SystemTime::now();
    for i in 0..10 {
        let e = agg.observe(&app(), EventType::Warning, "BackOff", &format!("m{i}"), now);
        assert_eq!(e.message, format!("m{i}"));
    }
    let combined = agg.observe(&app(), EventType::Warning, "BackOff", "m10", now);
    assert_eq!(combined.message, format!("{COMBINED_PREFIX}m10"));
    let again = agg.observe(&app(), EventType::Warning, "BackOff", "m11", now);
    assert_eq!(again.message, format!("{COMBINED_PREFIX}m11"));
    assert_eq!(again.count, 2);
    // An identical repeat of an early message still merges into its own event.
    let repeat = agg.observe(&app(), EventType::Warning, "BackOff", "m3", now);
    assert_eq!((repeat.message.as_str(), repeat.count), ("m3", 2));
    assert_eq!(agg.events().len(), 11);
}

#[test]
fn the_similar_window_expires() {
    let policy = AggregationPolicy {
        max_similar: 2,
        window: Duration::from_secs(600),
    };
    let mut agg = Aggregator::new(policy);
    let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
    agg.observe(&app(), EventType::Warning, "R", "a", t0);
    agg.observe(&app(), EventType::Warning, "R", "b", t0);
    let late = t0 + Duration::from_secs(601);
    let e = agg.observe(&app(), EventType::Warning, "R", "c", late);
    assert_eq!(e.message, "c", "a new window starts after 600 s");
    let e = agg.observe(&app(), EventType::Warning, "R", "d", late);
    assert_eq!(e.message, "d");
    let e = agg.observe(&app(), EventType::Warning, "R", "e", late);
    assert!(e.message.starts_with(COMBINED_PREFIX));
}

#[test]
fn container_name_is_read_back_from_the_field_path() {
    assert_eq!(app().container_name(), Some("app"));
    assert_eq!(ObjectRef::pod("a", "b", "c").container_name(), None);
}

#[tokio::test]
async fn wait_for_sees_past_and_future_events() {
    let recorder = EventRecorder::new();
    recorder.record(&app(), EventType::Normal, "Created", "Created container: app");
    let past = recorder.wait_for(|e| e.reason == "Created").await;
    assert_eq!(past.message, "Created container: app");
    let r2 = recorder.clone();
    let waiter = tokio::spawn(async move { r2.wait_for(|e| e.reason == "Started").await });
    recorder.record(&app(), EventType::Normal, "Started", "Started container app");
    assert_eq!(waiter.await.unwrap().reason, "Started");
}

/// A sink that keeps (reason, count) of every event it is given.
#[derive(Clone, Default)]
struct Keep(Arc<Mutex<Vec<(String, u32)>>>);

impl EventSink for Keep {
    fn accept(&self, event: &Event) {
        self.0.lock().unwrap().push((event.reason.clone(), event.count));
    }
}

#[test]
fn the_sink_sees_every_event_and_merge_in_order_and_only_one_sink_is_taken() {
    let recorder = EventRecorder::new();
    let kept = Keep::default();
    recorder.set_sink(Box::new(kept.clone())).unwrap();
    assert!(recorder.set_sink(Box::new(Keep::default())).is_err());
    for _ in 0..3 {
        recorder.record(&app(), EventType::Warning, "BackOff", "Back-off restarting failed container app");
    }
    recorder.record(&app(), EventType::Normal, "Started", "Started container app");
    let seen = kept.0.lock().unwrap().clone();
    assert_eq!(seen, [("BackOff".into(), 1), ("BackOff".into(), 2), ("BackOff".into(), 3), ("Started".into(), 1)]);
}

#[test]
fn restored_events_keep_merging_and_are_not_sent_again() {
    let earlier = EventRecorder::new();
    earlier.record(&app(), EventType::Warning, "BackOff", "Back-off");
    let old = earlier.record(&app(), EventType::Warning, "BackOff", "Back-off");
    let recorder = EventRecorder::new();
    let kept = Keep::default();
    recorder.set_sink(Box::new(kept.clone())).unwrap();
    recorder.restore(earlier.list());
    assert!(kept.0.lock().unwrap().is_empty(), "restoring is not recording");
    let merged = recorder.record(&app(), EventType::Warning, "BackOff", "Back-off");
    assert_eq!((merged.count, merged.first_seen), (3, old.first_seen));
    assert_eq!(recorder.list().len(), 1);
}

#[test]
fn a_forgotten_pod_leaves_nothing_behind_and_the_others_keep_merging() {
    let recorder = EventRecorder::new();
    let other = ObjectRef::pod("default", "db", "uid-2").container("app");
    for i in 0..12 {
        // Past the similar-event limit too: the combined event goes as well.
        recorder.record(&app(), EventType::Warning, "BackOff", &format!("m{i}"));
    }
    recorder.record(&other, EventType::Normal, "Started", "Started container app");
    recorder.record(&app(), EventType::Normal, "Started", "Started container app");
    recorder.forget_pod("uid-1");
    let events = recorder.list();
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].object.uid, "uid-2");
    assert_eq!(recorder.record(&other, EventType::Normal, "Started", "Started container app").count, 2, "still merges");
    // A pod that came back under the same uid starts afresh, below the similar limit.
    let again = recorder.record(&app(), EventType::Warning, "BackOff", "m0");
    assert_eq!((again.count, again.message.as_str()), (1, "m0"));
    assert_eq!(recorder.list().len(), 2);
}
