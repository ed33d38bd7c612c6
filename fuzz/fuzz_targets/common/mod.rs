//! What the image targets share: a reader of the fuzzer's bytes, tar streams built from
//! them (entries of every kind, paths and link targets written as given, `..` and
//! absolute ones included, sizes that may lie), and a sandbox whose `outside` directory
//! must come through every run untouched.

#![allow(dead_code)]

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// Reads the fuzzer's bytes front to back; past the end every read is 0 / empty.
pub struct Bytes<'a>(pub &'a [u8]);

impl<'a> Bytes<'a> {
    pub fn byte(&mut self) -> u8 {
        match self.0.split_first() {
            Some((&b, rest)) => {
                self.0 = rest;
                b
            }
            None => 0,
        }
    }

    pub fn u16(&mut self) -> u16 {
        u16::from(self.byte()) << 8 | u16::from(self.byte())
    }

    pub fn take(&mut self, n: usize) -> &'a [u8] {
        let n = n.min(self.0.len());
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        head
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// The placeholder a path or link target may hold for the absolute path of the sandbox's
/// `outside` directory (which the fuzzer cannot guess).
pub const OUTSIDE_MARK: &[u8] = b"@O";

/// Tar entry kinds the builder writes.
const KINDS: [tar::EntryType; 8] = [
    tar::EntryType::Regular,
    tar::EntryType::Directory,
    tar::EntryType::Symlink,
    tar::EntryType::Link,
    tar::EntryType::Regular,
    tar::EntryType::Fifo,
    tar::EntryType::Char,
    tar::EntryType::GNULongName,
];

/// Path pieces the fuzzer picks by number, besides bytes of its own.
const PIECES: [&[u8]; 12] =
    [b"a", b"b", b"a/b", b"..", b".", b"/", b"@O", b".wh.a", b".wh..wh..opq", b"./", b"etc/passwd", b"a/.wh.b"];

fn expand(raw: &[u8], outside: &Path) -> Vec<u8> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < raw.len() {
        if raw[i..].starts_with(OUTSIDE_MARK) {
            out.extend_from_slice(outside.as_os_str().as_encoded_bytes());
            i += OUTSIDE_MARK.len();
        } else {
            out.push(raw[i]);
            i += 1;
        }
    }
    out
}

/// A path (or link target) of up to 99 bytes: a few pieces joined by '/', or raw bytes.
fn path(input: &mut Bytes, outside: &Path) -> Vec<u8> {
    let pick = input.byte();
    let raw = if pick & 0x80 != 0 {
        let n = usize::from(pick & 0x1f);
        input.take(n).to_vec()
    } else {
        let count = 1 + usize::from(pick % 4);
        let parts: Vec<&[u8]> = (0..count).map(|_| PIECES[usize::from(input.byte()) % PIECES.len()]).collect();
        parts.join(&b'/')
    };
    let mut bytes = expand(&raw, outside);
    bytes.truncate(99);
    bytes
}

/// A tar stream built from `input`: a count byte, then that many entries (at most
/// `max_entries`) of every kind, with the paths, modes, link targets and contents it
/// gives, written byte for byte (no check of the paths); a
/// declared size may exceed the bytes that follow (a truncated stream), and a content may
/// be repeated up to 1 MiB (a stream far larger than its input).
pub fn tar_stream(input: &mut Bytes, outside: &Path, max_entries: u8) -> Vec<u8> {
    let mut out = Vec::new();
    for _ in 0..input.byte() % (max_entries + 1) {
        let flags = input.byte();
        let kind = KINDS[usize::from(flags) % KINDS.len()];
        let mut header = tar::Header::new_gnu();
        let name = path(input, outside);
        header.as_old_mut().name[..name.len()].copy_from_slice(&name);
        header.set_entry_type(kind);
        header.set_mode(u32::from(input.u16()) & 0o7777);
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(0);
        if matches!(kind, tar::EntryType::Symlink | tar::EntryType::Link) {
            let target = path(input, outside);
            header.as_old_mut().linkname[..target.len()].copy_from_slice(&target);
        }
        let len = usize::from(input.byte() % 64);
        let mut content = input.take(len).to_vec();
        if flags & 0x40 != 0 {
            let times = usize::from(input.u16()).min((1 << 20) / content.len().max(1));
            content = content.repeat(times);
        }
        let declared = if flags & 0x20 != 0 { content.len() as u64 + u64::from(input.u16()) } else { content.len() as u64 };
        header.set_size(declared);
        header.set_cksum();
        out.extend_from_slice(header.as_bytes());
        out.extend_from_slice(&content);
        out.resize(out.len().div_ceil(512) * 512, 0);
        if declared != content.len() as u64 {
            // The stream ends where its last entry lied about its size.
            return out;
        }
    }
    out.extend_from_slice(&[0; 1024]);
    out
}

/// `data` gzip-compressed.
pub fn gzip(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(data).expect("gzip in memory");
    encoder.finish().expect("gzip in memory")
}

/// `sha256:` and the hex digest of `data`.
pub fn digest(data: &[u8]) -> String {
    use sha2::Digest as _;
    let hash = sha2::Sha256::digest(data);
    format!("sha256:{}", hash.iter().map(|b| format!("{b:02x}")).collect::<String>())
}

/// A temporary directory holding `work/` (where a run may write) beside `outside/` (a
/// canary file and directory it must never change, nor add anything to).
pub struct Sandbox {
    _dir: tempfile::TempDir,
    pub work: PathBuf,
    pub outside: PathBuf,
}

const CANARY: &str = "canary";

impl Sandbox {
    pub fn new() -> Sandbox {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let (work, outside) = (dir.path().join("work"), dir.path().join("outside"));
        fs::create_dir(&work).expect("create work/");
        fs::create_dir(&outside).expect("create outside/");
        fs::write(outside.join(CANARY), "canary").expect("write the canary");
        fs::set_permissions(outside.join(CANARY), fs::Permissions::from_mode(0o644)).expect("chmod the canary");
        fs::set_permissions(&outside, fs::Permissions::from_mode(0o755)).expect("chmod outside/");
        Sandbox { _dir: dir, work, outside }
    }

    /// Panics when anything outside `work/` changed; then empties `work/`.
    pub fn check_and_reset(&self) {
        let names: Vec<_> = fs::read_dir(&self.outside).expect("list outside/").map(|e| e.expect("an entry").file_name()).collect();
        assert_eq!(names, [CANARY], "something was written outside the directory being unpacked");
        let canary = self.outside.join(CANARY);
        let meta = fs::symlink_metadata(&canary).expect("the canary");
        assert!(meta.is_file() && meta.permissions().mode() & 0o7777 == 0o644, "the canary outside was changed: {meta:?}");
        assert_eq!(fs::read_to_string(&canary).expect("read the canary"), "canary", "the canary outside was rewritten");
        let mode = fs::symlink_metadata(&self.outside).expect("outside/").permissions().mode() & 0o7777;
        assert_eq!(mode, 0o755, "the mode of the directory outside was changed");
        let parent: Vec<_> = fs::read_dir(self.work.parent().expect("a parent")).expect("list the sandbox").map(|e| e.expect("an entry").file_name()).collect();
        assert_eq!(parent.len(), 2, "something was written beside work/: {parent:?}");
        wipe(&self.work);
        fs::create_dir(&self.work).expect("create work/ again");
    }
}

/// Removes `dir` whatever the modes the run left on what is in it.
fn wipe(dir: &Path) {
    fn open_up(path: &Path) {
        let Ok(meta) = fs::symlink_metadata(path) else { return };
        if meta.is_dir() {
            let _ = fs::set_permissions(path, fs::Permissions::from_mode(0o700));
            for entry in fs::read_dir(path).into_iter().flatten().flatten() {
                open_up(&entry.path());
            }
        }
    }
    open_up(dir);
    fs::remove_dir_all(dir).unwrap_or_else(|e| panic!("cannot empty {}: {e}", dir.display()));
}

/// Appends a regular file `name` holding `data` to the tar stream `out` (no end blocks).
pub fn tar_file(out: &mut Vec<u8>, name: &str, data: &[u8]) {
    let mut header = tar::Header::new_gnu();
    header.set_path(name).expect("a short, relative archive path");
    header.set_entry_type(tar::EntryType::Regular);
    header.set_mode(0o644);
    header.set_size(data.len() as u64);
    header.set_cksum();
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(data);
    out.resize(out.len().div_ceil(512) * 512, 0);
}

/// Up to `max` bytes of `input` as text (invalid UTF-8 replaced).
pub fn text(input: &mut Bytes, max: u8) -> String {
    let n = usize::from(input.byte() % max.max(1));
    String::from_utf8_lossy(input.take(n)).into_owned()
}
