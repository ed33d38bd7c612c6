//! The Kubernetes remote-command protocol over a WebSocket (`v5.channel.k8s.io`,
//! `v4.channel.k8s.io`): binary messages whose first byte is the channel — 0 stdin,
//! 1 stdout, 2 stderr, 3 the exit status (a `metav1.Status`), 4 terminal resize — and,
//! in v5 only, 255 closing the stream named by the next byte (the client's end of
//! stdin).
//!
//! The command runs through the runtime's exec with its streams attached: stdin from
//! channel 0, stdout and stderr onto 1 and 2 as the process writes them. When it ends
//! the status goes on channel 3 (`Success`, or `Failure` with reason `NonZeroExitCode`
//! and the exit code as the `ExitCode` cause, from which kubectl exits with it), and
//! the WebSocket closes (1000; the client's answering close is awaited). A client that
//! closes the WebSocket, or whose connection breaks, abandons the exec: its process is
//! killed and reaped.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;
use serde_json::json;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::protocol::{frame::coding::CloseCode, CloseFrame, Role};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

use super::exec::ExecOptions;
use crate::daemon::exec::ExecTarget;
use crate::daemon::Daemon;
use crate::runtime::{ExecRequest, ExecResult, ExecStdio, ExecStreams};

/// A served version of the protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    V4,
    V5,
}

impl Protocol {
    /// Its `Sec-WebSocket-Protocol` name.
    pub fn name(self) -> &'static str {
        match self {
            Protocol::V4 => "v4.channel.k8s.io",
            Protocol::V5 => "v5.channel.k8s.io",
        }
    }
}

const STDIN: u8 = 0;
const STDOUT: u8 = 1;
const STDERR: u8 = 2;
const ERROR: u8 = 3;
/// v5: `[CLOSE, channel]` ends that stream.
const CLOSE: u8 = 255;

/// Chunks of output (or input) in flight between the process and the client.
const IN_FLIGHT: usize = 16;

/// How long a client may take to answer the server's close frame.
const CLOSE_WAIT: Duration = Duration::from_secs(10);

type Socket = WebSocketStream<TokioIo<Upgraded>>;

/// Runs the exec over the upgraded connection until the command ends (status sent,
/// WebSocket closed) or the client goes away (command killed).
pub async fn serve(daemon: Arc<Daemon>, target: ExecTarget, options: ExecOptions, protocol: Protocol, upgraded: Upgraded) {
    let socket: Socket = WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, None).await;
    let (mut sink, source) = socket.split();
    let (stdout_tx, mut stdout_rx) = mpsc::channel(IN_FLIGHT);
    let (stderr_tx, mut stderr_rx) = mpsc::channel(IN_FLIGHT);
    let (stdin_tx, stdin_rx) = mpsc::channel(IN_FLIGHT);
    let streams = ExecStreams { stdin: options.stdin.then_some(stdin_rx), stdout: stdout_tx, stderr: stderr_tx };
    let request = ExecRequest { argv: options.command.clone(), extra_env: Vec::new(), output_limit: 0, stdio: ExecStdio::Stream(streams) };
    let exec = daemon.exec(&target, request);
    let (want_out, want_err) = (options.stdout, options.stderr);
    // The command's output onto the WebSocket until it has ended and its output is
    // all sent; an error is the client's connection failing.
    let run = async {
        tokio::pin!(exec);
        let mut result = None;
        let (mut out_open, mut err_open) = (true, true);
        loop {
            tokio::select! {
                r = &mut exec, if result.is_none() => result = Some(r),
                chunk = stdout_rx.recv(), if out_open => match chunk {
                    Some(bytes) if want_out => sink.send(frame(STDOUT, &bytes)).await?,
                    Some(_) => {}
                    None => out_open = false,
                },
                chunk = stderr_rx.recv(), if err_open => match chunk {
                    Some(bytes) if want_err => sink.send(frame(STDERR, &bytes)).await?,
                    Some(_) => {}
                    None => err_open = false,
                },
                else => break,
            }
        }
        let status = status(&options.command, result.expect("the exec ended"));
        sink.send(frame(ERROR, status.to_string().as_bytes())).await?;
        sink.send(Message::Close(Some(CloseFrame { code: CloseCode::Normal, reason: "".into() }))).await?;
        sink.flush().await
    };
    let client = client(source, stdin_tx, protocol);
    tokio::pin!(client);
    tokio::select! {
        ended = run => match ended {
            // The closing handshake: the client's messages are read until it answers
            // the close, so that the connection never closes with input unread (which
            // resets it, and the client may lose the status it has not read yet).
            Ok(()) => {
                if tokio::time::timeout(CLOSE_WAIT, &mut client).await.is_err() {
                    tracing::debug!(container = %target.container, "exec: the client did not answer the close within {CLOSE_WAIT:?}");
                }
            }
            Err(err) => tracing::debug!(container = %target.container, "exec: the client's connection failed: {err}"),
        },
        () = &mut client => {
            tracing::debug!(container = %target.container, "exec: the client went away; the command is killed");
        }
    }
}

/// Reads the client's messages: stdin onto `stdin` until the client ends it; returns
/// when the client closes the WebSocket or its connection ends.
async fn client(mut source: futures_util::stream::SplitStream<Socket>, stdin: mpsc::Sender<Bytes>, protocol: Protocol) {
    let mut stdin = Some(stdin);
    while let Some(Ok(message)) = source.next().await {
        let Message::Binary(data) = message else {
            if let Message::Close(_) = message {
                return;
            }
            continue; // pings are answered by the WebSocket layer; text is not used
        };
        match (data.first(), data.get(1)) {
            (Some(&STDIN), _) => {
                if let Some(tx) = &stdin {
                    if tx.send(data.slice(1..)).await.is_err() {
                        stdin = None; // the command no longer reads its input
                    }
                }
            }
            (Some(&CLOSE), Some(&STDIN)) if protocol == Protocol::V5 => stdin = None,
            _ => {} // resize (4): no terminal; other channels are the server's
        }
    }
}

/// A binary message on `channel`.
fn frame(channel: u8, bytes: &[u8]) -> Message {
    let mut data = Vec::with_capacity(bytes.len() + 1);
    data.push(channel);
    data.extend_from_slice(bytes);
    Message::Binary(data.into())
}

/// The `metav1.Status` of an ended exec, as the kubelet writes it on channel 3.
fn status(command: &[String], result: anyhow::Result<ExecResult>) -> serde_json::Value {
    match result {
        Ok(r) if r.exit_code == 0 => json!({"metadata": {}, "status": "Success"}),
        Ok(r) => json!({
            "metadata": {},
            "status": "Failure",
            "message": format!("command terminated with non-zero exit code: error executing command {command:?}, exit code {}", r.exit_code),
            "reason": "NonZeroExitCode",
            "details": {"causes": [{"reason": "ExitCode", "message": r.exit_code.to_string()}]},
        }),
        Err(err) => json!({
            "metadata": {},
            "status": "Failure",
            "message": format!("error executing command in container: {err:#}"),
            "reason": "InternalError",
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_status_carries_the_exit_code_as_kubectl_reads_it() {
        let ok = ExecResult { exit_code: 0, ..Default::default() };
        assert_eq!(status(&[], Ok(ok)), json!({"metadata": {}, "status": "Success"}));
        let failed = status(&["false".into()], Ok(ExecResult { exit_code: 3, ..Default::default() }));
        assert_eq!(failed["reason"], "NonZeroExitCode");
        assert_eq!(failed["details"]["causes"][0], json!({"reason": "ExitCode", "message": "3"}));
        let broken = status(&[], Err(anyhow::anyhow!("runc exec failed")));
        assert_eq!((broken["status"].as_str(), broken["reason"].as_str()), (Some("Failure"), Some("InternalError")));
    }

    #[test]
    fn a_frame_starts_with_its_channel() {
        assert_eq!(frame(STDERR, b"err"), Message::Binary(Bytes::from_static(b"\x02err")));
    }
}
