//! The kubelet's image garbage collector (`pkg/kubelet/images/image_gc_manager.go`):
//! every `--image-gc-period` (the kubelet's fixed 5 minutes) it looks at the image
//! filesystem, and when its usage has reached `--image-gc-high-threshold` (85 %) it
//! deletes unused images, least recently used first, until the usage would be down
//! to `--image-gc-low-threshold` (80 %). Images younger than
//! `--minimum-image-ttl-duration` (2 minutes, counted from when this daemon first saw
//! them) are never deleted; with `--image-maximum-gc-age` an image unused for longer
//! is deleted whatever the disk usage. The eviction manager's disk-pressure reclaim
//! deletes every eligible unused image through the same rules
//! ([`ImageGcManager::delete_unused_images`]).
//!
//! "Used" means named by a container of a pod this node holds, as the kubelet counts
//! the images of every container it knows, dead ones included. Like the kubelet's,
//! the records of when an image was first seen and last used live in memory: after a
//! restart every image starts young again.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::{Image, ImageError, ImageStore};

/// The image GC's settings, named as the kubelet's flags.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageGcPolicy {
    /// `--image-gc-high-threshold`: the disk usage (percent) at which GC runs; 100
    /// turns image GC off, as on the kubelet.
    pub high_threshold_percent: i64,
    /// `--image-gc-low-threshold`: the usage GC frees down to.
    pub low_threshold_percent: i64,
    /// `--minimum-image-ttl-duration`: no image younger is deleted.
    pub min_age: Duration,
    /// `--image-maximum-gc-age`: an image unused for longer is deleted (zero: never).
    pub max_age: Duration,
    /// `--image-gc-period`: how often GC runs (the kubelet's fixed 5 minutes).
    pub period: Duration,
}

impl Default for ImageGcPolicy {
    fn default() -> Self {
        ImageGcPolicy {
            high_threshold_percent: 85,
            low_threshold_percent: 80,
            min_age: Duration::from_secs(120),
            max_age: Duration::ZERO,
            period: Duration::from_secs(300),
        }
    }
}

impl ImageGcPolicy {
    /// The kubelet's configuration checks, with its messages.
    pub fn validate(&self) -> Result<(), String> {
        let (high, low) = (self.high_threshold_percent, self.low_threshold_percent);
        if !(0..=100).contains(&high) {
            return Err(format!("invalid configuration: imageGCHighThresholdPercent (--image-gc-high-threshold) {high} must be between 0 and 100, inclusive"));
        }
        if !(0..=100).contains(&low) {
            return Err(format!("invalid configuration: imageGCLowThresholdPercent (--image-gc-low-threshold) {low} must be between 0 and 100, inclusive"));
        }
        if low >= high {
            return Err(format!(
                "invalid configuration: imageGCLowThresholdPercent (--image-gc-low-threshold) {low} must be less than \
                 imageGCHighThresholdPercent (--image-gc-high-threshold) {high}"
            ));
        }
        if self.max_age != Duration::ZERO && self.max_age <= self.min_age {
            return Err(format!(
                "invalid configuration: imageMaximumGCAge (--image-maximum-gc-age) {:?} must be greater than \
                 imageMinimumGCAge (--minimum-image-ttl-duration) {:?}",
                self.max_age, self.min_age
            ));
        }
        Ok(())
    }

    /// Whether periodic GC runs: off only when `--image-gc-high-threshold` is 100 and
    /// `--image-maximum-gc-age` is 0, as in the kubelet.
    pub fn enabled(&self) -> bool {
        self.high_threshold_percent < 100 || !self.max_age.is_zero()
    }
}

/// The image filesystem's size and free space, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FsStats {
    pub capacity: u64,
    pub available: u64,
}

impl FsStats {
    /// `statvfs` of the filesystem holding `dir`.
    pub fn of(dir: &Path) -> Result<FsStats, String> {
        let (bytes, _) = crate::eviction::signals::filesystem(dir)?;
        Ok(FsStats { capacity: bytes.capacity, available: bytes.available })
    }
}

/// Why an image was deleted (`kubelet_image_garbage_collected_total{reason}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum GcReason {
    /// Unused for longer than `--image-maximum-gc-age`.
    Age,
    /// To bring the disk usage down.
    Space,
}

impl GcReason {
    /// The metric's label value.
    pub fn as_str(self) -> &'static str {
        match self {
            GcReason::Age => "age",
            GcReason::Space => "space",
        }
    }
}

/// A GC pass that could not do what it had to. The messages are the kubelet's.
#[derive(Debug, thiserror::Error)]
pub enum GcError {
    /// The filesystem reports no capacity (event `InvalidDiskCapacity`).
    #[error("invalid capacity 0 on image filesystem")]
    InvalidCapacity,
    /// Too little was eligible (event `FreeDiskSpaceFailed`).
    #[error("Failed to garbage collect required amount of images. Attempted to free {to_free} bytes, but only found {freed} bytes eligible to free.")]
    FreedTooLittle { to_free: u64, freed: u64 },
    /// The image filesystem or the store could not be read.
    #[error("image garbage collection cannot read the image store: {0}")]
    Store(String),
}

impl GcError {
    /// The reason of the node event the kubelet records for it, if any.
    pub fn event_reason(&self) -> Option<&'static str> {
        match self {
            GcError::InvalidCapacity => Some("InvalidDiskCapacity"),
            GcError::FreedTooLittle { .. } => Some("FreeDiskSpaceFailed"),
            GcError::Store(_) => None,
        }
    }
}

impl From<ImageError> for GcError {
    fn from(err: ImageError) -> Self {
        GcError::Store(err.to_string())
    }
}

/// When this daemon first saw an image and last saw it used.
#[derive(Debug, Clone, Copy)]
struct Record {
    first_detected: Instant,
    last_used: Option<Instant>,
}

/// The image garbage collector of one store. See the module docs.
pub struct ImageGcManager {
    store: ImageStore,
    policy: ImageGcPolicy,
    records: Mutex<HashMap<String, Record>>,
    collected: Mutex<HashMap<GcReason, u64>>,
}

impl ImageGcManager {
    /// A collector for `store` under `policy` (already validated).
    pub fn new(store: ImageStore, policy: ImageGcPolicy) -> ImageGcManager {
        ImageGcManager { store, policy, records: Mutex::default(), collected: Mutex::default() }
    }

    /// The policy.
    pub fn policy(&self) -> &ImageGcPolicy {
        &self.policy
    }

    /// The IDs of the stored images that `names` (pods' `image` fields) resolve to,
    /// the store read once. An unreadable store is an error: a pass must not take
    /// every image for unused.
    pub fn ids_in_use<'a>(&self, names: impl IntoIterator<Item = &'a str>) -> Result<HashSet<String>, GcError> {
        let images = self.store.list().map_err(|e| GcError::Store(e.to_string()))?;
        let names: HashSet<&str> = names.into_iter().collect();
        Ok(names.into_iter().filter_map(|n| self.store.resolve_in(&images, n).ok()).map(|i| i.id.clone()).collect())
    }

    /// Images deleted so far, by reason.
    pub fn collected(&self) -> Vec<(GcReason, u64)> {
        let mut out: Vec<_> = self.lock_collected().iter().map(|(r, n)| (*r, *n)).collect();
        out.sort();
        out
    }

    /// One periodic pass (the kubelet's `GarbageCollect`), measuring the store's
    /// filesystem. Returns the bytes freed.
    pub fn garbage_collect(&self, in_use: &HashSet<String>, now: Instant) -> Result<u64, GcError> {
        let fs = FsStats::of(self.store.dir()).map_err(GcError::Store)?;
        self.garbage_collect_on(fs, in_use, now)
    }

    /// [`Self::garbage_collect`] with the filesystem's figures given.
    pub fn garbage_collect_on(&self, fs: FsStats, in_use: &HashSet<String>, now: Instant) -> Result<u64, GcError> {
        let mut unused = self.detect(in_use, now)?;
        let mut freed = 0;
        if !self.policy.max_age.is_zero() {
            freed += self.free_old_images(&mut unused, now);
        }
        if fs.capacity == 0 {
            return Err(GcError::InvalidCapacity);
        }
        let available = fs.available.saturating_add(freed).min(fs.capacity);
        let usage_percent = 100 - (available as u128 * 100 / fs.capacity as u128) as i64;
        if usage_percent < self.policy.high_threshold_percent {
            return Ok(freed);
        }
        let low = self.policy.low_threshold_percent as u128;
        let to_free = (fs.capacity as u128 * (100 - low) / 100).saturating_sub(available as u128) as u64;
        tracing::info!(
            usage = usage_percent,
            high_threshold = self.policy.high_threshold_percent,
            amount_to_free = to_free,
            low_threshold = self.policy.low_threshold_percent,
            "Disk usage on image filesystem is over the high threshold, trying to free bytes down to the low threshold"
        );
        let space = self.free_space(to_free, unused, now);
        if space < to_free {
            return Err(GcError::FreedTooLittle { to_free, freed: space });
        }
        Ok(freed + space)
    }

    /// Deletes every eligible unused image (the kubelet's `DeleteUnusedImages`, the
    /// eviction manager's reclaim). Returns the bytes freed.
    pub fn delete_unused_images(&self, in_use: &HashSet<String>, now: Instant) -> Result<u64, GcError> {
        let unused = self.detect(in_use, now)?;
        Ok(self.free_space(u64::MAX, unused, now))
    }

    /// Updates the records from the store (new images first seen now, used ones used
    /// now, deleted ones forgotten) and returns the unused images, least recently
    /// used first (never used before used; then first seen first).
    fn detect(&self, in_use: &HashSet<String>, now: Instant) -> Result<Vec<(Image, Record)>, GcError> {
        let images = self.store.list()?;
        let mut records = self.lock_records();
        records.retain(|id, _| images.iter().any(|i| &i.id == id));
        let mut unused = Vec::new();
        for image in images {
            let record = records.entry(image.id.clone()).or_insert(Record { first_detected: now, last_used: None });
            if in_use.contains(&image.id) {
                record.last_used = Some(now);
            } else {
                unused.push((image, *record));
            }
        }
        unused.sort_by_key(|(image, r)| (r.last_used, r.first_detected, image.id.clone()));
        Ok(unused)
    }

    /// Deletes unused images (oldest use first) until `to_free` bytes are freed;
    /// returns the bytes freed.
    fn free_space(&self, to_free: u64, unused: Vec<(Image, Record)>, now: Instant) -> u64 {
        let mut freed = 0u64;
        for (image, record) in unused {
            if freed >= to_free {
                break;
            }
            if now.saturating_duration_since(record.first_detected) < self.policy.min_age {
                tracing::debug!(id = %image.id, min_age = ?self.policy.min_age, "Image ID's age is less than the policy's minAge, not eligible for garbage collection");
                continue;
            }
            if self.delete(&image, GcReason::Space) {
                freed += image.size_bytes;
            }
        }
        freed
    }

    /// Deletes the images unused for longer than the maximum age (taking them out of
    /// `unused`); returns the bytes freed.
    fn free_old_images(&self, unused: &mut Vec<(Image, Record)>, now: Instant) -> u64 {
        let mut freed = 0;
        unused.retain(|(image, record)| {
            let idle_since = record.last_used.unwrap_or(record.first_detected);
            let old = now.saturating_duration_since(idle_since) > self.policy.max_age
                && now.saturating_duration_since(record.first_detected) >= self.policy.min_age;
            if old && self.delete(image, GcReason::Age) {
                freed += image.size_bytes;
                return false;
            }
            true
        });
        freed
    }

    fn delete(&self, image: &Image, reason: GcReason) -> bool {
        tracing::info!(id = %image.id, size = image.size_bytes, reason = reason.as_str(), "Removing image to free bytes");
        match self.store.remove(&image.id) {
            Ok(_) => {
                self.lock_records().remove(&image.id);
                *self.lock_collected().entry(reason).or_default() += 1;
                true
            }
            Err(err) => {
                tracing::warn!(id = %image.id, "image garbage collection cannot remove the image: {err}");
                false
            }
        }
    }

    fn lock_records(&self) -> std::sync::MutexGuard<'_, HashMap<String, Record>> {
        self.records.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn lock_collected(&self) -> std::sync::MutexGuard<'_, HashMap<GcReason, u64>> {
        self.collected.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
#[path = "gc_tests.rs"]
mod tests;
