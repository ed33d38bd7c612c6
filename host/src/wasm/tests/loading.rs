//! Finding and checking plugins: missing and invalid files, manifests, recompilation.

use std::path::Path;

use super::{copy_plugin, delivery, host, plugin_dir, write_manifest};
use crate::testing::example_plugins_dir;
use crate::wasm::{DirAccess, WasmFailure};

/// The smallest valid component: no imports, no exports.
const EMPTY_COMPONENT: &[u8] = b"\0asm\x0d\0\x01\0";

/// A component that imports `foo:bar/baz@1.0.0` (an instance with one function `f`) and
/// exports nothing.
const FOREIGN_IMPORT_COMPONENT: &[u8] = &[
    0x00, 0x61, 0x73, 0x6d, 0x0d, 0x00, 0x01, 0x00, // header: component, layer 1
    0x07, 0x0e, 0x01, // type section (14 bytes), one type:
    0x42, 0x02, // an instance type with two declarations:
    0x01, 0x40, 0x00, 0x01, 0x00, // type 0 = func() with no params and no results
    0x04, 0x00, 0x01, b'f', 0x01, 0x00, // export "f" of func type 0
    0x0a, 0x16, 0x01, 0x00, 0x11, // import section (22 bytes), one import, name of 17 bytes
    b'f', b'o', b'o', b':', b'b', b'a', b'r', b'/', b'b', b'a', b'z', b'@', b'1', b'.', b'0', b'.',
    b'0', 0x05, 0x00, // ... an instance of type 0
];

/// Delivers to `plugin` in `dir` and returns the `InvalidPlugin` reason.
async fn invalid_reason(dir: &Path, plugin: &str) -> String {
    let outcome = host(dir).deliver(delivery(plugin, &[])).await;
    match outcome.result {
        Err(WasmFailure::InvalidPlugin {
            plugin: named,
            reason,
        }) => {
            assert_eq!(named, plugin);
            reason
        }
        other => panic!("expected InvalidPlugin, got {other:?}"),
    }
}

#[tokio::test]
async fn a_missing_plugin_is_reported_with_where_it_was_looked_for() {
    let dir = plugin_dir(&[]);
    let outcome = host(dir.path()).deliver(delivery("nothere", &[])).await;
    let path = dir.path().join("nothere.wasm");
    assert_eq!(
        outcome.result,
        Err(WasmFailure::PluginNotFound {
            plugin: "nothere".into(),
            path: path.clone()
        })
    );
    assert_eq!(
        outcome.result.unwrap_err().to_string(),
        format!(
            "plugin `nothere` not found: no file {}; put the component there or fix `wasm.plugin`",
            path.display()
        )
    );
}

#[tokio::test]
async fn files_that_are_not_components_are_refused_saying_what_they_are() {
    let dir = plugin_dir(&[]);
    let files: [(&str, &[u8], &str); 4] = [
        ("empty", b"", "is empty (0 bytes)"),
        ("text", b"#!/bin/sh\necho hi\n", "is not a WebAssembly file"),
        (
            "module",
            b"\0asm\x01\0\0\0",
            "is a core WebAssembly module, not a component",
        ),
        (
            "truncated",
            b"\0asm\x0d\0\x01\0\x07\x09",
            "is not a valid WebAssembly component",
        ),
    ];
    for (name, bytes, expected) in files {
        std::fs::write(dir.path().join(format!("{name}.wasm")), bytes).unwrap();
        let reason = invalid_reason(dir.path(), name).await;
        assert!(reason.contains(expected), "{name}: {reason}");
        assert!(
            reason.contains(&format!("{name}.wasm")),
            "{name}: names the file: {reason}"
        );
    }
}

#[tokio::test]
async fn components_for_another_world_are_refused_saying_why() {
    let dir = plugin_dir(&[]);
    std::fs::write(dir.path().join("bare.wasm"), EMPTY_COMPONENT).unwrap();
    let reason = invalid_reason(dir.path(), "bare").await;
    assert!(
        reason.contains("does not export `hooklet:hook/handler@0.1.0`"),
        "{reason}"
    );

    std::fs::write(dir.path().join("foreign.wasm"), FOREIGN_IMPORT_COMPONENT).unwrap();
    let reason = invalid_reason(dir.path(), "foreign").await;
    assert!(
        reason.contains("imports something hooklet does not provide"),
        "{reason}"
    );
    assert!(reason.contains("foo:bar/baz@1.0.0"), "{reason}");
}

#[tokio::test]
async fn plugin_names_cannot_leave_the_plugin_directory() {
    let dir = plugin_dir(&[]);
    let reason = invalid_reason(dir.path(), "../noop").await;
    assert!(reason.contains("is not a valid plugin name"), "{reason}");
}

#[tokio::test]
async fn a_manifest_with_an_unknown_key_is_refused_naming_key_and_file() {
    let dir = plugin_dir(&["noop"]);
    write_manifest(
        dir.path(),
        "noop",
        "description = \"x\"\n[limits]\nfuel = 10\nmemroy = 5\n",
    );
    let reason = invalid_reason(dir.path(), "noop").await;
    assert!(reason.contains("`memroy`"), "{reason}");
    assert!(
        reason.contains(&dir.path().join("noop.toml").display().to_string()),
        "{reason}"
    );
    assert!(reason.contains("line 4"), "{reason}");
}

#[tokio::test]
async fn a_manifest_granting_a_missing_directory_is_refused() {
    let dir = plugin_dir(&["marker"]);
    write_manifest(
        dir.path(),
        "marker",
        "[[capabilities.dirs]]\nhost = \"gone\"\nguest = \"/out\"\naccess = \"read-write\"\n",
    );
    let reason = invalid_reason(dir.path(), "marker").await;
    assert!(reason.contains("marker.toml"), "{reason}");
    assert!(reason.contains("`capabilities.dirs[0].host`"), "{reason}");
    assert!(reason.contains("create it or fix the path"), "{reason}");
}

#[tokio::test]
async fn load_reports_the_manifest_with_resolved_directories() {
    let dir = plugin_dir(&["marker"]);
    std::fs::create_dir(dir.path().join("out")).unwrap();
    write_manifest(
        dir.path(),
        "marker",
        "description = \"marks\"\nversion = \"2.0.0\"\n[[capabilities.dirs]]\nhost = \"out\"\nguest = \"/out\"\naccess = \"read-write\"\n",
    );
    let info = host(dir.path()).load("marker").await.unwrap();
    assert_eq!(info.path, dir.path().join("marker.wasm"));
    let manifest = info.manifest.unwrap();
    assert_eq!(manifest.description.as_deref(), Some("marks"));
    assert_eq!(manifest.capabilities.dirs[0].host, dir.path().join("out"));
    assert_eq!(manifest.capabilities.dirs[0].access, DirAccess::ReadWrite);
}

#[tokio::test]
async fn a_replaced_component_or_manifest_takes_effect_on_the_next_delivery() {
    let built = example_plugins_dir();
    let dir = plugin_dir(&[]);
    copy_plugin(&built, "noop", dir.path(), "swap");
    let host = host(dir.path());
    assert_eq!(host.deliver(delivery("swap", &[])).await.result, Ok(()));

    // Replace the file the way a deployment would: write beside it, then rename over it.
    copy_plugin(&built, "failing", dir.path(), "swap.next");
    std::fs::rename(
        dir.path().join("swap.next.wasm"),
        dir.path().join("swap.wasm"),
    )
    .unwrap();
    let outcome = host
        .deliver(delivery("swap", &[("message", "new version")]))
        .await;
    assert_eq!(
        outcome.result,
        Err(WasmFailure::Rejected("new version".into()))
    );

    write_manifest(dir.path(), "swap", "[limits]\nfuel = 7\n");
    let outcome = host.deliver(delivery("swap", &[])).await;
    assert_eq!(outcome.result, Err(WasmFailure::OutOfFuel { budget: 7 }));
}
