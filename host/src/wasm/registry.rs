//! The registry: which version of each plugin serves deliveries, loading on first use,
//! reloading on change, and what each plugin has cost so far.
//!
//! A delivery takes an `Arc` of the serving [`LoadedPlugin`], so a reload never disturbs a
//! delivery already running: it finishes on the version it started with. A reload that
//! fails (a broken replacement) leaves the previous version serving and is reported as a
//! [`PluginNotice`]. Without a watcher ([`WasmConfig::watch`](super::WasmConfig::watch)),
//! every delivery compares the files' stamps and loads a changed plugin itself.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::broadcast;

use super::outcome::WasmOutcome;
use super::failure::WasmFailure;
use super::plugin::{check_name, invalid, LoadedPlugin, Loader, Stamps};

/// What happened to a plugin in the plugin directory (see
/// [`WasmHost::plugin_notices`](super::WasmHost::plugin_notices)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginNotice {
    /// The plugin's name.
    pub plugin: String,
    /// What happened.
    pub change: PluginChange,
}

/// A change of the version serving a plugin's deliveries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PluginChange {
    /// A plugin was loaded for the first time (digest of the component).
    Loaded { sha256: String },
    /// A changed plugin (component or manifest) now serves, replacing version `from`.
    Reloaded { from: String, to: String },
    /// A changed plugin could not be loaded; `serving` (if any) keeps serving.
    ReloadFailed { reason: String, serving: Option<String> },
    /// `NAME.wasm` was removed; deliveries to it now fail as not found.
    Removed,
}

impl PluginChange {
    /// `Normal`-style reason and message for an event about plugin `plugin`.
    pub fn describe(&self, plugin: &str) -> (&'static str, String) {
        match self {
            PluginChange::Loaded { sha256 } => (
                "PluginLoaded",
                format!("Loaded plugin {plugin} (sha256 {})", short(sha256)),
            ),
            PluginChange::Reloaded { from, to } => (
                "PluginReloaded",
                format!("Reloaded plugin {plugin}: sha256 {} replaces {}", short(to), short(from)),
            ),
            PluginChange::ReloadFailed { reason, serving } => (
                "PluginReloadFailed",
                match serving {
                    Some(sha) => format!(
                        "The new version of plugin {plugin} was refused and version {} keeps serving: {reason}",
                        short(sha)
                    ),
                    None => format!("Plugin {plugin} cannot be loaded: {reason}"),
                },
            ),
            PluginChange::Removed => (
                "PluginRemoved",
                format!("Plugin {plugin} was removed from the plugin directory"),
            ),
        }
    }
}

/// The first 12 hex digits of a digest.
fn short(sha256: &str) -> &str {
    sha256.get(..12).unwrap_or(sha256)
}

/// What one plugin's deliveries have cost since hooklet started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PluginUsage {
    /// Deliveries run (succeeded or failed).
    pub deliveries: u64,
    /// Deliveries that failed.
    pub failures: u64,
    /// Fuel consumed by all of them.
    pub fuel_consumed: u64,
    /// The most linear memory any one delivery had, in bytes.
    pub peak_memory_bytes: u64,
}

/// The plugin versions serving deliveries, and how they get there.
pub(crate) struct Registry {
    pub loader: Loader,
    serving: Mutex<HashMap<String, Arc<LoadedPlugin>>>,
    /// One lock per plugin name, held while loading it, so concurrent first deliveries
    /// (and the watcher) compile a plugin once, and a slow plugin never holds up another.
    loading: Mutex<HashMap<String, Arc<Mutex<()>>>>,
    /// The latest failure to load each plugin whose files are broken now, with the
    /// files' stamps then (so the same broken files are not loaded again and again).
    problems: Mutex<HashMap<String, (Option<Stamps>, String)>>,
    usage: Mutex<HashMap<String, PluginUsage>>,
    /// True while a watcher keeps `serving` current: deliveries then skip the file stats.
    watched: AtomicBool,
    notices: broadcast::Sender<PluginNotice>,
}

/// Locks a mutex, ignoring poisoning (no code here panics while holding one).
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Registry {
    /// An empty registry loading with `loader`.
    pub fn new(loader: Loader) -> Registry {
        Registry {
            loader,
            serving: Mutex::default(),
            loading: Mutex::default(),
            problems: Mutex::default(),
            usage: Mutex::default(),
            watched: AtomicBool::new(false),
            notices: broadcast::channel(256).0,
        }
    }

    /// The version of `name` to deliver to: the serving one, else loaded now (on a
    /// blocking thread; the result is kept even if the caller is gone by then).
    pub async fn get(self: &Arc<Self>, name: &str) -> Result<Arc<LoadedPlugin>, WasmFailure> {
        check_name(name).map_err(|reason| invalid(name, reason))?;
        if let Some(current) = self.current(name)? {
            return Ok(current);
        }
        let this = self.clone();
        let name = name.to_owned();
        tokio::task::spawn_blocking(move || this.load_now(&name, false))
            .await
            .unwrap_or_else(|err| Err(WasmFailure::Host(format!("loading the plugin panicked: {err}"))))
    }

    /// The serving version if it is current: always when watched, else when the files'
    /// stamps are unchanged.
    fn current(&self, name: &str) -> Result<Option<Arc<LoadedPlugin>>, WasmFailure> {
        let serving = lock(&self.serving).get(name).cloned();
        let Some(serving) = serving else { return Ok(None) };
        if self.watched.load(Ordering::Acquire) {
            return Ok(Some(serving));
        }
        let (wasm, manifest) = self.loader.paths(name);
        let stamps = Some(Stamps::read(name, &wasm, &manifest)?);
        // Unchanged files, or the same broken replacement that was refused before.
        let refused = lock(&self.problems).get(name).is_some_and(|(at, _)| *at == stamps);
        Ok((stamps == Some(serving.stamps) || refused).then_some(serving))
    }

    /// Loads `name` from its files unless another caller did meanwhile (or `force`), makes
    /// it the serving version and reports the change. When the files are broken, the
    /// previous version (if any) keeps serving and is returned. Blocking.
    pub fn load_now(&self, name: &str, force: bool) -> Result<Arc<LoadedPlugin>, WasmFailure> {
        let name_lock = lock(&self.loading).entry(name.to_owned()).or_default().clone();
        let _loading = lock(&name_lock);
        let previous = lock(&self.serving).get(name).cloned();
        if !force {
            if let Ok(Some(current)) = self.current(name) {
                return Ok(current);
            }
        }
        match self.loader.load(name, previous.as_deref()) {
            Ok(loaded) => {
                let loaded = Arc::new(loaded);
                lock(&self.serving).insert(name.to_owned(), loaded.clone());
                lock(&self.problems).remove(name);
                let to = loaded.info.sha256.clone();
                self.notify(
                    name,
                    match previous {
                        None => PluginChange::Loaded { sha256: to },
                        Some(previous) => PluginChange::Reloaded {
                            from: previous.info.sha256.clone(),
                            to,
                        },
                    },
                );
                Ok(loaded)
            }
            Err(WasmFailure::PluginNotFound { .. }) if previous.is_some() => {
                self.remove(name);
                Err(WasmFailure::PluginNotFound {
                    plugin: name.to_owned(),
                    path: self.loader.paths(name).0,
                })
            }
            Err(failure) => {
                let reason = match &failure {
                    WasmFailure::InvalidPlugin { reason, .. } => reason.clone(),
                    other => other.to_string(),
                };
                let (wasm, manifest) = self.loader.paths(name);
                let stamps = Stamps::read(name, &wasm, &manifest).ok();
                lock(&self.problems).insert(name.to_owned(), (stamps, reason.clone()));
                // A broken replacement never takes a working plugin down, unless the new
                // manifest pins another build: a pin is never bypassed.
                let had_previous = previous.is_some();
                let previous = previous.filter(|p| !self.loader.pin_refuses(name, &p.info.sha256));
                if previous.is_none() {
                    lock(&self.serving).remove(name);
                }
                let serving = previous.as_ref().map(|p| p.info.sha256.clone());
                if force || had_previous {
                    self.notify(name, PluginChange::ReloadFailed { reason, serving });
                }
                previous.ok_or(failure)
            }
        }
    }

    /// Forgets plugin `name` (its file is gone).
    pub fn remove(&self, name: &str) {
        lock(&self.problems).remove(name);
        if lock(&self.serving).remove(name).is_some() {
            tracing::info!(plugin = name, "plugin removed");
            self.notify(name, PluginChange::Removed);
        }
    }

    fn notify(&self, plugin: &str, change: PluginChange) {
        match &change {
            PluginChange::Reloaded { .. } => tracing::info!(plugin, ?change, "plugin reloaded"),
            PluginChange::ReloadFailed { .. } => tracing::warn!(plugin, ?change, "plugin reload failed"),
            _ => tracing::debug!(plugin, ?change, "plugin changed"),
        }
        let _ = self.notices.send(PluginNotice {
            plugin: plugin.to_owned(),
            change,
        });
    }

    /// A stream of [`PluginNotice`]s.
    pub fn subscribe(&self) -> broadcast::Receiver<PluginNotice> {
        self.notices.subscribe()
    }

    /// The serving version when a watcher keeps it current (its manifest is then the
    /// one on disk, without reading it again).
    pub fn watched_serving(&self, name: &str) -> Option<Arc<LoadedPlugin>> {
        self.watched.load(Ordering::Acquire).then(|| self.serving(name)).flatten()
    }

    /// Marks the registry as kept current by a watcher (or not any more).
    pub fn set_watched(&self, watched: bool) {
        self.watched.store(watched, Ordering::Release);
    }

    /// Adds one delivery's figures to `plugin`'s usage.
    pub fn record_usage(&self, plugin: &str, outcome: &WasmOutcome) {
        let mut usage = lock(&self.usage);
        if !usage.contains_key(plugin) {
            usage.insert(plugin.to_owned(), PluginUsage::default());
        }
        let entry = usage.get_mut(plugin).expect("inserted above");
        entry.deliveries += 1;
        entry.failures += u64::from(outcome.result.is_err());
        entry.fuel_consumed += outcome.fuel_consumed;
        entry.peak_memory_bytes = entry.peak_memory_bytes.max(outcome.peak_memory_bytes);
    }

    /// Every plugin's usage so far.
    pub fn usage(&self) -> HashMap<String, PluginUsage> {
        lock(&self.usage).clone()
    }

    /// The serving version of `name`, without checking its files.
    pub fn serving(&self, name: &str) -> Option<Arc<LoadedPlugin>> {
        lock(&self.serving).get(name).cloned()
    }

    /// The names of the plugins serving now.
    pub fn serving_names(&self) -> Vec<String> {
        lock(&self.serving).keys().cloned().collect()
    }

    /// Why `name` could not be loaded the last time it was tried, if its files are broken.
    pub fn problem(&self, name: &str) -> Option<String> {
        lock(&self.problems).get(name).map(|(_, reason)| reason.clone())
    }
}
