//! One probe worker: the kubelet's `worker.run` / `doProbe` (probe spec §3.2–§3.4) for
//! one container instance and one probe kind.

use std::sync::Arc;
use std::time::SystemTime;

use tokio::sync::{mpsc, watch};
use tokio::time::{Instant, MissedTickBehavior};

use super::actions;
use super::attempt::{Attempt, Verdict};
use super::metrics::{ProberMetrics, SeriesMetrics};
use super::{ProbeCounters, ProbeResult, ProbeSink, ProbeTarget, Prober};
use crate::events::EventType;
use crate::spec::{Probe, ProbeType};

/// The kubelet's `maxProbeRetries`: an attempt that errors is tried again this often.
const MAX_PROBE_RETRIES: usize = 3;

/// `lastResult` / `resultRun`.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct RunCounter {
    last: Option<ProbeResult>,
    run: u32,
}

/// Whether the loop goes on.
enum Next {
    Continue,
    Stop,
}

/// One probe kind of one container instance.
pub(super) struct Worker {
    pub prober: Arc<Prober>,
    pub target: Arc<ProbeTarget>,
    pub kind: ProbeType,
    pub probe: Probe,
    pub sink: Arc<dyn ProbeSink>,
    /// Whether the instance is started (its startup probe succeeded, or it has none).
    pub started: watch::Sender<bool>,
    pub kill: mpsc::Sender<ProbeType>,
    pub counters: ProbeCounters,
    pub series: Arc<SeriesMetrics>,
}

impl Worker {
    /// `worker.run`: jitter after an agent start, then probe at once and on every
    /// period tick (ticks missed while a probe runs are dropped); readiness also probes
    /// at once when the instance becomes started (the kubelet's manual trigger).
    pub async fn run(self) {
        let period = self.prober.seconds(self.probe.period_seconds.max(1));
        if let Some(wasm) = &self.probe.wasm {
            // Compiling (or reading from the cache) happens once, before the first probe,
            // not inside a probe's timeoutSeconds; a plugin that cannot load fails there.
            if let Err(failure) = self.prober.wasm.load(&wasm.plugin).await {
                tracing::debug!(plugin = %wasm.plugin, "probe plugin does not load: {failure}");
            }
        }
        if self.prober.started.elapsed() < period {
            tokio::time::sleep(period.mul_f64(jitter_fraction())).await;
        }
        let mut ticker = tokio::time::interval(period);
        ticker.set_missed_tick_behavior(MissedTickBehavior::Skip);
        let mut started = self.started.subscribe();
        let mut cached = self.initial_result();
        loop {
            let trigger = async {
                if self.kind == ProbeType::Readiness && !*started.borrow_and_update() {
                    let _ = started.wait_for(|s| *s).await;
                } else {
                    std::future::pending::<()>().await;
                }
            };
            let scheduled = tokio::select! {
                at = ticker.tick() => at,
                _ = trigger => Instant::now(),
            };
            if let Next::Stop = self.step(&mut cached, scheduled).await {
                return;
            }
        }
    }

    /// The value a new container ID starts with: readiness Failure, liveness Success,
    /// startup Unknown.
    fn initial_result(&self) -> ProbeResult {
        match self.kind {
            ProbeType::Readiness => ProbeResult::Failure,
            ProbeType::Liveness => ProbeResult::Success,
            ProbeType::Startup => ProbeResult::Unknown,
        }
    }

    /// `doProbe`, from the initial delay on, for the probe due at `scheduled`.
    async fn step(&self, cached: &mut ProbeResult, scheduled: Instant) -> Next {
        // Whole (probe) seconds since the container started, truncated as the kubelet does.
        let elapsed = SystemTime::now().duration_since(self.target.started_at).unwrap_or_default();
        let whole_seconds = elapsed.as_nanos() / self.prober.unit.as_nanos().max(1);
        if (whole_seconds as i64) < self.probe.initial_delay_seconds {
            return Next::Continue;
        }
        let started = *self.started.borrow();
        match self.kind {
            // Started already (e.g. adopted): nothing left for the startup probe to do.
            ProbeType::Startup if started => return Next::Stop,
            ProbeType::Liveness | ProbeType::Readiness if !started => return Next::Continue,
            _ => {}
        }
        self.prober.metrics.lag(scheduled.elapsed());
        let Some(result) = self.attempt().await else {
            return Next::Continue;
        };
        let run = {
            let mut counters = self.counters.0.lock().unwrap_or_else(|e| e.into_inner());
            let counter = counters.entry(self.kind).or_default();
            if counter.last == Some(result) {
                counter.run += 1;
            } else {
                *counter = RunCounter { last: Some(result), run: 1 };
            }
            counter.run
        };
        let threshold = match result {
            ProbeResult::Failure => self.probe.failure_threshold,
            _ => self.probe.success_threshold,
        };
        if (run as i64) < threshold.max(1) {
            return Next::Continue;
        }
        let changed = *cached != result;
        *cached = result;
        match (self.kind, result) {
            (ProbeType::Readiness, _) if changed => self.sink.ready(result == ProbeResult::Success),
            (ProbeType::Liveness | ProbeType::Startup, ProbeResult::Failure) => {
                // On hold until the next instance; failures do not carry over.
                if let Some(counter) = self.counters.0.lock().unwrap_or_else(|e| e.into_inner()).get_mut(&self.kind) {
                    counter.run = 0;
                }
                let _ = self.kill.send(self.kind).await;
                return Next::Stop;
            }
            (ProbeType::Startup, ProbeResult::Success) => {
                self.started.send_replace(true);
                self.sink.started();
                return Next::Stop;
            }
            _ => {}
        }
        Next::Continue
    }

    /// `runProbeWithRetries` and the result mapping of `prober.probe` (§1.4): events for
    /// failures, warnings and errors; `None` for an attempt that errored (discarded).
    async fn attempt(&self) -> Option<ProbeResult> {
        let type_name = self.kind.as_str();
        let mut attempt = Attempt::errored(String::new());
        let began = Instant::now();
        for _ in 0..MAX_PROBE_RETRIES {
            attempt = actions::run(&self.prober, &self.target, self.kind, &self.probe).await;
            if !matches!(attempt.verdict, Verdict::Error) {
                break;
            }
        }
        ProberMetrics::observe(&self.series, &attempt, began.elapsed());
        let event = |event_type, reason: &str, message: String| {
            self.prober.events.record(&self.target.object, event_type, reason, &message);
        };
        match attempt.verdict {
            Verdict::Success => Some(ProbeResult::Success),
            Verdict::Warning => {
                event(EventType::Warning, "ProbeWarning", format!("{type_name} probe warning: {}", attempt.output));
                Some(ProbeResult::Success)
            }
            Verdict::Failure => {
                event(EventType::Warning, "Unhealthy", format!("{type_name} probe failed: {}", attempt.output));
                Some(ProbeResult::Failure)
            }
            Verdict::Error => {
                let message = format!("{type_name} probe errored and resulted in unknown state: {}", attempt.output);
                tracing::info!(container = %self.target.container.name, "{message}");
                event(EventType::Warning, "Unhealthy", message);
                None
            }
        }
    }
}

/// A random fraction in [0, 1) for the first probe's jitter.
fn jitter_fraction() -> f64 {
    // The low 53 bits of a v4 UUID are random (version and variant bits are higher up).
    (uuid::Uuid::new_v4().as_u128() & ((1u128 << 53) - 1)) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    #[test]
    fn jitter_is_a_fraction() {
        for _ in 0..1000 {
            let f = super::jitter_fraction();
            assert!((0.0..1.0).contains(&f), "{f}");
        }
    }
}
