//! `noop`: returns `Ok` immediately. No config keys. Used to measure the fixed cost of a
//! delivery.

use hooklet_guest::{Event, Hook};

struct Noop;

impl Hook for Noop {
    fn handle(_event: Event) -> Result<(), String> {
        Ok(())
    }
}

hooklet_guest::export_hook!(Noop);
