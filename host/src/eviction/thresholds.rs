//! Eviction signals and thresholds, and the kubelet's flags that set them
//! (`ParseThresholdConfig`), with its error messages:
//!
//! - `--eviction-hard memory.available<100Mi,nodefs.available<10%` (Linux defaults
//!   [`DEFAULT_HARD`] when not given; given, only what it lists);
//! - `--eviction-soft` with `--eviction-soft-grace-period memory.available=1m30s`
//!   (each soft threshold needs one);
//! - `--eviction-minimum-reclaim memory.available=64Mi`.
//!
//! `0%` and `100%` disable a threshold.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::spec::resources::{Quantity, QUANTITY_FORMAT};

/// An eviction signal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Signal {
    MemoryAvailable,
    NodeFsAvailable,
    NodeFsInodesFree,
    ImageFsAvailable,
    ImageFsInodesFree,
    PidAvailable,
}

impl Signal {
    /// Every signal hooklet observes.
    pub const ALL: [Signal; 6] = [
        Signal::MemoryAvailable,
        Signal::NodeFsAvailable,
        Signal::NodeFsInodesFree,
        Signal::ImageFsAvailable,
        Signal::ImageFsInodesFree,
        Signal::PidAvailable,
    ];

    /// The flag spelling (`memory.available`).
    pub fn as_str(self) -> &'static str {
        match self {
            Signal::MemoryAvailable => "memory.available",
            Signal::NodeFsAvailable => "nodefs.available",
            Signal::NodeFsInodesFree => "nodefs.inodesFree",
            Signal::ImageFsAvailable => "imagefs.available",
            Signal::ImageFsInodesFree => "imagefs.inodesFree",
            Signal::PidAvailable => "pid.available",
        }
    }

    /// Parses a signal name; the kubelet's `unsupported eviction signal …`.
    pub fn parse(s: &str) -> Result<Signal, String> {
        Signal::ALL.into_iter().find(|x| x.as_str() == s).ok_or_else(|| format!("unsupported eviction signal {s}"))
    }

    /// The starved resource, as the eviction message names it.
    pub fn resource(self) -> &'static str {
        match self {
            Signal::MemoryAvailable => "memory",
            Signal::NodeFsAvailable | Signal::ImageFsAvailable => "ephemeral-storage",
            Signal::NodeFsInodesFree | Signal::ImageFsInodesFree => "inodes",
            Signal::PidAvailable => "pids",
        }
    }

    /// The node condition a met threshold reports.
    pub fn pressure(self) -> crate::nodestatus::Pressure {
        use crate::nodestatus::Pressure;
        match self {
            Signal::MemoryAvailable => Pressure::MemoryPressure,
            Signal::PidAvailable => Pressure::PIDPressure,
            _ => Pressure::DiskPressure,
        }
    }

    /// Whether amounts of this signal are bytes (printed as `Ki`, `Mi` …).
    pub fn is_bytes(self) -> bool {
        matches!(self, Signal::MemoryAvailable | Signal::NodeFsAvailable | Signal::ImageFsAvailable)
    }
}

/// A threshold's value: a quantity or a fraction of the signal's capacity.
#[derive(Debug, Clone, PartialEq)]
pub enum ThresholdValue {
    Quantity { amount: u64, written: String },
    Percentage(f64),
}

impl ThresholdValue {
    /// The amount for a signal of `capacity` (`GetThresholdQuantity`).
    pub fn amount(&self, capacity: u64) -> u64 {
        match self {
            ThresholdValue::Quantity { amount, .. } => *amount,
            ThresholdValue::Percentage(p) => (capacity as f64 * p) as u64,
        }
    }
}

/// One threshold: `signal < value`, hard (no grace) or soft.
#[derive(Debug, Clone, PartialEq)]
pub struct Threshold {
    pub signal: Signal,
    pub value: ThresholdValue,
    /// Zero for a hard threshold.
    pub grace_period: Duration,
    pub min_reclaim: Option<ThresholdValue>,
}

impl Threshold {
    /// Whether this is a hard threshold.
    pub fn is_hard(&self) -> bool {
        self.grace_period.is_zero()
    }
}

/// The kubelet's Linux `evictionHard` defaults.
pub const DEFAULT_HARD: &str = "memory.available<100Mi,nodefs.available<10%,imagefs.available<15%,nodefs.inodesFree<5%";

fn parse_percentage(value: &str) -> Result<f64, String> {
    let number = value.trim_end_matches('%');
    let p: f64 = number.parse().map_err(|_| format!("strconv.ParseFloat: parsing {number:?}: invalid syntax"))?;
    Ok(p / 100.0)
}

fn parse_quantity(value: &str) -> Result<(f64, u64), String> {
    let q = Quantity::from(value);
    let v = q.value().map_err(|_| format!("quantities {QUANTITY_FORMAT}"))?;
    Ok((v, v.max(0.0).ceil() as u64))
}

/// `parseThresholdStatement`: `None` for a disabled (`0%`, `100%`) threshold.
fn parse_statement(signal: &str, value: &str) -> Result<Option<Threshold>, String> {
    let signal = Signal::parse(signal)?;
    let value = if value.ends_with('%') {
        if value == "0%" || value == "100%" {
            return Ok(None);
        }
        let p = parse_percentage(value)?;
        if p < 0.0 {
            return Err(format!("eviction percentage threshold {} must be >= 0%: {value}", signal.as_str()));
        }
        if p > 1.0 {
            return Err(format!("eviction percentage threshold {} must be <= 100%: {value}", signal.as_str()));
        }
        ThresholdValue::Percentage(p)
    } else {
        let (v, amount) = parse_quantity(value)?;
        if v <= 0.0 {
            return Err(format!("eviction threshold {} must be positive: {value}", signal.as_str()));
        }
        ThresholdValue::Quantity { amount, written: value.to_string() }
    };
    Ok(Some(Threshold { signal, value, grace_period: Duration::ZERO, min_reclaim: None }))
}

/// Splits `a<b,c<d` (or `a=b,c=d`) into pairs; the flag library's error otherwise.
fn pairs(value: &str, sep: char) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    for pair in value.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once(sep).ok_or_else(|| format!("malformed pair, expect string{sep}string"))?;
        out.push((k.trim().to_string(), v.trim().to_string()));
    }
    Ok(out)
}

/// The eviction flags as given (`None`: not given).
#[derive(Debug, Clone, Default)]
pub struct EvictionFlags {
    pub hard: Option<String>,
    pub soft: Option<String>,
    pub soft_grace_period: Option<String>,
    pub minimum_reclaim: Option<String>,
}

/// Parses the eviction flags into thresholds (hard first, then soft). An error
/// names the flag: `--eviction-hard: unsupported eviction signal memory.free`.
pub fn parse_thresholds(flags: &EvictionFlags) -> Result<Vec<Threshold>, String> {
    let named = |flag: &'static str| move |e: String| format!("{flag}: {e}");
    let statements = |flag: &'static str, value: &str| -> Result<Vec<Threshold>, String> {
        let mut out = Vec::new();
        for (signal, v) in pairs(value, '<').map_err(named(flag))? {
            out.extend(parse_statement(&signal, &v).map_err(named(flag))?);
        }
        Ok(out)
    };
    let mut thresholds = statements("--eviction-hard", flags.hard.as_deref().unwrap_or(DEFAULT_HARD))?;
    let mut grace = BTreeMap::new();
    for (signal, v) in pairs(flags.soft_grace_period.as_deref().unwrap_or(""), '=').map_err(named("--eviction-soft-grace-period"))? {
        let signal = Signal::parse(&signal).map_err(named("--eviction-soft-grace-period"))?;
        let period = parse_go_duration(&v).map_err(named("--eviction-soft-grace-period"))?;
        grace.insert(signal, period);
    }
    for mut t in statements("--eviction-soft", flags.soft.as_deref().unwrap_or(""))? {
        let period = grace.get(&t.signal).copied().ok_or_else(|| {
            format!("--eviction-soft: grace period must be specified for the soft eviction threshold {} (--eviction-soft-grace-period {}=1m30s)", t.signal.as_str(), t.signal.as_str())
        })?;
        t.grace_period = period.max(Duration::from_nanos(1));
        thresholds.push(t);
    }
    for (signal, v) in pairs(flags.minimum_reclaim.as_deref().unwrap_or(""), '=').map_err(named("--eviction-minimum-reclaim"))? {
        let flag = "--eviction-minimum-reclaim";
        let signal = Signal::parse(&signal).map_err(named(flag))?;
        let value = if v.ends_with('%') {
            let p = parse_percentage(&v).map_err(named(flag))?;
            if p <= 0.0 {
                return Err(format!("{flag}: eviction percentage minimum reclaim {} must be positive: {v}", signal.as_str()));
            }
            ThresholdValue::Percentage(p)
        } else {
            let (q, amount) = parse_quantity(&v).map_err(named(flag))?;
            if q < 0.0 {
                return Err(format!("{flag}: negative eviction minimum reclaim specified for {}", signal.as_str()));
            }
            ThresholdValue::Quantity { amount, written: v.clone() }
        };
        for t in thresholds.iter_mut().filter(|t| t.signal == signal) {
            t.min_reclaim = Some(value.clone());
        }
    }
    Ok(thresholds)
}

/// A Go `time.ParseDuration` string (`1m30s`, `500ms`, `2h`): the grammar the
/// kubelet's duration flags take. Negative durations are refused.
pub fn parse_go_duration(s: &str) -> Result<Duration, String> {
    let bad = || format!("time: invalid duration {s:?}");
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    if s.starts_with('-') {
        return Err(format!("invalid eviction grace period specified: {s}, must be a positive value"));
    }
    let mut rest = s.strip_prefix('+').unwrap_or(s);
    if rest.is_empty() {
        return Err(bad());
    }
    let mut total = 0f64;
    while !rest.is_empty() {
        let n = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).ok_or_else(bad)?;
        let number: f64 = rest[..n].parse().map_err(|_| bad())?;
        rest = &rest[n..];
        let u = rest.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(rest.len());
        let unit = match &rest[..u] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return Err(bad()),
        };
        total += number * unit;
        rest = &rest[u..];
    }
    Ok(Duration::from_secs_f64(total))
}

#[cfg(test)]
mod tests;
