//! The per-container supervisor of the process runtime's supervised mode.
//!
//! `hooklet __supervise --dir DIR --log FILE [--workdir D] -- ARGV…` runs as its own
//! process group, outside hooklet's: it starts the container process (in a process
//! group of its own, so signals to the container never reach the supervisor), writes
//! the container's pid to `DIR/pid`, reports `started PID` (or `error MESSAGE`) on
//! stdout for the hooklet that launched it, waits, and writes the exit status to
//! `DIR/exit.json` (atomically). The container's stdout and stderr go to `FILE`.
//! Neither the supervisor nor the container is a child that dies with hooklet, so a
//! restarted hooklet finds each container, its exit status and its output. The
//! container dies with its supervisor (`PR_SET_PDEATHSIG`): a supervisor killed on its
//! own never leaves an unsupervised container running beside its restarted copy,
//! and its exit is known to be that SIGKILL ([`killed_with_supervisor`]).

use std::io::Write;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::runtime::ExitStatus;

/// The supervisor's arguments.
#[derive(Debug, Clone, clap::Args)]
pub struct SuperviseArgs {
    /// The container's state directory (pid, exit.json).
    #[arg(long)]
    pub dir: PathBuf,
    /// The container's log file (appended).
    #[arg(long)]
    pub log: PathBuf,
    /// The container's working directory.
    #[arg(long)]
    pub workdir: Option<PathBuf>,
    /// The container's command and arguments.
    #[arg(last = true, required = true)]
    pub argv: Vec<String>,
}

/// File names in a container's state directory.
pub const PID_FILE: &str = "pid";
/// The exit status, JSON ([`ExitStatus`]).
pub const EXIT_FILE: &str = "exit.json";

/// Runs the supervisor; returns its exit code.
pub fn supervise(args: SuperviseArgs) -> i32 {
    // Hang-ups and interrupts meant for hooklet's terminal are not for the container.
    for signal in [nix::sys::signal::Signal::SIGHUP, nix::sys::signal::Signal::SIGINT] {
        // SAFETY: installing SIG_IGN has no handler code to be unsafe about.
        let _ = unsafe { nix::sys::signal::signal(signal, nix::sys::signal::SigHandler::SigIgn) };
    }
    let mut report = std::io::stdout();
    let log = match std::fs::OpenOptions::new().create(true).append(true).open(&args.log) {
        Ok(f) => f,
        Err(err) => return fail(&mut report, &format!("cannot open container log {}: {err}", args.log.display())),
    };
    let mut cmd = Command::new(&args.argv[0]);
    cmd.args(&args.argv[1..]).stdin(Stdio::null()).process_group(0);
    match log.try_clone() {
        Ok(out) => cmd.stdout(out).stderr(log),
        Err(err) => return fail(&mut report, &format!("cannot use container log: {err}")),
    };
    if let Some(dir) = &args.workdir {
        cmd.current_dir(dir);
    }
    let supervisor = nix::unistd::getpid();
    // SAFETY: between fork and exec the child only calls prctl and getppid, which are
    // async-signal-safe, and allocates nothing.
    unsafe {
        cmd.pre_exec(move || {
            nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL)?;
            // The supervisor died before the prctl took effect.
            if nix::unistd::getppid() != supervisor {
                return Err(std::io::Error::other("the container's supervisor is gone"));
            }
            Ok(())
        });
    }
    let mut child = match cmd.spawn() {
        Ok(child) => child,
        Err(err) => {
            let place = args.workdir.as_ref().map(|d| format!(" in working directory {}", d.display())).unwrap_or_default();
            return fail(&mut report, &format!("cannot run {:?}{place}: {err}", args.argv[0]));
        }
    };
    let pid = child.id();
    // The start time with the pid: a later hooklet signals the pid only while the process
    // with that pid is still this one (pids are reused, quickly where pid_max is small).
    let record = match start_time(pid as i32) {
        Some(start) => format!("{pid} {start}"),
        None => pid.to_string(),
    };
    if let Err(err) = write_atomically(&args.dir, PID_FILE, record.as_bytes()) {
        let _ = child.kill();
        return fail(&mut report, &format!("cannot record the container pid: {err}"));
    }
    let _ = writeln!(report, "started {pid}");
    let _ = report.flush();
    let waited = child.wait();
    // What is left of the container's process group goes with it (as `remove` would
    // do); later, the pid may belong to another process, so nobody signals it again.
    let _ = nix::sys::signal::killpg(nix::unistd::Pid::from_raw(pid as i32), nix::sys::signal::Signal::SIGKILL);
    let status = match waited {
        Ok(status) => ExitStatus::of(status),
        Err(_) => ExitStatus::code(255),
    };
    let json = serde_json::to_vec(&status).expect("an exit status serialises");
    match write_atomically(&args.dir, EXIT_FILE, &json) {
        Ok(()) => 0,
        Err(_) => 1,
    }
}

fn fail(report: &mut impl Write, message: &str) -> i32 {
    let _ = writeln!(report, "error {message}");
    let _ = report.flush();
    127
}

/// Writes `dir/name` by renaming a fully written (and synced) temporary file.
pub fn write_atomically(dir: &Path, name: &str, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = dir.join(format!(".{name}.tmp"));
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    std::fs::rename(&tmp, dir.join(name))
}

/// The exit status of a container whose supervisor ended without recording one: the
/// supervisor was killed, and the container with it (SIGKILL, by its parent-death
/// signal).
pub fn killed_with_supervisor() -> ExitStatus {
    tracing::warn!("a container's supervisor was killed without recording the exit; the container was killed with it");
    ExitStatus::now(None, Some(9))
}

/// The exit status recorded in `dir`, if the container has exited.
pub fn read_exit(dir: &Path) -> Option<ExitStatus> {
    let bytes = std::fs::read(dir.join(EXIT_FILE)).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// The container pid recorded in `dir` (whether or not that process still runs).
pub fn read_pid(dir: &Path) -> Option<i32> {
    std::fs::read_to_string(dir.join(PID_FILE)).ok()?.split_whitespace().next()?.parse().ok()
}

/// The container pid recorded in `dir` if that process still runs: a process with that
/// pid exists and, when its start time was recorded, started at that time (so a reused
/// pid is never taken for the container).
pub fn read_live_pid(dir: &Path) -> Option<i32> {
    let record = std::fs::read_to_string(dir.join(PID_FILE)).ok()?;
    let mut fields = record.split_whitespace();
    let pid: i32 = fields.next()?.parse().ok()?;
    match fields.next().and_then(|s| s.parse::<u64>().ok()) {
        Some(recorded) => (start_time(pid) == Some(recorded)).then_some(pid),
        None => std::path::Path::new(&format!("/proc/{pid}")).exists().then_some(pid),
    }
}

/// When process `pid` started, in clock ticks since boot (`/proc/PID/stat` field 22);
/// `None` when there is no such process.
pub fn start_time(pid: i32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // `pid (comm) state ppid …`: comm may hold spaces and parentheses; field 3 follows the
    // last `)`, so field 22 is the 20th after it.
    stat.rsplit_once(')')?.1.split_whitespace().nth(19)?.parse().ok()
}
