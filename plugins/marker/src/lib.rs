//! `marker`: writes a marker file describing each hook delivery into a directory the
//! plugin has been granted, and logs what it wrote.
//!
//! The file is `<dir>/<pod>_<container>.<phase>` (for example `/out/web_nginx.post-start`)
//! and holds `key=value` lines: phase, namespace, pod, pod uid, container, container id,
//! image, delivery id, attempt and the configured message. A redelivery overwrites the
//! file, so the plugin is idempotent.
//!
//! Config keys:
//! * `dir`: guest path of the granted directory (default `/out`). Grant it read-write in
//!   the plugin manifest (`[[capabilities.dirs]]`).
//! * `message`: free text copied into the file (default empty).
//! * `fail`: `true` fails the hook on purpose, without writing anything (for trying out
//!   failure handling; the same key works in the other languages' markers).
//!
//! Fails with a message saying what to grant when the file cannot be written.
//!
//! `plugins/<lang>/` holds the same plugin in Python, JavaScript, C, Go and Zig: same
//! config keys, same file contents, same log line and failure text.

use hooklet_guest::{log, Event, Hook};

struct Marker;

impl Hook for Marker {
    fn handle(event: Event) -> Result<(), String> {
        if event.config("fail") == Some("true") {
            log::error(format_args!(
                "failing {} hook of {}/{} on purpose",
                event.phase, event.pod_name, event.container_name
            ));
            return Err("marker: failing on purpose (config fail=true)".to_string());
        }
        let dir = event.config_or("dir", "/out");
        let path = format!(
            "{}/{}_{}.{}",
            dir.trim_end_matches('/'),
            file_safe(&event.pod_name),
            file_safe(&event.container_name),
            event.phase
        );
        let contents = describe(&event);
        std::fs::write(&path, &contents).map_err(|err| {
            format!(
                "marker: cannot write {path}: {err}; grant the plugin a read-write directory \
                 at guest path `{dir}` ([[capabilities.dirs]] in marker.toml) or set config `dir`"
            )
        })?;
        log::info(format_args!("wrote {path} ({} bytes)", contents.len()));
        Ok(())
    }
}

/// The marker file's contents: one `key=value` line per field.
fn describe(event: &Event) -> String {
    let fields = [
        ("phase", event.phase.to_string()),
        ("namespace", event.pod_namespace.clone()),
        ("pod", event.pod_name.clone()),
        ("pod-uid", event.pod_uid.clone()),
        ("container", event.container_name.clone()),
        ("container-id", event.container_id.clone()),
        ("image", event.image.clone()),
        ("delivery-id", event.delivery_id.clone()),
        ("attempt", event.attempt.to_string()),
        ("message", event.config_or("message", "").to_string()),
    ];
    fields.iter().map(|(k, v)| format!("{k}={v}\n")).collect()
}

/// `name` with path separators replaced, so it stays one file name in the directory.
fn file_safe(name: &str) -> String {
    name.replace(['/', '\\'], "_")
}

hooklet_guest::export_hook!(Marker);
