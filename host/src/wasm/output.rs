//! Bounded capture of a plugin's output: stdout/stderr pipes and `log` lines.
//!
//! Output past a cap is dropped and counted; it never fails the plugin (a WASI write that
//! failed would make Rust's `println!` panic, turning chatty plugins into crashes).

use std::fmt;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use bytes::Bytes;
use tokio::io::AsyncWrite;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamResult};

/// How important a plugin log line is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LogLevel {
    /// Very detailed tracing.
    Trace,
    /// Debugging detail.
    Debug,
    /// Normal progress.
    Info,
    /// Something unexpected but handled.
    Warn,
    /// Something failed.
    Error,
}

impl fmt::Display for LogLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LogLevel::Trace => "trace",
            LogLevel::Debug => "debug",
            LogLevel::Info => "info",
            LogLevel::Warn => "warn",
            LogLevel::Error => "error",
        })
    }
}

/// One line the plugin logged through the `log` import.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    /// Its level.
    pub level: LogLevel,
    /// Its text (cut to [`WasmConfig::log_line_bytes`](super::WasmConfig::log_line_bytes)).
    pub message: String,
}


/// How many bytes a guest may write per `write` call; the stream is always ready.
const WRITE_PERMIT: usize = 64 * 1024;

/// What a [`BoundedPipe`] has captured.
#[derive(Debug, Default)]
struct Captured {
    bytes: Vec<u8>,
    dropped: u64,
}

/// An in-memory stdout/stderr for a guest that keeps the first `cap` bytes and counts the
/// rest. Clones share the same buffer.
#[derive(Debug, Clone)]
pub(crate) struct BoundedPipe {
    cap: usize,
    captured: Arc<Mutex<Captured>>,
}

impl BoundedPipe {
    /// A pipe keeping at most `cap` bytes.
    pub fn new(cap: usize) -> Self {
        BoundedPipe {
            cap,
            captured: Arc::default(),
        }
    }

    fn push(&self, bytes: &[u8]) {
        let mut captured = self.captured.lock().unwrap_or_else(PoisonError::into_inner);
        let room = self.cap.saturating_sub(captured.bytes.len());
        let kept = bytes.len().min(room);
        captured.bytes.extend_from_slice(&bytes[..kept]);
        captured.dropped += (bytes.len() - kept) as u64;
    }

    /// The captured bytes and how many were dropped past the cap.
    pub fn take(&self) -> (Vec<u8>, u64) {
        let mut captured = self.captured.lock().unwrap_or_else(PoisonError::into_inner);
        let Captured { bytes, dropped } = std::mem::take(&mut *captured);
        (bytes, dropped)
    }
}

#[async_trait::async_trait]
impl Pollable for BoundedPipe {
    async fn ready(&mut self) {}
}

impl OutputStream for BoundedPipe {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        self.push(&bytes);
        Ok(())
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(WRITE_PERMIT)
    }
}

impl AsyncWrite for BoundedPipe {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.push(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

impl IsTerminal for BoundedPipe {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for BoundedPipe {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

/// Collects a delivery's `log` lines, bounded in count and line size, and mirrors the
/// kept ones to `tracing` (target `hooklet::wasm::plugin`).
#[derive(Debug)]
pub(crate) struct LogCollector {
    plugin: String,
    delivery_id: String,
    max_lines: usize,
    max_line_bytes: usize,
    lines: Vec<LogLine>,
    dropped: usize,
}

impl LogCollector {
    /// A collector for one delivery of `plugin`.
    pub fn new(plugin: &str, delivery_id: &str, max_lines: usize, max_line_bytes: usize) -> Self {
        LogCollector {
            plugin: plugin.to_owned(),
            delivery_id: delivery_id.to_owned(),
            max_lines,
            max_line_bytes,
            lines: Vec::new(),
            dropped: 0,
        }
    }

    /// Records one line: kept (cut to the size cap) while under the line cap, else counted.
    pub fn push(&mut self, level: LogLevel, mut message: String) {
        if self.lines.len() >= self.max_lines {
            self.dropped += 1;
            return;
        }
        truncate_text(&mut message, self.max_line_bytes);
        let (plugin, delivery_id) = (&self.plugin, &self.delivery_id);
        macro_rules! emit {
            ($level:expr) => {
                tracing::event!(target: "hooklet::wasm::plugin", $level, plugin = %plugin,
                    delivery_id = %delivery_id, "{message}")
            };
        }
        match level {
            LogLevel::Trace => emit!(tracing::Level::TRACE),
            LogLevel::Debug => emit!(tracing::Level::DEBUG),
            LogLevel::Info => emit!(tracing::Level::INFO),
            LogLevel::Warn => emit!(tracing::Level::WARN),
            LogLevel::Error => emit!(tracing::Level::ERROR),
        }
        self.lines.push(LogLine { level, message });
    }

    /// The kept lines and how many were dropped past the line cap.
    pub fn take(&mut self) -> (Vec<LogLine>, usize) {
        (
            std::mem::take(&mut self.lines),
            std::mem::take(&mut self.dropped),
        )
    }
}

/// Cuts `text` to at most `max` bytes without splitting a character, marking the cut.
pub(crate) fn truncate_text(text: &mut String, max: usize) {
    const MARK: &str = "…";
    if text.len() <= max {
        return;
    }
    let mut end = max.saturating_sub(MARK.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.truncate(end);
    if max >= MARK.len() {
        text.push_str(MARK);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pipe_keeps_the_first_bytes_and_counts_the_rest() {
        let mut pipe = BoundedPipe::new(5);
        pipe.write(Bytes::from_static(b"hello world")).unwrap();
        pipe.write(Bytes::from_static(b"!")).unwrap();
        assert_eq!(pipe.take(), (b"hello".to_vec(), 7));
    }

    #[test]
    fn log_lines_are_capped_in_count_and_size() {
        let mut logs = LogCollector::new("p", "d", 2, 8);
        logs.push(LogLevel::Info, "short".into());
        logs.push(LogLevel::Warn, "ééééééé long".into());
        logs.push(LogLevel::Error, "dropped".into());
        let (lines, dropped) = logs.take();
        assert_eq!(dropped, 1);
        assert_eq!(lines[0].message, "short");
        assert_eq!(lines[1].message, "éé…");
        assert!(lines[1].message.len() <= 8);
    }
}
