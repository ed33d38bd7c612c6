//! The sync pipe, as conmon's: the launcher passes a pipe's write end as
//! `_OCI_SYNCPIPE=FD`, and the monitor writes one JSON line on it, `{"data": PID}`
//! once the container runs or `{"data": -1, "message": "…"}` when it could not be
//! started (conmon's `--api-version 1` shape).

use std::fs::File;
use std::io::Write;
use std::os::fd::FromRawFd;

/// The environment variable naming the sync pipe's file descriptor.
pub const SYNC_PIPE_ENV: &str = "_OCI_SYNCPIPE";

/// The sync pipe passed by the launcher, if any; it is removed from the environment
/// (the container must not inherit it) and closed on exec.
pub fn take() -> Option<File> {
    let fd: i32 = std::env::var(SYNC_PIPE_ENV).ok()?.parse().ok()?;
    std::env::remove_var(SYNC_PIPE_ENV);
    // Above stdio, which is replaced by /dev/null once the monitor detaches.
    // SAFETY: fcntl on a descriptor number; an invalid one fails with EBADF.
    let moved = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 3) };
    if moved < 0 {
        return None;
    }
    // SAFETY: `fd` was handed to us to own; `moved` is a fresh descriptor we own.
    unsafe { libc::close(fd) };
    Some(unsafe { File::from_raw_fd(moved) })
}

/// Reports the container's pid.
pub fn started(pipe: &mut Option<File>, pid: i32) {
    send(pipe, &format!("{{\"data\": {pid}}}\n"));
}

/// Reports why the container could not be started.
pub fn failed(pipe: &mut Option<File>, message: &str) {
    send(pipe, &format!("{{\"data\": -1, \"message\": {}}}\n", json_string(message)));
}

fn send(pipe: &mut Option<File>, line: &str) {
    match pipe.take() {
        Some(mut f) => {
            let _ = f.write_all(line.as_bytes());
        }
        // Run by hand: say it on stderr.
        None => eprint!("{line}"),
    }
}

/// `s` as a JSON string literal.
pub fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn messages_are_json_strings() {
        assert_eq!(super::json_string("a \"b\"\\\n\u{1}"), r#""a \"b\"\\\n\u0001""#);
    }
}
