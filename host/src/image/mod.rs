//! Container images: the store that `hooklet image import` and `hooklet image pull`
//! fill and that a pod's `image` resolves against. Images come as archives (an OCI
//! image layout tar, or a `docker save` tar) or from registries; either way checked
//! blob by blob against their digests and unpacked into one read-only rootfs per image.
//!
//! | file | what |
//! |---|---|
//! | [`reference`] | image names, normalised as Docker and the kubelet do |
//! | [`archive`] | reading an archive: staging, the index, digest checks |
//! | [`config`] | the image config (entrypoint, cmd, env, working dir, stop signal) |
//! | [`unpack`] | applying a layer: whiteouts, opaque directories, no escape from the rootfs |
//! | [`store`] | the store: import, list, resolve, remove |
//! | [`pull`] | pulling from a registry into the store |
//! | [`manager`] | the kubelet's image manager: pull policy, events, back-off, one pull per image |
//! | [`gc`] | the kubelet's image garbage collector: thresholds, least recently used first, minimum and maximum age |
//! | [`error`] | the errors, with the kubelet's reasons |

pub mod archive;
pub mod config;
pub mod error;
pub mod gc;
pub mod manager;
pub mod pull;
pub mod reference;
pub mod store;
pub mod unpack;

#[doc(hidden)]
pub mod testutil;

pub use config::ImageConfig;
pub use error::ImageError;
pub use reference::Reference;
pub use store::{Image, ImageStore, Imported, Removed};
