//! Pulling one layer: its bytes go from the registry straight into the unpacker, a
//! blocking thread applying the tar over the staged rootfs, through a bounded channel.
//! A layer is never written to disk as a blob nor read twice, and downloading and
//! unpacking run at once. oci-client checks the compressed digest as the bytes arrive,
//! the unpacker hashes the uncompressed stream for the config's diff ID: a mismatch of
//! either fails the pull, and what was unpacked goes with the staging directory.
//!
//! Memory stays bounded: at most [`CHUNKS`] chunks of the HTTP body are in flight.

use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::task::{Context, Poll};

use oci_client::manifest::OciDescriptor;
use oci_client::{Client, Reference};
use tokio::io::AsyncWrite;
use tokio::sync::mpsc;
use tokio_util::sync::PollSender;

use super::blob::{check_fetched, checked_size, too_large};
use super::errors::PullError;
use crate::image::unpack;

/// HTTP body chunks buffered between the download and the unpacker.
const CHUNKS: usize = 64;

/// Downloads `layer` of `image` and applies it over `rootfs`; `diff_id` is what the
/// image config says its uncompressed stream hashes to, `what` names it in errors.
pub async fn fetch_and_apply(
    client: &Client,
    image: &Reference,
    layer: &OciDescriptor,
    rootfs: &Path,
    diff_id: &str,
    what: &str,
    registry: &str,
) -> Result<(), PullError> {
    let size = checked_size(layer, image, what)?;
    let digest = &layer.digest;
    let (tx, rx) = mpsc::channel(CHUNKS);
    let root = PathBuf::from(rootfs);
    let unpacking = tokio::task::spawn_blocking(move || {
        let stream = BufReader::with_capacity(64 * 1024, Received { rx, chunk: Vec::new(), at: 0 });
        unpack::apply_layer(&root, unpack::decompressed(stream)?)
    });
    let mut sink = Sink { tx: PollSender::new(tx), left: size, size };
    let fetched = client.pull_blob(image, layer, &mut sink).await;
    let left = sink.left;
    drop(sink); // the end of the stream for the unpacker
    let unpacked = unpacking.await.expect("unpacking a layer does not panic");
    check_fetched(fetched, left, layer, image, what, registry)?;
    // The bytes are the registry's, checked: what is wrong is in the layer itself.
    let actual = unpacked.map_err(|e| PullError::new(format!("{what} {digest} of {image} cannot be unpacked: {e}")))?;
    if actual != diff_id {
        return Err(PullError::new(format!(
            "{what} {digest} of {image} unpacks to {actual}, where the image config's rootfs.diff_ids says {diff_id}; the image is corrupt"
        )));
    }
    Ok(())
}

/// The download's end of the channel: refuses more than `size` bytes in all. Once the
/// unpacker has stopped (a bad tar), the rest is only counted, so that the download
/// ends and its digest check says whether the registry sent what it names.
struct Sink {
    tx: PollSender<Vec<u8>>,
    left: u64,
    size: u64,
}

impl AsyncWrite for Sink {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        if buf.len() as u64 > self.left {
            return Poll::Ready(Err(too_large(self.size)));
        }
        if std::task::ready!(self.tx.poll_reserve(cx)).is_ok() {
            // Fails only if the unpacker stopped in between: then the bytes are dropped.
            let _ = self.tx.send_item(buf.to_vec());
        }
        self.left -= buf.len() as u64;
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// The unpacker's end: the chunks in order, then the end of the stream once the
/// download's end is dropped.
struct Received {
    rx: mpsc::Receiver<Vec<u8>>,
    chunk: Vec<u8>,
    at: usize,
}

impl Read for Received {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        while self.at == self.chunk.len() {
            match self.rx.blocking_recv() {
                Some(chunk) => (self.chunk, self.at) = (chunk, 0),
                None => return Ok(0),
            }
        }
        let n = out.len().min(self.chunk.len() - self.at);
        out[..n].copy_from_slice(&self.chunk[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}
