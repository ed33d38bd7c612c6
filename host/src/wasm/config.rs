//! [`WasmConfig`]: node-wide settings of the WebAssembly host.

use std::path::PathBuf;
use std::time::Duration;

/// Node-wide settings for running WebAssembly hook plugins.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WasmConfig {
    /// Where plugins live: `NAME.wasm` and its optional manifest `NAME.toml`.
    pub plugin_dir: PathBuf,
    /// Fuel (roughly, WebAssembly instructions) for one delivery when neither the handler
    /// (`wasm.fuel`) nor the plugin manifest (`limits.fuel`) sets a budget.
    pub default_fuel: u64,
    /// Cap on the linear memory of one delivery, in bytes (all memories together), unless
    /// the plugin manifest sets `limits.memory`.
    pub max_memory_bytes: u64,
    /// Cap on the core instances of one delivery (a component is several), unless the
    /// manifest sets `limits.instances`. Also the instance pool's size per slot, so a
    /// manifest may lower it but not raise it; the same holds for `max_tables` and
    /// `max_memories`.
    pub max_instances: u64,
    /// Cap on the tables of one delivery, unless the manifest sets `limits.tables`.
    pub max_tables: u64,
    /// Cap on the linear memories of one delivery, unless the manifest sets
    /// `limits.memories`.
    pub max_memories: u64,
    /// Cap on the elements of one table, unless the manifest sets `limits.table-elements`.
    pub max_table_elements: u64,
    /// Cap on captured stdout, and separately on captured stderr, per delivery, in bytes.
    /// Output past the cap is dropped and counted; it never fails the plugin.
    pub output_limit_bytes: usize,
    /// Cap on the number of log lines kept per delivery; later lines are counted.
    pub log_line_limit: usize,
    /// Cap on the size of one log line in bytes; longer lines are cut.
    pub log_line_bytes: usize,
    /// How often the engine's epoch advances. A running guest yields to the async executor
    /// and checks its deadline once per tick, so this is the granularity of deadlines and
    /// of cancellation.
    pub epoch_tick: Duration,
    /// Deliveries that can run at once: the size of the engine's instance pool. Further
    /// deliveries wait for a free slot (their deadline still runs) instead of failing.
    /// Each slot reserves address space for [`WasmConfig::max_memories`] linear memories
    /// and [`WasmConfig::max_tables`] tables, but no physical memory until used.
    pub pool_slots: u32,
    /// Where compiled plugins are cached on disk, keyed by the component's SHA-256 and the
    /// engine's compatibility hash, so a plugin compiles once rather than at every start.
    /// `None`: compile in memory only. The directory is created with mode 0700 and refused
    /// when other users could write to it.
    pub cache_dir: Option<PathBuf>,
    /// Watch the plugin directory and reload a plugin when its files are added, replaced
    /// or removed (hot reload). Without it, a changed file is noticed at its next delivery.
    pub watch: bool,
    /// How long a plugin's files must stay unchanged before a change is loaded (a file
    /// still being copied is never taken for a broken plugin).
    pub reload_debounce: Duration,
    /// What the engine meters. Always [`Metering::FuelAndEpochs`] for real work; the
    /// others exist to measure what metering costs (`cargo bench --bench wasm`).
    pub metering: Metering,
}

/// What the engine instruments compiled plugins with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metering {
    /// Fuel (budgets enforced and reported) and epochs (deadlines, cancellation,
    /// yielding to the executor). The default, and the only safe choice.
    FuelAndEpochs,
    /// Epochs only: deadlines work, fuel is neither enforced nor reported.
    EpochsOnly,
    /// Neither: a looping plugin can be stopped only when it calls the host. For
    /// measurements only.
    Neither,
}

impl Metering {
    /// Whether fuel is counted.
    pub fn fuel(self) -> bool {
        self == Metering::FuelAndEpochs
    }

    /// Whether epochs interrupt guests.
    pub fn epochs(self) -> bool {
        self != Metering::Neither
    }
}

impl Default for WasmConfig {
    fn default() -> Self {
        WasmConfig {
            plugin_dir: PathBuf::from("./plugins"),
            default_fuel: 1_000_000_000,
            max_memory_bytes: 128 * 1024 * 1024,
            max_instances: 100,
            max_tables: 100,
            max_memories: 10,
            max_table_elements: 1 << 20,
            output_limit_bytes: 64 * 1024,
            log_line_limit: 256,
            log_line_bytes: 4096,
            epoch_tick: Duration::from_millis(10),
            pool_slots: 64,
            cache_dir: None,
            watch: false,
            reload_debounce: Duration::from_millis(200),
            metering: Metering::FuelAndEpochs,
        }
    }
}
