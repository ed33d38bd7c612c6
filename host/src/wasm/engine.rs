//! [`WasmHost`]: the process-wide wasmtime engine, its epoch ticker and the entry points.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use wasmtime::component::{HasSelf, Linker};
use wasmtime::{Config, Engine, EngineWeak};

use super::bindings::Hook;
use super::capabilities;
use super::config::WasmConfig;
use super::delivery::{self, WasmDelivery, WasmOutcome};
use super::failure::WasmFailure;
use super::plugin::{PluginInfo, Registry};
use super::state::HostState;

/// Runs WebAssembly hook plugins. Cheap to clone: clones share one engine and one cache of
/// compiled plugins.
#[derive(Clone)]
pub struct WasmHost {
    inner: Arc<HostInner>,
}

/// What clones of a [`WasmHost`] share.
pub(crate) struct HostInner {
    pub config: WasmConfig,
    pub engine: Engine,
    pub registry: Registry,
}

impl WasmHost {
    /// Creates the engine (fuel and epoch interruption on), the linker (WASI 0.2, `wasi:http`
    /// and the `log` import) and the epoch ticker thread. Plugins are loaded on first use.
    pub fn new(config: WasmConfig) -> anyhow::Result<Self> {
        anyhow::ensure!(
            !config.epoch_tick.is_zero(),
            "the wasm epoch tick is 0; set it to a positive duration such as 10ms"
        );
        // wasmtime's `Result` is its own type, not anyhow's: convert before adding context.
        let mut engine_config = Config::new();
        engine_config.consume_fuel(true).epoch_interruption(true);
        let engine = Engine::new(&engine_config)
            .map_err(anyhow::Error::from)
            .context("cannot create the wasmtime engine")?;

        let mut linker = Linker::<HostState>::new(&engine);
        capabilities::add_to_linker(&mut linker)?;
        Hook::add_to_linker::<HostState, HasSelf<HostState>>(&mut linker, |state| state)
            .map_err(anyhow::Error::from)
            .context("cannot add the hooklet:hook imports to the plugin linker")?;

        spawn_epoch_ticker(engine.weak(), config.epoch_tick)?;
        let registry = Registry::new(config.plugin_dir.clone(), engine.clone(), linker);
        tracing::debug!(plugin_dir = %config.plugin_dir.display(), "wasm host ready");
        Ok(WasmHost {
            inner: Arc::new(HostInner {
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
        delivery::run(&self.inner, delivery).await
    }

    /// Loads (compiling if needed) and checks plugin `name` without running it, e.g. to
    /// validate a pod's handlers up front or to warm the cache.
    pub async fn load(&self, name: &str) -> Result<PluginInfo, WasmFailure> {
        Ok(self.inner.registry.load(name).await?.info.clone())
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
