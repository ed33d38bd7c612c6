//! Host bindings for the `hooklet:hook/hook@0.1.0` world (`wit/hook.wit`).
//!
//! The export is async because deliveries run with `call_async` (WASI p2 host calls are
//! async and the epoch callback yields); the `log` import is a plain synchronous call.

wasmtime::component::bindgen!({
    world: "hook",
    path: "../wit",
    exports: { default: async },
});

/// The export a plugin must provide, as named in the component.
pub(crate) const HANDLER_EXPORT: &str = "hooklet:hook/handler@0.1.0";

/// The world a plugin must target, for messages.
pub(crate) const WORLD: &str = "hooklet:hook/hook@0.1.0";

pub(crate) use self::exports::hooklet::hook::handler::{Event, Phase};
// `self::`: under rustdoc the generated `hooklet` module would clash with the crate name.
pub(crate) use self::hooklet::hook::log::Level;
