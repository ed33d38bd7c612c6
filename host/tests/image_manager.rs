//! The kubelet's image manager against a real registry: pull policies, the exact
//! events and waiting reasons, the pull back-off (shrunken), one pull shared by
//! two pods, and serialized or parallel pulls.

mod registry_support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use hooklet::events::EventType;
use hooklet::image::manager::{ImageFailure, ImageManager, ImageManagerConfig};
use hooklet::image::pull::PullConfig;
use hooklet::image::ImageStore;
use hooklet::spec::PullPolicy;
use registry_support::gate::Gate;
use registry_support::{host_arch, registry_available, with_image, Mode, TestImage, TestRegistry};

/// Events as (type, reason, message).
#[derive(Default, Clone)]
struct Events(Arc<Mutex<Vec<(EventType, String, String)>>>);

impl Events {
    fn sink(&self) -> impl Fn(EventType, &str, &str) + Send + Sync + 'static {
        let events = self.0.clone();
        move |t, reason: &str, message: &str| events.lock().unwrap().push((t, reason.to_string(), message.to_string()))
    }

    fn take(&self) -> Vec<(EventType, String, String)> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }

    fn count(&self) -> usize {
        self.0.lock().unwrap().len()
    }

    fn reasons(&self) -> Vec<String> {
        self.take().into_iter().map(|(_, r, _)| r).collect()
    }
}

fn manager(store: &ImageStore, registry: &TestRegistry, backoff: Duration) -> ImageManager {
    manager_at(store, &registry.addr, backoff, Some(1))
}

/// A manager pulling from `addr` over plain HTTP, `parallel` pulls at once.
fn manager_at(store: &ImageStore, addr: &str, backoff: Duration, parallel: Option<usize>) -> ImageManager {
    let pull = PullConfig { insecure_registries: vec![addr.to_string()], ..PullConfig::default() };
    let config = ImageManagerConfig { pull, backoff_initial: backoff, backoff_max: backoff * 4, max_parallel_pulls: parallel, ..Default::default() };
    ImageManager::new(store.clone(), config).unwrap()
}

fn image() -> TestImage {
    TestImage::new(host_arch(), &[("bin/app", b"app")])
}

#[tokio::test]
async fn policies_give_the_kubelets_events_and_reasons() {
    if !registry_available() {
        return;
    }
    let pushed = image();
    let (registry, _dir, store) = with_image(Mode::Plain, "test/app:1", &pushed).await;
    registry.push("test/app:latest", &pushed).await;
    let images = manager(&store, &registry, Duration::from_secs(10));
    let events = Events::default();
    let sink = events.sink();
    let name = format!("{}/test/app:1", registry.addr);

    // Never, absent.
    let err = images.ensure_image_exists("uid-1", &name, Some(PullPolicy::Never), &sink).await.unwrap_err();
    let message = format!("Container image \"{name}\" is not present with pull policy of Never");
    assert_eq!(err, ImageFailure { reason: "ErrImageNeverPull", message: message.clone(), retry_after: None });
    assert_eq!(events.take(), [(EventType::Warning, "ErrImageNeverPull".into(), message)]);

    // IfNotPresent (the default of a tag other than latest), absent: pulled.
    images.ensure_image_exists("uid-1", &name, None, &sink).await.expect("pulled");
    let got = events.take();
    assert_eq!(got[0], (EventType::Normal, "Pulling".into(), format!("Pulling image \"{name}\"")));
    let (kind, reason, message) = &got[1];
    assert_eq!((kind, reason.as_str()), (&EventType::Normal, "Pulled"));
    let size = pushed.config.len() + pushed.layers[0].gzipped.len();
    assert!(message.starts_with(&format!("Successfully pulled image \"{name}\" in ")), "{message}");
    assert!(message.contains(" including waiting). Image size: ") && message.ends_with(&format!(": {size} bytes.")), "{message}");
    assert_eq!(got.len(), 2);

    // Present: IfNotPresent and Never do not ask the registry.
    for policy in [None, Some(PullPolicy::Never)] {
        images.ensure_image_exists("uid-2", &name, policy, &sink).await.unwrap();
        assert_eq!(events.take(), [(EventType::Normal, "Pulled".into(), format!("Container image \"{name}\" already present on machine"))]);
    }

    // `:latest` defaults to Always: the registry is asked again, no blob fetched twice.
    let latest = format!("{}/test/app:latest", registry.addr);
    images.ensure_image_exists("uid-3", &latest, None, &sink).await.unwrap();
    assert_eq!(events.reasons(), ["Pulling", "Pulled"]);
    images.ensure_image_exists("uid-3", &latest, None, &sink).await.unwrap();
    assert_eq!(events.reasons(), ["Pulling", "Pulled"]);
    assert_eq!(registry.blob_gets(&pushed.layers[0].digest()), 1);

    // An invalid name.
    let err = images.ensure_image_exists("uid-4", "Bad/Name:1", None, &sink).await.unwrap_err();
    assert_eq!(err.reason, "InvalidImageName");
    assert!(err.message.starts_with("Failed to apply default image tag \"Bad/Name:1\": couldn't parse image name \"Bad/Name:1\""), "{}", err.message);
    assert_eq!(events.take(), [(EventType::Warning, "InspectFailed".into(), err.message)]);
}

#[tokio::test]
async fn a_failing_pull_backs_off_doubling_and_succeeds_once_the_registry_is_up() {
    if !registry_available() {
        return;
    }
    let pushed = image();
    let (mut registry, _dir, store) = with_image(Mode::Plain, "test/app:1", &pushed).await;
    registry.down();
    let window = Duration::from_millis(400);
    let images = manager(&store, &registry, window);
    let events = Events::default();
    let sink = events.sink();
    let name = format!("{}/test/app:1", registry.addr);
    let refused = format!("cannot reach {}: connection refused", registry.addr);

    let err = images.ensure_image_exists("uid-1", &name, None, &sink).await.unwrap_err();
    assert_eq!(err, ImageFailure { reason: "ErrImagePull", message: refused.clone(), retry_after: Some(window / 2) });
    let got = events.take();
    assert_eq!(got[1], (EventType::Warning, "Failed".into(), format!("Failed to pull image \"{name}\": {refused}")));

    // Inside the window: no attempt, ImagePullBackOff with the previous error.
    let err = images.ensure_image_exists("uid-1", &name, None, &sink).await.unwrap_err();
    assert_eq!(err.reason, "ImagePullBackOff");
    assert_eq!(err.message, format!("Back-off pulling image \"{name}\": ErrImagePull: {refused}"));
    let left = err.retry_after.unwrap();
    assert!(left <= window);
    assert_eq!(events.take(), [(EventType::Normal, "BackOff".into(), format!("Back-off pulling image \"{name}\""))]);
    // Another pod has a window of its own.
    let err = images.ensure_image_exists("uid-2", &name, None, &sink).await.unwrap_err();
    assert_eq!(err.reason, "ErrImagePull");
    events.take();

    // After the window: tried again, failing again doubles it.
    tokio::time::sleep(left).await;
    let err = images.ensure_image_exists("uid-1", &name, None, &sink).await.unwrap_err();
    assert_eq!((err.reason, err.retry_after), ("ErrImagePull", Some(window)));
    assert_eq!(events.reasons(), ["Pulling", "Failed"]);

    registry.up().await;
    tokio::time::sleep(err.retry_after.unwrap() * 2).await;
    images.ensure_image_exists("uid-1", &name, None, &sink).await.expect("pulled once the registry is up");
    assert_eq!(events.reasons(), ["Pulling", "Pulled"]);
}

#[tokio::test]
async fn two_pods_needing_one_image_share_one_pull() {
    if !registry_available() {
        return;
    }
    let pushed = image();
    let (registry, _dir, store) = with_image(Mode::Plain, "test/app:1", &pushed).await;
    let images = manager(&store, &registry, Duration::from_secs(10));
    let (a, b) = (Events::default(), Events::default());
    let (sink_a, sink_b) = (a.sink(), b.sink());
    let name = format!("{}/test/app:1", registry.addr);
    let (first, second) = tokio::join!(
        images.ensure_image_exists("uid-a", &name, None, &sink_a),
        images.ensure_image_exists("uid-b", &name, None, &sink_b),
    );
    first.unwrap();
    second.unwrap();
    assert_eq!(a.reasons(), ["Pulling", "Pulled"]);
    assert_eq!(b.reasons(), ["Pulling", "Pulled"]);
    assert_eq!(registry.blob_gets(&pushed.layers[0].digest()), 1, "{}", registry.log());
    assert_eq!(registry.blob_gets(&pushed.id()), 1);
}

#[tokio::test]
async fn pulls_run_one_at_a_time_or_up_to_the_parallel_limit() {
    if !registry_available() {
        return;
    }
    let registry = TestRegistry::start(Mode::Plain).await;
    let pushed: Vec<TestImage> = (0..3).map(|i| TestImage::new(host_arch(), &[("bin/app", format!("app {i}").as_bytes())])).collect();
    for (i, image) in pushed.iter().enumerate() {
        registry.push(&format!("test/app{i}:1"), image).await;
    }
    for (limit, at_once) in [(Some(1), 1), (Some(2), 2), (None, 3)] {
        // Connections are held until every pull has begun: those past the limit wait
        // for a slot without connecting.
        let gate = Gate::start(&registry.addr);
        let dir = tempfile::tempdir().unwrap();
        let store = ImageStore::open(dir.path().join("images")).unwrap();
        let images = manager_at(&store, &gate.addr, Duration::from_secs(10), limit);
        let events: Vec<Events> = (0..3).map(|_| Events::default()).collect();
        let sinks: Vec<_> = events.iter().map(Events::sink).collect();
        let names: Vec<String> = (0..3).map(|i| format!("{}/test/app{i}:1", gate.addr)).collect();
        let watch = async {
            gate.wait_held(at_once).await;
            while events.iter().any(|e| e.count() == 0) {
                tokio::task::yield_now().await;
            }
            let held = gate.held();
            gate.open();
            held
        };
        let (a, b, c, held) = tokio::join!(
            images.ensure_image_exists("uid-0", &names[0], None, &sinks[0]),
            images.ensure_image_exists("uid-1", &names[1], None, &sinks[1]),
            images.ensure_image_exists("uid-2", &names[2], None, &sinks[2]),
            watch,
        );
        assert_eq!(held, at_once, "limit {limit:?}");
        for result in [a, b, c] {
            result.expect("pulled");
        }
        for (e, name) in events.iter().zip(&names) {
            assert_eq!(e.reasons(), ["Pulling", "Pulled"]);
            assert!(store.resolve(name).is_ok(), "{name} is stored");
        }
    }
}
