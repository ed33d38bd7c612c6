//! Downloading one blob into the staging directory: streamed to
//! `STAGING/blobs/sha256/HEX` (content-addressed, so a blob two descriptors share is
//! fetched once), its digest checked while streaming (by oci-client) and its length
//! capped at the descriptor's size. Nothing of a blob is held in memory.

use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::task::{Context, Poll};

use oci_client::manifest::OciDescriptor;
use oci_client::{Client, Reference};
use tokio::io::AsyncWrite;

use super::errors::{describe, PullError};
use crate::image::archive::Blob;
use crate::image::reference::is_sha256_digest;

/// Fetches `descriptor` of `image` into `staging`; `what` names it in errors.
pub async fn fetch(
    client: &Client,
    image: &Reference,
    descriptor: &OciDescriptor,
    staging: &Path,
    what: &str,
    registry: &str,
) -> Result<(Blob, bool), PullError> {
    let digest = &descriptor.digest;
    if !is_sha256_digest(digest) {
        return Err(PullError::new(format!("{what} of {image} has digest {digest:?}; hooklet supports sha256 digests only")));
    }
    let size = u64::try_from(descriptor.size).map_err(|_| PullError::new(format!("{what} {digest} of {image} has a negative size")))?;
    let dir = staging.join("blobs/sha256");
    let path = dir.join(&digest[7..]);
    let blob = Blob { path: path.clone(), digest: digest.clone() };
    if path.is_file() {
        return Ok((blob, false));
    }
    let io = |e: std::io::Error| PullError::new(format!("cannot write {what} of {image} to {}: {e}", dir.display()));
    tokio::fs::create_dir_all(&dir).await.map_err(io)?;
    let partial = PathBuf::from(format!("{}.partial", path.display()));
    let file = tokio::fs::File::create(&partial).await.map_err(io)?;
    let mut out = Capped { inner: file, left: size, size };
    match client.pull_blob(image, descriptor, &mut out).await {
        Ok(()) if out.left == 0 => {}
        Ok(()) => {
            return Err(PullError::new(format!(
                "{what} {digest} of {image} has {} bytes where its descriptor says {size}",
                size - out.left
            )))
        }
        Err(oci_client::errors::OciDistributionError::IoError(e)) if e.kind() == std::io::ErrorKind::FileTooLarge => {
            return Err(PullError::new(format!("{what} {digest} of {image}: {e}")))
        }
        Err(e) => return Err(describe(&e, &image.whole(), registry)),
    }
    tokio::fs::rename(&partial, &path).await.map_err(io)?;
    Ok((blob, true))
}

/// A file writer that refuses more than `size` bytes.
struct Capped {
    inner: tokio::fs::File,
    left: u64,
    size: u64,
}

impl AsyncWrite for Capped {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        if buf.len() as u64 > self.left {
            let size = self.size;
            return Poll::Ready(Err(std::io::Error::new(
                std::io::ErrorKind::FileTooLarge,
                format!("the registry sent more than the {size} bytes its descriptor says; refused"),
            )));
        }
        let written = std::task::ready!(Pin::new(&mut self.inner).poll_write(cx, buf))?;
        self.left -= written as u64;
        Poll::Ready(Ok(written))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
