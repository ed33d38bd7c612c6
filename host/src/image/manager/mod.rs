//! The kubelet's image manager (`pkg/kubelet/images`): `EnsureImageExists` with its
//! pull policies, events, waiting reasons and back-off, over the store and the puller.
//! Pulls are serialized (the kubelet's `serializeImagePulls: true`), or run up to
//! `maxParallelImagePulls` at once (its parallel puller), and a pull in
//! progress is shared by every pod that needs the same image with the same
//! `imagePullSecrets`. A pod's secrets come from the [`SecretStore`]; one it names
//! that is not there is a Warning `FailedToRetrieveImagePullSecret`, and the pull goes
//! on without it, as the kubelet's does.

pub mod backoff;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::OnceCell;
use tokio::time::Instant;

use super::pull::{Keyring, PullConfig, PullError, Pulled, Puller};
use super::{ImageError, ImageStore, Reference};
use crate::events::EventType;
use crate::secret::SecretStore;
use crate::spec::PullPolicy;
use backoff::PullBackoff;

/// The image manager's settings.
#[derive(Debug, Clone)]
pub struct ImageManagerConfig {
    /// Registries, TLS and credentials.
    pub pull: PullConfig,
    /// First pull back-off (the kubelet's 10 s); tests shrink it.
    pub backoff_initial: Duration,
    /// Longest pull back-off (the kubelet's 300 s).
    pub backoff_max: Duration,
    /// Where pods' `imagePullSecrets` are looked up (`hooklet serve`'s applied
    /// Secrets); `None`: there are none.
    pub secrets: Option<SecretStore>,
    /// Pulls at once: `Some(1)` serialized (the kubelet's default), `None` unlimited.
    pub max_parallel_pulls: Option<usize>,
    /// When unused images are deleted ([`super::gc`]).
    pub gc: super::gc::ImageGcPolicy,
}

impl Default for ImageManagerConfig {
    fn default() -> Self {
        ImageManagerConfig {
            pull: PullConfig::default(),
            backoff_initial: backoff::INITIAL,
            backoff_max: backoff::MAX,
            secrets: None,
            max_parallel_pulls: Some(1),
            gc: Default::default(),
        }
    }
}

/// The pod a container's image is for: its uid (the back-off's key), namespace and
/// `imagePullSecrets` names. A bare uid is a pod of `default` without secrets.
#[derive(Debug, Clone, Copy)]
pub struct ImagePod<'a> {
    pub uid: &'a str,
    pub namespace: &'a str,
    pub pull_secrets: &'a [String],
}

impl<'a> From<&'a str> for ImagePod<'a> {
    fn from(uid: &'a str) -> Self {
        ImagePod { uid, namespace: "default", pull_secrets: &[] }
    }
}

/// Why a container's image is not there (yet): the waiting reason and message, and when
/// to ask again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageFailure {
    /// `ErrImagePull`, `ImagePullBackOff`, `InvalidImageName`, `ErrImageNeverPull`,
    /// `ImageInspectError`.
    pub reason: &'static str,
    /// The container status's message.
    pub message: String,
    /// When a new attempt can change anything (`None`: the caller's own back-off).
    pub retry_after: Option<Duration>,
}

/// Receives the manager's events: type, reason, message.
pub type ImageEvents<'a> = &'a (dyn Fn(EventType, &str, &str) + Send + Sync);

type SharedPull = Arc<OnceCell<Result<(Pulled, Duration), PullError>>>;

/// Makes pods' images present. See the module docs.
pub struct ImageManager {
    store: ImageStore,
    puller: Puller,
    secrets: Option<SecretStore>,
    backoff: Mutex<PullBackoff>,
    /// A permit is held while pulling (`None`: no limit).
    slots: Option<tokio::sync::Semaphore>,
    /// Pulls in progress, by normalised reference.
    in_flight: Mutex<HashMap<String, SharedPull>>,
}

impl ImageManager {
    /// A manager pulling into `store`.
    pub fn new(store: ImageStore, config: ImageManagerConfig) -> Result<ImageManager, String> {
        Ok(ImageManager {
            store,
            puller: Puller::new(config.pull)?,
            secrets: config.secrets,
            backoff: Mutex::new(PullBackoff::new(config.backoff_initial, config.backoff_max)),
            slots: config.max_parallel_pulls.map(|n| tokio::sync::Semaphore::new(n.max(1))),
            in_flight: Mutex::default(),
        })
    }

    /// The kubelet's `EnsureImageExists` for one container of `pod`: `image` as
    /// the pod spec writes it, `policy` as given (absent: `Always` for `:latest` and
    /// untagged images, else `IfNotPresent`). Records the kubelet's events.
    pub async fn ensure_image_exists<'p>(
        &self,
        pod: impl Into<ImagePod<'p>>,
        image: &str,
        policy: Option<PullPolicy>,
        events: ImageEvents<'_>,
    ) -> Result<(), ImageFailure> {
        let pod = pod.into();
        let keyring = self.pod_keyring(&pod, events);
        let fail = |reason, message: String, retry_after| ImageFailure { reason, message, retry_after };
        let reference = match Reference::parse(image) {
            Ok(reference) => reference,
            Err(err) => {
                let message = err.to_string();
                events(EventType::Warning, "InspectFailed", &message);
                return Err(fail("InvalidImageName", message, None));
            }
        };
        let policy = policy.unwrap_or_else(|| default_policy(&reference));
        if policy != PullPolicy::Always {
            match self.store.resolve(image) {
                Ok(_) => {
                    events(EventType::Normal, "Pulled", &format!("Container image \"{image}\" already present on machine"));
                    return Ok(());
                }
                Err(ImageError::NotPresent { .. }) if policy == PullPolicy::Never => {
                    let message = format!("Container image \"{image}\" is not present with pull policy of Never");
                    events(EventType::Warning, "ErrImageNeverPull", &message);
                    return Err(fail("ErrImageNeverPull", message, None));
                }
                Err(ImageError::NotPresent { .. }) => {}
                Err(err) => {
                    let message = format!("Failed to inspect image \"{image}\": {err}");
                    events(EventType::Warning, "InspectFailed", &message);
                    return Err(fail("ImageInspectError", message, None));
                }
            }
        }
        let key = format!("{}_{image}", pod.uid);
        let backing_off = self.lock_backoff().in_backoff(&key, Instant::now()).map(|(left, e)| (left, e.to_string()));
        if let Some((left, previous)) = backing_off {
            events(EventType::Normal, "BackOff", &format!("Back-off pulling image \"{image}\""));
            let message = format!("Back-off pulling image \"{image}\": ErrImagePull: {previous}");
            return Err(fail("ImagePullBackOff", message, Some(left)));
        }
        events(EventType::Normal, "Pulling", &format!("Pulling image \"{image}\""));
        let began = Instant::now();
        let shared = format!("{reference} {}/{}", pod.namespace, pod.pull_secrets.join(","));
        match self.pull_shared(shared, image, &keyring).await {
            Ok((pulled, pulling)) => {
                let total = began.elapsed();
                self.lock_backoff().gc(Instant::now());
                let message = format!(
                    "Successfully pulled image \"{image}\" in {} ({} including waiting). Image size: {} bytes.",
                    go_duration(pulling),
                    go_duration(total),
                    pulled.size
                );
                events(EventType::Normal, "Pulled", &message);
                Ok(())
            }
            Err(err) => {
                events(EventType::Warning, "Failed", &format!("Failed to pull image \"{image}\": {err}"));
                let mut backoff = self.lock_backoff();
                backoff.next(&key, Instant::now(), err.message.clone());
                // Asked again within the window, it shows `ImagePullBackOff`, as the
                // kubelet's next sync does.
                let retry_after = backoff.window(&key) / 2;
                Err(fail("ErrImagePull", err.message, Some(retry_after)))
            }
        }
    }

    /// The kubelet's `getPullSecretsForPod` and `MakeDockerKeyring`: the pod's
    /// image-pull secrets, in order, as a keyring. Those not found (or unreadable) are
    /// named in a Warning event and left out; other types are ignored.
    fn pod_keyring(&self, pod: &ImagePod<'_>, events: ImageEvents<'_>) -> Keyring {
        let mut found = Vec::new();
        let mut failed = Vec::new();
        for name in pod.pull_secrets.iter().filter(|n| !n.is_empty()) {
            let stored = self.secrets.as_ref().map(|s| s.get(pod.namespace, name)).unwrap_or(Ok(None));
            match stored {
                Ok(Some(stored)) => {
                    let secret = stored.secret;
                    if let Some((key, legacy)) = secret.docker_config_key() {
                        let source = format!("secret {}/{}", secret.namespace, secret.name);
                        found.push((source, secret.value(key).unwrap_or_default(), legacy));
                    }
                }
                Ok(None) => failed.push(name.clone()),
                Err(err) => {
                    tracing::warn!(namespace = pod.namespace, secret = %name, "{err}");
                    failed.push(name.clone());
                }
            }
        }
        if !failed.is_empty() {
            let message = format!(
                "Unable to retrieve some image pull secrets ({}); attempting to pull the image may not succeed.",
                failed.join(", ")
            );
            events(EventType::Warning, "FailedToRetrieveImagePullSecret", &message);
        }
        Keyring::from_secrets(&found).unwrap_or_else(|err| {
            // Checked when applied: only a damaged file gets here.
            tracing::warn!(namespace = pod.namespace, "an image pull secret is unreadable: {err}");
            Keyring::default()
        })
    }

    /// Pulls `image` (`key`: normalised, with the pod's secrets), joining a pull of the
    /// same in progress. Returns what was pulled and how long the pull itself took
    /// (queueing excluded).
    async fn pull_shared(&self, key: String, image: &str, keyring: &Keyring) -> Result<(Pulled, Duration), PullError> {
        let cell = self.lock_in_flight().entry(key.clone()).or_default().clone();
        let result = cell
            .get_or_init(|| async {
                let _turn = match &self.slots {
                    Some(slots) => Some(slots.acquire().await.expect("the pull slots are never closed")),
                    None => None,
                };
                let began = Instant::now();
                let progress = |line: String| tracing::debug!(%image, "{line}");
                self.puller.pull(&self.store, image, keyring, &progress).await.map(|pulled| (pulled, began.elapsed()))
            })
            .await
            .clone();
        let mut in_flight = self.lock_in_flight();
        if in_flight.get(&key).is_some_and(|c| Arc::ptr_eq(c, &cell)) {
            in_flight.remove(&key);
        }
        result
    }

    fn lock_backoff(&self) -> std::sync::MutexGuard<'_, PullBackoff> {
        self.backoff.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn lock_in_flight(&self) -> std::sync::MutexGuard<'_, HashMap<String, SharedPull>> {
        self.in_flight.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The API server's default `imagePullPolicy`: `Always` when the tag is `latest`
/// (which an untagged name gets), else `IfNotPresent` (a digest-only name has no tag).
pub fn default_policy(reference: &Reference) -> PullPolicy {
    if reference.tag.as_deref() == Some("latest") {
        PullPolicy::Always
    } else {
        PullPolicy::IfNotPresent
    }
}

/// Go's `time.Duration.String()` of `d` truncated to milliseconds, as the kubelet
/// prints pull times: `523ms`, `1.234s`, `1m2.5s`, `0s`.
pub fn go_duration(d: Duration) -> String {
    crate::gostr::go_duration(Duration::from_millis(d.as_millis() as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_policy_is_always_for_latest_and_untagged() {
        let policy = |image: &str| default_policy(&Reference::parse(image).unwrap());
        let digest = format!("sha256:{}", "a".repeat(64));
        assert_eq!(policy("busybox"), PullPolicy::Always);
        assert_eq!(policy("busybox:latest"), PullPolicy::Always);
        assert_eq!(policy("busybox:1.36"), PullPolicy::IfNotPresent);
        assert_eq!(policy(&format!("busybox@{digest}")), PullPolicy::IfNotPresent);
        assert_eq!(policy(&format!("busybox:latest@{digest}")), PullPolicy::Always);
    }

    #[test]
    fn durations_read_as_go_prints_them() {
        let ms = Duration::from_millis;
        assert_eq!(go_duration(Duration::from_micros(400)), "0s");
        assert_eq!(go_duration(ms(523)), "523ms");
        assert_eq!(go_duration(ms(1234)), "1.234s");
        assert_eq!(go_duration(ms(1500)), "1.5s");
        assert_eq!(go_duration(ms(2000)), "2s");
        assert_eq!(go_duration(ms(62_500)), "1m2.5s");
        assert_eq!(go_duration(ms(3_600_000)), "1h0m0s");
    }
}
