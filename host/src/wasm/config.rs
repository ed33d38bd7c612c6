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
    /// manifest sets `limits.instances`.
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
}

impl Default for WasmConfig {
    fn default() -> Self {
        WasmConfig {
            plugin_dir: PathBuf::from("./plugins"),
            default_fuel: 1_000_000_000,
            max_memory_bytes: 128 * 1024 * 1024,
            max_instances: 1_000,
            max_tables: 1_000,
            max_memories: 100,
            max_table_elements: 1 << 20,
            output_limit_bytes: 64 * 1024,
            log_line_limit: 256,
            log_line_bytes: 4096,
            epoch_tick: Duration::from_millis(10),
        }
    }
}
