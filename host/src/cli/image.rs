//! `hooklet image import|pull|list|rm`: the local image store, used directly (no daemon).

use std::path::PathBuf;
use std::time::Instant;

use clap::{Args, Subcommand};

use super::client::default_state_dir;
use super::format::table;
use super::{EXIT_BAD_INPUT, EXIT_POD_FAILED};
use crate::image::pull::Puller;
use crate::image::{Image, ImageStore, Reference};

/// `hooklet image …`.
#[derive(Debug, Subcommand)]
pub enum ImageCommand {
    /// Import the images of an archive: an OCI image layout tar (scripts/build-busybox-image
    /// makes one with busybox) or a `docker save` tar. Every blob is checked against its
    /// digest and the layers are unpacked into a rootfs; a name that another image had
    /// moves to this one.
    ///
    /// Exit codes: 0 imported; 1 the store failed; 2 the file is missing, corrupt or not
    /// an image archive.
    Import {
        /// The archive.
        file: PathBuf,
        #[command(flatten)]
        store: StoreArgs,
    },

    /// Pull an image from a registry into the store (`busybox:1.36`,
    /// `127.0.0.1:5000/team/app@sha256:…`): manifest, config and layers over the OCI
    /// distribution API, each blob checked against its digest while it streams, the
    /// host's platform picked from a multi-platform index. One line per layer.
    ///
    /// Exit codes: 0 pulled (or already present); 1 the pull or the store failed; 2 the
    /// name is invalid.
    Pull {
        /// The image reference.
        image: String,
        #[command(flatten)]
        registry: super::registry_args::RegistryArgs,
        #[command(flatten)]
        store: StoreArgs,
    },

    /// List the stored images: name, tag, image ID (config digest), unpacked size.
    List {
        #[command(flatten)]
        store: StoreArgs,
    },

    /// Remove a name from its image (`busybox`, `busybox:latest` …), deleting the image
    /// when no name is left; an image ID (or a unique prefix) deletes the image.
    ///
    /// Exit codes: 0 removed; 1 no such image (or an ID prefix that fits several), or the
    /// store failed.
    Rm {
        /// A name or an image ID.
        name: String,
        #[command(flatten)]
        store: StoreArgs,
    },
}

/// Where the image store is.
#[derive(Debug, Clone, Args)]
pub struct StoreArgs {
    /// hooklet's state directory (the store is DIR/images), as for `hooklet serve`.
    /// Default: $HOOKLET_STATE_DIR, /var/lib/hooklet for root, else ~/.local/state/hooklet.
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
}

impl StoreArgs {
    /// The image store's directory: `STATE_DIR/images`.
    pub fn images_dir(&self) -> PathBuf {
        self.state_dir.clone().unwrap_or_else(default_state_dir).join("images")
    }
}

/// Runs an image command; returns the exit code.
pub async fn run_image_command(command: ImageCommand) -> i32 {
    let store = match &command {
        ImageCommand::Import { store, .. }
        | ImageCommand::Pull { store, .. }
        | ImageCommand::List { store }
        | ImageCommand::Rm { store, .. } => store.images_dir(),
    };
    let store = match ImageStore::open(&store) {
        Ok(store) => store,
        Err(err) => return fail(&err.to_string(), false),
    };
    let result = match &command {
        ImageCommand::Import { file, .. } => import(&store, file),
        ImageCommand::Pull { image, registry, .. } => return pull(&store, image, registry).await,
        ImageCommand::List { .. } => store.list().map(|images| print!("{}", list_table(&images))),
        ImageCommand::Rm { name, .. } => store.remove(name).map(|removed| {
            for name in &removed.untagged {
                println!("Untagged: {name}");
            }
            if let Some(id) = &removed.deleted {
                println!("Deleted: {id}");
            }
        }),
    };
    match result {
        Ok(()) => 0,
        Err(err) => fail(&err.to_string(), err.is_bad_input()),
    }
}

fn fail(message: &str, bad_input: bool) -> i32 {
    eprintln!("error: {message}");
    if bad_input {
        EXIT_BAD_INPUT
    } else {
        EXIT_POD_FAILED
    }
}

fn import(store: &ImageStore, file: &std::path::Path) -> Result<(), crate::image::ImageError> {
    if !file.is_file() {
        return Err(crate::image::ImageError::archive(file, "no such file; make a busybox image with scripts/build-busybox-image FILE"));
    }
    let started = Instant::now();
    let imported = store.import(file)?;
    let seconds = started.elapsed().as_secs_f64();
    for item in imported {
        let image = &item.image;
        let names = if image.references.is_empty() { "an unnamed image".to_string() } else { image.references.join(", ") };
        let verb = if item.already_present { "Already present" } else { "Imported" };
        let layers = image.layers.len();
        println!(
            "{verb}: {names} (ID {}, {layers} layer{}, {} unpacked) in {seconds:.2}s",
            image.short_id(),
            if layers == 1 { "" } else { "s" },
            human_size(image.size_bytes)
        );
    }
    Ok(())
}

/// `image pull`: returns the exit code.
async fn pull(store: &ImageStore, image: &str, registry: &super::registry_args::RegistryArgs) -> i32 {
    if let Err(err) = Reference::parse(image) {
        return fail(&err.to_string(), true);
    }
    let puller = match Puller::new(registry.pull_config()) {
        Ok(puller) => puller,
        Err(err) => return fail(&err, true),
    };
    let started = Instant::now();
    println!("Pulling {image}");
    let progress = |line: String| println!("{line}");
    match puller.pull(store, image, &Default::default(), &progress).await {
        Ok(pulled) => {
            let image = &pulled.image;
            let verb = if pulled.already_present { "Already present" } else { "Pulled" };
            println!(
                "{verb}: {} (ID {}, {} in the registry, {} unpacked) in {:.2}s",
                image.references.join(", "),
                image.short_id(),
                human_size(pulled.size),
                human_size(image.size_bytes),
                started.elapsed().as_secs_f64()
            );
            0
        }
        Err(err) => fail(&err.to_string(), false),
    }
}

/// crictl's image table: one row per name, `<none>` for an unnamed image.
fn list_table(images: &[Image]) -> String {
    if images.is_empty() {
        return "No images; import one with `hooklet image import FILE` (scripts/build-busybox-image makes a busybox image).\n".into();
    }
    let mut rows = vec![["IMAGE", "TAG", "IMAGE ID", "SIZE", "IMPORTED"].map(String::from).to_vec()];
    for image in images {
        let names: Vec<(String, String)> = match image.references.as_slice() {
            [] => vec![("<none>".into(), "<none>".into())],
            refs => refs
                .iter()
                .map(|r| match Reference::parse(r) {
                    Ok(r) => (r.repository, r.tag.unwrap_or_else(|| "<none>".into())),
                    Err(_) => (r.clone(), "<none>".into()),
                })
                .collect(),
        };
        for (repository, tag) in names {
            rows.push(vec![repository, tag, image.short_id().to_string(), human_size(image.size_bytes), image.imported_at.clone()]);
        }
    }
    table(&rows, "")
}

/// `2.1MB`, as crictl prints sizes (decimal units).
fn human_size(bytes: u64) -> String {
    let units = ["B", "kB", "MB", "GB", "TB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit < units.len() - 1 {
        value /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes}B")
    } else {
        format!("{value:.1}{}", units[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_decimal_like_crictl() {
        assert_eq!(human_size(999), "999B");
        assert_eq!(human_size(2_134_000), "2.1MB");
        assert_eq!(human_size(1_500_000_000), "1.5GB");
    }

    #[test]
    fn the_store_is_images_under_the_state_dir() {
        let args = StoreArgs { state_dir: Some("/srv/hk".into()) };
        assert_eq!(args.images_dir(), PathBuf::from("/srv/hk/images"));
    }
}
