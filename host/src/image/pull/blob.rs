//! Downloading one blob into the staging directory: streamed to
//! `STAGING/blobs/sha256/HEX` (content-addressed, so a blob two descriptors share is
//! fetched once), its digest checked while streaming (by oci-client) and its length
//! capped at the descriptor's size. Nothing of a blob is held in memory.

use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::task::{Context, Poll};

use oci_client::errors::OciDistributionError;
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
    let size = checked_size(descriptor, image, what)?;
    let digest = &descriptor.digest;
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
    let fetched = client.pull_blob(image, descriptor, &mut out).await;
    check_fetched(fetched, out.left, descriptor, image, what, registry)?;
    tokio::fs::rename(&partial, &path).await.map_err(io)?;
    Ok((blob, true))
}

/// `descriptor`'s size, once its digest is known to be sha256.
pub(super) fn checked_size(descriptor: &OciDescriptor, image: &Reference, what: &str) -> Result<u64, PullError> {
    let digest = &descriptor.digest;
    if !is_sha256_digest(digest) {
        return Err(PullError::new(format!("{what} of {image} has digest {digest:?}; hooklet supports sha256 digests only")));
    }
    u64::try_from(descriptor.size).map_err(|_| PullError::new(format!("{what} {digest} of {image} has a negative size")))
}

/// What a `pull_blob` of `descriptor` into a [`too_large`]-capped writer with `left`
/// bytes still expected means: short, too long, refused by the registry, or whole.
pub(super) fn check_fetched(
    fetched: Result<(), OciDistributionError>,
    left: u64,
    descriptor: &OciDescriptor,
    image: &Reference,
    what: &str,
    registry: &str,
) -> Result<(), PullError> {
    let digest = &descriptor.digest;
    match fetched {
        Ok(()) if left == 0 => Ok(()),
        Ok(()) => Err(PullError::new(format!(
            "{what} {digest} of {image} has {} bytes where its descriptor says {}",
            descriptor.size as u64 - left,
            descriptor.size
        ))),
        Err(OciDistributionError::IoError(e)) if e.kind() == std::io::ErrorKind::FileTooLarge => {
            Err(PullError::new(format!("{what} {digest} of {image}: {e}")))
        }
        Err(e) => Err(describe(&e, &image.whole(), registry)),
    }
}

/// The error of a writer given more than the descriptor's `size` bytes.
pub(super) fn too_large(size: u64) -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::FileTooLarge,
        format!("the registry sent more than the {size} bytes its descriptor says; refused"),
    )
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
            return Poll::Ready(Err(too_large(self.size)));
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
