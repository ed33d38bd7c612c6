//! The gateway's `/metrics`: the node's hook metrics (deliveries by kind, plugin and
//! outcome, latency, fuel; the wasm pool) in the node's format, plus the gateway's own
//! answers by status code and its admission line.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;

use super::admission::Admission;
use crate::daemon::metrics::Metrics;
use crate::wasm::PoolStats;

/// Counters of one gateway process.
#[derive(Default)]
pub struct GatewayMetrics {
    /// The node's hook counters, fed with every hook run.
    pub hooks: Metrics,
    answers: Mutex<BTreeMap<u16, u64>>,
}

impl GatewayMetrics {
    /// Counts one answer to a hook request.
    pub fn answered(&self, status: u16) {
        *self.answers.lock().unwrap_or_else(|e| e.into_inner()).entry(status).or_default() += 1;
    }

    /// The Prometheus text exposition (format 0.0.4).
    pub fn render(&self, pool: &PoolStats, admission: &Admission) -> String {
        let mut out = self.hooks.render();
        out.push_str(&Metrics::render_pool(pool));
        let _ = writeln!(out, "# HELP hooklet_gateway_requests_total Hook requests the gateway answered, by HTTP status code.");
        let _ = writeln!(out, "# TYPE hooklet_gateway_requests_total counter");
        for (code, n) in self.answers.lock().unwrap_or_else(|e| e.into_inner()).iter() {
            let _ = writeln!(out, "hooklet_gateway_requests_total{{code=\"{code}\"}} {n}");
        }
        let (in_flight, capacity) = admission.load();
        for (name, kind, help, value) in [
            ("hooklet_gateway_requests_in_flight", "gauge", "Hook requests running or waiting for a wasm pool slot.", in_flight as u64),
            ("hooklet_gateway_request_capacity", "gauge", "Hook requests the gateway takes at once (pool slots plus --max-queued).", capacity as u64),
            ("hooklet_gateway_requests_refused_total", "counter", "Hook requests answered 503 because the gateway was full.", admission.refused()),
        ] {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}");
        }
        out
    }
}
