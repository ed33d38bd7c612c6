//! [`HostState`]: what one delivery's store holds — the WASI sandbox, the memory limiter
//! and the captured output — and the host side of the `log` import.

use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use super::bindings::{v0_1, v0_2};
use super::capabilities::{HttpPolicy, PluginCapabilities};
use super::output::LogLevel;
use super::limits::MemoryLimiter;
use super::output::{BoundedPipe, LogCollector};

/// The data of one delivery's `Store`.
pub(crate) struct HostState {
    wasi: WasiCtx,
    http_ctx: WasiHttpCtx,
    /// Decides and records the plugin's `wasi:http` requests.
    pub http: HttpPolicy,
    table: ResourceTable,
    /// Caps linear memory, instances and tables, and records the memory peak.
    pub limiter: MemoryLimiter,
    /// The plugin's `log` lines.
    pub logs: LogCollector,
}

/// The captured stdout and stderr of one delivery (shared with the WASI context).
pub(crate) struct StdioCapture {
    pub stdout: BoundedPipe,
    pub stderr: BoundedPipe,
}

impl HostState {
    /// A sandbox for plugin `plugin` that grants nothing but `capabilities` (see
    /// [`PluginCapabilities::sandbox`]); stdout and stderr go to bounded in-memory pipes.
    pub fn new(
        plugin: &str,
        capabilities: &PluginCapabilities,
        output_limit: usize,
        limiter: MemoryLimiter,
        logs: LogCollector,
    ) -> Result<(HostState, StdioCapture), String> {
        let capture = StdioCapture {
            stdout: BoundedPipe::new(output_limit),
            stderr: BoundedPipe::new(output_limit),
        };
        let sandbox = capabilities.sandbox(plugin, &capture.stdout, &capture.stderr)?;
        let state = HostState {
            wasi: sandbox.wasi,
            http_ctx: WasiHttpCtx::new(),
            http: sandbox.http,
            table: ResourceTable::new(),
            limiter,
            logs,
        };
        Ok((state, capture))
    }
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for HostState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            hooks: &mut self.http,
            table: &mut self.table,
            ctx: &mut self.http_ctx,
        }
    }
}

/// The host side of `log` and the conversion of its `level`, for one version's bindings
/// (the interface is the same in every version).
macro_rules! log_host {
    ($version:ident) => {
        impl $version::hooklet::hook::log::Host for HostState {
            fn log(&mut self, level: $version::Level, message: String) {
                self.logs.push(level.into(), message);
            }
        }

        impl From<$version::Level> for LogLevel {
            fn from(level: $version::Level) -> Self {
                use $version::Level;
                match level {
                    Level::Trace => LogLevel::Trace,
                    Level::Debug => LogLevel::Debug,
                    Level::Info => LogLevel::Info,
                    Level::Warn => LogLevel::Warn,
                    Level::Error => LogLevel::Error,
                }
            }
        }
    };
}

log_host!(v0_1);
log_host!(v0_2);
