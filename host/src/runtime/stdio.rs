//! Where an exec's stdin, stdout and stderr go, for every runtime alike: collected
//! (exec hooks and probes: no stdin, output kept up to a limit in the result) or
//! streamed (`kubectl exec`: stdin fed from a channel, output sent chunk by chunk as
//! the process writes it, nothing kept).
//!
//! A runtime spawns the exec's process with [`ExecStdio::stdin`] as its stdin and
//! piped stdout and stderr, then hands the child to [`ExecStdio::run`]. Dropping that
//! future abandons the exec (the runtime's guards kill its processes).

use std::process::Stdio;

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::process::{Child, ChildStdin};
use tokio::sync::mpsc;

use super::output::read_bounded;

/// What to do with an exec's standard streams.
#[derive(Debug, Default)]
pub enum ExecStdio {
    /// stdin is empty; stdout and stderr are kept (up to the request's limit each).
    #[default]
    Collect,
    /// The streams of a client attached to the exec.
    Stream(ExecStreams),
}

/// The channels of a streamed exec.
#[derive(Debug)]
pub struct ExecStreams {
    /// What the process reads; the channel closing is end of input. `None`: no stdin.
    pub stdin: Option<mpsc::Receiver<Bytes>>,
    /// Each chunk of stdout as it is written.
    pub stdout: mpsc::Sender<Bytes>,
    /// Each chunk of stderr as it is written.
    pub stderr: mpsc::Sender<Bytes>,
}

/// What a finished exec left: the output kept (empty when streamed) and its exit.
pub struct Finished {
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    /// Output bytes dropped beyond the limit.
    pub dropped_bytes: u64,
    pub status: std::io::Result<std::process::ExitStatus>,
}

impl ExecStdio {
    /// The stdin to spawn the exec's process with.
    pub fn stdin(&self) -> Stdio {
        match self {
            ExecStdio::Stream(ExecStreams { stdin: Some(_), .. }) => Stdio::piped(),
            _ => Stdio::null(),
        }
    }

    /// Feeds and drains `child` (spawned with [`Self::stdin`], stdout and stderr piped)
    /// until it has exited and closed its output.
    pub async fn run(&mut self, child: &mut Child, limit: usize) -> Finished {
        let stdout = child.stdout.take().expect("stdout is piped");
        let stderr = child.stderr.take().expect("stderr is piped");
        match self {
            ExecStdio::Collect => {
                let ((stdout, out_dropped), (stderr, err_dropped), status) =
                    tokio::join!(read_bounded(stdout, limit), read_bounded(stderr, limit), child.wait());
                Finished { stdout, stderr, dropped_bytes: out_dropped + err_dropped, status }
            }
            ExecStdio::Stream(streams) => {
                let feed = feed(child.stdin.take(), streams.stdin.take());
                let drained = async { tokio::join!(forward(stdout, &streams.stdout), forward(stderr, &streams.stderr), child.wait()).2 };
                tokio::pin!(drained, feed);
                let mut fed = false;
                // Input ending (or the process not reading it) does not end the exec:
                // its exit and the end of its output do.
                let status = loop {
                    tokio::select! {
                        status = &mut drained => break status,
                        _ = &mut feed, if !fed => fed = true,
                    }
                };
                Finished { stdout: Vec::new(), stderr: Vec::new(), dropped_bytes: 0, status }
            }
        }
    }

    /// The result of an exec whose command could not be started: exit code 126 and
    /// the runtime's `message` on stdout (the shape runc and the CRI give).
    pub async fn cannot_run(&self, message: String) -> super::ExecResult {
        let stdout = format!("{message}\n").into_bytes();
        match self {
            ExecStdio::Collect => super::ExecResult { exit_code: super::EXEC_CANNOT_RUN, stdout, ..Default::default() },
            ExecStdio::Stream(streams) => {
                let _ = streams.stdout.send(Bytes::from(stdout)).await;
                super::ExecResult { exit_code: super::EXEC_CANNOT_RUN, ..Default::default() }
            }
        }
    }
}

/// Sends each chunk read from `reader` on `tx` until end of file. A receiver that
/// went away does not stop the reading: the process must not block on a full pipe.
async fn forward(mut reader: impl AsyncRead + Unpin, tx: &mpsc::Sender<Bytes>) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        match reader.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                let _ = tx.send(Bytes::copy_from_slice(&buf[..n])).await;
            }
        }
    }
}

/// Writes what arrives on `rx` to the process's stdin; closes it when the channel
/// closes (end of input) or the process stops reading.
async fn feed(stdin: Option<ChildStdin>, rx: Option<mpsc::Receiver<Bytes>>) {
    let (Some(mut stdin), Some(mut rx)) = (stdin, rx) else { return };
    while let Some(chunk) = rx.recv().await {
        if stdin.write_all(&chunk).await.is_err() || stdin.flush().await.is_err() {
            return;
        }
    }
}
