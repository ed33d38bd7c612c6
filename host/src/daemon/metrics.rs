//! Prometheus text metrics (`/metrics`): hook deliveries by kind, plugin and outcome,
//! hook latency histograms, fuel consumed, restarts, back-offs, redeliveries.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::hooks::HookRun;
use crate::promtext::{escape, Histogram};

#[derive(Default)]
struct Inner {
    deliveries: BTreeMap<(String, String, String), u64>,
    latency: BTreeMap<String, Histogram>,
    fuel: BTreeMap<String, u64>,
    restarts: u64,
    backoffs: u64,
    redeliveries: u64,
    events_stored: u64,
    event_batches: u64,
    preemptions: BTreeMap<String, u64>,
}

/// The daemon's counters. Updated by the journal and the state persisters.
///
/// Counters start at zero with each daemon process, like those of any restarted
/// Prometheus target (`rate()` handles the reset); `process_start_time_seconds`
/// tells when they began. The durable history is the state database, not these.
pub struct Metrics {
    inner: Mutex<Inner>,
    started: SystemTime,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics { inner: Mutex::default(), started: SystemTime::now() }
    }
}

impl Metrics {
    fn with<T>(&self, f: impl FnOnce(&mut Inner) -> T) -> T {
        f(&mut self.inner.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// Counts a pod preempted for a critical pod, by the resource it lacked.
    pub fn preemption(&self, resource: &str) {
        self.with(|m| *m.preemptions.entry(resource.to_string()).or_default() += 1);
    }

    /// Counts a finished hook run (`plugin` is empty for non-wasm handlers).
    pub fn hook_run(&self, run: &HookRun, plugin: &str) {
        let kind = run.kind.as_str().to_string();
        let secs = run.duration.as_secs_f64();
        self.with(|m| {
            *m.deliveries.entry((kind.clone(), plugin.to_string(), run.outcome.summary().to_string())).or_default() += 1;
            m.latency.entry(kind).or_default().observe(secs);
            if let Some(w) = &run.wasm {
                *m.fuel.entry(plugin.to_string()).or_default() += w.fuel_consumed;
            }
            if run.delivery.attempt > 1 {
                m.redeliveries += 1;
            }
        });
    }

    /// Counts container restarts.
    pub fn restarts(&self, n: u64) {
        self.with(|m| m.restarts += n);
    }

    /// Counts one committed batch of `events` events, `backoffs` of them BackOff ones
    /// (each a CrashLoopBackOff wait).
    pub fn event_batch(&self, events: u64, backoffs: u64) {
        self.with(|m| {
            m.event_batches += 1;
            m.events_stored += events;
            m.backoffs += backoffs;
        });
    }

    /// The wasm instance pool's gauges and counter, appended to [`Metrics::render`]'s text.
    pub fn render_pool(stats: &crate::wasm::PoolStats) -> String {
        let mut out = String::new();
        let rows = [
            ("hooklet_wasm_pool_slots", "gauge", "Slots of the wasm instance pool (deliveries that can run at once).", stats.slots as u64),
            ("hooklet_wasm_pool_slots_in_use", "gauge", "Wasm deliveries holding a pool slot now.", stats.in_use as u64),
            ("hooklet_wasm_pool_waits_total", "counter", "Wasm deliveries that waited for a free pool slot.", stats.waited),
        ];
        for (name, kind, help, value) in rows {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}");
        }
        out
    }

    /// The async runtime's gauges: tasks alive (spawned and not yet finished; blocking
    /// tasks excluded) and worker threads. A task count that keeps growing under a steady
    /// load is a leak (`scripts/soak` samples it). Empty outside a tokio runtime.
    pub fn render_runtime() -> String {
        let Ok(handle) = tokio::runtime::Handle::try_current() else { return String::new() };
        let m = handle.metrics();
        let rows = [
            ("hooklet_tokio_tasks", "Tasks alive in the daemon's async runtime (spawned, not yet finished).", m.num_alive_tasks()),
            ("hooklet_tokio_workers", "Worker threads of the daemon's async runtime.", m.num_workers()),
        ];
        let mut out = String::new();
        for (name, help, value) in rows {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}");
        }
        out
    }

    /// The Prometheus text exposition (format 0.0.4).
    pub fn render(&self) -> String {
        let mut out = String::new();
        self.with(|m| {
            let _ = writeln!(out, "# HELP hooklet_hook_deliveries_total Hook deliveries that ended, by handler kind, plugin and outcome.");
            let _ = writeln!(out, "# TYPE hooklet_hook_deliveries_total counter");
            for ((kind, plugin, outcome), n) in &m.deliveries {
                let _ = writeln!(out, "hooklet_hook_deliveries_total{{kind=\"{kind}\",plugin=\"{}\",outcome=\"{outcome}\"}} {n}", escape(plugin));
            }
            let _ = writeln!(out, "# HELP hooklet_hook_duration_seconds How long hook deliveries took, by handler kind.");
            let _ = writeln!(out, "# TYPE hooklet_hook_duration_seconds histogram");
            for (kind, h) in &m.latency {
                h.render(&mut out, "hooklet_hook_duration_seconds", &format!("kind=\"{kind}\""));
            }
            let _ = writeln!(out, "# HELP hooklet_wasm_fuel_consumed_total Fuel consumed by wasm hooks, by plugin.");
            let _ = writeln!(out, "# TYPE hooklet_wasm_fuel_consumed_total counter");
            for (plugin, n) in &m.fuel {
                let _ = writeln!(out, "hooklet_wasm_fuel_consumed_total{{plugin=\"{}\"}} {n}", escape(plugin));
            }
            for (name, help, n) in [
                ("hooklet_container_restarts_total", "Container restarts.", m.restarts),
                ("hooklet_container_backoffs_total", "CrashLoopBackOff waits before a restart.", m.backoffs),
                ("hooklet_hook_redeliveries_total", "Hook deliveries that ended on an attempt after the first (D2).", m.redeliveries),
                ("hooklet_events_stored_total", "Event records (new or merged) committed to the state database.", m.events_stored),
                ("hooklet_event_commits_total", "Transactions that committed events (with any finished deliveries).", m.event_batches),
            ] {
                let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter\n{name} {n}");
            }
            let _ = writeln!(out, "# HELP kubelet_preemptions Pods preempted to admit critical pods, by the resource they freed.");
            let _ = writeln!(out, "# TYPE kubelet_preemptions counter");
            for (resource, n) in &m.preemptions {
                let _ = writeln!(out, "kubelet_preemptions{{preemption_signal=\"{}\"}} {n}", escape(resource));
            }
            let start = self.started.duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0);
            let _ = writeln!(out, "# HELP process_start_time_seconds When this hooklet process started (counters begin at zero then).");
            let _ = writeln!(out, "# TYPE process_start_time_seconds gauge\nprocess_start_time_seconds {start:.3}");
        });
        out
    }
}

#[cfg(test)]
mod tests {
    use super::Metrics;

    fn tasks() -> usize {
        let text = Metrics::render_runtime();
        let line = text.lines().find(|l| l.starts_with("hooklet_tokio_tasks ")).expect("the gauge is rendered");
        line["hooklet_tokio_tasks ".len()..].parse().expect("a count")
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_task_gauge_counts_tasks_alive_and_drops_when_they_end() {
        let before = tasks();
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let held: Vec<_> = (0..5)
            .map(|_| {
                let mut stopped = stopped.clone();
                tokio::spawn(async move { while !*stopped.borrow_and_update() { let _ = stopped.changed().await; } })
            })
            .collect();
        assert_eq!(tasks(), before + 5, "five spawned tasks that wait are alive");
        stop.send(true).unwrap();
        for task in held {
            task.await.unwrap();
        }
        // A joined task is released from the runtime's list just after its waiter is
        // woken: yield until the worker has done that (no clock involved).
        let mut yields = 0;
        while tasks() != before && yields < 100_000 {
            tokio::task::yield_now().await;
            yields += 1;
        }
        assert_eq!(tasks(), before, "finished tasks are no longer counted");
        assert!(Metrics::render_runtime().contains("hooklet_tokio_workers 2\n"));
    }

    #[test]
    fn outside_a_runtime_nothing_is_rendered() {
        assert_eq!(Metrics::render_runtime(), "");
    }
}
