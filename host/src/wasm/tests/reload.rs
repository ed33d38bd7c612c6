//! The on-disk cache of compiled plugins and hot reload of the plugin directory.

use std::io::Write as _;
use std::path::Path;
use std::time::Duration;

use tokio::sync::broadcast;

use super::{copy_plugin, delivery, host_with, plugin_dir};
use crate::testing::example_plugins_dir;
use crate::wasm::{CompiledFrom, PluginChange, PluginNotice, WasmFailure, WasmHost};

/// A host for `dir` with a disk cache in `cache`.
fn cached_host(dir: &Path, cache: &Path) -> WasmHost {
    host_with(dir, |c| c.cache_dir = Some(cache.to_path_buf()))
}

/// A host watching `dir` with a short debounce.
fn watching_host(dir: &Path) -> WasmHost {
    host_with(dir, |c| {
        c.watch = true;
        c.reload_debounce = Duration::from_millis(50);
    })
}

/// The next notice about `plugin` (waiting for it, not sleeping).
async fn next_notice(notices: &mut broadcast::Receiver<PluginNotice>, plugin: &str) -> PluginChange {
    let wait = async {
        loop {
            let notice = notices.recv().await.expect("the notice channel is open");
            if notice.plugin == plugin {
                return notice.change;
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(30), wait)
        .await
        .unwrap_or_else(|_| panic!("no notice about {plugin} within 30 s"))
}

/// The only cache entry in `cache`.
fn cache_entry(cache: &Path) -> std::path::PathBuf {
    let entries: Vec<_> = std::fs::read_dir(cache).unwrap().flatten().map(|e| e.path()).collect();
    assert_eq!(entries.len(), 1, "{entries:?}");
    entries[0].clone()
}

#[tokio::test]
async fn a_compiled_plugin_is_cached_on_disk_and_loaded_from_there_next_time() {
    let dir = plugin_dir(&["marker"]);
    let cache = tempfile::tempdir().unwrap();
    let first = cached_host(dir.path(), cache.path()).load("marker").await.unwrap();
    assert!(matches!(first.compiled, CompiledFrom::Compiler(_)), "{:?}", first.compiled);
    let entry = cache_entry(cache.path());
    assert!(entry.file_name().unwrap().to_str().unwrap().starts_with(&first.sha256));

    let second = cached_host(dir.path(), cache.path());
    let info = second.load("marker").await.unwrap();
    assert!(matches!(info.compiled, CompiledFrom::DiskCache(_)), "{:?}", info.compiled);
    let outcome = second.deliver(delivery("marker", &[])).await;
    assert!(outcome.fuel_consumed > 0, "the cached code runs: {outcome:?}");
}

#[tokio::test]
async fn a_corrupt_cache_entry_is_detected_deleted_and_rebuilt() {
    let dir = plugin_dir(&["noop"]);
    let cache = tempfile::tempdir().unwrap();
    cached_host(dir.path(), cache.path()).load("noop").await.unwrap();
    let entry = cache_entry(cache.path());
    let mut bytes = std::fs::read(&entry).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x5a;
    std::fs::write(&entry, &bytes).unwrap();

    let host = cached_host(dir.path(), cache.path());
    let info = host.load("noop").await.unwrap();
    assert!(matches!(info.compiled, CompiledFrom::Compiler(_)), "a damaged entry is never used: {:?}", info.compiled);
    assert_eq!(host.deliver(delivery("noop", &[])).await.result, Ok(()));
    let info = cached_host(dir.path(), cache.path()).load("noop").await.unwrap();
    assert!(matches!(info.compiled, CompiledFrom::DiskCache(_)), "the entry was rebuilt: {:?}", info.compiled);

    // A truncated entry too.
    let entry = cache_entry(cache.path());
    let bytes = std::fs::read(&entry).unwrap();
    std::fs::write(&entry, &bytes[..bytes.len() - 100]).unwrap();
    let info = cached_host(dir.path(), cache.path()).load("noop").await.unwrap();
    assert!(matches!(info.compiled, CompiledFrom::Compiler(_)), "{:?}", info.compiled);
}

#[tokio::test]
async fn entries_are_keyed_by_digest_and_engine() {
    let dir = plugin_dir(&["noop"]);
    let cache = tempfile::tempdir().unwrap();
    let stale = cache.path().join(format!("{}-0123456789abcdef.cwasm", "0".repeat(64)));
    std::fs::write(&stale, b"left by another wasmtime").unwrap();
    cached_host(dir.path(), cache.path()).load("noop").await.unwrap();
    assert!(!stale.exists(), "an entry of another engine is removed");

    // Another component under the same name is another digest: compiled, not looked up.
    copy_plugin(&example_plugins_dir(), "failing", dir.path(), "noop");
    let info = cached_host(dir.path(), cache.path()).load("noop").await.unwrap();
    assert!(matches!(info.compiled, CompiledFrom::Compiler(_)), "{:?}", info.compiled);
    assert_eq!(std::fs::read_dir(cache.path()).unwrap().count(), 2);
}

#[tokio::test]
async fn hot_reload_adds_replaces_and_removes_plugins_without_a_restart() {
    let dir = plugin_dir(&[]);
    let host = watching_host(dir.path());
    let mut notices = host.plugin_notices();
    let built = example_plugins_dir();

    copy_plugin(&built, "noop", dir.path(), "swap");
    let loaded = next_notice(&mut notices, "swap").await;
    assert!(matches!(loaded, PluginChange::Loaded { .. }), "{loaded:?}");
    assert_eq!(host.deliver(delivery("swap", &[])).await.result, Ok(()));

    // Replace it the way a deployment would: write beside it, rename over it.
    copy_plugin(&built, "failing", dir.path(), "swap.next");
    std::fs::rename(dir.path().join("swap.next.wasm"), dir.path().join("swap.wasm")).unwrap();
    let reloaded = next_notice(&mut notices, "swap").await;
    assert!(matches!(reloaded, PluginChange::Reloaded { .. }), "{reloaded:?}");
    let outcome = host.deliver(delivery("swap", &[("message", "v2")])).await;
    assert_eq!(outcome.result, Err(WasmFailure::Rejected("v2".into())));

    std::fs::remove_file(dir.path().join("swap.wasm")).unwrap();
    assert_eq!(next_notice(&mut notices, "swap").await, PluginChange::Removed);
    let outcome = host.deliver(delivery("swap", &[])).await;
    assert!(matches!(outcome.result, Err(WasmFailure::PluginNotFound { .. })), "{:?}", outcome.result);
}

#[tokio::test]
async fn a_broken_replacement_is_refused_and_the_previous_version_keeps_serving() {
    let dir = plugin_dir(&["noop"]);
    let host = watching_host(dir.path());
    let serving = host.load("noop").await.unwrap().sha256;
    let mut notices = host.plugin_notices();

    std::fs::write(dir.path().join("noop.next"), b"\0asm\x0d\0\x01\0\x07\x09truncated").unwrap();
    std::fs::rename(dir.path().join("noop.next"), dir.path().join("noop.wasm")).unwrap();
    match next_notice(&mut notices, "noop").await {
        PluginChange::ReloadFailed { reason, serving: Some(still) } => {
            assert_eq!(still, serving);
            assert!(reason.contains("is not a valid WebAssembly component"), "{reason}");
        }
        other => panic!("expected ReloadFailed, got {other:?}"),
    }
    assert_eq!(host.deliver(delivery("noop", &[])).await.result, Ok(()), "the previous version serves");
    let listed = host.list_plugins().await.unwrap();
    assert_eq!(listed[0].serving_other.as_deref(), Some(serving.as_str()));
    assert!(listed[0].problem.as_deref().unwrap().contains("not a valid WebAssembly component"));
}

#[tokio::test]
async fn a_file_still_being_copied_is_not_taken_for_a_broken_plugin() {
    let dir = plugin_dir(&["noop"]);
    let host = watching_host(dir.path());
    host.load("noop").await.unwrap();
    let mut notices = host.plugin_notices();

    // Copy the new version in two halves, pausing longer than the debounce in between,
    // straight into the served file (as `cp` over an existing file does).
    let next = std::fs::read(example_plugins_dir().join("failing.wasm")).unwrap();
    let mut file = std::fs::OpenOptions::new().write(true).truncate(true).open(dir.path().join("noop.wasm")).unwrap();
    file.write_all(&next[..next.len() / 2]).unwrap();
    file.flush().unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await; // a slow copy, 4 debounce periods
    file.write_all(&next[next.len() / 2..]).unwrap();
    drop(file);

    // The first notice is the finished file loading: no ReloadFailed for the half file.
    let change = next_notice(&mut notices, "noop").await;
    assert!(matches!(change, PluginChange::Reloaded { .. }), "{change:?}");
    let outcome = host.deliver(delivery("noop", &[("message", "new")])).await;
    assert_eq!(outcome.result, Err(WasmFailure::Rejected("new".into())));
}

#[tokio::test]
async fn a_delivery_in_flight_finishes_on_the_version_it_started_with() {
    let dir = plugin_dir(&[]);
    let built = example_plugins_dir();
    copy_plugin(&built, "spin", dir.path(), "slow");
    let host = watching_host(dir.path());
    host.load("slow").await.unwrap();
    let mut notices = host.plugin_notices();

    let running = tokio::spawn({
        let host = host.clone();
        async move { host.deliver(delivery("slow", &[("mode", "sleep"), ("ms", "1500")])).await }
    });
    copy_plugin(&built, "failing", dir.path(), "slow.next");
    std::fs::rename(dir.path().join("slow.next.wasm"), dir.path().join("slow.wasm")).unwrap();
    let change = next_notice(&mut notices, "slow").await;
    assert!(matches!(change, PluginChange::Reloaded { .. }), "{change:?}");
    assert!(!running.is_finished(), "the old version is still running");
    let outcome = host.deliver(delivery("slow", &[("message", "v2")])).await;
    assert_eq!(outcome.result, Err(WasmFailure::Rejected("v2".into())));

    let old = running.await.unwrap();
    assert_eq!(old.result, Ok(()), "{:?}", old.logs);
    assert!(old.logs.iter().any(|l| l.message == "woke up"), "{:?}", old.logs);
}

#[tokio::test]
async fn deliveries_beyond_the_pool_wait_for_a_slot_instead_of_failing() {
    let dir = plugin_dir(&["spin"]);
    let host = host_with(dir.path(), |c| c.pool_slots = 2);
    host.load("spin").await.unwrap();
    let deliveries: Vec<_> = (0..6)
        .map(|_| {
            let host = host.clone();
            tokio::spawn(async move { host.deliver(delivery("spin", &[("mode", "sleep"), ("ms", "200")])).await })
        })
        .collect();
    for d in deliveries {
        assert_eq!(d.await.unwrap().result, Ok(()));
    }
    let stats = host.pool_stats();
    assert_eq!((stats.slots, stats.peak_in_use, stats.in_use), (2, 2, 0));
    assert!(stats.waited >= 4, "{stats:?}");
}

#[tokio::test]
async fn a_manifest_cannot_raise_the_pool_slot_size() {
    let dir = plugin_dir(&["noop"]);
    super::write_manifest(dir.path(), "noop", "[limits]\ninstances = 5000\n");
    let outcome = super::host(dir.path()).deliver(delivery("noop", &[])).await;
    match outcome.result {
        Err(WasmFailure::InvalidPlugin { reason, .. }) => {
            assert!(reason.contains("`limits.instances` = 5000") && reason.contains("noop.toml"), "{reason}");
            assert!(reason.contains("above this node's 100"), "{reason}");
        }
        other => panic!("expected InvalidPlugin, got {other:?}"),
    }
}
