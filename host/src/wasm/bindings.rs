//! Host bindings for every supported version of the `hooklet:hook` package: 0.1.0
//! (`wit/hook.wit`, world `hook`) and 0.2.0 (`wit/v0.2.0/hook.wit`, world `plugin`, whose
//! exports are looked up one interface at a time, so a component may export the handler,
//! the prober, or both).
//!
//! Exports are async because calls run with `call_async` (WASI p2 host calls are async and
//! the epoch callback yields); the `log` imports are plain synchronous calls.

use wasmtime::component::{HasSelf, Linker};

use super::state::HostState;

/// `hooklet:hook@0.1.0`.
pub(crate) mod v0_1 {
    wasmtime::component::bindgen!({
        world: "hook",
        path: "../wit",
        exports: { default: async },
    });

    pub(crate) use self::exports::hooklet::hook::handler::{Event, Phase};
    // `self::`: under rustdoc the generated `hooklet` module would clash with the crate name.
    pub(crate) use self::hooklet::hook::log::Level;
}

/// `hooklet:hook@0.2.0`.
pub(crate) mod v0_2 {
    wasmtime::component::bindgen!({
        world: "plugin",
        path: "../wit/v0.2.0",
        exports: { default: async },
    });

    pub(crate) use self::exports::hooklet::hook::handler::{Event, Phase};
    pub(crate) use self::exports::hooklet::hook::prober::{ProbeEvent, ProbeKind};
    pub(crate) use self::hooklet::hook::log::Level;
}

/// The hook handler export of 0.1.0, as named in a component.
pub(crate) const HANDLER_EXPORT: &str = "hooklet:hook/handler@0.1.0";

/// The hook handler export of 0.2.0.
pub(crate) const HANDLER_EXPORT_0_2: &str = "hooklet:hook/handler@0.2.0";

/// The probe export (new in 0.2.0).
pub(crate) const PROBER_EXPORT: &str = "hooklet:hook/prober@0.2.0";

/// The worlds a plugin may target, for messages.
pub(crate) const WORLDS: &str = "hooklet:hook/hook@0.1.0 (hooks), or hooklet:hook/probe@0.2.0 \
     (probes), hooklet:hook/plugin@0.2.0 (both) or hooklet:hook/hook@0.2.0";

/// Adds the imports of every supported version (`hooklet:hook/log@0.1.0` and `@0.2.0`) to
/// `linker`.
pub(crate) fn add_to_linker(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    v0_1::Hook::add_to_linker::<HostState, HasSelf<HostState>>(linker, |state| state)?;
    v0_2::Plugin::add_to_linker::<HostState, HasSelf<HostState>>(linker, |state| state)
}
