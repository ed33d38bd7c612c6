//! Hook handlers and the one dispatch path they all run through.
//!
//! [`HookRunner::run`] takes any `LifecycleHandler` (exec, httpGet, sleep,
//! tcpSocket, wasm) and enforces the same rules for all of them: the handler's own
//! `timeoutSeconds` (D5), the termination deadline for PreStop (which a second delete
//! may shorten), and cancellation (deletion cancels a running PostStart). It records
//! the kind, duration, outcome, bounded output (D4) and, for wasm, fuel and memory
//! (D8) in a [`HookRun`]. Where the hook event came from (a pod worker, later an API
//! or a cluster gateway) does not matter to it.

mod actions;
pub(crate) use actions::{pairs, wasm_output};
pub mod deadline;
pub mod http;
pub mod message;
mod sleep;

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use crate::runtime::{ContainerId, ExecUsage, Runtime};
use crate::spec::{Container, HookPhase, LifecycleHandler, Pod};
use crate::wasm::WasmHost;
use deadline::Deadline;
use http::HttpHookClient;

/// Bytes of output kept per hook run (D4); the rest is counted and dropped.
pub const HOOK_OUTPUT_LIMIT: usize = 16 * 1024;

/// A wasm plugin stops itself at its deadline and still reports its fuel and memory (D8);
/// the dispatcher's own `timeoutSeconds` timer fires this much later, as a backstop.
const WASM_TIMEOUT_BACKSTOP: Duration = Duration::from_millis(500);

/// The handler kinds, in the order the kubelet checks them (plus `wasm`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum HandlerKind {
    Exec,
    HttpGet,
    Sleep,
    Wasm,
    /// `tcpSocket` or an empty handler: fails at run time (spec 1.4).
    Invalid,
}

impl HandlerKind {
    /// The kind the kubelet would run: exec → httpGet → sleep → (wasm) → invalid.
    pub fn of(handler: &LifecycleHandler) -> Self {
        if handler.exec.is_some() {
            HandlerKind::Exec
        } else if handler.http_get.is_some() {
            HandlerKind::HttpGet
        } else if handler.sleep.is_some() {
            HandlerKind::Sleep
        } else if handler.wasm.is_some() {
            HandlerKind::Wasm
        } else {
            HandlerKind::Invalid
        }
    }

    /// Name as in the manifest (`exec`, `httpGet`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            HandlerKind::Exec => "exec",
            HandlerKind::HttpGet => "httpGet",
            HandlerKind::Sleep => "sleep",
            HandlerKind::Wasm => "wasm",
            HandlerKind::Invalid => "invalid",
        }
    }
}

/// The identity of one hook delivery (for at-least-once delivery, D2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivery {
    pub id: String,
    pub attempt: u32,
}

impl Delivery {
    /// A first attempt with a fresh id.
    pub fn new() -> Self {
        Delivery {
            id: uuid::Uuid::new_v4().to_string(),
            attempt: 1,
        }
    }
}

impl Default for Delivery {
    fn default() -> Self {
        Self::new()
    }
}

/// What a hook is delivered to.
#[derive(Debug, Clone)]
pub struct HookTarget {
    pub pod: Arc<Pod>,
    pub container: Arc<Container>,
    pub container_id: ContainerId,
    pub pod_ip: Option<IpAddr>,
    pub phase: HookPhase,
    pub delivery: Delivery,
}

/// The limits a delivery runs under, besides the handler's own `timeoutSeconds`.
#[derive(Debug, Clone, Default)]
pub struct HookLimits {
    /// PreStop: the termination deadline (it may be shortened while the hook runs).
    pub deadline: Option<Deadline>,
    /// Cancelled when the hook must stop now (deletion during PostStart).
    pub cancel: CancellationToken,
}

/// How a hook run ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "camelCase")]
pub enum HookOutcome {
    Succeeded,
    /// The handler failed; `message` is the kubelet-style failure text (D3).
    Failed { message: String },
    /// The handler's `timeoutSeconds` ran out (D5); a failure.
    TimedOut { message: String },
    /// PreStop ran past the termination deadline and was abandoned. As in the
    /// kubelet this is logged, not an event.
    GraceExpired,
    /// Stopped because the pod is being deleted; a failure.
    Cancelled { message: String },
}

impl HookOutcome {
    /// The failure text if this outcome is a hook failure.
    pub fn failure(&self) -> Option<&str> {
        match self {
            HookOutcome::Failed { message }
            | HookOutcome::TimedOut { message }
            | HookOutcome::Cancelled { message } => Some(message),
            HookOutcome::Succeeded | HookOutcome::GraceExpired => None,
        }
    }

    /// A one-word summary for tables.
    pub fn summary(&self) -> &'static str {
        match self {
            HookOutcome::Succeeded => "Succeeded",
            HookOutcome::Failed { .. } => "Failed",
            HookOutcome::TimedOut { .. } => "TimedOut",
            HookOutcome::GraceExpired => "GraceExpired",
            HookOutcome::Cancelled { .. } => "Cancelled",
        }
    }
}

/// Fuel and memory a wasm delivery used (D8).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct WasmUsage {
    pub fuel_consumed: u64,
    pub fuel_budget: u64,
    pub peak_memory_bytes: u64,
    /// The memory cap the delivery ran under (0 when the plugin never ran).
    pub memory_cap_bytes: u64,
}

/// The record of one hook run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HookRun {
    pub phase: HookPhase,
    pub kind: HandlerKind,
    /// What ran, for humans: `[sh -c …]`, `http://…/path`, `5s`, the plugin name.
    pub detail: String,
    pub delivery: Delivery,
    pub started_at: SystemTime,
    pub duration: Duration,
    pub outcome: HookOutcome,
    /// Bounded output: exec stdout+stderr, HTTP status line, wasm logs and stdio (D4).
    pub output: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wasm: Option<WasmUsage>,
    /// CPU and memory an exec hook used inside the container's cgroup (D8).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exec: Option<ExecUsage>,
    /// `host:port` when an HTTPS hook fell back to HTTP (`LifecycleHTTPFallback`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_fallback: Option<String>,
}

/// What an action reports before the dispatcher wraps it into a [`HookRun`].
struct ActionReport {
    detail: String,
    /// Err = the kubelet-style failure message.
    result: Result<(), String>,
    output: String,
    wasm: Option<WasmUsage>,
    exec: Option<ExecUsage>,
    http_fallback: Option<String>,
}

/// Runs hooks of every kind. One per node agent; cheap to share behind an `Arc`.
pub struct HookRunner {
    /// `None` for a runner without containers (`hooklet gateway`): exec hooks fail saying
    /// so, sleep hooks sleep their whole length.
    runtime: Option<Arc<dyn Runtime>>,
    http: HttpHookClient,
    wasm: WasmHost,
}

/// Why an exec hook cannot run on a runner without a container runtime.
const NO_RUNTIME: &str = "exec hooks need a container runtime, and this hooklet (the gateway) has none; use a wasm handler";

impl HookRunner {
    /// A runner that execs through `runtime`, sends HTTP with `http` and runs plugins on `wasm`.
    pub fn new(runtime: Arc<dyn Runtime>, http: HttpHookClient, wasm: WasmHost) -> Self {
        HookRunner { runtime: Some(runtime), http, wasm }
    }

    /// A runner with no container runtime, for `hooklet gateway`: wasm hooks run exactly as
    /// on a node (same dispatch, deadlines, output and failure texts); exec hooks fail.
    pub fn without_runtime(http: HttpHookClient, wasm: WasmHost) -> Self {
        HookRunner { runtime: None, http, wasm }
    }

    /// The wasm host the runner delivers plugins on.
    pub fn wasm(&self) -> &WasmHost {
        &self.wasm
    }

    /// Runs `handler` for `target` under `limits` and the handler's own timeout.
    pub async fn run(&self, target: &HookTarget, handler: &LifecycleHandler, limits: HookLimits) -> HookRun {
        let kind = HandlerKind::of(handler);
        let started_at = SystemTime::now();
        let started = tokio::time::Instant::now();
        let timeout = handler.timeout_seconds.map(|s| Duration::from_secs(s.max(0) as u64));
        // A wasm plugin's manifest may set a default timeout (`limits.timeout-seconds`).
        let plugin_timeout = match (&handler.wasm, timeout) {
            (Some(wasm), None) if kind == HandlerKind::Wasm => self.wasm.plugin_timeout(&wasm.plugin),
            _ => None,
        };
        let timeout = timeout.or(plugin_timeout);
        let deadline_at = [timeout.map(|t| started + t), limits.deadline.as_ref().map(|d| d.at())]
            .into_iter()
            .flatten()
            .min();
        let action = actions::run(self, target, handler, kind, deadline_at, &limits);
        let mut grace = limits.deadline.clone();
        let grace_reached = async {
            match grace.as_mut() {
                Some(d) => d.reached().await,
                None => std::future::pending().await,
            }
        };
        let backstop = if kind == HandlerKind::Wasm { WASM_TIMEOUT_BACKSTOP } else { Duration::ZERO };
        let timed_out = async {
            match timeout {
                Some(t) => tokio::time::sleep(t + backstop).await,
                None => std::future::pending().await,
            }
        };
        let describe = || actions::describe(target, handler, kind);
        let (outcome, report) = tokio::select! {
            report = action => {
                let outcome = match &report.result {
                    Ok(()) => HookOutcome::Succeeded,
                    // A plugin stopped at the deadline that `timeoutSeconds` set.
                    Err(message) if kind == HandlerKind::Wasm && timeout.is_some_and(|t| started.elapsed() >= t) => {
                        HookOutcome::TimedOut { message: message.clone() }
                    }
                    Err(message) => HookOutcome::Failed { message: message.clone() },
                };
                (outcome, Some(report))
            }
            _ = timed_out => {
                let secs = timeout.unwrap_or_default().as_secs();
                let error = match plugin_timeout {
                    Some(_) => format!("timed out after {secs}s (the plugin's default timeout, `limits.timeout-seconds` in its manifest; set timeoutSeconds on the handler to override)"),
                    None => format!("timed out after {secs}s (timeoutSeconds: {secs})"),
                };
                (HookOutcome::TimedOut { message: actions::failure(target, handler, kind, &error, "") }, None)
            }
            _ = grace_reached => {
                if kind == HandlerKind::Sleep {
                    // The kubelet's sleep sees its context cancelled (spec 3.6).
                    let message = actions::failure(target, handler, kind, sleep::TERMINATED_EARLY, "");
                    (HookOutcome::Failed { message }, None)
                } else {
                    tracing::info!(
                        container = %target.container.name,
                        "{} hook not completed in grace period", target.phase.as_str()
                    );
                    (HookOutcome::GraceExpired, None)
                }
            }
            _ = limits.cancel.cancelled() => {
                let error = if kind == HandlerKind::Sleep {
                    sleep::TERMINATED_EARLY
                } else {
                    "cancelled: the pod is being deleted"
                };
                (HookOutcome::Cancelled { message: actions::failure(target, handler, kind, error, "") }, None)
            }
        };
        let report = report.unwrap_or_else(|| ActionReport {
            detail: describe(),
            result: Ok(()),
            output: String::new(),
            wasm: None,
            exec: None,
            http_fallback: None,
        });
        HookRun {
            phase: target.phase,
            kind,
            detail: report.detail,
            delivery: target.delivery.clone(),
            started_at,
            duration: started.elapsed(),
            outcome,
            output: report.output,
            wasm: report.wasm,
            exec: report.exec,
            http_fallback: report.http_fallback,
        }
    }
}

#[cfg(test)]
mod tests;
