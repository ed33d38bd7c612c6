//! Running a plugin — a hook delivery or a probe, by one code path — in a fresh store with
//! fuel, a deadline, a memory cap and captured output.

use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;
use tracing::Instrument;
use wasmtime::{Store, UpdateDeadline};

use super::capabilities::PluginCapabilities;
use super::config::Metering;
use super::engine::HostInner;
use super::failure::{classify, WasmFailure};
use super::limits::{MemoryLimiter, ResourceCaps};
use super::hook::PluginEvent;
use super::outcome::WasmOutcome;
use super::output::{truncate_text, LogCollector};
use super::plugin::LoadedPlugin;
use super::probe::ProbeEvent;
use super::state::HostState;

/// Fuel between two stores of the guest's fuel count (and yields to the executor): the
/// precision of the fuel figure of a delivery stopped at its deadline.
const FUEL_SLICE: u64 = 1_000_000;

/// How long after the deadline the outer timeout cuts a guest that the epoch callback has
/// not stopped (one blocked in a host call). Several epoch ticks, well under the hook
/// dispatcher's own backstop.
const OUTER_TIMEOUT_SLACK: Duration = Duration::from_millis(100);

/// Longest failure reason kept from a plugin's `Err`, in bytes; longer ones are cut.
const MAX_REASON_BYTES: usize = 16 * 1024;

/// What one run asks of a plugin.
pub(crate) enum Call {
    /// A lifecycle hook: the handler's `handle`.
    Hook(PluginEvent),
    /// A probe: the prober's `check`.
    Probe(ProbeEvent),
}

/// Which export a [`Call`] calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CallKind {
    Hook,
    Probe,
}

impl CallKind {
    /// `"hook"` or `"probe"`, for logs.
    fn what(self) -> &'static str {
        match self {
            CallKind::Hook => "hook",
            CallKind::Probe => "probe",
        }
    }

    /// The failure for a plugin's `err(reason)`.
    fn refused(self, reason: String) -> WasmFailure {
        match self {
            CallKind::Hook => WasmFailure::Rejected(reason),
            CallKind::Probe => WasmFailure::ProbeFailed(reason),
        }
    }
}

impl Call {
    fn kind(&self) -> CallKind {
        match self {
            Call::Hook(_) => CallKind::Hook,
            Call::Probe(_) => CallKind::Probe,
        }
    }

    /// What the plugin's log lines are tagged with: the delivery id of a hook, the kind
    /// of a probe (`liveness-probe`, ...).
    fn log_id(&self) -> String {
        match self {
            Call::Hook(event) => event.delivery_id.clone(),
            Call::Probe(event) => format!("{}-probe", event.kind),
        }
    }

    /// The handler's config, to merge the manifest's defaults under.
    fn config_mut(&mut self) -> &mut Vec<(String, String)> {
        match self {
            Call::Hook(event) => &mut event.config,
            Call::Probe(event) => &mut event.config,
        }
    }

    /// The tracing span of the run.
    fn span(&self, plugin: &str) -> tracing::Span {
        match self {
            Call::Hook(event) => tracing::info_span!("wasm_delivery", plugin,
                delivery_id = %event.delivery_id, attempt = event.attempt),
            Call::Probe(event) => tracing::info_span!("wasm_probe", plugin, kind = %event.kind,
                pod = %event.pod_name, container = %event.container_name),
        }
    }
}

/// One run of a plugin: a hook delivery or a probe, with its limits.
pub(crate) struct Run {
    /// The plugin name.
    pub plugin: String,
    /// What to call.
    pub call: Call,
    /// Fuel budget; `None` uses the manifest's `limits.fuel`, else the node default.
    pub fuel: Option<u64>,
    /// When it must be done.
    pub deadline: Option<Instant>,
}

/// Runs a hook delivery or a probe to completion (or failure), in a fresh store with the
/// same limits either way, and records its usage; see [`super::WasmHost::deliver`] and
/// [`super::WasmHost::probe`].
pub(crate) async fn run(host: &HostInner, run: Run) -> WasmOutcome {
    let span = run.call.span(&run.plugin);
    let (plugin, what) = (run.plugin.clone(), run.call.kind().what());
    let outcome = run_inner(host, run).instrument(span.clone()).await;
    host.registry.record_usage(&plugin, &outcome);
    let _entered = span.enter();
    let elapsed_ms = outcome.elapsed.as_millis() as u64;
    match &outcome.result {
        Ok(()) => tracing::info!(
            fuel = outcome.fuel_consumed,
            peak_memory = outcome.peak_memory_bytes,
            elapsed_ms,
            "wasm {what} succeeded"
        ),
        Err(failure) => tracing::warn!(
            fuel = outcome.fuel_consumed,
            peak_memory = outcome.peak_memory_bytes,
            elapsed_ms,
            "wasm {what} failed: {failure}"
        ),
    }
    outcome
}

async fn run_inner(host: &HostInner, run: Run) -> WasmOutcome {
    let started = Instant::now();
    let Run {
        plugin,
        mut call,
        fuel,
        deadline,
    } = run;
    let config = &host.config;
    if deadline.is_some_and(|d| d <= started) {
        return WasmOutcome::failed(
            WasmFailure::DeadlineExceeded,
            fuel.unwrap_or(config.default_fuel),
            started,
        );
    }
    let loaded = match within(deadline, host.registry.get(&plugin)).await {
        Some(Ok(loaded)) => loaded,
        Some(Err(failure)) => {
            return WasmOutcome::failed(failure, fuel.unwrap_or(config.default_fuel), started)
        }
        None => {
            return WasmOutcome::failed(
                WasmFailure::DeadlineExceeded,
                fuel.unwrap_or(config.default_fuel),
                started,
            )
        }
    };
    if let Some(failure) = loaded.exports.missing(&plugin, &call) {
        return WasmOutcome::failed(failure, fuel.unwrap_or(config.default_fuel), started);
    }
    let manifest = loaded.info.manifest.as_ref();
    let budget = fuel
        .or(manifest.and_then(|m| m.limits.fuel))
        .unwrap_or(config.default_fuel);
    let no_grants = PluginCapabilities::default();
    let capabilities = manifest.map_or(&no_grants, |m| &m.capabilities);
    if let Some(manifest) = manifest {
        manifest.merge_config(call.config_mut());
    }

    let logs = LogCollector::new(
        &plugin,
        &call.log_id(),
        config.log_line_limit,
        config.log_line_bytes,
    );
    let caps = ResourceCaps::new(config, &plugin, manifest.map(|m| &m.limits));
    let limiter = MemoryLimiter::new(caps.clone());
    let setup = HostState::new(
        &plugin,
        capabilities,
        config.output_limit_bytes,
        limiter,
        logs,
    );
    let (state, stdio) = match setup {
        Ok(setup) => setup,
        Err(reason) => return WasmOutcome::failed(WasmFailure::Host(reason), budget, started),
    };
    // A slot of the instance pool. Declared before the store, so it is released only
    // after the store (and the instances it holds) has been dropped.
    let Some(_slot) = within(deadline, host.slots.acquire()).await else {
        return WasmOutcome::failed(WasmFailure::DeadlineExceeded, budget, started);
    };
    let mut store = Store::new(&host.engine, state);
    store.limiter(|state| &mut state.limiter);
    if let Err(failure) = meter(&mut store, host.config.metering, budget, deadline) {
        return WasmOutcome::failed(failure, budget, started);
    }

    let deadline_ms =
        deadline.map(|d| d.saturating_duration_since(Instant::now()).as_millis() as u64);
    let (result, message) =
        match run_call(&mut store, &loaded, call, deadline_ms, deadline, budget, &caps).await {
            Ok(message) => (Ok(()), message),
            Err(failure) => (Err(failure), None),
        };

    let fuel_consumed = store
        .get_fuel()
        .map(|left| budget.saturating_sub(left))
        .unwrap_or(0);
    let peak_memory_bytes = store.data().limiter.peak();
    let (logs, logs_dropped) = store.data_mut().logs.take();
    let denials = store.data_mut().http.take_denials();
    let (stdout, stdout_dropped_bytes) = stdio.stdout.take();
    let (stderr, stderr_dropped_bytes) = stdio.stderr.take();
    WasmOutcome {
        result,
        message,
        fuel_budget: budget,
        fuel_consumed,
        peak_memory_bytes,
        memory_cap_bytes: caps.memory,
        denials,
        logs,
        logs_dropped,
        stdout,
        stdout_dropped_bytes,
        stderr,
        stderr_dropped_bytes,
        elapsed: started.elapsed(),
    }
}

/// Gives the store its fuel budget and its epoch deadline, as far as `metering` has them.
fn meter(
    store: &mut Store<HostState>,
    metering: Metering,
    budget: u64,
    deadline: Option<Instant>,
) -> Result<(), WasmFailure> {
    if metering.fuel() {
        store
            .set_fuel(budget)
            .map_err(|err| WasmFailure::Host(format!("cannot set a fuel budget of {budget}: {err:#}")))?;
        // Compiled code keeps fuel in a local and stores it only at calls and fuel checks,
        // so a guest interrupted at its deadline in a hot loop would show almost no fuel
        // used. Refilling in slices makes it store its count at least every slice.
        store
            .fuel_async_yield_interval(Some(FUEL_SLICE))
            .map_err(|err| WasmFailure::Host(format!("cannot set the fuel slice: {err:#}")))?;
    }
    if metering.epochs() {
        arm_epoch_deadline(store, deadline);
    }
    Ok(())
}

/// Makes the guest yield to the executor on every epoch tick (so it never hogs a worker
/// thread and dropping the future stops it), and trap once `deadline` has passed.
fn arm_epoch_deadline(store: &mut Store<HostState>, deadline: Option<Instant>) {
    let deadline = deadline.map(Instant::into_std);
    store.set_epoch_deadline(1);
    store.epoch_deadline_callback(move |_| {
        if deadline.is_some_and(|d| std::time::Instant::now() >= d) {
            return Ok(UpdateDeadline::Interrupt);
        }
        // tokio's `yield_now` lets the runtime run its timers and other tasks first.
        Ok(UpdateDeadline::YieldCustom(
            1,
            Box::pin(tokio::task::yield_now()),
        ))
    });
}

/// Instantiates the plugin and calls the export `call` needs, cut at `deadline` even when
/// the guest is blocked in a host call (where epochs cannot interrupt it). `Ok` holds a
/// probe's message.
async fn run_call(
    store: &mut Store<HostState>,
    plugin: &LoadedPlugin,
    call: Call,
    deadline_ms: Option<u64>,
    deadline: Option<Instant>,
    fuel_budget: u64,
    caps: &ResourceCaps,
) -> Result<Option<String>, WasmFailure> {
    let kind = call.kind();
    let run = async {
        let instance = plugin.pre.instantiate_async(&mut *store).await?;
        plugin.exports.call(&mut *store, &instance, call, deadline_ms).await
    };
    // A running guest is stopped by the epoch callback at `deadline` (a trap, so its fuel
    // is accounted); the outer timeout, a little later, cuts a guest blocked in a host call.
    let outer = deadline.map(|d| d + OUTER_TIMEOUT_SLACK);
    match within(outer, run).await {
        None => Err(WasmFailure::DeadlineExceeded),
        Some(Ok(Ok(mut message))) => {
            if let Some(message) = &mut message {
                truncate_text(message, MAX_REASON_BYTES);
            }
            Ok(message)
        }
        Some(Ok(Err(mut reason))) => {
            truncate_text(&mut reason, MAX_REASON_BYTES);
            Err(kind.refused(reason))
        }
        Some(Err(err)) => {
            tracing::debug!("wasm plugin error: {err:?}");
            Err(classify(&err, fuel_budget, caps))
        }
    }
}

/// `fut`'s output, or `None` if `deadline` passed first.
async fn within<F: Future>(deadline: Option<Instant>, fut: F) -> Option<F::Output> {
    match deadline {
        Some(deadline) => tokio::time::timeout_at(deadline, fut).await.ok(),
        None => Some(fut.await),
    }
}
