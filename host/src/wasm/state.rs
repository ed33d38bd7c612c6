//! [`HostState`]: what one delivery's store holds — the WASI sandbox, the memory limiter
//! and the captured output — and the host side of the `log` import.

use wasmtime::component::ResourceTable;
use wasmtime_wasi::{FsPerms, WasiCtx, WasiCtxView, WasiView};

use super::bindings::{self, Level};
use super::delivery::LogLevel;
use super::limits::MemoryLimiter;
use super::manifest::{DirAccess, DirGrant};
use super::output::{BoundedPipe, LogCollector};

/// The data of one delivery's `Store`.
pub(crate) struct HostState {
    wasi: WasiCtx,
    table: ResourceTable,
    /// Caps linear memory and records its peak.
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
    /// A sandbox that grants nothing but `dirs`: no environment, no arguments, no network,
    /// closed stdin; stdout and stderr go to bounded in-memory pipes.
    pub fn new(
        dirs: &[DirGrant],
        output_limit: usize,
        limiter: MemoryLimiter,
        logs: LogCollector,
    ) -> Result<(HostState, StdioCapture), String> {
        let capture = StdioCapture {
            stdout: BoundedPipe::new(output_limit),
            stderr: BoundedPipe::new(output_limit),
        };
        let mut builder = WasiCtx::builder();
        builder
            .stdout(capture.stdout.clone())
            .stderr(capture.stderr.clone())
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false);
        for grant in dirs {
            let perms = match grant.access {
                DirAccess::ReadOnly => FsPerms::ReadOnly,
                DirAccess::ReadWrite => FsPerms::ReadWrite,
            };
            builder
                .preopened_dir(&grant.host, &grant.guest, perms)
                .map_err(|err| {
                    format!(
                        "cannot open the granted directory {} (guest path {}): {err}; \
                         check that it still exists and is readable",
                        grant.host.display(),
                        grant.guest
                    )
                })?;
        }
        let state = HostState {
            wasi: builder.build(),
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

impl bindings::hooklet::hook::log::Host for HostState {
    fn log(&mut self, level: Level, message: String) {
        self.logs.push(level.into(), message);
    }
}

impl From<Level> for LogLevel {
    fn from(level: Level) -> Self {
        match level {
            Level::Trace => LogLevel::Trace,
            Level::Debug => LogLevel::Debug,
            Level::Info => LogLevel::Info,
            Level::Warn => LogLevel::Warn,
            Level::Error => LogLevel::Error,
        }
    }
}
