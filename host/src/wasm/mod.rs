//! WebAssembly hook and probe handlers: sandboxed component plugins run in-process on
//! wasmtime.
//!
//! A `wasm` handler names a plugin, `NAME`, which hooklet loads from
//! `<plugin_dir>/NAME.wasm`, or precompiled from `<plugin_dir>/NAME.cwasm` (`hooklet plugin
//! compile`; see [`precompile`]): a WebAssembly component for the world `hooklet:hook/hook@0.1.0`
//! (`wit/hook.wit`) — a lifecycle hook — or, from 0.2.0 (`wit/v0.2.0/hook.wit`), `probe`
//! (a container probe, run by [`WasmHost::probe`]) or `plugin` (both). Write one in Rust
//! with the `hooklet-guest` crate. hooklet finds which exports a component has when it
//! loads it and calls each with its own version's types. An optional manifest
//! `<plugin_dir>/NAME.toml` beside it describes the plugin, pins its digest, sets its
//! limits and default config, and grants it capabilities (see [`PluginManifest`]).
//!
//! [`WasmHost`] owns one wasmtime [`Engine`](wasmtime::Engine) per process, compiles each
//! plugin once (recompiling when the file changes), and runs every delivery (hook or probe,
//! by one code path) in a fresh store with:
//!
//! * **fuel** (instructions): the delivery's budget, else the manifest's `limits.fuel`, else
//!   [`WasmConfig::default_fuel`]; what was used is reported even when the hook fails;
//! * **a deadline**: the guest yields to the async executor on every epoch tick, traps once
//!   the deadline has passed, and a guest blocked in a host call is cut by an outer timeout.
//!   Dropping the [`WasmHost::deliver`] future stops the guest at its next tick. The
//!   manifest's `limits.timeout-seconds` is the default ([`WasmHost::plugin_timeout`]);
//! * **caps** on memory (with the peak recorded), instances, tables and table elements:
//!   the manifest's `[limits]` over the node defaults in [`WasmConfig`];
//! * **a sandbox that grants nothing** but what the manifest's `[capabilities]` lists
//!   (environment variables, directories, `wasi:http` to an allow-list of hosts): no
//!   arguments, no raw sockets, no inherited stdio; stdout and stderr are captured, bounded.
//!
//! Every failure comes back inside the [`WasmOutcome`] as a [`WasmFailure`] whose message
//! says what happened and what to do.
//!
//! Plugins also travel through OCI registries ([`oci`]: `hooklet plugin push` / `pull`,
//! the CNCF wasm artifact layout).

mod bindings;
mod cache;
mod capabilities;
mod config;
mod delivery;
mod engine;
mod exports;
mod failure;
mod hook;
mod inventory;
mod limits;
mod manifest;
pub mod oci;
mod outcome;
mod output;
mod plugin;
mod pool;
mod precompiled;
mod probe;
mod registry;
mod state;
mod watch;

#[cfg(test)]
mod tests;

pub use config::{Metering, WasmConfig};
pub use hook::{PluginEvent, PluginPhase, WasmDelivery};
pub use outcome::WasmOutcome;
pub use probe::{ProbeEvent, ProbeKind, WasmProbe};
pub use output::{LogLevel, LogLine};
pub use engine::{engine_config, WasmHost};
pub use failure::WasmFailure;
pub use inventory::{Compiled, PluginStatus};
pub use capabilities::{DirAccess, DirGrant, HttpGrant, PluginCapabilities};
pub use limits::ManifestLimits;
pub use manifest::PluginManifest;
pub use plugin::{CompiledFrom, PluginInfo};
pub use pool::PoolStats;
pub use precompiled::host_target;
/// Checks that bytes look like a binary WebAssembly component; the reason completes
/// `"<file> …"` and names the fix.
pub fn check_component_header(bytes: &[u8]) -> Result<(), String> {
    plugin::check_header(bytes)
}
#[cfg(feature = "compiler")]
pub use precompiled::precompile;
pub use registry::{PluginChange, PluginNotice, PluginUsage};
