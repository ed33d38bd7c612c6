//! The container log in the CRI format (what the kubelet's log tools read):
//! `TIMESTAMP STREAM TAG CONTENT\n`, with `TIMESTAMP` RFC 3339 in UTC with
//! nanoseconds, `STREAM` `stdout` or `stderr`, and `TAG` `F` for the end of a line or
//! `P` for a part of one (the rest follows in the stream's next entry), as conmon
//! writes it: what one read gave without a newline is written at once as `P`.
//!
//! Rotation as the kubelet's `--container-log-max-size` / `--container-log-max-files`:
//! when the file would grow past the size, `LOG` becomes `LOG.1` (`LOG.1` becomes
//! `LOG.2`, …) and a new `LOG` is started; at most `max_files` files are kept,
//! the current one included, the oldest removed.
//!
//! A write that fails (a full disk) loses that output and nothing else: the file is
//! cut back to its last whole entry, the loss is counted ([`CriLog::lost`]), and once
//! writing works again a `stderr` entry says how much was lost and why before the
//! output goes on (`hooklet-monitor: 81920 bytes of output lost: No space left on
//! device (os error 28)`).

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

/// Which of the container's outputs an entry came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

impl Stream {
    fn name(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        }
    }
}

/// When to rotate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rotation {
    /// Rotate before the file would pass this many bytes.
    pub max_size: u64,
    /// Files kept, the current one included (at least 2).
    pub max_files: u32,
}

/// The kubelet's defaults: 10Mi, 5 files.
pub const DEFAULT_ROTATION: Rotation = Rotation { max_size: 10 * 1024 * 1024, max_files: 5 };

/// The path of rotated file `n` (1 = the newest) of log `path`.
pub fn rotated_path(path: &Path, n: u32) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(format!(".{n}"));
    PathBuf::from(name)
}

/// An open CRI log with rotation.
pub struct CriLog {
    path: PathBuf,
    file: File,
    size: u64,
    rotation: Rotation,
    lost: Lost,
    /// Bytes lost since the last loss entry was written (0: nothing to report).
    unreported: u64,
    /// Rotations so far (a failed write that rotated keeps what went before).
    rotations: u64,
}

/// Output that could not be written, over the log's life.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Lost {
    /// The container's bytes dropped.
    pub bytes: u64,
    /// The last write error.
    pub error: Option<String>,
}

impl CriLog {
    /// Opens (appending to) the log at `path`.
    pub fn open(path: &Path, rotation: Rotation) -> std::io::Result<CriLog> {
        let file = open_append(path)?;
        let size = file.metadata()?.len();
        Ok(CriLog { path: path.to_path_buf(), file, size, rotation, lost: Lost::default(), unreported: 0, rotations: 0 })
    }

    /// Writes `data`, read from `stream` now, as CRI entries: one `F` entry per
    /// complete line, and a `P` entry for what follows the last newline. On failure
    /// the data is counted as lost and the file is left as it was (no partial entry);
    /// the first write that works again is preceded by an entry that reports the loss.
    pub fn write(&mut self, stream: Stream, data: &[u8]) -> std::io::Result<()> {
        let ts = timestamp(SystemTime::now());
        let note = (self.unreported > 0).then(|| {
            let why = self.lost.error.as_deref().unwrap_or("unknown error");
            format!("hooklet-monitor: {} bytes of output lost: {why}\n", self.unreported)
        });
        // The note goes in with the output it precedes, or not at all: a disk with
        // room for the note alone does not fill up with notes.
        let (before, rotations) = (self.size, self.rotations);
        let mut written = match &note {
            Some(note) => self.append_entries(Stream::Stderr, note.as_bytes(), &ts),
            None => Ok(()),
        };
        if written.is_ok() {
            written = self.append_entries(stream, data, &ts);
        }
        match &written {
            Ok(()) => self.unreported = 0,
            Err(err) => {
                self.cut_back(if self.rotations == rotations { before } else { self.size });
                self.lost.bytes += data.len() as u64;
                self.lost.error = Some(err.to_string());
                self.unreported += data.len() as u64;
            }
        }
        written
    }

    /// What this log lost so far.
    pub fn lost(&self) -> &Lost {
        &self.lost
    }

    /// Undoes a failed write: the file is cut back to `keep` bytes (its last whole
    /// entry), so the next entry starts a line of its own. Shrinking needs no space.
    fn cut_back(&mut self, keep: u64) {
        if self.file.set_len(keep).is_ok() {
            self.size = keep;
        } else {
            self.size = self.file.metadata().map(|m| m.len()).unwrap_or(self.size);
        }
    }

    /// Appends `data`'s entries; an entry is never split across files: the log
    /// rotates between entries. `self.size` counts whole entries written only.
    fn append_entries(&mut self, stream: Stream, data: &[u8], ts: &str) -> std::io::Result<()> {
        let mut batch = Vec::with_capacity(data.len() + 64);
        for piece in data.split_inclusive(|&b| b == b'\n') {
            let entry = encode(stream, piece, ts);
            let size = self.size + (batch.len() + entry.len()) as u64;
            if size > self.rotation.max_size && self.size + batch.len() as u64 > 0 {
                self.file.write_all(&batch)?;
                self.size += batch.len() as u64;
                batch.clear();
                self.rotate()?;
            }
            batch.extend_from_slice(&entry);
        }
        self.file.write_all(&batch)?;
        self.size += batch.len() as u64;
        Ok(())
    }

    /// Flushes the log to disk.
    pub fn sync(&self) -> std::io::Result<()> {
        self.file.sync_all()
    }

    fn rotate(&mut self) -> std::io::Result<()> {
        let keep = self.rotation.max_files.max(2) - 1;
        let _ = std::fs::remove_file(rotated_path(&self.path, keep));
        for n in (1..keep).rev() {
            let _ = std::fs::rename(rotated_path(&self.path, n), rotated_path(&self.path, n + 1));
        }
        std::fs::rename(&self.path, rotated_path(&self.path, 1))?;
        match open_append(&self.path) {
            Ok(file) => {
                self.file = file;
                self.size = 0;
                self.rotations += 1;
                Ok(())
            }
            Err(err) => {
                // No new file (no inode left): keep writing the current one.
                let _ = std::fs::rename(rotated_path(&self.path, 1), &self.path);
                Err(err)
            }
        }
    }
}

fn open_append(path: &Path) -> std::io::Result<File> {
    std::fs::OpenOptions::new().create(true).append(true).open(path)
}

/// The CRI entries of `data` from `stream` at time `ts`.
pub fn encode(stream: Stream, data: &[u8], ts: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + 48);
    for piece in data.split_inclusive(|&b| b == b'\n') {
        let (content, tag) = match piece.strip_suffix(b"\n") {
            Some(line) => (line, 'F'),
            None => (piece, 'P'),
        };
        out.extend_from_slice(format!("{ts} {} {tag} ", stream.name()).as_bytes());
        out.extend_from_slice(content);
        out.push(b'\n');
    }
    out
}

/// `t` as RFC 3339 in UTC with nanoseconds (`2026-12-04T23:08:58.000666291Z`).
pub fn timestamp(t: SystemTime) -> String {
    let since = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs() as i64;
    let (days, rem) = (secs.div_euclid(86400), secs.rem_euclid(86400));
    // Days since 1970-01-01 to a civil date (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:09}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        since.subsec_nanos()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn timestamps_are_rfc3339_utc_with_nanoseconds() {
        assert_eq!(timestamp(UNIX_EPOCH), "1970-01-01T00:00:00.000000000Z");
        let t = UNIX_EPOCH + Duration::new(1_796_425_738, 666_291);
        assert_eq!(timestamp(t), "2026-12-04T23:08:58.000666291Z");
        let leap = UNIX_EPOCH + Duration::from_secs(951_782_400); // 2000-02-29
        assert_eq!(timestamp(leap), "2000-02-29T00:00:00.000000000Z");
    }

    #[test]
    fn full_lines_are_f_and_a_trailing_piece_is_p() {
        let out = encode(Stream::Stderr, b"one\ntwo\nthr", "T");
        assert_eq!(String::from_utf8(out).unwrap(), "T stderr F one\nT stderr F two\nT stderr P thr\n");
        assert_eq!(encode(Stream::Stdout, b"\n", "T"), b"T stdout F \n");
    }

    #[test]
    fn the_log_rotates_and_keeps_max_files() {
        let dir = std::env::temp_dir().join(format!("cri-rotation-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("app.log");
        let mut log = CriLog::open(&path, Rotation { max_size: 100, max_files: 3 }).unwrap();
        for i in 0..10 {
            // Each entry is about 50 bytes: two fit in a file.
            log.write(Stream::Stdout, format!("line {i}\n").as_bytes()).unwrap();
        }
        let read = |p: &Path| std::fs::read_to_string(p).unwrap();
        assert!(read(&path).ends_with(" stdout F line 9\n"), "{}", read(&path));
        assert!(read(&rotated_path(&path, 1)).contains("F line 7\n"));
        assert!(read(&rotated_path(&path, 2)).contains("F line 5\n"));
        assert!(!rotated_path(&path, 3).exists(), "at most 3 files, the current one included");
        for p in [path.clone(), rotated_path(&path, 1), rotated_path(&path, 2)] {
            assert!(std::fs::metadata(&p).unwrap().len() <= 100);
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
