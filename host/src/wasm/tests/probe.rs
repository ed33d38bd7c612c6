//! Probes (`WasmHost::probe`, `hooklet:hook/prober@0.2.0`): healthy and unhealthy answers,
//! the same limits as hook deliveries, and plugins of the wrong kind.

use std::time::Duration;

use tokio::time::Instant;

use super::{delivery, host, host_with, messages, plugin_dir, probe, write_manifest};
use crate::wasm::{ProbeKind, WasmFailure};

/// Enough fuel that only a deadline stops `hostile`'s loop in these tests.
const PLENTY_OF_FUEL: u64 = 1 << 40;

/// A plugin directory with `healthz`, granted `<dir>/health` read-only as `/health`.
fn healthz_dir() -> tempfile::TempDir {
    let dir = plugin_dir(&["healthz"]);
    std::fs::create_dir(dir.path().join("health")).unwrap();
    write_manifest(
        dir.path(),
        "healthz",
        "[[capabilities.dirs]]\nhost = \"health\"\nguest = \"/health\"\naccess = \"read-only\"\n",
    );
    dir
}

#[tokio::test]
async fn healthz_is_healthy_while_its_file_exists_and_unhealthy_once_it_is_gone() {
    let dir = healthz_dir();
    let file = dir.path().join("health/web.ok");
    std::fs::write(&file, "serving 3 requests/s\nsecond line\n").unwrap();
    let host = host(dir.path());
    let check = || probe("healthz", ProbeKind::Liveness, &[("file", "/health/web.ok")]);

    let healthy = host.probe(check()).await;
    assert_eq!(healthy.result, Ok(()), "{healthy:?}");
    assert_eq!(healthy.message.as_deref(), Some("serving 3 requests/s"));
    assert_eq!(
        messages(&healthy),
        ["liveness probe of web/app: /health/web.ok is there"]
    );

    std::fs::remove_file(&file).unwrap();
    let unhealthy = host.probe(check()).await;
    let Err(failure @ WasmFailure::ProbeFailed(reason)) = &unhealthy.result else {
        panic!("{unhealthy:?}")
    };
    assert!(
        reason.starts_with("healthz: cannot read /health/web.ok ("),
        "{reason}"
    );
    assert!(
        failure
            .to_string()
            .starts_with("the plugin failed the probe: healthz: cannot read /health/web.ok"),
        "{failure}"
    );
    assert_eq!(unhealthy.message, None);
    assert!(unhealthy.fuel_consumed > 0, "{unhealthy:?}");
}

#[tokio::test]
async fn healthz_fails_on_purpose_and_on_unexpected_contents() {
    let dir = healthz_dir();
    std::fs::write(dir.path().join("health/state"), "starting\n").unwrap();
    let host = host(dir.path());

    let outcome = host
        .probe(probe("healthz", ProbeKind::Readiness, &[("fail", "true")]))
        .await;
    assert_eq!(
        outcome.result.as_ref().unwrap_err().to_string(),
        "the plugin failed the probe: healthz: failing on purpose (config fail=true)"
    );
    assert_eq!(outcome.logs[0].message, "failing the readiness probe of web/app on purpose");

    let config = [("file", "/health/state"), ("expect", "ready")];
    let outcome = host.probe(probe("healthz", ProbeKind::Readiness, &config)).await;
    assert_eq!(
        outcome.result,
        Err(WasmFailure::ProbeFailed(
            "healthz: /health/state does not contain `ready` (first line: `starting`)".into()
        ))
    );

    std::fs::write(dir.path().join("health/state"), "ready\n").unwrap();
    let outcome = host.probe(probe("healthz", ProbeKind::Readiness, &config)).await;
    assert_eq!(
        (outcome.result, outcome.message.as_deref()),
        (Ok(()), Some("ready"))
    );
}

#[tokio::test]
async fn the_probe_kind_and_target_reach_the_plugin_and_manifest_config_applies() {
    let dir = healthz_dir();
    let host = host(dir.path());
    let outcome = host.probe(probe("healthz", ProbeKind::Startup, &[])).await;
    assert_eq!(outcome.result, Ok(()), "{outcome:?}");
    assert_eq!(
        outcome.message.as_deref(),
        Some("healthz: startup probe of web/app: ok")
    );

    // `[config]` defaults reach a probe as they reach a hook; the probe's keys win.
    let dir = healthz_dir();
    std::fs::write(
        dir.path().join("healthz.toml"),
        "[config]\nfail = \"true\"\n[[capabilities.dirs]]\nhost = \"health\"\nguest = \"/health\"\naccess = \"read-only\"\n",
    )
    .unwrap();
    let host = super::host(dir.path());
    let outcome = host.probe(probe("healthz", ProbeKind::Liveness, &[])).await;
    assert!(
        matches!(&outcome.result, Err(WasmFailure::ProbeFailed(r)) if r.contains("config fail=true")),
        "{outcome:?}"
    );
    let outcome = host
        .probe(probe("healthz", ProbeKind::Liveness, &[("fail", "false")]))
        .await;
    assert_eq!(outcome.result, Ok(()), "{outcome:?}");
}

#[tokio::test]
async fn the_same_probe_costs_the_same_fuel_and_is_counted_in_the_plugin_usage() {
    let dir = healthz_dir();
    std::fs::write(dir.path().join("health/ok"), "fine\n").unwrap();
    let host = host(dir.path());
    let check = || probe("healthz", ProbeKind::Liveness, &[("file", "/health/ok")]);
    let first = host.probe(check()).await;
    let second = host.probe(check()).await;
    assert_eq!((&first.result, &second.result), (&Ok(()), &Ok(())));
    assert!(first.fuel_consumed > 0, "{first:?}");
    assert!(first.fuel_consumed < first.fuel_budget, "{first:?}");
    assert_eq!(first.fuel_consumed, second.fuel_consumed);
    assert_eq!(first.fuel_budget, 1_000_000_000, "the node default");

    let failed = host
        .probe(probe("healthz", ProbeKind::Liveness, &[("fail", "true")]))
        .await;
    assert!(failed.result.is_err());
    let usage = host.plugin_usage()["healthz"];
    assert_eq!((usage.deliveries, usage.failures), (3, 1));
    assert_eq!(
        usage.fuel_consumed,
        first.fuel_consumed * 2 + failed.fuel_consumed
    );
    assert!(usage.peak_memory_bytes >= first.peak_memory_bytes && usage.peak_memory_bytes > 0);
}

#[tokio::test]
async fn a_looping_probe_is_stopped_by_its_fuel_budget_else_the_manifest_s() {
    let dir = plugin_dir(&["hostile"]);
    let host = host(dir.path());
    let mut looping = probe("hostile", ProbeKind::Liveness, &[("mode", "loop")]);
    looping.fuel = Some(1_000_000);
    let outcome = host.probe(looping).await;
    assert_eq!(
        outcome.result,
        Err(WasmFailure::OutOfFuel { budget: 1_000_000 })
    );
    assert_eq!(
        (outcome.fuel_budget, outcome.fuel_consumed),
        (1_000_000, 1_000_000)
    );
    assert_eq!(messages(&outcome), ["spinning until stopped"]);

    write_manifest(dir.path(), "hostile", "[limits]\nfuel = 70_000\n");
    let outcome = host
        .probe(probe("hostile", ProbeKind::Liveness, &[("mode", "loop")]))
        .await;
    assert_eq!(outcome.result, Err(WasmFailure::OutOfFuel { budget: 70_000 }));
}

#[tokio::test]
async fn a_looping_probe_is_cut_at_its_deadline() {
    let dir = plugin_dir(&["hostile"]);
    let host = host(dir.path());
    host.load("hostile").await.expect("load hostile");
    let mut looping = probe("hostile", ProbeKind::Readiness, &[("mode", "loop")]);
    looping.fuel = Some(PLENTY_OF_FUEL);
    looping.deadline = Some(Instant::now() + Duration::from_millis(200));
    let started = Instant::now();
    let outcome = host.probe(looping).await;

    assert_eq!(outcome.result, Err(WasmFailure::DeadlineExceeded), "{outcome:?}");
    assert!(
        started.elapsed() >= Duration::from_millis(200) && started.elapsed() < Duration::from_secs(5),
        "cut after {:?}",
        started.elapsed()
    );
    assert!(outcome.fuel_consumed > 0, "fuel is recorded on failure too");
}

#[tokio::test]
async fn a_probe_growing_memory_past_the_manifest_cap_is_stopped() {
    let dir = plugin_dir(&["hostile"]);
    write_manifest(dir.path(), "hostile", "[limits]\nmemory = \"8 MiB\"\n");
    let outcome = host(dir.path())
        .probe(probe("hostile", ProbeKind::Liveness, &[("mode", "memory-bomb")]))
        .await;
    let Err(failure @ WasmFailure::MemoryLimit { cap, .. }) = &outcome.result else {
        panic!("{outcome:?}")
    };
    assert_eq!(*cap, 8 << 20);
    assert!(failure.to_string().contains("limits.memory"), "{failure}");
    assert_eq!(outcome.memory_cap_bytes, 8 << 20);
    assert!(outcome.peak_memory_bytes <= 8 << 20, "{outcome:?}");
    assert!(outcome.peak_memory_bytes > 4 << 20, "{outcome:?}");
}

#[tokio::test]
async fn a_flooding_probe_has_its_output_bounded_and_still_passes() {
    let dir = plugin_dir(&["hostile"]);
    let host = host_with(dir.path(), |config| {
        config.output_limit_bytes = 1024;
        config.log_line_limit = 3;
    });
    let config = [("mode", "flood"), ("lines", "10"), ("bytes", "100000")];
    let outcome = host.probe(probe("hostile", ProbeKind::Liveness, &config)).await;
    assert_eq!(outcome.result, Ok(()), "{outcome:?}");
    assert_eq!(outcome.message.as_deref(), Some("hostile: mode flood done"));
    assert_eq!((outcome.stdout.len(), outcome.stdout_dropped_bytes), (1024, 100_000 - 1024));
    assert_eq!((outcome.stderr.len(), outcome.stderr_dropped_bytes), (1024, 100_000 - 1024));
    assert_eq!(messages(&outcome), ["flood line 0", "flood line 1", "flood line 2"]);
    assert_eq!(outcome.logs_dropped, 7);
}

#[tokio::test]
async fn a_hook_plugin_of_0_1_0_used_as_a_probe_fails_saying_how_to_fix_it() {
    let dir = plugin_dir(&["noop"]);
    let host = host(dir.path());
    let outcome = host.probe(probe("noop", ProbeKind::Liveness, &[])).await;
    let Err(failure @ WasmFailure::MissingExport { .. }) = &outcome.result else {
        panic!("{outcome:?}")
    };
    assert_mentions(
        &failure.to_string(),
        &[
            "plugin `noop` cannot be used as a probe",
            "does not export `hooklet:hook/prober@0.2.0`",
            "`hooklet-guest`",
            "`hooklet_guest::export_probe!`",
        ],
    );
    assert_eq!(outcome.fuel_consumed, 0);
    // The plugin itself is fine: as a hook it still works.
    assert_eq!(host.deliver(delivery("noop", &[])).await.result, Ok(()));
}

#[tokio::test]
async fn a_probe_only_plugin_used_as_a_hook_fails_saying_so() {
    let dir = healthz_dir();
    let outcome = host(dir.path()).deliver(delivery("healthz", &[])).await;
    let Err(failure @ WasmFailure::MissingExport { .. }) = &outcome.result else {
        panic!("{outcome:?}")
    };
    assert_mentions(
        &failure.to_string(),
        &[
            "plugin `healthz` cannot be used as a lifecycle hook",
            "does not export `hooklet:hook/handler@0.1.0` or `hooklet:hook/handler@0.2.0`",
            "probe-only plugin",
            "`hooklet_guest::export_plugin!`",
        ],
    );
}

/// Asserts that `message` contains every one of `parts`.
fn assert_mentions(message: &str, parts: &[&str]) {
    for part in parts {
        assert!(message.contains(part), "{part:?} in {message}");
    }
}

#[tokio::test]
async fn a_plugin_of_0_2_0_is_a_hook_and_a_probe() {
    let dir = plugin_dir(&["hostile"]);
    let host = host(dir.path());
    let hook = host
        .deliver(delivery("hostile", &[("mode", "config"), ("x", "1")]))
        .await;
    assert_eq!(hook.result, Ok(()), "{hook:?}");
    assert_eq!(hook.message, None, "hooks carry no probe message");
    assert_eq!(messages(&hook), ["config mode=config", "config x=1"]);
    let failed_hook = host.deliver(delivery("hostile", &[("mode", "nope")])).await;
    assert!(
        matches!(&failed_hook.result, Err(WasmFailure::Rejected(r)) if r.contains("`nope` is unknown")),
        "{failed_hook:?}"
    );

    let check = host
        .probe(probe("hostile", ProbeKind::Startup, &[("mode", "log-v0.2")]))
        .await;
    assert_eq!(check.result, Ok(()), "{check:?}");
    assert_eq!(check.message.as_deref(), Some("hostile: mode log-v0.2 done"));
    assert_eq!(messages(&check), ["logged through log@0.2.0"]);
}

#[tokio::test]
async fn load_reports_which_exports_each_plugin_has() {
    let dir = plugin_dir(&["noop", "healthz", "hostile"]);
    let host = host(dir.path());
    let noop = host.load("noop").await.unwrap();
    assert_eq!(noop.exports, ["hooklet:hook/handler@0.1.0"]);
    assert!(noop.handles_hooks() && !noop.handles_probes());
    let healthz = host.load("healthz").await.unwrap();
    assert_eq!(healthz.exports, ["hooklet:hook/prober@0.2.0"]);
    assert!(!healthz.handles_hooks() && healthz.handles_probes());
    let hostile = host.load("hostile").await.unwrap();
    assert_eq!(
        hostile.exports,
        ["hooklet:hook/handler@0.2.0", "hooklet:hook/prober@0.2.0"]
    );
    assert!(hostile.handles_hooks() && hostile.handles_probes());
    let worlds = [noop.world(), healthz.world(), hostile.world()];
    assert_eq!(
        worlds,
        ["hooklet:hook/hook@0.1.0", "hooklet:hook/probe@0.2.0", "hooklet:hook/plugin@0.2.0"]
    );
}

/// Rebuilt with an SDK that also knows 0.2.0, a hook plugin is still a pure 0.1.0
/// component: it runs on a hooklet that knows only 0.1.0.
#[tokio::test]
async fn hook_plugins_built_with_this_sdk_use_only_version_0_1_0() {
    use wasmtime::component::Component;

    let built = crate::testing::example_plugins_dir();
    let engine = wasmtime::Engine::default();
    for plugin in ["marker", "failing", "spin", "noop"] {
        let component = Component::from_file(&engine, built.join(format!("{plugin}.wasm"))).unwrap();
        let ty = component.component_type();
        let names: Vec<String> = ty
            .imports(&engine)
            .map(|(name, _)| name.to_owned())
            .chain(ty.exports(&engine).map(|(name, _)| name.to_owned()))
            .filter(|name| name.starts_with("hooklet:"))
            .collect();
        assert!(
            names.iter().all(|name| name.ends_with("@0.1.0")),
            "{plugin}: {names:?}"
        );
        assert!(names.contains(&"hooklet:hook/handler@0.1.0".to_owned()), "{plugin}: {names:?}");
    }
}
