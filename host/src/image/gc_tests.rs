//! The image GC's decisions on a real store of small images, with the filesystem's
//! figures given (the daemon's test measures a real one).

use std::time::{Duration, Instant};

use serde_json::json;

use super::*;
use crate::image::testutil::{docker_save, layer, tar_of, E};

const SIZE: usize = 1000;

struct Fixture {
    _dir: tempfile::TempDir,
    store: ImageStore,
    ids: HashMap<&'static str, String>,
}

/// A store holding one image of `SIZE` bytes per name (`NAME:1`).
fn fixture(names: &[&'static str]) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let store = ImageStore::open(dir.path().join("images")).unwrap();
    let mut f = Fixture { _dir: dir, store, ids: HashMap::new() };
    for name in names {
        f.add(name);
    }
    f
}

impl Fixture {
    /// Imports image `name`.
    fn add(&mut self, name: &'static str) {
        let content: String = name.chars().cycle().take(SIZE).collect();
        let files = docker_save(&[layer(&[E::File("data", &content)])], json!({"Cmd": ["true"]}), &[&format!("{name}:1")]);
        let archive = self._dir.path().join(format!("{name}.tar"));
        std::fs::write(&archive, tar_of(&files)).unwrap();
        let imported = self.store.import(&archive).unwrap();
        assert_eq!(imported[0].image.size_bytes, SIZE as u64);
        self.ids.insert(name, imported[0].image.id.clone());
    }

    fn gc(&self, policy: ImageGcPolicy) -> ImageGcManager {
        ImageGcManager::new(self.store.clone(), policy)
    }

    fn in_use(&self, names: &[&str]) -> HashSet<String> {
        names.iter().map(|n| self.ids[n].clone()).collect()
    }

    /// The names still stored.
    fn stored(&self) -> Vec<String> {
        let mut names: Vec<String> =
            self.store.list().unwrap().iter().map(|i| i.references[0].trim_start_matches("docker.io/library/").trim_end_matches(":1").to_string()).collect();
        names.sort();
        names
    }
}

fn no_min_age() -> ImageGcPolicy {
    ImageGcPolicy { min_age: Duration::ZERO, ..ImageGcPolicy::default() }
}

/// A filesystem of 10,000 bytes with `available` free: 90 % used at 1,000.
fn fs(available: u64) -> FsStats {
    FsStats { capacity: 10_000, available }
}

#[test]
fn the_defaults_and_checks_are_the_kubelets() {
    let p = ImageGcPolicy::default();
    assert_eq!((p.high_threshold_percent, p.low_threshold_percent, p.min_age, p.max_age), (85, 80, Duration::from_secs(120), Duration::ZERO));
    assert!(p.validate().is_ok() && p.enabled());
    assert!(!ImageGcPolicy { high_threshold_percent: 100, ..p.clone() }.enabled());
    assert!(ImageGcPolicy { high_threshold_percent: 100, max_age: Duration::from_secs(60), ..p.clone() }.enabled());
    let err = |p: ImageGcPolicy| p.validate().unwrap_err();
    assert_eq!(
        err(ImageGcPolicy { high_threshold_percent: 101, ..p.clone() }),
        "invalid configuration: imageGCHighThresholdPercent (--image-gc-high-threshold) 101 must be between 0 and 100, inclusive"
    );
    assert!(err(ImageGcPolicy { low_threshold_percent: -1, ..p.clone() }).contains("(--image-gc-low-threshold) -1 must be between 0 and 100"));
    assert_eq!(
        err(ImageGcPolicy { low_threshold_percent: 85, ..p.clone() }),
        "invalid configuration: imageGCLowThresholdPercent (--image-gc-low-threshold) 85 must be less than imageGCHighThresholdPercent (--image-gc-high-threshold) 85"
    );
    assert!(err(ImageGcPolicy { max_age: Duration::from_secs(60), ..p }).contains("--image-maximum-gc-age"));
}

#[test]
fn below_the_high_threshold_nothing_is_deleted() {
    let f = fixture(&["alpha", "beta"]);
    let gc = f.gc(no_min_age());
    // 84 % used.
    assert_eq!(gc.garbage_collect_on(fs(1_600), &HashSet::new(), Instant::now()).unwrap(), 0);
    assert_eq!(f.stored(), ["alpha", "beta"]);
}

#[test]
fn over_the_high_threshold_the_least_recently_used_unused_images_go_down_to_the_low_one() {
    let mut f = fixture(&["used", "once", "old"]);
    let gc = f.gc(no_min_age());
    let t0 = Instant::now();
    // t0: "old" is there and unused, "once" and "used" are in use. "new" appears at t1.
    assert_eq!(gc.garbage_collect_on(fs(5_000), &f.in_use(&["used", "once"]), t0).unwrap(), 0);
    f.add("new");
    let t1 = t0 + Duration::from_secs(10);
    // At t1 "once" is no longer used. 90 % used: 1,000 bytes to free (down to 80 %):
    // the never-used image first seen first goes, nothing else.
    assert_eq!(gc.garbage_collect_on(fs(1_000), &f.in_use(&["used"]), t1).unwrap(), SIZE as u64);
    assert_eq!(f.stored(), ["new", "once", "used"]);
    // Full: 2,000 to free: the other never-used one, then the least recently used.
    let t2 = t1 + Duration::from_secs(10);
    assert_eq!(gc.garbage_collect_on(fs(0), &f.in_use(&["used"]), t2).unwrap(), 2 * SIZE as u64);
    assert_eq!(f.stored(), ["used"]);
    // What is in use is never deleted, even when that is not enough.
    let err = gc.garbage_collect_on(fs(0), &f.in_use(&["used"]), t2).unwrap_err();
    assert_eq!(err.to_string(), "Failed to garbage collect required amount of images. Attempted to free 2000 bytes, but only found 0 bytes eligible to free.");
    assert_eq!(err.event_reason(), Some("FreeDiskSpaceFailed"));
    assert_eq!(f.stored(), ["used"]);
    assert_eq!(gc.collected(), [(GcReason::Space, 3)]);
}

#[test]
fn images_younger_than_the_minimum_age_are_kept() {
    let f = fixture(&["young", "older"]);
    let gc = f.gc(ImageGcPolicy { min_age: Duration::from_secs(120), ..ImageGcPolicy::default() });
    let t0 = Instant::now();
    let err = gc.garbage_collect_on(fs(0), &HashSet::new(), t0).unwrap_err();
    assert!(matches!(err, GcError::FreedTooLittle { to_free: 2000, freed: 0 }), "{err}");
    assert_eq!(f.stored(), ["older", "young"]);
    // Two minutes later both are old enough; one is enough to free.
    assert_eq!(gc.garbage_collect_on(fs(1_000), &HashSet::new(), t0 + Duration::from_secs(120)).unwrap(), SIZE as u64);
    assert_eq!(f.stored().len(), 1);
}

#[test]
fn an_image_unused_past_the_maximum_age_goes_whatever_the_disk() {
    let f = fixture(&["idle", "busy"]);
    let gc = f.gc(ImageGcPolicy { min_age: Duration::ZERO, max_age: Duration::from_secs(60), ..ImageGcPolicy::default() });
    let t0 = Instant::now();
    let busy = f.in_use(&["busy"]);
    assert_eq!(gc.garbage_collect_on(fs(9_000), &busy, t0).unwrap(), 0);
    assert_eq!(gc.garbage_collect_on(fs(9_000), &busy, t0 + Duration::from_secs(60)).unwrap(), 0, "not past the age yet");
    assert_eq!(gc.garbage_collect_on(fs(9_000), &busy, t0 + Duration::from_secs(61)).unwrap(), SIZE as u64);
    assert_eq!(f.stored(), ["busy"]);
    assert_eq!(gc.collected(), [(GcReason::Age, 1)]);
}

#[test]
fn a_filesystem_without_capacity_is_an_error_and_reclaim_takes_every_unused_image() {
    let f = fixture(&["a", "b", "c"]);
    let gc = f.gc(no_min_age());
    let err = gc.garbage_collect_on(FsStats { capacity: 0, available: 0 }, &HashSet::new(), Instant::now()).unwrap_err();
    assert_eq!((err.to_string().as_str(), err.event_reason()), ("invalid capacity 0 on image filesystem", Some("InvalidDiskCapacity")));
    assert_eq!(f.stored().len(), 3);
    assert_eq!(gc.delete_unused_images(&f.in_use(&["b"]), Instant::now()).unwrap(), 2 * SIZE as u64);
    assert_eq!(f.stored(), ["b"]);
    assert_eq!(gc.ids_in_use(["b:1", "docker.io/library/b:1", "missing:1"]).unwrap(), f.in_use(&["b"]));
}
