//! Reading a container's log: the CRI files its monitor writes (`LOG`, and the rotated
//! `LOG.1` … `LOG.N`, newest first), decoded back into the container's output as the
//! kubelet's log reader does: partial (`P`) entries joined with the rest of their
//! line, stdout and stderr told apart, optionally with each line's timestamp, the last
//! lines only, or one stream only. A line that is not a CRI entry (a log written
//! straight by the container, as `hooklet run` and the runc runtime write them) is
//! taken as a line of stdout without a timestamp.

pub mod follow;

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use hooklet_monitor::cri::{rotated_path, Stream};

/// What to read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogOptions {
    /// Prefix each line with its RFC 3339 timestamp (`--timestamps`).
    pub timestamps: bool,
    /// Only the last lines (`--tail`).
    pub tail_lines: Option<usize>,
    /// Only one stream (`--stream`); both when `None`.
    pub stream: Option<Stream>,
    /// Only lines written at this time or later (`--since`); a line without a
    /// timestamp (not a CRI entry) is kept.
    pub since: Option<SystemTime>,
    /// Only lines written before this time (one instance's part of the log); a line
    /// without a timestamp is kept.
    pub until: Option<SystemTime>,
}

impl LogOptions {
    /// Does `line` pass the stream and time filters?
    fn keeps(&self, line: &Line) -> bool {
        let in_time = || {
            let Some(at) = line.timestamp.as_deref().and_then(|t| humantime::parse_rfc3339_weak(t).ok()) else { return true };
            self.since.is_none_or(|since| at >= since) && self.until.is_none_or(|until| at < until)
        };
        self.stream.is_none_or(|s| s == line.stream) && in_time()
    }

    /// A line as shown: its content, after its timestamp when asked.
    fn render(&self, line: &Line) -> Vec<u8> {
        let mut text = Vec::with_capacity(line.content.len() + 32);
        if let Some(ts) = line.timestamp.as_deref().filter(|_| self.timestamps) {
            text.extend_from_slice(ts.as_bytes());
            text.push(b' ');
        }
        text.extend_from_slice(&line.content);
        text
    }
}

/// Rotated files beyond this many are not looked for.
const MAX_ROTATED: u32 = 1000;

/// A decoded line: where it came from, when, and its content (with its newline,
/// unless the log ends inside the line).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Line {
    stream: Stream,
    timestamp: Option<String>,
    content: Vec<u8>,
}

/// The log at `path` (and its rotated files) as `options` ask, at most `limit` bytes
/// from its end (whole lines). A missing log is empty.
pub fn read(path: &Path, options: &LogOptions, limit: usize) -> std::io::Result<Vec<u8>> {
    read_to(path, options, limit, None)
}

/// [`read`], of the current file only its first `end` bytes when given.
pub(crate) fn read_to(path: &Path, options: &LogOptions, limit: usize, end: Option<u64>) -> std::io::Result<Vec<u8>> {
    let mut lines: Vec<Line> = Vec::new();
    let mut bytes = 0;
    // Newest first, until enough has been read.
    for (i, file) in files(path).into_iter().enumerate() {
        let mut data = match std::fs::read(&file) {
            Ok(data) => data,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => continue,
            Err(err) => return Err(err),
        };
        if let (0, Some(end)) = (i, end) {
            data.truncate(end as usize);
        }
        let mut older: Vec<Line> = decode(&data).into_iter().filter(|l| options.keeps(l)).collect();
        bytes += older.iter().map(|l| l.content.len()).sum::<usize>();
        older.append(&mut lines);
        lines = older;
        if bytes >= limit || options.tail_lines.is_some_and(|n| lines.len() >= n) {
            break;
        }
    }
    if let Some(n) = options.tail_lines {
        lines.drain(..lines.len().saturating_sub(n));
    }
    let (mut out, mut size_out) = (Vec::new(), 0);
    for line in lines.iter().rev() {
        let text = options.render(line);
        if size_out + text.len() > limit && !out.is_empty() {
            break;
        }
        size_out += text.len();
        out.push(text);
    }
    out.reverse();
    Ok(out.concat())
}

/// The files of the log at `path`, newest first: the current one and the rotated ones.
pub fn files(path: &Path) -> Vec<PathBuf> {
    let mut files = vec![path.to_path_buf()];
    files.extend((1..=MAX_ROTATED).map(|n| rotated_path(path, n)).take_while(|p| p.exists()));
    files
}

/// The lines of one log file, partial entries joined per stream.
fn decode(data: &[u8]) -> Vec<Line> {
    let mut lines = Vec::new();
    // A line begun in `P` entries, per stream (stdout, stderr).
    let mut pending: [Option<Line>; 2] = [None, None];
    for raw in data.split_inclusive(|&b| b == b'\n') {
        let Some((timestamp, stream, partial, content)) = parse_entry(raw) else {
            lines.push(Line { stream: Stream::Stdout, timestamp: None, content: raw.to_vec() });
            continue;
        };
        let slot = &mut pending[stream as usize];
        let line = slot.get_or_insert_with(|| Line { stream, timestamp: Some(timestamp.to_string()), content: Vec::new() });
        line.content.extend_from_slice(content);
        if !partial {
            line.content.push(b'\n');
            lines.extend(slot.take());
        }
    }
    // The log ends inside a line: what there is of it.
    lines.extend(pending.into_iter().flatten());
    lines
}

/// `TIMESTAMP STREAM TAG CONTENT\n` → (timestamp, stream, partial, content).
fn parse_entry(raw: &[u8]) -> Option<(&str, Stream, bool, &[u8])> {
    let raw = raw.strip_suffix(b"\n")?;
    let mut fields = raw.splitn(4, |&b| b == b' ');
    let timestamp = std::str::from_utf8(fields.next()?).ok()?;
    let stream = match fields.next()? {
        b"stdout" => Stream::Stdout,
        b"stderr" => Stream::Stderr,
        _ => return None,
    };
    let partial = match fields.next()? {
        b"P" => true,
        b"F" => false,
        _ => return None,
    };
    let content = fields.next().unwrap_or_default();
    looks_like_rfc3339(timestamp).then_some((timestamp, stream, partial, content))
}

/// `YYYY-MM-DDTHH:MM:SS…` (with `Z` or a numeric offset: conmon writes local time).
fn looks_like_rfc3339(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= 20 && b[4] == b'-' && b[7] == b'-' && b[10] == b'T' && b[13] == b':' && b[16] == b':'
        && (s.ends_with('Z') || b[19..].iter().any(|&c| c == b'+' || c == b'-'))
}

/// A stream's name as the API takes it (`Stdout`, `Stderr`, as the Kubernetes
/// `PodLogOptions.stream`), or `All`.
pub fn parse_stream(s: &str) -> Result<Option<Stream>, String> {
    match s.to_ascii_lowercase().as_str() {
        "stdout" => Ok(Some(Stream::Stdout)),
        "stderr" => Ok(Some(Stream::Stderr)),
        "all" => Ok(None),
        _ => Err(format!("stream must be Stdout, Stderr or All, not {s:?}")),
    }
}

#[cfg(test)]
mod tests;
