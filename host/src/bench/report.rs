//! The scale benchmark's results as a Markdown table (runs side by side, with the
//! ratio of the first to the second) and as JSON.

use std::fmt::Write;

use super::scale::{HookKind, Report};

/// One row of the table: name, the target (an upper bound, not asserted), unit, value.
struct Row {
    name: &'static str,
    target: Option<f64>,
    unit: &'static str,
    value: fn(&Report) -> f64,
}

const fn row(name: &'static str, target: Option<f64>, unit: &'static str, value: fn(&Report) -> f64) -> Row {
    Row { name, target, unit, value }
}

/// Megabytes (10^6 bytes, as the targets are written) from MiB.
fn mb(mib: f64) -> f64 {
    mib * 1024.0 * 1024.0 / 1e6
}

const ROWS: [Row; 30] = [
    row("apply → all Running", Some(5.0), "s", |r| r.apply_to_running_s),
    row("apply → last PostStart done (hook records)", None, "s", |r| r.apply_to_last_post_start_s),
    row("apply request(s) answered", None, "s", |r| r.apply_request_s),
    row("delete → all gone", Some(5.0), "s", |r| r.delete_to_gone_s),
    row("delete requests answered", None, "s", |r| r.delete_requests_s),
    row("daemon peak RSS (VmHWM)", Some(150.0), "MB", |r| mb(r.peak_rss_mib)),
    row("daemon idle RSS, no pods (plugin from cache)", Some(30.0), "MB", |r| mb(r.idle_rss_mib)),
    row("daemon idle RSS, no pods (first start, compiled)", Some(30.0), "MB", |r| mb(r.idle_rss_compiled_mib)),
    row("daemon CPU, apply → all Running", None, "s", |r| r.cpu_apply_s),
    row("daemon CPU, delete → all gone", None, "s", |r| r.cpu_delete_s),
    row("PostStart p50", None, "ms", |r| r.post_start.p50_ms),
    row("PostStart p99", None, "ms", |r| r.post_start.p99_ms),
    row("PreStop p50", None, "ms", |r| r.pre_stop.p50_ms),
    row("PreStop p99", None, "ms", |r| r.pre_stop.p99_ms),
    row("PostStart runs failed", None, "", |r| r.post_start.failed as f64),
    row("PreStop runs failed", None, "", |r| r.pre_stop.failed as f64),
    row("daemon threads, all Running", None, "", |r| r.threads_running as f64),
    row("daemon open fds, all Running", None, "", |r| r.fds_running as f64),
    row("container monitors, all Running", None, "", |r| r.supervisors_running as f64),
    row("monitors' total PSS, all Running", None, "MB", |r| mb(r.supervisors_pss_mib)),
    row("monitor PSS per container, all Running (kB of smaps_rollup, KiB)", Some(300.0), "kB", |r| r.supervisors_pss_mib * 1024.0 / r.supervisors_running.max(1) as f64),
    row("kubectl get pods (Table), all Running", None, "s", |r| r.kubectl.as_ref().map_or(f64::NAN, |k| k.get_pods_s)),
    row("daemon CPU for kubectl get pods", None, "s", |r| r.kubectl.as_ref().map_or(f64::NAN, |k| k.get_pods_cpu_s)),
    row("kubectl get pods -o json, all Running", None, "s", |r| r.kubectl.as_ref().map_or(f64::NAN, |k| k.get_pods_json_s)),
    row("daemon CPU for kubectl get pods -o json", None, "s", |r| r.kubectl.as_ref().map_or(f64::NAN, |k| k.get_pods_json_cpu_s)),
    row("baseline: hooklet get pods (unix socket)", None, "s", |r| r.kubectl.as_ref().map_or(f64::NAN, |k| k.hooklet_get_pods_s)),
    row("daemon CPU for hooklet get pods", None, "s", |r| r.kubectl.as_ref().map_or(f64::NAN, |k| k.hooklet_get_pods_cpu_s)),
    row("daemon SIGKILLed, new one spawned → API answers", None, "s", |r| r.adoption.as_ref().map_or(f64::NAN, |a| a.restart_to_listening_s)),
    row("daemon SIGKILLed, new one spawned → all adopted", Some(2.0), "s", |r| r.adoption.as_ref().map_or(f64::NAN, |a| a.restart_to_adopted_s)),
    row("new daemon's CPU until all adopted", None, "s", |r| r.adoption.as_ref().map_or(f64::NAN, |a| a.cpu_s)),
];

/// A Markdown table: one row per measurement, one column per run, and `a / b` when
/// there are two runs. A ✓ or ✗ marks rows with a target.
pub fn table(reports: &[Report]) -> String {
    let mut out = String::new();
    let ratio = reports.len() == 2;
    let heads: Vec<String> = reports.iter().map(|r| format!("{} hooks{}", kind(r.hook), if r.runtime == "runc" { ", runc" } else { "" })).collect();
    let _ = write!(out, "| {} pods | target | {} |", reports.first().map_or(0, |r| r.pods), heads.join(" | "));
    if ratio {
        let _ = write!(out, " {} / {} |", kind(reports[0].hook), kind(reports[1].hook));
    }
    let _ = writeln!(out);
    let _ = writeln!(out, "|---|---|{}{}", "---:|".repeat(reports.len()), if ratio { "---:|" } else { "" });
    for row in &ROWS {
        let target = row.target.map(|t| format!("≤ {}", number(t, row.unit))).unwrap_or_default();
        let cells: Vec<String> = reports
            .iter()
            .map(|r| {
                let v = (row.value)(r);
                match row.target {
                    Some(t) if !v.is_nan() => format!("{} {}", number(v, row.unit), if v <= t { "✓" } else { "✗" }),
                    _ => number(v, row.unit),
                }
            })
            .collect();
        let _ = write!(out, "| {} | {target} | {} |", row.name, cells.join(" | "));
        if ratio {
            let (a, b) = ((row.value)(&reports[0]), (row.value)(&reports[1]));
            let _ = write!(out, " {} |", if b > 0.0 && !a.is_nan() { format!("{:.2}", a / b) } else { "–".into() });
        }
        let _ = writeln!(out);
    }
    out
}

fn kind(hook: HookKind) -> &'static str {
    match hook {
        HookKind::Wasm => "wasm",
        HookKind::Exec => "exec",
    }
}

fn number(v: f64, unit: &str) -> String {
    if v.is_nan() {
        return "–".into(); // not measured in this run
    }
    match unit {
        "" => format!("{v:.0}"),
        "ms" => format!("{v:.2} ms"),
        "s" => format!("{v:.2} s"),
        _ => format!("{v:.1} {unit}"),
    }
}

/// The reports as pretty JSON, with the conditions of the run.
pub fn json(reports: &[Report]) -> String {
    let value = serde_json::json!({
        "benchmark": "scale",
        "cpus": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        "runs": reports,
    });
    serde_json::to_string_pretty(&value).expect("reports serialise")
}
