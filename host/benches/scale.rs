//! Scale: many pods on the process runtime under the real `hooklet serve` (release
//! build), each with a PostStart and a PreStop hook, once with the `noop` wasm plugin
//! and once with exec `/bin/true`, side by side. Prints a Markdown table and writes
//! JSON; nothing is asserted. See BENCHMARKS.md.
//!
//! ```sh
//! cargo bench -p hooklet --bench scale
//! ```
//!
//! | variable | default | |
//! |---|---|---|
//! | `HOOKLET_SCALE_PODS` | 1000 | pods per run |
//! | `HOOKLET_SCALE_HOOKS` | `wasm,exec` | hook kinds, one run each, in this order |
//! | `HOOKLET_SCALE_GRACE` | 1 | grace period (s) of the pods and of the delete |
//! | `HOOKLET_SCALE_POLL_MS` | 100 | pod-list polling interval while waiting |
//! | `HOOKLET_SCALE_TIMEOUT` | 300 | seconds to wait for all Running / all gone |
//! | `HOOKLET_SCALE_OUT` | `target/scale-bench.json` | where the JSON goes |
//! | `HOOKLET_SCALE_DIR` | `$TMPDIR` | where the daemon's state directory goes (its disk's fsync latency matters) |
//! | `HOOKLET_SCALE_KEEP` | unset | keep the state directory and daemon log |
//! | `HOOKLET_SCALE_KUBECTL` | `/opt/hooklet-kubectl/bin/kubectl` if there | the kubectl timed with `get pods` (none: those rows show –) |
//! | `HOOKLET_SCALE_ADOPT` | unset | SIGKILL the daemon with every pod Running and time a new one's adoption of them all |
//! | `HOOKLET_SCALE_RUNTIME` | `process` | `runc`: the pods run under `--runtime runc` (root; busybox image built and imported) |

use std::path::PathBuf;
use std::time::Duration;

use hooklet::bench::scale::{self, Config, HookKind};
use hooklet::bench::report;

fn var<T: std::str::FromStr>(name: &str, default: T) -> T {
    match std::env::var(name) {
        Ok(v) => v.parse().unwrap_or_else(|_| panic!("{name}={v:?} is not a valid value")),
        Err(_) => default,
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // `cargo bench` passes `--bench`; under `cargo test` (scripts/test) this is a smoke
    // run with 5 pods, so the suite cannot rot.
    let smoke = !std::env::args().any(|a| a == "--bench");
    let hooks: Vec<HookKind> = var("HOOKLET_SCALE_HOOKS", "wasm,exec".to_string())
        .split(',')
        .map(HookKind::parse)
        .collect::<anyhow::Result<_>>()?;
    let base = Config {
        hooklet: PathBuf::from(env!("CARGO_BIN_EXE_hooklet")),
        plugins: hooklet::testing::example_plugins_dir(),
        work_dir: std::env::var_os("HOOKLET_SCALE_DIR").map(PathBuf::from).unwrap_or_else(std::env::temp_dir),
        pods: var("HOOKLET_SCALE_PODS", if smoke { 5 } else { 1000 }),
        hook: HookKind::Wasm,
        grace_seconds: var("HOOKLET_SCALE_GRACE", 1),
        poll: Duration::from_millis(var("HOOKLET_SCALE_POLL_MS", 100)),
        timeout: Duration::from_secs(var("HOOKLET_SCALE_TIMEOUT", 300)),
        keep: std::env::var_os("HOOKLET_SCALE_KEEP").is_some(),
        kubectl: hooklet::bench::kubectl::find(),
        adopt: std::env::var_os("HOOKLET_SCALE_ADOPT").is_some(),
        runc: match var("HOOKLET_SCALE_RUNTIME", "process".to_string()).as_str() {
            "process" => false,
            "runc" => true,
            other => anyhow::bail!("HOOKLET_SCALE_RUNTIME={other:?}: use process or runc"),
        },
    };
    let mut reports = Vec::new();
    for hook in hooks {
        eprintln!("scale bench: {} pods with {hook:?} hooks …", base.pods);
        reports.push(scale::run(&Config { hook, ..base.clone() }).await?);
    }
    println!("{}", report::table(&reports));
    let out = std::env::var_os("HOOKLET_SCALE_OUT").map(PathBuf::from).unwrap_or_else(|| match smoke {
        true => std::env::temp_dir().join("hooklet-scale-bench-smoke.json"),
        false => default_out(),
    });
    std::fs::write(&out, report::json(&reports))?;
    println!("JSON: {}", out.display());
    Ok(())
}

/// `target/scale-bench.json` in the target directory cargo built this bench into.
fn default_out() -> PathBuf {
    let exe = std::env::current_exe().expect("the bench knows its path");
    // target/release/deps/scale-HASH → target/
    exe.ancestors().nth(3).map(|t| t.join("scale-bench.json")).unwrap_or_else(|| "scale-bench.json".into())
}
