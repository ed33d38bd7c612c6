//! What can go wrong with images: each error names the file, blob or field and says
//! what to do, and the pod-facing ones carry the kubelet's reason.

use std::path::PathBuf;

/// The command that puts an image into the store; quoted by the errors.
pub const IMPORT_HINT: &str = "hooklet image import FILE";

/// An image store failure.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    /// A pod's image is not in the store (the kubelet's `ErrImageNeverPull`).
    #[error(
        "Container image \"{image}\" is not present with pull policy of Never: pull it (\"hooklet image pull {image}\", \
         or an imagePullPolicy other than Never) or import it into {} with \"{IMPORT_HINT}\" (an OCI image layout tar; \
         scripts/build-busybox-image makes a busybox one)",
        store.display()
    )]
    NotPresent {
        /// The image as the pod names it.
        image: String,
        /// The store's directory.
        store: PathBuf,
    },

    /// An image name that is not a valid reference (the kubelet's `InvalidImageName`).
    #[error("Failed to apply default image tag \"{image}\": couldn't parse image name \"{image}\": invalid reference format: {why}")]
    InvalidName {
        /// The name as given.
        image: String,
        /// What is wrong with it.
        why: String,
    },

    /// A blob's content does not match its digest.
    #[error(
        "{}: blob {blob} ({what}) is corrupt: its content has digest {actual}; the archive is damaged or was edited \
         after it was made: make or copy it again (for the busybox image: scripts/build-busybox-image)",
        file.display()
    )]
    DigestMismatch {
        /// The archive.
        file: PathBuf,
        /// The digest the blob is named by.
        blob: String,
        /// Which blob: `manifest`, `config`, `layer 1 of 3`, ...
        what: String,
        /// The digest of what the archive holds.
        actual: String,
    },

    /// The archive is not a valid image archive (missing blob, bad JSON, unsafe path ...).
    #[error("{}: {message}", file.display())]
    BadArchive {
        /// The archive.
        file: PathBuf,
        /// What is wrong and, where it helps, what to do.
        message: String,
    },

    /// No stored image has this reference or ID (`image rm`).
    #[error("no image \"{name}\" in {}; `hooklet image list` shows the stored images", store.display())]
    Unknown {
        /// The reference or ID as given.
        name: String,
        /// The store's directory.
        store: PathBuf,
    },

    /// An ID prefix that fits several images.
    #[error("image ID prefix \"{prefix}\" matches {count} images; give more of the ID")]
    Ambiguous {
        /// The prefix as given.
        prefix: String,
        /// How many images it matches.
        count: usize,
    },

    /// The disk holding the store is full (what was being stored is removed again).
    #[error("{detail}; the disk is full: free space in {} and try again", dir.display())]
    Full {
        /// The store's directory.
        dir: PathBuf,
        /// The failure, naming the file.
        detail: String,
    },

    /// A filesystem operation on the store failed.
    #[error("{action} {}: {source}", path.display())]
    Io {
        /// What was being done (`cannot create`, `cannot read` ...).
        action: &'static str,
        /// The path involved.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },

    /// A stored image's record cannot be read.
    #[error("{}: damaged image record ({why}); remove the image's directory and import it again", path.display())]
    BadRecord {
        /// The record file.
        path: PathBuf,
        /// What is wrong.
        why: String,
    },
}

impl ImageError {
    /// The kubelet's container waiting reason for this failure, for the pod's status.
    pub fn reason(&self) -> &'static str {
        match self {
            ImageError::NotPresent { .. } => "ErrImageNeverPull",
            ImageError::InvalidName { .. } => "InvalidImageName",
            _ => "ErrImagePull",
        }
    }

    /// Whether the input given (an archive, a name) is at fault rather than the store:
    /// the CLI's exit code 2.
    pub fn is_bad_input(&self) -> bool {
        matches!(
            self,
            ImageError::InvalidName { .. } | ImageError::DigestMismatch { .. } | ImageError::BadArchive { .. }
        )
    }

    /// This error as [`ImageError::Full`] when it was a write that found no space left
    /// (an unpacked layer says so in its message), for the store `dir`.
    pub(crate) fn or_full(self, dir: &std::path::Path) -> ImageError {
        let no_space = std::io::Error::from_raw_os_error(libc::ENOSPC).to_string();
        let full = match &self {
            ImageError::Io { source, .. } => source.raw_os_error() == Some(libc::ENOSPC),
            ImageError::BadArchive { message, .. } => message.ends_with(&no_space),
            _ => false,
        };
        if full {
            ImageError::Full { dir: dir.to_path_buf(), detail: self.to_string() }
        } else {
            self
        }
    }

    /// A [`ImageError::BadArchive`] for `file`.
    pub(crate) fn archive(file: &std::path::Path, message: impl Into<String>) -> ImageError {
        ImageError::BadArchive { file: file.to_path_buf(), message: message.into() }
    }

    /// A closure making an [`ImageError::Io`], for `map_err`.
    pub(crate) fn io(action: &'static str, path: &std::path::Path) -> impl FnOnce(std::io::Error) -> ImageError {
        let path = path.to_path_buf();
        move |source| ImageError::Io { action, path, source }
    }
}
