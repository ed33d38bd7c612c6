//! `spin`: a plugin that does not finish on its own, for deadline and fuel tests.
//!
//! Config keys:
//! * `mode`: `loop` (default) burns CPU forever, so only fuel or the deadline stops it;
//!   `sleep` blocks inside a WASI host call (a monotonic-clock wait) for `ms`
//!   milliseconds, then succeeds.
//! * `ms`: how long `mode=sleep` sleeps, in milliseconds (default `1000`).

use std::hint::black_box;
use std::time::Duration;

use hooklet_guest::{log, Event, Hook};

struct Spin;

impl Hook for Spin {
    fn handle(event: Event) -> Result<(), String> {
        match event.config_or("mode", "loop") {
            "loop" => {
                log::info("spinning until stopped");
                let mut counter: u64 = 0;
                loop {
                    counter = black_box(counter.wrapping_add(1));
                }
            }
            "sleep" => {
                let ms = event.config_or("ms", "1000");
                let ms: u64 = ms.parse().map_err(|_| {
                    format!("spin: config `ms` = `{ms}` is not a number of milliseconds")
                })?;
                log::info(format_args!("sleeping {ms} ms"));
                std::thread::sleep(Duration::from_millis(ms));
                log::info("woke up");
                Ok(())
            }
            other => Err(format!(
                "spin: config `mode` = `{other}` is unknown; use `loop` or `sleep`"
            )),
        }
    }
}

hooklet_guest::export_hook!(Spin);
