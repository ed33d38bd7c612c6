//! The `hooklet-monitor` binary: one per container, see the `hooklet_monitor` crate.

fn main() {
    std::process::exit(hooklet_monitor::main());
}
