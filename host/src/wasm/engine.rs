//! [`WasmHost`]: the process-wide wasmtime engine, its epoch ticker and the entry points.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use tokio::sync::broadcast;
use wasmtime::component::Linker;
use wasmtime::{Config, Engine, EngineWeak, InstanceAllocationStrategy};

use super::bindings;
use super::cache::DiskCache;
use super::capabilities;
use super::config::WasmConfig;
use super::delivery::{self, Call, Run};
use super::hook::WasmDelivery;
use super::outcome::WasmOutcome;
use super::probe::WasmProbe;
use super::failure::WasmFailure;
use super::plugin::{Loader, PluginInfo};
use super::pool::{self, PoolStats, Slots};
use super::inventory::PluginStatus;
use super::registry::{PluginNotice, PluginUsage, Registry};
use super::state::HostState;

/// Runs WebAssembly hook plugins. Cheap to clone: clones share one engine, its instance
/// pool and the registry of loaded plugins.
///
/// ```no_run
/// # async fn example() -> anyhow::Result<()> {
/// use hooklet::wasm::{PluginEvent, PluginPhase, WasmConfig, WasmDelivery, WasmHost};
///
/// let host = WasmHost::new(WasmConfig { plugin_dir: "plugins".into(), ..WasmConfig::default() })?;
/// let outcome = host
///     .deliver(WasmDelivery {
///         plugin: "noop".into(),
///         event: PluginEvent {
///             phase: PluginPhase::PostStart,
///             pod_name: "web".into(),
///             pod_namespace: "default".into(),
///             pod_uid: "uid-1".into(),
///             container_name: "app".into(),
///             container_id: "c-1".into(),
///             image: "busybox".into(),
///             labels: vec![],
///             annotations: vec![],
///             pod_ip: None,
///             delivery_id: "d-1".into(),
///             attempt: 1,
///             config: vec![],
///         },
///         fuel: None,
///         deadline: None,
///     })
///     .await;
/// println!("{:?} after {} units of fuel", outcome.result, outcome.fuel_consumed);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct WasmHost {
    pub(super) inner: Arc<HostInner>,
}

/// What clones of a [`WasmHost`] share.
pub(crate) struct HostInner {
    pub config: WasmConfig,
    pub engine: Engine,
    pub registry: Arc<Registry>,
    pub slots: Arc<Slots>,
}

/// The wasmtime configuration of every [`WasmHost`] made with `config`: fuel and epoch
/// interruption as [`WasmConfig::metering`] says, instances from the pooling allocator.
/// Public so that benchmarks can run plain modules under the same engine settings.
///
/// ```
/// let config = hooklet::wasm::engine_config(&hooklet::wasm::WasmConfig::default())?;
/// let engine = wasmtime::Engine::new(&config).map_err(anyhow::Error::from)?;
/// # let _ = engine;
/// # Ok::<(), anyhow::Error>(())
/// ```
pub fn engine_config(config: &WasmConfig) -> anyhow::Result<Config> {
    let pooling = pool::pooling_config(config).map_err(anyhow::Error::msg)?;
    let mut engine_config = Config::new();
    engine_config
        .consume_fuel(config.metering.fuel())
        .epoch_interruption(config.metering.epochs())
        .allocation_strategy(InstanceAllocationStrategy::Pooling(pooling));
    Ok(engine_config)
}

impl WasmHost {
    /// Creates the engine (fuel and epoch interruption on, instances from a pool of
    /// [`WasmConfig::pool_slots`]), the linker (WASI 0.2, `wasi:http` and the `log`
    /// import), the epoch ticker thread, the on-disk cache if configured, and, with
    /// [`WasmConfig::watch`], the plugin directory watcher (which also loads every plugin
    /// there in the background). Otherwise plugins are loaded on first use.
    pub fn new(config: WasmConfig) -> anyhow::Result<Self> {
        anyhow::ensure!(
            !config.epoch_tick.is_zero(),
            "the wasm epoch tick is 0; set it to a positive duration such as 10ms"
        );
        let engine_config = engine_config(&config)?;
        // wasmtime's `Result` is its own type, not anyhow's: convert before adding context.
        let engine = Engine::new(&engine_config)
            .map_err(anyhow::Error::from)
            .context("cannot create the wasmtime engine and its instance pool")?;

        let mut linker = Linker::<HostState>::new(&engine);
        capabilities::add_to_linker(&mut linker)?;
        bindings::add_to_linker(&mut linker)
            .map_err(anyhow::Error::from)
            .context("cannot add the hooklet:hook imports to the plugin linker")?;

        let cache = match &config.cache_dir {
            #[cfg(feature = "compiler")]
            Some(dir) => Some(DiskCache::open(dir, &engine).map_err(anyhow::Error::msg)?),
            // Nothing is compiled without a compiler, so there is nothing to cache.
            #[cfg(not(feature = "compiler"))]
            Some(dir) => {
                tracing::debug!(cache = %dir.display(), "runtime-only build: the compiled-plugin cache is not used");
                None::<DiskCache>
            }
            None => None,
        };
        spawn_epoch_ticker(engine.weak(), config.epoch_tick)?;
        let registry = Arc::new(Registry::new(Loader {
            dir: config.plugin_dir.clone(),
            config: config.clone(),
            engine: engine.clone(),
            linker,
            cache,
        }));
        if config.watch {
            match super::watch::spawn(&registry, config.reload_debounce) {
                Ok(()) => {}
                // No plugin directory is normal on a node without wasm hooks.
                Err(problem) if !config.plugin_dir.is_dir() => tracing::debug!("{problem}"),
                Err(problem) => tracing::warn!("{problem}"),
            }
        }
        tracing::debug!(plugin_dir = %config.plugin_dir.display(), slots = config.pool_slots, "wasm host ready");
        Ok(WasmHost {
            inner: Arc::new(HostInner {
                slots: Slots::new(config.pool_slots),
                config,
                engine,
                registry,
            }),
        })
    }

    /// The configuration this host was created with.
    pub fn config(&self) -> &WasmConfig {
        &self.inner.config
    }

    /// Runs one hook delivery in a fresh Store. Never panics; every failure is in the
    /// outcome.
    ///
    /// Dropping the future cancels the delivery (the guest is interrupted at its next epoch
    /// yield, at most one [`WasmConfig::epoch_tick`] later).
    ///
    /// The deadline covers the whole delivery, including compiling the plugin on first use
    /// (milliseconds for a Rust plugin, seconds for a big one such as a bundled Python
    /// interpreter); call [`WasmHost::load`] ahead of time to keep that out of hook time.
    /// Must run inside a tokio runtime with time enabled.
    pub async fn deliver(&self, delivery: WasmDelivery) -> WasmOutcome {
        let WasmDelivery { plugin, event, fuel, deadline } = delivery;
        delivery::run(&self.inner, Run { plugin, call: Call::Hook(event), fuel, deadline }).await
    }

    /// Runs one probe of a container: the plugin's `hooklet:hook/prober@0.2.0` `check`, in a
    /// fresh Store under exactly the rules of [`WasmHost::deliver`] (fuel: the probe's
    /// budget, else the manifest's `limits.fuel`, else the node default; the deadline, the
    /// memory and resource caps, captured bounded output, usage in
    /// [`WasmHost::plugin_usage`]). Never panics; every failure is in the outcome.
    ///
    /// `result` is `Ok(())` when the plugin found the container healthy, with the text of
    /// its `ok(...)` in [`WasmOutcome::message`]; [`WasmFailure::ProbeFailed`] with the
    /// plugin's reason when it found it unhealthy; any other [`WasmFailure`] when the
    /// check could not run to an answer (fuel, deadline, memory, a trap, a missing plugin,
    /// or [`WasmFailure::MissingExport`] for a plugin without a prober export).
    pub async fn probe(&self, probe: WasmProbe) -> WasmOutcome {
        let WasmProbe { plugin, event, fuel, deadline } = probe;
        delivery::run(&self.inner, Run { plugin, call: Call::Probe(event), fuel, deadline }).await
    }

    /// Loads (compiling if needed) and checks plugin `name` without running it, e.g. to
    /// validate a pod's handlers up front or to warm the cache.
    pub async fn load(&self, name: &str) -> Result<PluginInfo, WasmFailure> {
        Ok(self.inner.registry.get(name).await?.info.clone())
    }

    /// Changes of the plugins serving deliveries (loaded, reloaded, refused, removed) from
    /// now on: hot reload reports here, and the daemon turns these into events.
    pub fn plugin_notices(&self) -> broadcast::Receiver<PluginNotice> {
        self.inner.registry.subscribe()
    }

    /// Every plugin of the plugin directory: digest, manifest, compiled or not, problems
    /// and usage. Reads and hashes the files on a blocking thread.
    pub async fn list_plugins(&self) -> Result<Vec<PluginStatus>, String> {
        let registry = self.inner.registry.clone();
        tokio::task::spawn_blocking(move || super::inventory::list(&registry))
            .await
            .unwrap_or_else(|err| Err(format!("listing the plugins panicked: {err}")))
    }

    /// What each plugin's deliveries have cost since this host started, by plugin name.
    pub fn plugin_usage(&self) -> std::collections::HashMap<String, PluginUsage> {
        self.inner.registry.usage()
    }

    /// How the instance pool has been used.
    pub fn pool_stats(&self) -> PoolStats {
        self.inner.slots.stats()
    }
}

/// Advances the engine's epoch every `tick` until the engine is gone.
fn spawn_epoch_ticker(engine: EngineWeak, tick: Duration) -> anyhow::Result<()> {
    std::thread::Builder::new()
        .name("hooklet-wasm-epoch".into())
        .spawn(move || loop {
            std::thread::sleep(tick);
            match engine.upgrade() {
                Some(engine) => engine.increment_epoch(),
                None => break,
            }
        })
        .context("cannot start the wasm epoch ticker thread")?;
    Ok(())
}
