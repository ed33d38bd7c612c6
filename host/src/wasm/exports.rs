//! What a plugin exports — a hook handler (0.1.0 or 0.2.0), a prober (0.2.0), or both —
//! found once when it is loaded, and calling the export a [`Call`] needs.

use wasmtime::component::{Instance, InstancePre};
use wasmtime::Store;

use super::bindings::{v0_1, v0_2, HANDLER_EXPORT, HANDLER_EXPORT_0_2, PROBER_EXPORT};
use super::delivery::Call;
use super::failure::WasmFailure;
use super::hook::{to_wit_0_1, to_wit_0_2};
use super::state::HostState;

/// The hook handler a plugin exports, by version.
#[derive(Clone)]
enum Handler {
    V0_1(v0_1::exports::hooklet::hook::handler::GuestIndices),
    V0_2(v0_2::exports::hooklet::hook::handler::GuestIndices),
}

/// The hooklet interfaces a loaded plugin exports (at least one).
#[derive(Clone)]
pub(crate) struct PluginExports {
    handler: Option<Handler>,
    prober: Option<v0_2::exports::hooklet::hook::prober::GuestIndices>,
}

/// What a plugin's export answered: `Ok` with a probe's message (`None` for a hook), or
/// the reason the plugin returned with `err`.
pub(crate) type Answer = Result<Option<String>, String>;

impl PluginExports {
    /// The hooklet exports of the component behind `pre`. `Ok(None)` when it has none;
    /// `Err` (completing "`<path>` ...") when one it has does not have its functions.
    pub fn find(pre: &InstancePre<HostState>) -> Result<Option<PluginExports>, String> {
        // The newest version first: a component exporting both handlers is called as 0.2.0.
        let handler = match lookup(pre, HANDLER_EXPORT_0_2, |pre| {
            v0_2::exports::hooklet::hook::handler::GuestIndices::new(pre)
        })? {
            Some(indices) => Some(Handler::V0_2(indices)),
            None => lookup(pre, HANDLER_EXPORT, |pre| {
                v0_1::exports::hooklet::hook::handler::GuestIndices::new(pre)
            })?
            .map(Handler::V0_1),
        };
        let prober = lookup(pre, PROBER_EXPORT, |pre| {
            v0_2::exports::hooklet::hook::prober::GuestIndices::new(pre)
        })?;
        let exports = PluginExports { handler, prober };
        Ok((exports.handler.is_some() || exports.prober.is_some()).then_some(exports))
    }

    /// The names of the exports found, e.g. `["hooklet:hook/prober@0.2.0"]`.
    pub fn names(&self) -> Vec<String> {
        let handler = self.handler.as_ref().map(|handler| match handler {
            Handler::V0_1(_) => HANDLER_EXPORT,
            Handler::V0_2(_) => HANDLER_EXPORT_0_2,
        });
        let prober = self.prober.as_ref().map(|_| PROBER_EXPORT);
        handler.into_iter().chain(prober).map(str::to_owned).collect()
    }

    /// Why plugin `plugin` cannot serve `call` (it lacks the export), if it cannot.
    pub fn missing(&self, plugin: &str, call: &Call) -> Option<WasmFailure> {
        let (used_as, export, fix) = match call {
            Call::Hook(_) if self.handler.is_none() => (
                "lifecycle hook",
                format!("`{HANDLER_EXPORT}` or `{HANDLER_EXPORT_0_2}`"),
                "it is a probe-only plugin. Name it in a probe instead, or rebuild it with a \
                 hook handler too: in Rust, implement `hooklet_guest::Hook` and export both \
                 with `hooklet_guest::export_plugin!` (world hooklet:hook/plugin@0.2.0)",
            ),
            Call::Probe(_) if self.prober.is_none() => (
                "probe",
                format!("`{PROBER_EXPORT}`"),
                "it is a lifecycle-hook plugin. Name it in a hook instead, or rebuild it \
                 against `hooklet-guest` with a probe export: implement \
                 `hooklet_guest::Probe` and export it with `hooklet_guest::export_probe!` \
                 (world hooklet:hook/probe@0.2.0), or with `hooklet_guest::export_plugin!` \
                 to keep the hook as well",
            ),
            _ => return None,
        };
        Some(WasmFailure::MissingExport {
            plugin: plugin.to_owned(),
            used_as: used_as.to_owned(),
            export,
            fix: fix.to_owned(),
        })
    }

    /// Calls the export `call` needs on `instance`, telling the plugin `deadline_ms`.
    /// [`missing`](Self::missing) must have said the plugin has it.
    pub async fn call(
        &self,
        store: &mut Store<HostState>,
        instance: &Instance,
        call: Call,
        deadline_ms: Option<u64>,
    ) -> wasmtime::Result<Answer> {
        let missing = || wasmtime::format_err!("the plugin lost an export it was loaded with");
        match call {
            Call::Hook(event) => match self.handler.as_ref().ok_or_else(missing)? {
                Handler::V0_1(indices) => {
                    let event = to_wit_0_1(event, deadline_ms);
                    let handler = indices.load(&mut *store, instance)?;
                    Ok(handler.call_handle(&mut *store, &event).await?.map(|()| None))
                }
                Handler::V0_2(indices) => {
                    let event = to_wit_0_2(event, deadline_ms);
                    let handler = indices.load(&mut *store, instance)?;
                    Ok(handler.call_handle(&mut *store, &event).await?.map(|()| None))
                }
            },
            Call::Probe(event) => {
                let event = super::probe::to_wit(event, deadline_ms);
                let prober = self.prober.as_ref().ok_or_else(missing)?.load(&mut *store, instance)?;
                Ok(prober.call_check(&mut *store, &event).await?.map(Some))
            }
        }
    }
}

/// The indices of export `name` made by `new`; `None` when the component does not export
/// `name` at all, `Err` when it does but without the functions `new` looks for.
fn lookup<I>(
    pre: &InstancePre<HostState>,
    name: &str,
    new: impl FnOnce(&InstancePre<HostState>) -> wasmtime::Result<I>,
) -> Result<Option<I>, String> {
    if pre.component().get_export_index(None, name).is_none() {
        return Ok(None);
    }
    new(pre).map(Some).map_err(|err| {
        format!("exports `{name}` but not as its WIT defines it ({err:#}); rebuild it against the WIT of that version")
    })
}
