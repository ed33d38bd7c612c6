//! Small display and flag-parsing helpers shared by the CLI.

use std::time::Duration;

pub use crate::printers::{age, human_duration};

/// A short duration for hook timings: `850µs`, `12ms`, `1.50s`.
pub fn short_duration(d: Duration) -> String {
    if d < Duration::from_millis(1) {
        format!("{}µs", d.as_micros())
    } else if d < Duration::from_secs(1) {
        format!("{}ms", d.as_millis())
    } else {
        format!("{:.2}s", d.as_secs_f64())
    }
}

/// Left-aligned columns separated by three spaces, like kubectl's tab writer.
pub fn table(rows: &[Vec<String>], indent: &str) -> String {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|i| rows.iter().filter_map(|r| r.get(i)).map(|c| c.chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for row in rows {
        let mut line = indent.to_string();
        for (i, cell) in row.iter().enumerate() {
            line.push_str(cell);
            if i + 1 < row.len() {
                line.push_str(&" ".repeat(widths[i] - cell.chars().count() + 3));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// A command-line duration that must be positive (`--probe-time-unit`).
pub(super) fn parse_positive_duration(s: &str) -> Result<Duration, String> {
    match parse_duration(s)? {
        d if d.is_zero() => Err("must be greater than 0 (examples: 100ms, 1s)".to_string()),
        d => Ok(d),
    }
}

/// A command-line duration (`500ms`, `10s`, `2m`).
pub(super) fn parse_duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s).map_err(|e| format!("{e} (examples: 500ms, 10s, 2m)"))
}

/// `--container-log-max-size`: a quantity of bytes (`10Mi`), more than 0.
pub(super) fn parse_log_size(s: &str) -> Result<u64, String> {
    let bytes = crate::spec::resources::Quantity::from(s).value()?;
    if bytes < 1.0 {
        return Err(format!("{s:?} must be a size greater than 0 (e.g. 10Mi)"));
    }
    Ok(bytes.ceil() as u64)
}

/// `--container-log-max-files`: the kubelet's rule, more than 1.
pub(super) fn parse_log_max_files(s: &str) -> Result<u32, String> {
    match s.parse::<u32>() {
        Ok(n) if n > 1 => Ok(n),
        _ => Err(format!("{s:?} must be a number greater than 1 (the current log file and at least one rotated one)")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_duration_matches_kubectl() {
        let cases = [
            (0, "0s"),
            (119, "119s"),
            (120, "2m"),
            (192, "3m12s"),
            (600, "10m"),
            (3 * 3600 - 1, "179m"),
            (3 * 3600, "3h"),
            (5 * 3600 + 4 * 60, "5h4m"),
            (47 * 3600, "47h"),
            (3 * 86400, "3d"),
            (3 * 86400 + 5 * 3600, "3d5h"),
            (30 * 86400, "30d"),
            (3 * 365 * 86400, "3y"),
        ];
        for (secs, want) in cases {
            assert_eq!(human_duration(Duration::from_secs(secs)), want, "{secs}s");
        }
    }

    #[test]
    fn table_aligns_columns() {
        let rows = vec![
            vec!["Type".to_string(), "Reason".to_string(), "Age".to_string()],
            vec!["Normal".to_string(), "Started".to_string(), "5s".to_string()],
        ];
        assert_eq!(table(&rows, "  "), "  Type     Reason    Age\n  Normal   Started   5s\n");
    }

    #[test]
    fn short_durations() {
        assert_eq!(short_duration(Duration::from_micros(850)), "850µs");
        assert_eq!(short_duration(Duration::from_millis(12)), "12ms");
        assert_eq!(short_duration(Duration::from_millis(1500)), "1.50s");
    }
}
