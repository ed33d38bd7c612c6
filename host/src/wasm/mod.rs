//! TEMP STUB (replaced by feat-wasm)
use std::path::PathBuf; use std::time::Duration;
#[derive(Debug, Clone)] pub struct WasmConfig { pub plugin_dir: PathBuf, pub default_fuel: u64, pub max_memory_bytes: u64, pub output_limit_bytes: usize, pub epoch_tick: Duration }
impl Default for WasmConfig { fn default() -> Self { WasmConfig { plugin_dir: "plugins".into(), default_fuel: 1_000_000_000, max_memory_bytes: 64<<20, output_limit_bytes: 16384, epoch_tick: Duration::from_millis(10) } } }
#[derive(Clone)] pub struct WasmHost;
impl WasmHost { pub fn new(_c: WasmConfig) -> anyhow::Result<Self> { Ok(WasmHost) } pub async fn deliver(&self, _d: WasmDelivery) -> WasmOutcome { WasmOutcome { result: Err(WasmFailure::Stub), fuel_budget: 0, fuel_consumed: 0, peak_memory_bytes: 0, logs: vec![], stdout: vec![], stderr: vec![] } } }
pub struct WasmDelivery { pub plugin: String, pub event: PluginEvent, pub fuel: Option<u64>, pub deadline: Option<tokio::time::Instant> }
pub enum PluginPhase { PostStart, PreStop }
pub struct PluginEvent { pub phase: PluginPhase, pub pod_name: String, pub pod_namespace: String, pub pod_uid: String, pub container_name: String, pub container_id: String, pub image: String, pub labels: Vec<(String,String)>, pub annotations: Vec<(String,String)>, pub pod_ip: Option<String>, pub delivery_id: String, pub attempt: u32, pub config: Vec<(String,String)> }
pub struct WasmOutcome { pub result: Result<(), WasmFailure>, pub fuel_budget: u64, pub fuel_consumed: u64, pub peak_memory_bytes: u64, pub logs: Vec<LogLine>, pub stdout: Vec<u8>, pub stderr: Vec<u8> }
pub struct LogLine { pub level: LogLevel, pub message: String }
#[derive(Debug)] pub enum LogLevel { Info }
impl std::fmt::Display for LogLevel { fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result { f.write_str("info") } }
#[derive(Debug)] pub enum WasmFailure { Stub }
impl std::fmt::Display for WasmFailure { fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result { f.write_str("stub") } }
