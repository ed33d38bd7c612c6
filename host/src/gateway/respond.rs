//! A finished hook run as the HTTP answer to the kubelet: 200 when the plugin handled the
//! hook, 500 with the plugin's reason when it failed it (or crashed, ran out of fuel, …),
//! 504 when its deadline stopped it.

use std::time::Duration;

use hyper::StatusCode;

use crate::hooks::{HookOutcome, HookRun};

/// The status and text body for `run` of `plugin`, which had `deadline` (if any).
pub fn answer(run: &HookRun, plugin: &str, deadline: Option<Duration>) -> (StatusCode, String) {
    let phase = run.phase.as_str();
    let stopped_at_deadline = deadline.is_some_and(|d| run.duration >= d);
    match &run.outcome {
        HookOutcome::Succeeded => {
            let mut body = format!(
                "{phase} hook delivered to plugin {plugin}: succeeded in {} ms (delivery {}, attempt {}{})\n",
                run.duration.as_millis(),
                run.delivery.id,
                run.delivery.attempt,
                run.wasm.map(|w| format!(", fuel {}", w.fuel_consumed)).unwrap_or_default(),
            );
            body.push_str(&run.output);
            (StatusCode::OK, body)
        }
        HookOutcome::GraceExpired => (
            StatusCode::GATEWAY_TIMEOUT,
            format!(
                "{phase} hook of plugin {plugin}: the deadline of {} passed before the plugin finished, so it was \
                 stopped (set it with ?deadline= on the hook's path, or the gateway's --prestop-deadline)\n",
                humantime::format_duration(deadline.unwrap_or_default()),
            ),
        ),
        HookOutcome::TimedOut { message } => (StatusCode::GATEWAY_TIMEOUT, format!("{message}\n")),
        HookOutcome::Failed { message } if stopped_at_deadline => (
            StatusCode::GATEWAY_TIMEOUT,
            format!("{message}\n(the gateway's deadline: ?deadline= on the hook's path, else --prestop-deadline for a PreStop)\n"),
        ),
        HookOutcome::Failed { message } | HookOutcome::Cancelled { message } => {
            (StatusCode::INTERNAL_SERVER_ERROR, format!("{message}\n"))
        }
    }
}
