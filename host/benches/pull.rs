//! Image pull: `hooklet image pull` of a 100 MiB image (one layer of random bytes,
//! gzip) from a loopback `docker-registry`, against `skopeo copy` of the same image to
//! a `dir:` directory, alternating, each into a fresh directory; the same-run ratio of
//! their throughputs (registry bytes / wall time of the whole command), and hooklet's
//! peak RSS during the big pull against its peak pulling a 1 KiB image (the process's
//! own baseline: runtime, TLS, client). The peak is the child's `VmHWM`, read from
//! `/proc` every 2 ms once it has exec'd until it exits (`getrusage(RUSAGE_CHILDREN)`
//! would count the bench's own memory, shared with the child until its exec). hooklet does more than skopeo here: it also unpacks the
//! layer into a rootfs (gunzip, a second digest, the file written), as it must to run it.
//!
//! `cargo bench -p hooklet --bench pull`; under `cargo test` a smoke run with a 1 MiB
//! image and one round. Needs Debian's `docker-registry` and `skopeo` (skipped without).
//!
//! | variable | default | |
//! |---|---|---|
//! | `HOOKLET_PULL_MIB` | 100 | the image's layer size |
//! | `HOOKLET_PULL_ROUNDS` | 5 | rounds of (hooklet, skopeo) |

#[path = "../tests/registry_support/mod.rs"]
mod registry_support;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use registry_support::{host_arch, random_bytes, registry_available, Mode, TestImage, TestRegistry};

/// Runs `hooklet` with `args`; its wall time and peak RSS (KiB) after its exec.
fn watched(hooklet: &Path, args: &[&str]) -> (Duration, u64) {
    let started = Instant::now();
    let mut child = Command::new(hooklet).args(args).stdout(std::process::Stdio::null()).spawn().expect("hooklet runs");
    let exe = std::fs::canonicalize(hooklet).unwrap();
    let mut peak = 0;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        let execed = std::fs::read_link(format!("/proc/{}/exe", child.id())).is_ok_and(|e| e == exe);
        if let (true, Ok(stats)) = (execed, hooklet::bench::procfs::stats(child.id())) {
            peak = peak.max(stats.hwm_kib);
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    assert!(status.success(), "hooklet {args:?} failed");
    (started.elapsed(), peak)
}

/// Runs `command` to completion; its wall time. Panics with its output on failure.
fn timed(command: &mut Command) -> Duration {
    let started = Instant::now();
    let out = command.output().expect("the command runs");
    let took = started.elapsed();
    assert!(out.status.success(), "{command:?}: {}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    took
}

fn hooklet_pull(hooklet: &Path, image: &str, registry: &str, state: &Path) -> (Duration, u64) {
    watched(hooklet, &["image", "pull", image, "--insecure-registry", registry, "--state-dir", state.to_str().unwrap()])
}

fn skopeo_copy(image: &str, dir: &Path) -> Duration {
    timed(Command::new("skopeo").args(["copy", "--quiet", "--src-tls-verify=false", &format!("docker://{image}")]).arg(format!("dir:{}", dir.display())))
}

fn mib_per_s(bytes: u64, d: Duration) -> f64 {
    bytes as f64 / (1024.0 * 1024.0) / d.as_secs_f64()
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

#[tokio::main]
async fn main() {
    let smoke = !std::env::args().any(|a| a == "--bench");
    let var = |name: &str, default: usize| std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default);
    let mib = var("HOOKLET_PULL_MIB", if smoke { 1 } else { 100 });
    let rounds = var("HOOKLET_PULL_ROUNDS", if smoke { 1 } else { 5 });
    if !registry_available() {
        return;
    }
    if Command::new("skopeo").arg("--version").output().is_err() {
        eprintln!("*** SKIPPING the pull bench: skopeo not installed (Debian package skopeo) ***");
        return;
    }
    let hooklet = std::env::var("HOOKLET_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_hooklet").to_string());
    let hooklet = Path::new(&hooklet);
    let registry = TestRegistry::start(Mode::Plain).await;
    let big = TestImage::new(host_arch(), &[("data/blob", &random_bytes(mib * 1024 * 1024))]);
    let small = TestImage::new(host_arch(), &[("data/blob", &random_bytes(1024))]);
    let bytes = (big.config.len() + big.layers[0].gzipped.len()) as u64;
    registry.push("bench/big:1", &big).await;
    registry.push("bench/small:1", &small).await;
    drop((big, small));
    let (big, small) = (format!("{}/bench/big:1", registry.addr), format!("{}/bench/small:1", registry.addr));
    let work = tempfile::tempdir().unwrap();
    let fresh = |name: String| work.path().join(name);

    let (_, baseline_kib) = hooklet_pull(hooklet, &small, &registry.addr, &fresh("small".into()));
    let (mut hooklet_times, mut skopeo_times, mut peak_kib) = (Vec::new(), Vec::new(), 0);
    for round in 0..rounds {
        let (took, peak) = hooklet_pull(hooklet, &big, &registry.addr, &fresh(format!("h{round}")));
        hooklet_times.push(took);
        peak_kib = peak_kib.max(peak);
        skopeo_times.push(skopeo_copy(&big, &fresh(format!("s{round}"))));
        // Keep the disk from filling with copies.
        let _ = std::fs::remove_dir_all(fresh(format!("h{round}")));
        let _ = std::fs::remove_dir_all(fresh(format!("s{round}")));
    }
    let (h, s) = (median(hooklet_times.clone()), median(skopeo_times.clone()));
    let ratio = mib_per_s(bytes, h) / mib_per_s(bytes, s);
    let limit_kib = 2 * baseline_kib + 16 * 1024;
    println!("| image | rounds | hooklet image pull | skopeo copy (dir:) | hooklet / skopeo throughput |");
    println!("|---|---|---|---|---|");
    println!(
        "| {:.1} MiB (1 gzip layer, random) | {rounds} | {:.2} s, {:.1} MiB/s | {:.2} s, {:.1} MiB/s | {ratio:.2}x |",
        bytes as f64 / 1048576.0,
        h.as_secs_f64(),
        mib_per_s(bytes, h),
        s.as_secs_f64(),
        mib_per_s(bytes, s)
    );
    println!();
    println!("| hooklet peak RSS | pulling 1 KiB | pulling {mib} MiB | 2x + 16 MiB |");
    println!("|---|---|---|---|");
    println!("| KiB | {baseline_kib} | {peak_kib} | {limit_kib} ({}) |", if peak_kib <= limit_kib { "within" } else { "over" });
    println!("hooklet times: {hooklet_times:?}\nskopeo times: {skopeo_times:?}");
    assert!(baseline_kib > 0 && peak_kib >= baseline_kib && ratio > 0.0);
}
