//! Running deliveries: results, fuel, deadlines, cancellation, memory and output caps.

use std::time::Duration;

use tokio::time::Instant;

use super::{delivery, host, host_with, messages, plugin_dir, write_manifest};
use crate::wasm::{LogLevel, WasmFailure};

/// A host for `dir` with `plugin` already compiled, so that a short deadline is spent
/// running the plugin rather than compiling it.
async fn loaded_host(dir: &std::path::Path, plugin: &str) -> crate::wasm::WasmHost {
    let host = host(dir);
    host.load(plugin).await.expect("load the plugin");
    host
}

/// Enough fuel that only a deadline or cancellation stops `spin` in these tests.
const PLENTY_OF_FUEL: u64 = 1 << 40;

#[tokio::test]
async fn marker_writes_its_file_into_a_granted_read_write_dir() {
    let dir = plugin_dir(&["marker"]);
    std::fs::create_dir(dir.path().join("out")).unwrap();
    write_manifest(
        dir.path(),
        "marker",
        "description = \"test\"\n[[capabilities.dirs]]\nhost = \"out\"\nguest = \"/out\"\naccess = \"read-write\"\n",
    );
    let outcome = host(dir.path())
        .deliver(delivery("marker", &[("message", "hello")]))
        .await;

    assert_eq!(outcome.result, Ok(()), "{outcome:?}");
    let written = std::fs::read_to_string(dir.path().join("out/web_app.post-start")).unwrap();
    for line in [
        "phase=post-start",
        "pod=web",
        "container=app",
        "delivery-id=d-42",
        "attempt=1",
        "message=hello",
    ] {
        assert!(
            written.lines().any(|l| l == line),
            "missing {line:?} in:\n{written}"
        );
    }
    let wrote = format!("wrote /out/web_app.post-start ({} bytes)", written.len());
    assert_eq!(messages(&outcome), [wrote.as_str()]);
    assert_eq!(outcome.logs[0].level, LogLevel::Info);
    assert!(
        outcome.fuel_consumed > 0 && outcome.fuel_consumed < outcome.fuel_budget,
        "{outcome:?}"
    );
    assert_eq!(outcome.fuel_budget, 1_000_000_000);
    assert!(outcome.peak_memory_bytes > 0);
}

#[tokio::test]
async fn marker_fails_clearly_without_a_grant() {
    let dir = plugin_dir(&["marker"]);
    let outcome = host(dir.path()).deliver(delivery("marker", &[])).await;
    let Err(WasmFailure::Rejected(reason)) = &outcome.result else {
        panic!("{outcome:?}")
    };
    assert!(
        reason.starts_with("marker: cannot write /out/web_app.post-start"),
        "{reason}"
    );
    assert!(
        reason.contains("grant the plugin a read-write directory"),
        "{reason}"
    );
}

#[tokio::test]
async fn a_read_only_grant_cannot_be_written() {
    let dir = plugin_dir(&["marker"]);
    std::fs::create_dir(dir.path().join("ro")).unwrap();
    write_manifest(
        dir.path(),
        "marker",
        "[[capabilities.dirs]]\nhost = \"ro\"\nguest = \"/ro\"\naccess = \"read-only\"\n",
    );
    let outcome = host(dir.path())
        .deliver(delivery("marker", &[("dir", "/ro")]))
        .await;
    assert!(
        matches!(&outcome.result, Err(WasmFailure::Rejected(r)) if r.contains("cannot write /ro/")),
        "{outcome:?}"
    );
    assert_eq!(std::fs::read_dir(dir.path().join("ro")).unwrap().count(), 0);
}

#[tokio::test]
async fn failing_returns_its_message_with_its_log_line_and_stderr() {
    let dir = plugin_dir(&["failing"]);
    let outcome = host(dir.path())
        .deliver(delivery("failing", &[("message", "database unreachable")]))
        .await;

    assert_eq!(
        outcome.result,
        Err(WasmFailure::Rejected("database unreachable".into()))
    );
    assert_eq!(
        outcome.result.as_ref().unwrap_err().to_string(),
        "the plugin failed the hook: database unreachable"
    );
    assert_eq!(
        messages(&outcome),
        ["failing post-start hook of web/app on purpose"]
    );
    assert_eq!(outcome.logs[0].level, LogLevel::Error);
    assert_eq!(
        String::from_utf8_lossy(&outcome.stderr),
        "failing: about to return an error: database unreachable\n"
    );
    assert!(outcome.stdout.is_empty());
    assert!(outcome.fuel_consumed > 0);
}

#[tokio::test]
async fn output_past_the_caps_is_dropped_and_counted_not_fatal() {
    let dir = plugin_dir(&["failing"]);
    let host = host_with(dir.path(), |config| {
        config.output_limit_bytes = 8;
        config.log_line_limit = 0;
    });
    let outcome = host.deliver(delivery("failing", &[])).await;
    assert_eq!(
        outcome.result,
        Err(WasmFailure::Rejected(
            "failing plugin: failed on purpose".into()
        ))
    );
    assert_eq!(outcome.stderr, b"failing:");
    assert!(outcome.stderr_dropped_bytes > 0);
    assert!(outcome.logs.is_empty());
    assert_eq!(outcome.logs_dropped, 1);
}

#[tokio::test]
async fn a_looping_plugin_is_cut_at_its_deadline() {
    let dir = plugin_dir(&["spin"]);
    let host = loaded_host(dir.path(), "spin").await;
    let mut looping = delivery("spin", &[("mode", "loop")]);
    looping.fuel = Some(PLENTY_OF_FUEL);
    looping.deadline = Some(Instant::now() + Duration::from_millis(200));
    let started = Instant::now();
    let outcome = host.deliver(looping).await;

    assert_eq!(
        outcome.result,
        Err(WasmFailure::DeadlineExceeded),
        "{outcome:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "cut after {:?}",
        started.elapsed()
    );
    assert!(outcome.fuel_consumed > 0, "fuel is recorded on failure too");
    assert_eq!(messages(&outcome), ["spinning until stopped"]);
}

#[tokio::test]
async fn a_looping_plugin_runs_out_of_fuel_naming_the_budget() {
    let dir = plugin_dir(&["spin"]);
    let mut looping = delivery("spin", &[]);
    looping.fuel = Some(1_000_000);
    let outcome = host(dir.path()).deliver(looping).await;

    assert_eq!(
        outcome.result,
        Err(WasmFailure::OutOfFuel { budget: 1_000_000 })
    );
    assert!(outcome
        .result
        .unwrap_err()
        .to_string()
        .starts_with("fuel ran out after 1000000 units"));
    assert_eq!(
        (outcome.fuel_budget, outcome.fuel_consumed),
        (1_000_000, 1_000_000)
    );
}

/// Fuel is an exact count, not a sample: the same work costs the same fuel in every run,
/// on any host, and more work costs more.
#[tokio::test]
async fn the_same_work_costs_the_same_fuel_in_every_run() {
    let dir = plugin_dir(&["compute"]);
    let mut fuel = Vec::new();
    for _host in 0..2 {
        let host = host(dir.path());
        for n in ["18", "18", "19"] {
            let outcome = host.deliver(delivery("compute", &[("work", "fib"), ("n", n)])).await;
            assert_eq!(outcome.result, Ok(()), "{outcome:?}");
            fuel.push(outcome.fuel_consumed);
        }
    }
    assert!(fuel[0] > 10_000, "fib(18) is counted: {fuel:?}");
    assert_eq!([fuel[1], fuel[3], fuel[4]], [fuel[0]; 3], "fib(18) on two hosts: {fuel:?}");
    assert_eq!(fuel[5], fuel[2], "fib(19) on two hosts: {fuel:?}");
    assert!(fuel[2] > fuel[0] * 3 / 2, "fib(19) does about 1.6 times the work of fib(18): {fuel:?}");
}

#[tokio::test]
async fn the_manifest_sets_the_fuel_budget_unless_the_delivery_does() {
    let dir = plugin_dir(&["spin"]);
    write_manifest(dir.path(), "spin", "[limits]\nfuel = 50_000\n");
    let host = host(dir.path());
    let outcome = host.deliver(delivery("spin", &[])).await;
    assert_eq!(
        outcome.result,
        Err(WasmFailure::OutOfFuel { budget: 50_000 })
    );

    let mut own_budget = delivery("spin", &[]);
    own_budget.fuel = Some(60_000);
    let outcome = host.deliver(own_budget).await;
    assert_eq!(
        outcome.result,
        Err(WasmFailure::OutOfFuel { budget: 60_000 })
    );
}

#[tokio::test]
async fn a_plugin_blocked_in_a_host_call_is_cut_by_the_outer_timeout() {
    let dir = plugin_dir(&["spin"]);
    let host = loaded_host(dir.path(), "spin").await;
    let mut sleeping = delivery("spin", &[("mode", "sleep"), ("ms", "600000")]);
    sleeping.deadline = Some(Instant::now() + Duration::from_millis(200));
    let started = Instant::now();
    let outcome = host.deliver(sleeping).await;

    assert_eq!(
        outcome.result,
        Err(WasmFailure::DeadlineExceeded),
        "{outcome:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "cut after {:?}",
        started.elapsed()
    );
    assert_eq!(messages(&outcome), ["sleeping 600000 ms"]);
}

#[tokio::test]
async fn a_sleeping_plugin_without_deadline_finishes() {
    let dir = plugin_dir(&["spin"]);
    let mut sleeping = delivery("spin", &[("mode", "sleep"), ("ms", "20")]);
    sleeping.deadline = Some(Instant::now() + Duration::from_secs(60));
    let outcome = host(dir.path()).deliver(sleeping).await;
    assert_eq!(outcome.result, Ok(()), "{outcome:?}");
    assert_eq!(messages(&outcome), ["sleeping 20 ms", "woke up"]);
}

/// A current-thread runtime has a single worker: if the looping guest held it, the timeout
/// could never fire and the second delivery could never run.
#[tokio::test(flavor = "current_thread")]
async fn dropping_the_future_stops_a_looping_plugin() {
    let dir = plugin_dir(&["spin", "noop"]);
    let host = host(dir.path());
    let mut looping = delivery("spin", &[("mode", "loop")]);
    // Without cancellation this budget would run for many seconds, then fail the test.
    looping.fuel = Some(20_000_000_000);

    let cut = tokio::time::timeout(Duration::from_millis(300), host.deliver(looping)).await;
    assert!(
        cut.is_err(),
        "the loop should still have been running: {cut:?}"
    );

    let mut next = delivery("noop", &[]);
    next.deadline = Some(Instant::now() + Duration::from_secs(30));
    let outcome = host.deliver(next).await;
    assert_eq!(outcome.result, Ok(()), "{outcome:?}");
}

#[tokio::test]
async fn growing_memory_past_the_cap_fails_naming_the_cap() {
    let dir = plugin_dir(&["noop"]);
    let host = host_with(dir.path(), |config| config.max_memory_bytes = 256 * 1024);
    let outcome = host.deliver(delivery("noop", &[])).await;
    let Err(failure @ WasmFailure::MemoryLimit { cap: 262_144, .. }) = &outcome.result else {
        panic!("{outcome:?}");
    };
    let message = failure.to_string();
    assert!(message.contains("memory cap of 262144 bytes"), "{message}");
    assert!(message.contains("node default"), "{message}");
    assert_eq!(outcome.memory_cap_bytes, 262_144);
}

#[tokio::test]
async fn a_passed_deadline_fails_without_running() {
    let dir = plugin_dir(&["noop"]);
    let mut late = delivery("noop", &[]);
    late.deadline = Some(Instant::now());
    let outcome = host(dir.path()).deliver(late).await;
    assert_eq!(outcome.result, Err(WasmFailure::DeadlineExceeded));
    assert_eq!(outcome.fuel_consumed, 0);
}

/// Every delivery starts from pristine memory, also in a reused pool slot (whose memory is
/// reset from the pages the previous delivery wrote): `remember` fails on finding the
/// marks it left in a static, in initialised data or in a heap block.
#[tokio::test]
async fn each_delivery_starts_from_pristine_memory() {
    let dir = plugin_dir(&["hostile"]);
    let host = host_with(dir.path(), |config| config.pool_slots = 1);
    for attempt in 1..=3 {
        let outcome = host.deliver(delivery("hostile", &[("mode", "remember")])).await;
        assert_eq!(outcome.result, Ok(()), "delivery {attempt}: {outcome:?}");
        // The heap block came from memory grown past the initial size (about 1 MiB).
        assert!(outcome.peak_memory_bytes > 2 << 20, "{outcome:?}");
    }
}
