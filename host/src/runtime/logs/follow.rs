//! Following a container's log (`logs -f`): what the log holds now, then each line
//! written after it, across rotations (the file followed becomes `LOG.1`: its rest
//! is read there before the new `LOG`).

use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use hooklet_monitor::cri::rotated_path;

use super::{decode, read_to, LogOptions};

/// Reads the lines written to a log since the last call.
pub struct Follower {
    path: PathBuf,
    options: LogOptions,
    /// Bytes of the followed file already shown, and its inode (0: not there yet).
    offset: u64,
    inode: u64,
}

impl Follower {
    /// The log now (as [`super::read`] reads it, at most `limit` bytes), and the
    /// follower of what comes after.
    pub fn start(path: &Path, options: &LogOptions, limit: usize) -> std::io::Result<(Vec<u8>, Follower)> {
        let (offset, inode) = match std::fs::metadata(path) {
            Ok(meta) => (complete(path, 0, meta.len())?.1, meta.ino()),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => (0, 0),
            Err(err) => return Err(err),
        };
        let now = read_to(path, options, limit, Some(offset))?;
        Ok((now, Follower { path: path.to_path_buf(), options: options.clone(), offset, inode }))
    }

    /// The whole lines written since the last call.
    pub fn next(&mut self) -> std::io::Result<Vec<u8>> {
        let meta = match std::fs::metadata(&self.path) {
            Ok(meta) => meta,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(err) => return Err(err),
        };
        let mut data = Vec::new();
        if self.inode != 0 && meta.ino() != self.inode {
            // Rotated: the rest of the file followed is now LOG.1 (all of it: no
            // more is written there).
            let rotated = rotated_path(&self.path, 1);
            if let Ok(len) = std::fs::metadata(&rotated).map(|m| m.len()) {
                data.extend(read_range(&rotated, self.offset, len)?);
            }
            self.offset = 0;
        }
        self.inode = meta.ino();
        let (bytes, end) = complete(&self.path, self.offset, meta.len())?;
        self.offset = end;
        data.extend(bytes);
        let lines = decode(&data);
        Ok(lines.iter().filter(|l| self.options.keeps(l)).flat_map(|l| self.options.render(l)).collect())
    }
}

/// The bytes of `path` from `from` up to its last newline before `len`, and where
/// they end.
fn complete(path: &Path, from: u64, len: u64) -> std::io::Result<(Vec<u8>, u64)> {
    if len <= from {
        return Ok((Vec::new(), from));
    }
    let mut bytes = read_range(path, from, len)?;
    let whole = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    bytes.truncate(whole);
    Ok((bytes, from + whole as u64))
}

fn read_range(path: &Path, from: u64, to: u64) -> std::io::Result<Vec<u8>> {
    let mut file = std::fs::File::open(path)?;
    file.seek(SeekFrom::Start(from))?;
    let mut bytes = Vec::new();
    file.take(to.saturating_sub(from)).read_to_end(&mut bytes)?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    const T: &str = "2026-12-04T23:08:58.000666291Z";

    fn append(path: &Path, text: &str) {
        std::fs::OpenOptions::new().create(true).append(true).open(path).unwrap().write_all(text.as_bytes()).unwrap();
    }

    #[test]
    fn a_follower_sees_new_lines_once_and_across_a_rotation() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("app.log");
        append(&path, &format!("{T} stdout F one\n{T} stdout F tw"));
        let (now, mut follower) = Follower::start(&path, &LogOptions::default(), 1 << 20).unwrap();
        assert_eq!(String::from_utf8(now).unwrap(), "one\n", "an entry being written waits for its newline");
        append(&path, &format!("o\n{T} stderr F three\n"));
        assert_eq!(String::from_utf8(follower.next().unwrap()).unwrap(), "two\nthree\n");
        assert!(follower.next().unwrap().is_empty());
        // Rotation: the rest of the old file, then the new one.
        append(&path, &format!("{T} stdout F four\n"));
        std::fs::rename(&path, rotated_path(&path, 1)).unwrap();
        append(&path, &format!("{T} stdout F five\n"));
        assert_eq!(String::from_utf8(follower.next().unwrap()).unwrap(), "four\nfive\n");
    }
}
