//! [`WasmFailure`]: why a WebAssembly hook delivery failed, and turning wasmtime errors
//! into it.

use std::path::PathBuf;

use wasmtime::Trap;

use super::limits::MemoryLimitExceeded;

/// Why a WebAssembly hook delivery failed.
///
/// `Display` is one sentence that says what happened and what to do; it is meant for the
/// container's events and the CLI.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WasmFailure {
    /// There is no `NAME.wasm` in the plugin directory.
    #[error(
        "plugin `{plugin}` not found: no file {}; put the component there or fix `wasm.plugin`",
        path.display()
    )]
    PluginNotFound {
        /// The plugin name from the handler.
        plugin: String,
        /// Where hooklet looked for it.
        path: PathBuf,
    },

    /// The plugin cannot be used: an invalid name, a file that is not a component, a
    /// component for another world (missing export, unknown import), or a bad manifest.
    #[error("plugin `{plugin}` cannot be used: {reason}")]
    InvalidPlugin {
        /// The plugin name from the handler.
        plugin: String,
        /// What is wrong and how to fix it.
        reason: String,
    },

    /// The plugin ran and returned an error: the hook failed as the plugin decided.
    #[error("the plugin failed the hook: {0}")]
    Rejected(String),

    /// The plugin crashed (a WebAssembly trap, usually a Rust panic).
    #[error(
        "the plugin crashed ({0}); this is a bug in the plugin, usually a panic: \
         its stderr and log lines in the hook output say where"
    )]
    Trap(String),

    /// The delivery's fuel budget ran out before the plugin finished.
    #[error(
        "fuel ran out after {budget} units (the delivery's budget); raise `wasm.fuel` on the \
         handler or `limits.fuel` in the plugin manifest, or make the plugin do less work"
    )]
    OutOfFuel {
        /// The budget the delivery had.
        budget: u64,
    },

    /// The hook's deadline passed before the plugin finished; it was stopped.
    #[error(
        "the hook's deadline passed before the plugin finished, so it was stopped; raise the \
         handler's `timeoutSeconds` or make the plugin finish sooner"
    )]
    DeadlineExceeded,

    /// The plugin tried to grow its memory past the cap.
    #[error(
        "the plugin needed more than {cap} bytes of memory (the cap) and was stopped; raise \
         hooklet's wasm memory cap or make the plugin use less memory"
    )]
    MemoryLimit {
        /// The cap in bytes.
        cap: u64,
    },

    /// hooklet itself could not set up or run the delivery (for example a granted
    /// directory disappeared).
    #[error("hooklet could not run the plugin: {0}")]
    Host(String),
}

/// Turns an error from instantiating or calling a plugin into a [`WasmFailure`].
pub(crate) fn classify(err: &wasmtime::Error, fuel_budget: u64, memory_cap: u64) -> WasmFailure {
    if err.downcast_ref::<MemoryLimitExceeded>().is_some() {
        return WasmFailure::MemoryLimit { cap: memory_cap };
    }
    match err.downcast_ref::<Trap>() {
        Some(Trap::OutOfFuel) => WasmFailure::OutOfFuel {
            budget: fuel_budget,
        },
        Some(Trap::Interrupt) => WasmFailure::DeadlineExceeded,
        Some(trap) => WasmFailure::Trap(trap.to_string()),
        None => WasmFailure::Trap(err.root_cause().to_string()),
    }
}
