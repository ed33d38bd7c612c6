//! `healthz`: a container probe (liveness, readiness or startup) that checks a file in a
//! directory the plugin has been granted, so whatever can write that file — the container
//! through a shared volume, an operator, a test — flips the container between healthy
//! and unhealthy.
//!
//! Config keys (all optional):
//! * `file`: guest path of the file to check, in a granted directory (see
//!   `plugins/healthz/healthz.toml`). The container is healthy while the file exists,
//!   and the probe's message is the file's first line; when it is missing or unreadable
//!   the probe fails, saying why. Without `file` the probe passes.
//! * `expect`: with `file`, healthy only while the file contains this text.
//! * `fail`: `true` fails the probe on purpose, without reading anything.
//!
//! It is a probe only (world `hooklet:hook/probe@0.2.0`): named by a lifecycle hook, it
//! fails with a message saying so.

use hooklet_guest::{log, Probe, ProbeEvent};

struct Healthz;

impl Probe for Healthz {
    fn check(event: ProbeEvent) -> Result<String, String> {
        let target = format!("{} probe of {}/{}", event.kind, event.pod_name, event.container_name);
        if event.config("fail") == Some("true") {
            log::warn(format_args!("failing the {target} on purpose"));
            return Err("healthz: failing on purpose (config fail=true)".to_string());
        }
        let Some(path) = event.config("file") else {
            log::info(format_args!("{target}: nothing to check"));
            return Ok(format!("healthz: {target}: ok"));
        };
        let contents = std::fs::read_to_string(path).map_err(|err| {
            format!(
                "healthz: cannot read {path} ({err}); the container is unhealthy until it \
                 exists (grant its directory in the plugin manifest's [[capabilities.dirs]])"
            )
        })?;
        if let Some(expected) = event.config("expect") {
            if !contents.contains(expected) {
                return Err(format!(
                    "healthz: {path} does not contain `{expected}` (first line: `{}`)",
                    first_line(&contents)
                ));
            }
        }
        log::info(format_args!("{target}: {path} is there"));
        Ok(first_line(&contents).to_string())
    }
}

/// The first line of `text`, without its line ending.
fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or("").trim_end()
}

hooklet_guest::export_probe!(Healthz);
