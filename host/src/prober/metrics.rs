//! The prober's metrics, in the kubelet's names: `prober_probe_total` and
//! `prober_probe_duration_seconds`, plus hooklet's fuel per wasm probe.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::time::Duration;

use super::attempt::{Attempt, Verdict};
use super::ProbeTarget;
use crate::promtext::{escape, Histogram};
use crate::spec::ProbeType;

/// `probe_type`, `container`, `pod`, `namespace`.
type Series = (&'static str, String, String, String);

#[derive(Default)]
struct Inner {
    /// By series and result (`successful`, `failed`, `unknown`).
    total: BTreeMap<(Series, &'static str), u64>,
    duration: BTreeMap<Series, Histogram>,
    /// By series and plugin.
    fuel: BTreeMap<(Series, String), u64>,
    /// Pod UID → namespace/name, to forget a removed pod's series.
    pods: BTreeMap<String, (String, String)>,
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

impl ProberMetrics {
    fn with<T>(&self, f: impl FnOnce(&mut Inner) -> T) -> T {
        f(&mut self.inner.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// Counts one probe (its retries included) that took `elapsed`.
    pub(super) fn observe(&self, target: &ProbeTarget, kind: ProbeType, attempt: &Attempt, elapsed: Duration) {
        let pod = &target.pod;
        let series: Series = (
            kind.as_str(),
            target.container.name.clone(),
            pod.metadata.name.clone(),
            pod.namespace().to_string(),
        );
        let result = match attempt.verdict {
            Verdict::Success | Verdict::Warning => "successful",
            Verdict::Failure => "failed",
            Verdict::Error => "unknown",
        };
        self.with(|m| {
            m.pods.insert(pod.uid().to_string(), (series.3.clone(), series.2.clone()));
            *m.total.entry((series.clone(), result)).or_default() += 1;
            m.duration.entry(series.clone()).or_default().observe(elapsed.as_secs_f64());
            if let Some((plugin, fuel)) = &attempt.wasm_fuel {
                *m.fuel.entry((series, plugin.clone())).or_default() += fuel;
            }
        });
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
        self.with(|m| {
            let Some((namespace, name)) = m.pods.remove(uid) else { return };
            let same = |s: &Series| s.2 == name && s.3 == namespace;
            m.total.retain(|(s, _), _| !same(s));
            m.duration.retain(|s, _| !same(s));
            m.fuel.retain(|(s, _), _| !same(s));
        });
    }

    /// How many probes ran, by result (`successful`, `failed`, `unknown`), over all series.
    pub fn count(&self, result: &str) -> u64 {
        self.with(|m| m.total.iter().filter(|((_, r), _)| *r == result).map(|(_, n)| n).sum())
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
            for ((series, result), n) in &m.total {
                let _ = writeln!(out, "prober_probe_total{{{},result=\"{result}\"}} {n}", labels(series));
            }
            let _ = writeln!(out, "# HELP prober_probe_duration_seconds Duration in seconds for a probe response.");
            let _ = writeln!(out, "# TYPE prober_probe_duration_seconds histogram");
            for (series, h) in &m.duration {
                h.render(&mut out, "prober_probe_duration_seconds", &labels(series));
            }
            let _ = writeln!(out, "# HELP hooklet_probe_lag_seconds How late probes started against their periodSeconds schedule.");
            let _ = writeln!(out, "# TYPE hooklet_probe_lag_seconds histogram");
            m.lag.render(&mut out, "hooklet_probe_lag_seconds", "");
            let _ = writeln!(out, "# HELP hooklet_probe_wasm_fuel_consumed_total Fuel consumed by wasm probes, by container and plugin.");
            let _ = writeln!(out, "# TYPE hooklet_probe_wasm_fuel_consumed_total counter");
            for ((series, plugin), n) in &m.fuel {
                let _ = writeln!(out, "hooklet_probe_wasm_fuel_consumed_total{{{},plugin=\"{}\"}} {n}", labels(series), escape(plugin));
            }
        });
        out
    }
}
