//! The system calls the monitor needs, wrapped: detaching, SIGCHLD through a
//! signalfd, `poll`, reaping.

use std::time::Duration;

fn check(ret: libc::c_int) -> std::io::Result<libc::c_int> {
    if ret < 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// Detaches from the caller: forks, the caller's child exits at once (so the caller
/// waits for nothing), and the surviving process leads a new session, is the
/// subreaper of what the container leaves behind, and has stdio on /dev/null.
pub fn detach() -> std::io::Result<()> {
    // SAFETY: the monitor is single-threaded here; the parent only calls _exit.
    unsafe {
        match check(libc::fork())? {
            0 => {}
            _ => libc::_exit(0),
        }
        check(libc::setsid())?;
        check(libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0))?;
        // It may get a stdio number itself (the sync pipe was moved off fd 1).
        let null = check(libc::open(c"/dev/null".as_ptr(), libc::O_RDWR | libc::O_CLOEXEC))?;
        for fd in 0..3 {
            check(libc::dup2(null, fd))?;
        }
        if null > 2 {
            libc::close(null);
        }
    }
    Ok(())
}

/// In a child between fork and exec: die with the parent (SIGKILL).
pub fn die_with_parent() -> std::io::Result<()> {
    // SAFETY: prctl is async-signal-safe.
    check(unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) }).map(drop)
}

/// SIGCHLD, blocked and read from a signalfd.
pub struct ChildSignals(libc::c_int);

impl ChildSignals {
    /// Blocks SIGCHLD (children started later get an empty mask from `Command`).
    pub fn block() -> std::io::Result<ChildSignals> {
        // SAFETY: plain signal-set manipulation on a zeroed set.
        unsafe {
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            libc::sigaddset(&mut set, libc::SIGCHLD);
            check(libc::sigprocmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()))?;
            Ok(ChildSignals(check(libc::signalfd(-1, &set, libc::SFD_CLOEXEC | libc::SFD_NONBLOCK))?))
        }
    }

    /// The descriptor to poll.
    pub fn fd(&self) -> libc::c_int {
        self.0
    }

    /// Consumes the pending notifications.
    pub fn clear(&self) {
        let mut info = [0u8; 128];
        // SAFETY: reading into a local buffer of the given size.
        while unsafe { libc::read(self.0, info.as_mut_ptr().cast(), info.len()) } > 0 {}
    }
}

/// Waits until one of `fds` (negative entries are skipped) is readable or hung up,
/// or `timeout` passes; returns which are.
pub fn poll_readable(fds: &[libc::c_int], timeout: Option<Duration>) -> Vec<bool> {
    let mut polled: Vec<libc::pollfd> = fds.iter().map(|&fd| libc::pollfd { fd, events: libc::POLLIN, revents: 0 }).collect();
    let ms = timeout.map_or(-1, |t| t.as_millis().min(i32::MAX as u128) as i32);
    // SAFETY: `polled` is a valid array of its length.
    let n = unsafe { libc::poll(polled.as_mut_ptr(), polled.len() as libc::nfds_t, ms) };
    polled.iter().map(|p| n > 0 && p.revents != 0).collect()
}

/// Reaps every exited child (the container and whatever was re-parented to us).
pub fn reap_all() -> Vec<(i32, libc::c_int)> {
    let mut reaped = Vec::new();
    loop {
        let mut status = 0;
        // SAFETY: waitpid writes the status into a local.
        let pid = unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) };
        if pid <= 0 {
            return reaped;
        }
        reaped.push((pid, status));
    }
}

/// A wait status as Kubernetes reports it: the exit code, or 128 + the signal.
pub fn exit_code(status: libc::c_int) -> (i32, Option<i32>) {
    if libc::WIFSIGNALED(status) {
        let signal = libc::WTERMSIG(status);
        (128 + signal, Some(signal))
    } else {
        (libc::WEXITSTATUS(status), None)
    }
}
