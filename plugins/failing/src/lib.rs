//! `failing`: fails every delivery on purpose. It logs an error line, prints one line to
//! stderr and returns `Err(message)`.
//!
//! Config keys: `message`, the failure reason (default `failing plugin: failed on purpose`).

use hooklet_guest::{log, Event, Hook};

const DEFAULT_MESSAGE: &str = "failing plugin: failed on purpose";

struct Failing;

impl Hook for Failing {
    fn handle(event: Event) -> Result<(), String> {
        let message = event.config_or("message", DEFAULT_MESSAGE).to_string();
        log::error(format_args!(
            "failing {} hook of {}/{} on purpose",
            event.phase, event.pod_name, event.container_name
        ));
        eprintln!("failing: about to return an error: {message}");
        Err(message)
    }
}

hooklet_guest::export_hook!(Failing);
