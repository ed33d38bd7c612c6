//! [`WasmFailure`]: why a WebAssembly hook delivery or probe failed, and turning wasmtime errors
//! into it.

use std::path::PathBuf;

use wasmtime::Trap;

use super::limits::{MemoryLimitExceeded, ResourceCaps, TableLimitExceeded};

/// Why a WebAssembly hook delivery (or probe) failed.
///
/// `Display` is one sentence that says what happened and what to do; it is meant for the
/// container's events and the CLI.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WasmFailure {
    /// There is no `NAME.wasm` in the plugin directory (or no plugin directory).
    #[error("{}", not_found(plugin, path))]
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

    /// The plugin loaded but lacks the export this call needs: a lifecycle-hook plugin
    /// named by a probe, or a probe-only plugin named by a lifecycle hook.
    #[error("plugin `{plugin}` cannot be used as a {used_as}: it does not export {export}; {fix}")]
    MissingExport {
        /// The plugin name from the handler.
        plugin: String,
        /// What the handler wanted it for: `probe` or `lifecycle hook`.
        used_as: String,
        /// The export(s) it would need, each in backquotes.
        export: String,
        /// What the plugin is instead and how to fix it.
        fix: String,
    },

    /// The plugin ran and returned an error: the hook failed as the plugin decided.
    #[error("the plugin failed the hook: {0}")]
    Rejected(String),

    /// The plugin ran a probe and returned an error: the container is unhealthy as the
    /// plugin decided (the probe failed with this reason).
    #[error("the plugin failed the probe: {0}")]
    ProbeFailed(String),

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

    /// The hook's or probe's deadline passed before the plugin finished; it was stopped.
    #[error(
        "the deadline passed before the plugin finished, so it was stopped; raise the \
         hook's or probe's `timeoutSeconds` or make the plugin finish sooner"
    )]
    DeadlineExceeded,

    /// The plugin tried to grow its memory past its cap.
    #[error(
        "the plugin needed more than its memory cap of {cap} bytes ({}) and was stopped; the \
         cap is {set_by}; raise it or make the plugin use less memory",
        mebibytes(*cap)
    )]
    MemoryLimit {
        /// The cap in bytes.
        cap: u64,
        /// Where the cap was set: the manifest's `limits.memory` or the node default.
        set_by: String,
    },

    /// The plugin went past another resource cap: instances, tables, memories or the
    /// elements of a table.
    #[error(
        "the plugin went past its cap of {cap} {resource} and was stopped; raise `{key}` in \
         the plugin manifest or make the plugin use fewer"
    )]
    ResourceLimit {
        /// What ran out, e.g. `instances`.
        resource: String,
        /// The cap.
        cap: u64,
        /// The manifest key that sets the cap, e.g. `limits.instances`.
        key: String,
    },

    /// hooklet itself could not set up or run the delivery (for example a granted
    /// directory disappeared).
    #[error("hooklet could not run the plugin: {0}")]
    Host(String),
}

/// `bytes` in MiB, for messages.
fn mebibytes(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1 << 20) as f64)
}

/// Turns an error from instantiating or calling a plugin into a [`WasmFailure`].
pub(crate) fn classify(
    err: &wasmtime::Error,
    fuel_budget: u64,
    caps: &ResourceCaps,
) -> WasmFailure {
    if err.downcast_ref::<MemoryLimitExceeded>().is_some() {
        return WasmFailure::MemoryLimit {
            cap: caps.memory,
            set_by: caps.memory_source.clone(),
        };
    }
    let limit = |resource: &str, cap: u64, key: &str| WasmFailure::ResourceLimit {
        resource: resource.to_owned(),
        cap,
        key: key.to_owned(),
    };
    if err.downcast_ref::<TableLimitExceeded>().is_some() {
        return limit(
            "table elements",
            caps.table_elements,
            "limits.table-elements",
        );
    }
    // wasmtime reports a count past `ResourceLimiter::{instances, tables, memories}` as
    // "resource limit exceeded: <instance|table|memory> count too high at N".
    let root = err.root_cause().to_string();
    if let Some(what) = root.strip_prefix("resource limit exceeded: ") {
        if what.starts_with("instance count") {
            return limit("instances", caps.instances, "limits.instances");
        }
        if what.starts_with("table count") {
            return limit("tables", caps.tables, "limits.tables");
        }
        if what.starts_with("memory count") {
            return limit("memories", caps.memories, "limits.memories");
        }
    }
    match err.downcast_ref::<Trap>() {
        Some(Trap::OutOfFuel) => WasmFailure::OutOfFuel {
            budget: fuel_budget,
        },
        Some(Trap::Interrupt) => WasmFailure::DeadlineExceeded,
        Some(Trap::StackOverflow) => WasmFailure::Trap(format!(
            "{}: the plugin recursed too deep, usually without bound",
            Trap::StackOverflow
        )),
        Some(trap) => WasmFailure::Trap(trap.to_string()),
        None => WasmFailure::Trap(root),
    }
}

/// Why plugin `plugin` at `path` is not found: the file missing, or the whole plugin
/// directory (removed while hooklet runs: hooks find their plugins again when it is
/// back, without a restart).
fn not_found(plugin: &str, path: &std::path::Path) -> String {
    match path.parent().filter(|dir| !dir.is_dir()) {
        Some(dir) => format!(
            "plugin `{plugin}` not found: the plugin directory {} does not exist (removed?); restore it \
             (hooks find their plugins again without a restart) or start hooklet with --plugins DIR",
            dir.display()
        ),
        None => format!("plugin `{plugin}` not found: no file {}; put the component there or fix `wasm.plugin`", path.display()),
    }
}
