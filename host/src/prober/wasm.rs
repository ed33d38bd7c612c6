//! The `wasm` probe: a plugin exporting `hooklet:hook/prober@0.2.0`, run through the
//! same delivery path as wasm hooks (pool, fuel, deadline, memory cap, bounded output).

use std::time::Duration;

use tokio::time::Instant;

use super::attempt::{Attempt, Verdict};
use super::{ProbeTarget, Prober};
use crate::hooks::message::truncate;
use crate::hooks::{pairs, wasm_output};
use crate::spec::{ProbeType, WasmAction};
use crate::wasm::{ProbeEvent, ProbeKind, WasmProbe};

/// How much of a failed plugin's own output (its logs, stdout, stderr, denials) follows
/// the reason in the `Unhealthy` event; `describe`-style detail stays in the logs.
const EVENT_OUTPUT_LIMIT: usize = 1024;

/// Runs one wasm probe under `timeout`: healthy when the plugin returns `ok`.
pub(super) async fn probe(
    prober: &Prober,
    target: &ProbeTarget,
    action: &WasmAction,
    kind: ProbeType,
    timeout: Duration,
) -> Attempt {
    let pod = &target.pod;
    let event = ProbeEvent {
        kind: match kind {
            ProbeType::Liveness => ProbeKind::Liveness,
            ProbeType::Readiness => ProbeKind::Readiness,
            ProbeType::Startup => ProbeKind::Startup,
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
        config: pairs(&action.config),
    };
    let request = WasmProbe { plugin: action.plugin.clone(), event, fuel: action.fuel, deadline: Some(Instant::now() + timeout) };
    let outcome = prober.wasm.probe(request).await;
    let fuel = Some((action.plugin.clone(), outcome.fuel_consumed));
    let attempt = match &outcome.result {
        Ok(()) => Attempt { verdict: Verdict::Success, output: outcome.message.clone().unwrap_or_default(), wasm_fuel: None },
        Err(failure) => {
            let output = truncate(wasm_output(&outcome).trim(), EVENT_OUTPUT_LIMIT);
            let text = match output.is_empty() {
                true => format!("wasm probe plugin {}: {failure}", action.plugin),
                false => format!("wasm probe plugin {}: {failure}; output: {output}", action.plugin),
            };
            Attempt { verdict: Verdict::Failure, output: text, wasm_fuel: None }
        }
    };
    Attempt { wasm_fuel: fuel, ..attempt }
}
