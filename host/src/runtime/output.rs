//! What every runtime does with a container's output: log files and bounded reads.

use std::path::{Path, PathBuf};

use tokio::io::{AsyncRead, AsyncReadExt};

use super::PodRef;

/// The log file of a container under `log_dir`: stdout and stderr, appended across
/// restarts, one directory per pod (`NAMESPACE_NAME_UID/CONTAINER.log`).
pub fn container_log_path(log_dir: &Path, pod: &PodRef, container: &str) -> PathBuf {
    log_dir
        .join(format!("{}_{}_{}", pod.namespace, pod.name, pod.uid))
        .join(format!("{container}.log"))
}

/// Opens (creating it and its directory) a container's log file for appending.
pub fn open_log(path: &Path) -> anyhow::Result<std::fs::File> {
    use anyhow::Context;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create log directory {}", dir.display()))?;
    }
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("cannot open container log {}", path.display()))
}

/// Reads all of `reader`, keeping the first `limit` bytes; returns them and how many
/// bytes were dropped.
pub async fn read_bounded(mut reader: impl AsyncRead + Unpin, limit: usize) -> (Vec<u8>, u64) {
    let mut kept = Vec::new();
    let mut dropped = 0u64;
    let mut buf = [0u8; 8192];
    loop {
        match reader.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                let room = limit.saturating_sub(kept.len()).min(n);
                kept.extend_from_slice(&buf[..room]);
                dropped += (n - room) as u64;
            }
        }
    }
    (kept, dropped)
}
