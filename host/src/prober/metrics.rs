//! The prober's metrics, in the kubelet's names: `prober_probe_total` and
//! `prober_probe_duration_seconds`, plus hooklet's fuel per wasm probe.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::attempt::{Attempt, Verdict};
use super::ProbeTarget;
use crate::promtext::{escape, Histogram};
use crate::spec::ProbeType;

/// `probe_type`, `container`, `pod`, `namespace`.
type Series = (&'static str, String, String, String);

/// The results a probe counts under: `successful`, `failed`, `unknown`.
const RESULTS: [&str; 3] = ["successful", "failed", "unknown"];

/// One worker's series, registered once when the worker starts, so that counting a
/// probe allocates nothing and takes no node-wide lock but briefly for the lag.
pub(super) struct SeriesMetrics {
    pod_uid: String,
    counts: [AtomicU64; 3],
    duration: Mutex<Histogram>,
    /// Fuel by plugin (wasm probes).
    fuel: Mutex<BTreeMap<String, u64>>,
}

#[derive(Default)]
struct Inner {
    series: BTreeMap<Series, Arc<SeriesMetrics>>,
    /// How late probes started against their schedule.
    lag: Histogram,
    /// Every lag, when a benchmark asked for them ([`ProberMetrics::keep_lags`]).
    lags: Option<Vec<Duration>>,
}

/// Counters and histograms of every probe attempt on this node.
#[derive(Default)]
pub struct ProberMetrics {
    inner: Mutex<Inner>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl ProberMetrics {
    fn with<T>(&self, f: impl FnOnce(&mut Inner) -> T) -> T {
        f(&mut lock(&self.inner))
    }

    /// The series of `kind` on `target`'s container (shared by its instances).
    pub(super) fn series(&self, target: &ProbeTarget, kind: ProbeType) -> Arc<SeriesMetrics> {
        let pod = &target.pod;
        let key: Series = (kind.as_str(), target.container.name.clone(), pod.metadata.name.clone(), pod.namespace().to_string());
        self.with(|m| {
            m.series
                .entry(key)
                .or_insert_with(|| {
                    Arc::new(SeriesMetrics {
                        pod_uid: pod.uid().to_string(),
                        counts: Default::default(),
                        duration: Mutex::default(),
                        fuel: Mutex::default(),
                    })
                })
                .clone()
        })
    }

    /// Counts one probe (its retries included) that took `elapsed`.
    pub(super) fn observe(series: &SeriesMetrics, attempt: &Attempt, elapsed: Duration) {
        let result = match attempt.verdict {
            Verdict::Success | Verdict::Warning => 0,
            Verdict::Failure => 1,
            Verdict::Error => 2,
        };
        series.counts[result].fetch_add(1, Ordering::Relaxed);
        lock(&series.duration).observe(elapsed.as_secs_f64());
        if let Some((plugin, fuel)) = &attempt.wasm_fuel {
            let mut by_plugin = lock(&series.fuel);
            match by_plugin.get_mut(plugin) {
                Some(total) => *total += fuel,
                None => {
                    by_plugin.insert(plugin.clone(), *fuel);
                }
            }
        }
    }

    /// Counts how late one probe started against its period's schedule.
    pub(super) fn lag(&self, lag: Duration) {
        self.with(|m| {
            m.lag.observe(lag.as_secs_f64());
            if let Some(lags) = &mut m.lags {
                lags.push(lag);
            }
        });
    }

    /// Keeps every lag from now on, for [`ProberMetrics::take_lags`] (benchmarks).
    pub fn keep_lags(&self) {
        self.with(|m| m.lags = Some(Vec::new()));
    }

    /// The lags kept since [`ProberMetrics::keep_lags`] or the last call.
    pub fn take_lags(&self) -> Vec<Duration> {
        self.with(|m| m.lags.as_mut().map(std::mem::take).unwrap_or_default())
    }

    /// Drops the series of a pod that is gone (as the kubelet does when its workers end).
    pub fn forget_pod(&self, uid: &str) {
        self.with(|m| m.series.retain(|_, s| s.pod_uid != uid));
    }

    /// How many probes ran, by result (`successful`, `failed`, `unknown`), over all series.
    pub fn count(&self, result: &str) -> u64 {
        let Some(i) = RESULTS.iter().position(|r| *r == result) else { return 0 };
        self.with(|m| m.series.values().map(|s| s.counts[i].load(Ordering::Relaxed)).sum())
    }

    /// The Prometheus text of these metrics.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let labels = |s: &Series| {
            format!(
                "probe_type=\"{}\",container=\"{}\",pod=\"{}\",namespace=\"{}\"",
                s.0,
                escape(&s.1),
                escape(&s.2),
                escape(&s.3)
            )
        };
        self.with(|m| {
            let _ = writeln!(out, "# HELP prober_probe_total Cumulative number of a liveness, readiness or startup probe for a container by result.");
            let _ = writeln!(out, "# TYPE prober_probe_total counter");
            for (series, s) in &m.series {
                for (i, result) in RESULTS.iter().enumerate() {
                    let n = s.counts[i].load(Ordering::Relaxed);
                    if n > 0 {
                        let _ = writeln!(out, "prober_probe_total{{{},result=\"{result}\"}} {n}", labels(series));
                    }
                }
            }
            let _ = writeln!(out, "# HELP prober_probe_duration_seconds Duration in seconds for a probe response.");
            let _ = writeln!(out, "# TYPE prober_probe_duration_seconds histogram");
            for (series, s) in &m.series {
                lock(&s.duration).render(&mut out, "prober_probe_duration_seconds", &labels(series));
            }
            let _ = writeln!(out, "# HELP hooklet_probe_lag_seconds How late probes started against their periodSeconds schedule.");
            let _ = writeln!(out, "# TYPE hooklet_probe_lag_seconds histogram");
            m.lag.render(&mut out, "hooklet_probe_lag_seconds", "");
            let _ = writeln!(out, "# HELP hooklet_probe_wasm_fuel_consumed_total Fuel consumed by wasm probes, by container and plugin.");
            let _ = writeln!(out, "# TYPE hooklet_probe_wasm_fuel_consumed_total counter");
            for (series, s) in &m.series {
                for (plugin, n) in lock(&s.fuel).iter() {
                    let _ = writeln!(out, "hooklet_probe_wasm_fuel_consumed_total{{{},plugin=\"{}\"}} {n}", labels(series), escape(plugin));
                }
            }
        });
        out
    }
}
