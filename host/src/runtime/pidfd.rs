//! Process file descriptors: waiting for a process that is not hooklet's child (a
//! container's monitor) without polling, and without a pid that could be reused by
//! the time it is used.

use std::os::fd::{FromRawFd, OwnedFd};

use hooklet_monitor::record::ProcessRecord;
use tokio::io::unix::AsyncFd;
use tokio::io::Interest;

/// A pidfd on a recorded process.
pub struct PidFd(AsyncFd<OwnedFd>);

impl PidFd {
    /// Opens a pidfd on the process of `record`, if it still runs: the start time (and
    /// boot id) is checked after the pidfd is open, so the pidfd names that process and
    /// never one that reused its pid. Must run inside a tokio runtime.
    pub fn open(record: &ProcessRecord) -> Option<PidFd> {
        // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor or -1.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, record.pid, 0) };
        if fd < 0 {
            return None;
        }
        // SAFETY: `fd` is a fresh descriptor that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(fd as i32) };
        if !record.is_live() {
            return None;
        }
        // SAFETY: the `OwnedFd` is moved into the `AsyncFd` and stays open, the same
        // descriptor, for as long as it lives.
        unsafe { AsyncFd::register_with_interest(fd, Interest::READABLE) }.ok().map(PidFd)
    }

    /// Sends `signal` to the process; a process that has ended gets nothing. A pidfd
    /// names one process: the signal never reaches another that reused its pid.
    pub fn signal(&self, signal: i32) -> std::io::Result<()> {
        use std::os::fd::AsRawFd;
        // SAFETY: pidfd_send_signal takes a descriptor, a signal, a null siginfo and flags.
        let ret = unsafe { libc::syscall(libc::SYS_pidfd_send_signal, self.0.get_ref().as_raw_fd(), signal, std::ptr::null::<libc::siginfo_t>(), 0) };
        match ret {
            0 => Ok(()),
            _ => match std::io::Error::last_os_error() {
                err if err.raw_os_error() == Some(libc::ESRCH) => Ok(()),
                err => Err(err),
            },
        }
    }

    /// Resolves once the process has ended (a pidfd becomes readable then).
    pub async fn exited(&self) {
        let _ = self.0.readable().await;
    }
}
