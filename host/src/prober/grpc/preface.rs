//! Watches the bytes a server sends first, so that a dial counts as done
//! only once the server's HTTP/2 preface (a SETTINGS frame) has arrived, as
//! grpc-go's `newHTTP2Client` waits for it.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::oneshot;

/// Length of an HTTP/2 frame header.
const FRAME_HEADER_LEN: usize = 9;
/// Frame type of SETTINGS.
const SETTINGS: u8 = 0x4;
/// The ACK flag; the preface's SETTINGS frame is not an ACK.
const ACK: u8 = 0x1;

/// A transparent wrapper around the connection that reports once whether
/// the first frame header read from it is a SETTINGS frame. It reports
/// `false` for anything else or end of stream; if it is dropped before it
/// has seen nine bytes, the receiver sees the sender closed.
pub(crate) struct PrefaceTap<T> {
    io: T,
    header: Vec<u8>,
    report: Option<oneshot::Sender<bool>>,
}

impl<T> PrefaceTap<T> {
    /// Wraps `io`; the receiver learns whether the server's preface is valid.
    pub(crate) fn new(io: T) -> (Self, oneshot::Receiver<bool>) {
        let (tx, rx) = oneshot::channel();
        let tap = Self {
            io,
            header: Vec::with_capacity(FRAME_HEADER_LEN),
            report: Some(tx),
        };
        (tap, rx)
    }

    fn observe(&mut self, fresh: &[u8]) {
        let Some(report) = self.report.take() else {
            return;
        };
        if fresh.is_empty() {
            let _ = report.send(false);
            return;
        }
        let want = FRAME_HEADER_LEN - self.header.len();
        self.header
            .extend_from_slice(&fresh[..fresh.len().min(want)]);
        if self.header.len() < FRAME_HEADER_LEN {
            self.report = Some(report);
            return;
        }
        let _ = report.send(self.header[3] == SETTINGS && self.header[4] & ACK == 0);
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for PrefaceTap<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        ready!(Pin::new(&mut this.io).poll_read(cx, buf))?;
        if this.report.is_some() {
            this.observe(&buf.filled()[before..]);
        }
        Poll::Ready(Ok(()))
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for PrefaceTap<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verdict(chunks: &[&[u8]]) -> Option<bool> {
        let (mut tap, mut rx) = PrefaceTap::new(());
        for chunk in chunks {
            tap.observe(chunk);
        }
        drop(tap);
        rx.try_recv().ok()
    }

    #[test]
    fn accepts_only_a_settings_frame_first() {
        let settings = [0, 0, 6, SETTINGS, 0, 0, 0, 0, 0, 0, 3];
        assert_eq!(verdict(&[&settings]), Some(true));
        assert_eq!(
            verdict(&[&settings[..2], &settings[2..5], &settings[5..]]),
            Some(true)
        );
        assert_eq!(
            verdict(&[&[0, 0, 0, SETTINGS, ACK, 0, 0, 0, 0]]),
            Some(false)
        );
        assert_eq!(verdict(&[b"HTTP/1.1 400 Bad Request\r\n"]), Some(false));
        assert_eq!(verdict(&[&settings[..4], b""]), Some(false));
        assert_eq!(verdict(&[&settings[..4]]), None);
    }
}
