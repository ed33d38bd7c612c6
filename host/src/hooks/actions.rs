//! Each handler kind's action, reporting in one shape to the dispatcher.

use tokio::time::Instant;

use super::message::{self, truncate};
use super::{sleep, ActionReport, HandlerKind, HookLimits, HookRunner, HookTarget, WasmUsage, HOOK_OUTPUT_LIMIT};
use crate::runtime::{ExecRequest, ExecUsage};
use crate::spec::{HookPhase, LifecycleHandler};
use crate::wasm::{PluginEvent, PluginPhase, WasmDelivery, WasmOutcome};

/// Runs the action of `handler` (the dispatcher adds timeouts and cancellation).
pub(super) async fn run(
    runner: &HookRunner,
    target: &HookTarget,
    handler: &LifecycleHandler,
    kind: HandlerKind,
    deadline: Option<Instant>,
    _limits: &HookLimits,
) -> ActionReport {
    let detail = describe(target, handler, kind);
    let report = |result: Result<(), String>, output: String| ActionReport {
        detail: detail.clone(),
        result,
        output,
        wasm: None,
        exec: None,
        http_fallback: None,
    };
    match kind {
        HandlerKind::Exec => {
            let (result, output, usage) = exec(runner, target, handler).await;
            ActionReport { exec: usage, ..report(result, output) }
        }
        HandlerKind::HttpGet => {
            let action = handler.http_get.as_ref().expect("kind is httpGet");
            let r = super::http::run_http_get(&runner.http, action, &target.container, target.pod_ip).await;
            let output = r.status_line.clone().unwrap_or_default();
            let result = r.result.map_err(|e| failure(target, handler, kind, &e, ""));
            ActionReport {
                http_fallback: r.fallback,
                ..report(result, output)
            }
        }
        HandlerKind::Sleep => {
            let seconds = handler.sleep.as_ref().expect("kind is sleep").seconds;
            let output = sleep::run(runner.runtime.as_deref(), &target.container_id, seconds).await;
            report(Ok(()), output)
        }
        HandlerKind::Wasm => wasm(runner, target, handler, deadline, detail).await,
        HandlerKind::Invalid => {
            let error = invalid_description(handler);
            report(Err(message::invalid_handler(&error)), String::new())
        }
    }
}

/// Runs an exec hook; its result, output and (where the runtime has cgroups) usage.
async fn exec(
    runner: &HookRunner,
    target: &HookTarget,
    handler: &LifecycleHandler,
) -> (Result<(), String>, String, Option<ExecUsage>) {
    let argv = &handler.exec.as_ref().expect("kind is exec").command;
    let request = ExecRequest {
        argv: argv.clone(),
        extra_env: delivery_env(target),
        output_limit: HOOK_OUTPUT_LIMIT / 2,
        stdio: Default::default(),
    };
    let fail = |error: &str, output: &str| {
        Err(failure(target, handler, HandlerKind::Exec, error, output))
    };
    let Some(runtime) = &runner.runtime else {
        return (fail(super::NO_RUNTIME, ""), String::new(), None);
    };
    match runtime.exec(&target.container_id, request).await {
        Ok(result) => {
            let stdout = String::from_utf8_lossy(&result.stdout);
            let stderr = String::from_utf8_lossy(&result.stderr);
            // stdout followed by stderr, as the CRI returns them.
            let mut output = format!("{stdout}{stderr}");
            if result.dropped_bytes > 0 {
                output.push_str(&format!("\n[{} more bytes of output dropped]", result.dropped_bytes));
            }
            if result.exit_code == 0 {
                (Ok(()), output, result.usage)
            } else {
                let error = message::exec_exit_error(argv, result.exit_code, &stderr);
                (fail(&error, &output), output, result.usage)
            }
        }
        Err(err) => (fail(&format!("{err:#}"), ""), String::new(), None),
    }
}

async fn wasm(
    runner: &HookRunner,
    target: &HookTarget,
    handler: &LifecycleHandler,
    deadline: Option<Instant>,
    detail: String,
) -> ActionReport {
    let action = handler.wasm.as_ref().expect("kind is wasm");
    let pod = &target.pod;
    let event = PluginEvent {
        phase: match target.phase {
            HookPhase::PostStart => PluginPhase::PostStart,
            HookPhase::PreStop => PluginPhase::PreStop,
        },
        pod_name: pod.metadata.name.clone(),
        pod_namespace: pod.namespace().to_string(),
        pod_uid: pod.uid().to_string(),
        container_name: target.container.name.clone(),
        container_id: target.container_id.0.clone(),
        image: target.container.image.clone(),
        labels: pairs(&pod.metadata.labels),
        annotations: pairs(&pod.metadata.annotations),
        pod_ip: target.pod_ip.map(|ip| ip.to_string()),
        delivery_id: target.delivery.id.clone(),
        attempt: target.delivery.attempt,
        config: pairs(&action.config),
    };
    let outcome = runner
        .wasm
        .deliver(WasmDelivery {
            plugin: action.plugin.clone(),
            event,
            fuel: action.fuel,
            deadline,
        })
        .await;
    let output = truncate(&wasm_output(&outcome), HOOK_OUTPUT_LIMIT);
    let result = outcome
        .result
        .map_err(|e| failure(target, handler, HandlerKind::Wasm, &e.to_string(), &output));
    ActionReport {
        detail,
        result,
        output,
        wasm: Some(WasmUsage {
            fuel_consumed: outcome.fuel_consumed,
            fuel_budget: outcome.fuel_budget,
            peak_memory_bytes: outcome.peak_memory_bytes,
            memory_cap_bytes: outcome.memory_cap_bytes,
        }),
        exec: None,
        http_fallback: None,
    }
}

/// A wasm delivery's output (D4): first what the sandbox denied and what was dropped past
/// the caps (so that a flood cannot push those out of the bounded output), then the log
/// lines, stdout and stderr.
pub(crate) fn wasm_output(outcome: &WasmOutcome) -> String {
    let mut output = String::new();
    for denial in &outcome.denials {
        output.push_str(&format!("[denied] {denial}\n"));
    }
    let dropped: Vec<String> = [
        (outcome.logs_dropped as u64, "log lines"),
        (outcome.stdout_dropped_bytes, "bytes of stdout"),
        (outcome.stderr_dropped_bytes, "bytes of stderr"),
    ]
    .iter()
    .filter(|(count, _)| *count > 0)
    .map(|(count, what)| format!("{count} {what}"))
    .collect();
    if !dropped.is_empty() {
        output.push_str(&format!("[output past the caps dropped: {}]\n", dropped.join(", ")));
    }
    for line in &outcome.logs {
        output.push_str(&format!("[{}] {}\n", line.level, line.message));
    }
    output.push_str(&String::from_utf8_lossy(&outcome.stdout));
    output.push_str(&String::from_utf8_lossy(&outcome.stderr));
    output
}

/// A string map as the key/value pairs a plugin's event carries.
pub(crate) fn pairs(map: &std::collections::BTreeMap<String, String>) -> Vec<(String, String)> {
    map.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
}

/// Environment an exec hook sees besides the container's (D2: handlers can be idempotent).
fn delivery_env(target: &HookTarget) -> Vec<(String, String)> {
    vec![
        ("HOOKLET_DELIVERY_ID".into(), target.delivery.id.clone()),
        ("HOOKLET_ATTEMPT".into(), target.delivery.attempt.to_string()),
        ("HOOKLET_HOOK_PHASE".into(), target.phase.as_str().into()),
    ]
}

fn invalid_description(handler: &LifecycleHandler) -> String {
    match &handler.tcp_socket {
        Some(tcp) => format!(
            "tcpSocket (port {}) is not supported in lifecycle hooks; use exec, httpGet, sleep or wasm",
            tcp.port
        ),
        None => "no action set; set one of exec, httpGet, sleep or wasm".to_string(),
    }
}

/// What ran, for humans.
pub(super) fn describe(target: &HookTarget, handler: &LifecycleHandler, kind: HandlerKind) -> String {
    match kind {
        HandlerKind::Exec => format!("[{}]", handler.exec.as_ref().map(|e| e.command.join(" ")).unwrap_or_default()),
        HandlerKind::HttpGet => {
            let a = handler.http_get.as_ref().expect("kind is httpGet");
            let host = a
                .host
                .clone()
                .or_else(|| target.pod_ip.map(|ip| ip.to_string()))
                .unwrap_or_default();
            format!("{}://{host}:{}{}", a.scheme.to_lowercase(), a.port, a.path)
        }
        HandlerKind::Sleep => format!("{}s", handler.sleep.as_ref().map(|s| s.seconds).unwrap_or(0)),
        HandlerKind::Wasm => handler.wasm.as_ref().map(|w| w.plugin.clone()).unwrap_or_default(),
        HandlerKind::Invalid => "tcpSocket".to_string(),
    }
}

/// The kubelet-style failure message for `kind` with `error`.
pub(super) fn failure(target: &HookTarget, handler: &LifecycleHandler, kind: HandlerKind, error: &str, output: &str) -> String {
    let container = target.container.name.as_str();
    let pod = target.pod.display_name();
    match kind {
        HandlerKind::Exec => {
            let argv = handler.exec.as_ref().map(|e| e.command.as_slice()).unwrap_or_default();
            message::exec_failure(argv, container, &pod, error, output)
        }
        HandlerKind::HttpGet => {
            let path = handler.http_get.as_ref().map(|h| h.path.as_str()).unwrap_or_default();
            message::http_failure(path, container, &pod, error)
        }
        HandlerKind::Sleep => {
            let seconds = handler.sleep.as_ref().map(|s| s.seconds).unwrap_or(0);
            message::sleep_failure(seconds, container, &pod, error)
        }
        HandlerKind::Wasm => {
            let plugin = handler.wasm.as_ref().map(|w| w.plugin.as_str()).unwrap_or_default();
            message::wasm_failure(plugin, container, &pod, error, output)
        }
        HandlerKind::Invalid => message::invalid_handler(&invalid_description(handler)),
    }
}
