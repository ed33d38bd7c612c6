//! The kubelet's image manager against a real registry: pull policies, the exact
//! events and waiting reasons, the pull back-off (shrunken), and one pull shared by
//! two pods.

mod registry_support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use hooklet::events::EventType;
use hooklet::image::manager::{ImageFailure, ImageManager, ImageManagerConfig};
use hooklet::image::pull::PullConfig;
use hooklet::image::ImageStore;
use hooklet::spec::PullPolicy;
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

    fn reasons(&self) -> Vec<String> {
        self.take().into_iter().map(|(_, r, _)| r).collect()
    }
}

fn manager(store: &ImageStore, registry: &TestRegistry, backoff: Duration) -> ImageManager {
    let pull = PullConfig { insecure_registries: vec![registry.addr.clone()], ..PullConfig::default() };
    let config = ImageManagerConfig { pull, backoff_initial: backoff, backoff_max: backoff * 4 };
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
