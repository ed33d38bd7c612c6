//! One hook delivery: the request and outcome types, and running a plugin in a fresh
//! store with fuel, a deadline, a memory cap and captured output.

use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;
use tracing::Instrument;
use wasmtime::{Store, UpdateDeadline};

use super::bindings::{Event, Phase};
use super::capabilities::PluginCapabilities;
use super::config::Metering;
use super::engine::HostInner;
use super::failure::{classify, WasmFailure};
use super::limits::{MemoryLimiter, ResourceCaps};
use super::output::{truncate_text, LogCollector, LogLine};
use super::plugin::LoadedPlugin;
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

/// A request to run one plugin for one hook.
#[derive(Debug, Clone)]
pub struct WasmDelivery {
    /// The plugin name: `<plugin_dir>/NAME.wasm`.
    pub plugin: String,
    /// What the plugin is told about the hook.
    pub event: PluginEvent,
    /// Fuel budget; `None` uses the manifest's `limits.fuel`, else the node default.
    pub fuel: Option<u64>,
    /// When the hook must be done; `None` runs until done (or until the future is dropped).
    pub deadline: Option<Instant>,
}

/// Which lifecycle point a hook runs at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PluginPhase {
    /// `lifecycle.postStart`.
    PostStart,
    /// `lifecycle.preStop`.
    PreStop,
}

/// What a plugin is told about the hook (the WIT `event` record, without `deadline-ms`,
/// which is computed from [`WasmDelivery::deadline`] when the call starts).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginEvent {
    /// Which lifecycle point this is.
    pub phase: PluginPhase,
    /// `metadata.name` of the pod.
    pub pod_name: String,
    /// `metadata.namespace` of the pod.
    pub pod_namespace: String,
    /// `metadata.uid` of the pod.
    pub pod_uid: String,
    /// The container whose hook this is.
    pub container_name: String,
    /// The runtime's id of the container.
    pub container_id: String,
    /// The container's image reference.
    pub image: String,
    /// The pod's labels.
    pub labels: Vec<(String, String)>,
    /// The pod's annotations.
    pub annotations: Vec<(String, String)>,
    /// The pod's IP, when it has one.
    pub pod_ip: Option<String>,
    /// Stable id of this delivery (the same on redelivery).
    pub delivery_id: String,
    /// 1 for the first try, then 2, 3, ... on redelivery.
    pub attempt: u32,
    /// The handler's `wasm.config` key/values.
    pub config: Vec<(String, String)>,
}

/// Everything about one delivery: the result, what it cost, and what the plugin said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WasmOutcome {
    /// `Ok` when the plugin handled the hook; otherwise why not.
    pub result: Result<(), WasmFailure>,
    /// The fuel budget the delivery had.
    pub fuel_budget: u64,
    /// Fuel used (budget minus what was left), also when the delivery failed.
    pub fuel_consumed: u64,
    /// The most linear memory the plugin had at once, in bytes.
    pub peak_memory_bytes: u64,
    /// The memory cap the delivery ran under, in bytes (0 when the plugin never ran).
    pub memory_cap_bytes: u64,
    /// Requests the sandbox refused (e.g. HTTP to a host not on the allow-list), one
    /// sentence each saying what was denied and how to grant it; bounded.
    pub denials: Vec<String>,
    /// Lines logged through the `log` import, in order (up to the line cap).
    pub logs: Vec<LogLine>,
    /// Log lines dropped past the line cap.
    pub logs_dropped: usize,
    /// What the plugin wrote to stdout (up to the output cap).
    pub stdout: Vec<u8>,
    /// Stdout bytes dropped past the cap.
    pub stdout_dropped_bytes: u64,
    /// What the plugin wrote to stderr (up to the output cap).
    pub stderr: Vec<u8>,
    /// Stderr bytes dropped past the cap.
    pub stderr_dropped_bytes: u64,
    /// Wall-clock time of the whole delivery, loading included.
    pub elapsed: Duration,
}

impl WasmOutcome {
    fn failed(failure: WasmFailure, fuel_budget: u64, started: Instant) -> WasmOutcome {
        WasmOutcome {
            result: Err(failure),
            fuel_budget,
            fuel_consumed: 0,
            peak_memory_bytes: 0,
            memory_cap_bytes: 0,
            denials: Vec::new(),
            logs: Vec::new(),
            logs_dropped: 0,
            stdout: Vec::new(),
            stdout_dropped_bytes: 0,
            stderr: Vec::new(),
            stderr_dropped_bytes: 0,
            elapsed: started.elapsed(),
        }
    }
}

/// Runs `delivery` to completion (or failure); see [`super::WasmHost::deliver`].
pub(crate) async fn run(host: &HostInner, delivery: WasmDelivery) -> WasmOutcome {
    let span = tracing::info_span!("wasm_delivery", plugin = %delivery.plugin,
        delivery_id = %delivery.event.delivery_id, attempt = delivery.event.attempt);
    let plugin = delivery.plugin.clone();
    let outcome = run_inner(host, delivery).instrument(span.clone()).await;
    host.registry.record_usage(&plugin, &outcome);
    let _entered = span.enter();
    let elapsed_ms = outcome.elapsed.as_millis() as u64;
    match &outcome.result {
        Ok(()) => tracing::info!(
            fuel = outcome.fuel_consumed,
            peak_memory = outcome.peak_memory_bytes,
            elapsed_ms,
            "wasm hook succeeded"
        ),
        Err(failure) => tracing::warn!(
            fuel = outcome.fuel_consumed,
            peak_memory = outcome.peak_memory_bytes,
            elapsed_ms,
            "wasm hook failed: {failure}"
        ),
    }
    outcome
}

async fn run_inner(host: &HostInner, delivery: WasmDelivery) -> WasmOutcome {
    let started = Instant::now();
    let WasmDelivery {
        plugin,
        mut event,
        fuel,
        deadline,
    } = delivery;
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
    let manifest = loaded.info.manifest.as_ref();
    let budget = fuel
        .or(manifest.and_then(|m| m.limits.fuel))
        .unwrap_or(config.default_fuel);
    let no_grants = PluginCapabilities::default();
    let capabilities = manifest.map_or(&no_grants, |m| &m.capabilities);
    if let Some(manifest) = manifest {
        manifest.merge_config(&mut event.config);
    }

    let logs = LogCollector::new(
        &plugin,
        &event.delivery_id,
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
    let event = to_wit(event, deadline_ms);
    let result = call(&mut store, &loaded, event, deadline, budget, &caps).await;

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

/// Instantiates the plugin and calls its handler, cut at `deadline` even when the guest is
/// blocked in a host call (where epochs cannot interrupt it).
async fn call(
    store: &mut Store<HostState>,
    plugin: &LoadedPlugin,
    event: Event,
    deadline: Option<Instant>,
    fuel_budget: u64,
    caps: &ResourceCaps,
) -> Result<(), WasmFailure> {
    let run = async {
        let hook = plugin.pre.instantiate_async(&mut *store).await?;
        hook.hooklet_hook_handler()
            .call_handle(&mut *store, &event)
            .await
    };
    // A running guest is stopped by the epoch callback at `deadline` (a trap, so its fuel
    // is accounted); the outer timeout, a little later, cuts a guest blocked in a host call.
    let outer = deadline.map(|d| d + OUTER_TIMEOUT_SLACK);
    match within(outer, run).await {
        None => Err(WasmFailure::DeadlineExceeded),
        Some(Ok(Ok(()))) => Ok(()),
        Some(Ok(Err(mut reason))) => {
            truncate_text(&mut reason, MAX_REASON_BYTES);
            Err(WasmFailure::Rejected(reason))
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

/// The WIT `event` record for `event`.
fn to_wit(event: PluginEvent, deadline_ms: Option<u64>) -> Event {
    Event {
        phase: match event.phase {
            PluginPhase::PostStart => Phase::PostStart,
            PluginPhase::PreStop => Phase::PreStop,
        },
        pod_name: event.pod_name,
        pod_namespace: event.pod_namespace,
        pod_uid: event.pod_uid,
        container_name: event.container_name,
        container_id: event.container_id,
        image: event.image,
        labels: event.labels,
        annotations: event.annotations,
        pod_ip: event.pod_ip,
        delivery_id: event.delivery_id,
        attempt: event.attempt,
        deadline_ms,
        config: event.config,
    }
}
