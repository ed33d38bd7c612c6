//! The Prometheus text exposition format (0.0.4): a histogram and label escaping,
//! shared by the daemon's metrics and the prober's.

use std::fmt::Write;

/// Upper bounds (seconds) of the latency histograms' buckets.
pub const BUCKETS: [f64; 12] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];

/// A cumulative latency histogram over [`BUCKETS`].
#[derive(Debug, Default, Clone)]
pub struct Histogram {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

impl Histogram {
    /// Counts one observation of `secs` seconds.
    pub fn observe(&mut self, secs: f64) {
        for (i, bound) in BUCKETS.iter().enumerate() {
            if secs <= *bound {
                self.counts[i] += 1;
            }
        }
        self.count += 1;
        self.sum += secs;
    }

    /// Writes the `_bucket`, `_sum` and `_count` lines of `name` with `labels`
    /// (already rendered, e.g. `kind="exec"`; may be empty).
    pub fn render(&self, out: &mut String, name: &str, labels: &str) {
        let sep = if labels.is_empty() { "" } else { "," };
        for (i, bound) in BUCKETS.iter().enumerate() {
            let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"{bound}\"}} {}", self.counts[i]);
        }
        let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {}", self.count);
        let braced = if labels.is_empty() { String::new() } else { format!("{{{labels}}}") };
        let _ = writeln!(out, "{name}_sum{braced} {}", self.sum);
        let _ = writeln!(out, "{name}_count{braced} {}", self.count);
    }
}

/// A label value escaped for the text format.
pub fn escape(label: &str) -> String {
    label.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cumulative_buckets() {
        let mut h = Histogram::default();
        h.observe(0.007);
        h.observe(3.0);
        let mut out = String::new();
        h.render(&mut out, "x_seconds", "k=\"v\"");
        assert!(out.contains("x_seconds_bucket{k=\"v\",le=\"0.005\"} 0\n"), "{out}");
        assert!(out.contains("x_seconds_bucket{k=\"v\",le=\"0.01\"} 1\n"), "{out}");
        assert!(out.contains("x_seconds_bucket{k=\"v\",le=\"5\"} 2\n"), "{out}");
        assert!(out.contains("x_seconds_count{k=\"v\"} 2\n"), "{out}");
        assert_eq!(escape("a\"b\\"), "a\\\"b\\\\");
    }
}
