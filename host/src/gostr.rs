//! Go's text formats that the kubelet's and the apiserver's messages use — string quoting
//! (`%q`, `strconv.Quote`) and `time.Duration.String()` — since hooklet reproduces those
//! messages to the letter.

use std::fmt::Write as _;
use std::time::Duration;

/// Go's `net.JoinHostPort`: brackets hosts that contain a colon.
pub fn join_host_port(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// Go's `strconv.Quote`: double-quoted, with Go escapes for `"`, `\` and
/// non-printable characters.
pub fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{b}' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c if c.is_control() && (c as u32) < 0x10000 => {
                out.push_str(&format!("\\u{:04x}", c as u32))
            }
            c if c.is_control() => out.push_str(&format!("\\U{:08x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// [`go_quote`] of bytes that need not be UTF-8: each byte of an invalid sequence is
/// written `\xNN`, as Go's `strconv.Quote` writes it.
pub fn go_quote_bytes(bytes: &[u8]) -> String {
    let mut out = String::from("\"");
    for chunk in bytes.utf8_chunks() {
        let quoted = go_quote(chunk.valid());
        out.push_str(&quoted[1..quoted.len() - 1]);
        for byte in chunk.invalid() {
            out.push_str(&format!("\\x{byte:02x}"));
        }
    }
    out.push('"');
    out
}

/// Formats `d` as Go's `time.Duration.String()` does: `0s`, `1.5µs`,
/// `500ms`, `1s`, `1.5s`, `1m30s`, `1h0m0s`.
///
/// Go's durations stop at about 292 years (i64 nanoseconds); longer Rust
/// durations are printed in the same style rather than overflowing.
pub fn go_duration(d: Duration) -> String {
    let nanos = d.as_nanos();
    if nanos == 0 {
        return "0s".to_owned();
    }
    if nanos < 1_000 {
        return format!("{nanos}ns");
    }
    if nanos < 1_000_000 {
        let (int, frac) = split_frac(nanos, 3);
        return format!("{int}{frac}µs");
    }
    if nanos < 1_000_000_000 {
        let (int, frac) = split_frac(nanos, 6);
        return format!("{int}{frac}ms");
    }
    let (secs, frac) = split_frac(nanos, 9);
    let (mins, hours) = (secs / 60, secs / 3600);
    let mut out = String::new();
    if hours > 0 {
        let _ = write!(out, "{hours}h");
    }
    if mins > 0 {
        let _ = write!(out, "{}m", mins % 60);
    }
    let _ = write!(out, "{}{frac}s", secs % 60);
    out
}

/// Splits `v` into `v / 10^prec` and the fraction as Go's `fmtFrac` prints
/// it: `.` and the digits without trailing zeros, or nothing for zero.
fn split_frac(v: u128, prec: u32) -> (u128, String) {
    let scale = 10u128.pow(prec);
    let digits = format!("{:0width$}", v % scale, width = prec as usize);
    let digits = digits.trim_end_matches('0');
    let frac = if digits.is_empty() {
        String::new()
    } else {
        format!(".{digits}")
    };
    (v / scale, frac)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_print_like_go() {
        let cases: &[(Duration, &str)] = &[
            (Duration::ZERO, "0s"),
            (Duration::from_nanos(1), "1ns"),
            (Duration::from_nanos(1_500), "1.5µs"),
            (Duration::from_micros(1_500), "1.5ms"),
            (Duration::from_millis(500), "500ms"),
            (Duration::from_secs(1), "1s"),
            (Duration::from_millis(1_500), "1.5s"),
            (Duration::from_nanos(1_000_000_001), "1.000000001s"),
            (Duration::from_secs(10), "10s"),
            (Duration::from_secs(60), "1m0s"),
            (Duration::from_secs(90), "1m30s"),
            (Duration::from_secs(3600), "1h0m0s"),
            (Duration::from_millis(3_723_500), "1h2m3.5s"),
            (Duration::from_secs(100 * 3600), "100h0m0s"),
        ];
        for (d, want) in cases {
            assert_eq!(go_duration(*d), *want, "{d:?}");
        }
    }


    #[test]
    fn quotes_like_go() {
        assert_eq!(go_quote("a\"b\\c\n\t\r\u{1}é"), "\"a\\\"b\\\\c\\n\\t\\r\\x01é\"");
        assert_eq!(go_quote("\u{7f}\u{85}"), "\"\\x7f\\u0085\"");
    }
}
