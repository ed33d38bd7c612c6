//! The sandbox's capabilities and limits against the `hostile` plugin: environment, config
//! defaults, HTTP allow-list, the sha256 pin, per-plugin memory and instance caps.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use super::{delivery, host, messages, plugin_dir, write_manifest};
use crate::wasm::manifest::sha256_hex;
use crate::wasm::state::HostState;
use crate::wasm::WasmFailure;

/// A loopback HTTP server answering every request `200 ok`; returns its port and a count
/// of the requests it answered.
async fn ok_server() -> (u16, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let served = Arc::new(AtomicUsize::new(0));
    let count = served.clone();
    tokio::spawn(async move {
        while let Ok((mut tcp, _)) = listener.accept().await {
            let count = count.clone();
            tokio::spawn(async move {
                let mut head = [0u8; 4096];
                let _ = tcp.read(&mut head).await;
                let reply = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok";
                if tcp.write_all(reply).await.is_ok() {
                    count.fetch_add(1, Ordering::SeqCst);
                }
            });
        }
    });
    (port, served)
}

#[tokio::test]
async fn the_plugin_sees_exactly_the_granted_environment() {
    let dir = plugin_dir(&["hostile"]);
    write_manifest(
        dir.path(),
        "hostile",
        "[capabilities.env]\nREGION = \"eu\"\nEMPTY = \"\"\n",
    );
    let outcome = host(dir.path())
        .deliver(delivery("hostile", &[("mode", "env")]))
        .await;
    assert_eq!(outcome.result, Ok(()), "{outcome:?}");
    assert_eq!(messages(&outcome), ["env EMPTY=", "env REGION=eu"]);
}

#[tokio::test]
async fn manifest_config_defaults_yield_to_the_handler() {
    let dir = plugin_dir(&["hostile"]);
    write_manifest(
        dir.path(),
        "hostile",
        "[config]\nmode = \"config\"\ncolour = \"blue\"\nsize = \"default\"\n",
    );
    let outcome = host(dir.path())
        .deliver(delivery("hostile", &[("size", "pod")]))
        .await;
    assert_eq!(outcome.result, Ok(()), "{outcome:?}");
    let mut seen = messages(&outcome);
    seen.sort();
    assert_eq!(
        seen,
        [
            "config colour=blue",
            "config mode=config",
            "config size=pod"
        ]
    );
}

#[tokio::test]
async fn http_reaches_allowed_hosts_only_and_denials_are_reported() {
    let (port, served) = ok_server().await;
    let (other, _) = ok_server().await;
    let dir = plugin_dir(&["hostile"]);
    let host = host(dir.path());
    let get = |port: u16| {
        delivery(
            "hostile",
            &[
                ("mode", "http-get"),
                ("url", &format!("http://127.0.0.1:{port}/x")),
            ],
        )
    };

    // Importing wasi:http without a grant loads; its requests are denied.
    let outcome = host.deliver(get(port)).await;
    let Err(WasmFailure::Rejected(reason)) = &outcome.result else {
        panic!("{outcome:?}")
    };
    assert!(reason.contains("HttpRequestDenied"), "{reason}");
    assert_eq!(outcome.denials.len(), 1, "{outcome:?}");
    assert!(
        outcome.denials[0].contains("HTTP is not granted to this plugin"),
        "{:?}",
        outcome.denials
    );
    assert!(
        outcome.denials[0].contains(&format!("allow = [\"127.0.0.1:{port}\"]")),
        "{:?}",
        outcome.denials
    );

    write_manifest(
        dir.path(),
        "hostile",
        &format!("[capabilities.http]\nallow = [\"127.0.0.1:{port}\"]\n"),
    );
    let outcome = host.deliver(get(port)).await;
    assert_eq!(outcome.result, Ok(()), "{outcome:?}");
    assert!(outcome.denials.is_empty());
    assert_eq!(
        messages(&outcome),
        [format!("GET http://127.0.0.1:{port}/x: 200, 2 body bytes")]
    );
    assert_eq!(served.load(Ordering::SeqCst), 1);

    let outcome = host.deliver(get(other)).await;
    assert!(outcome.result.is_err(), "{outcome:?}");
    let denial = &outcome.denials[0];
    assert!(denial.starts_with(&format!("denied HTTP GET http://127.0.0.1:{other}/x: `127.0.0.1:{other}` is not on the plugin's HTTP allow-list")), "{denial}");
    assert_eq!(
        served.load(Ordering::SeqCst),
        1,
        "nothing reached the other server's handler"
    );
}

#[tokio::test]
async fn a_sha256_pin_refuses_any_other_build_naming_both_digests() {
    let dir = plugin_dir(&["hostile"]);
    let actual = sha256_hex(&std::fs::read(dir.path().join("hostile.wasm")).unwrap());
    write_manifest(
        dir.path(),
        "hostile",
        &format!("sha256 = \"{}\"\n", actual.to_uppercase()),
    );
    let host = host(dir.path());
    assert_eq!(host.load("hostile").await.unwrap().sha256, actual);

    let pinned = "0".repeat(64);
    write_manifest(dir.path(), "hostile", &format!("sha256 = \"{pinned}\"\n"));
    let outcome = host
        .deliver(delivery("hostile", &[("mode", "config")]))
        .await;
    let Err(WasmFailure::InvalidPlugin { reason, .. }) = &outcome.result else {
        panic!("{outcome:?}")
    };
    assert!(
        reason.contains(&actual) && reason.contains(&pinned),
        "{reason}"
    );
    assert!(reason.contains("hostile.toml"), "{reason}");
}

#[tokio::test]
async fn the_manifest_memory_cap_stops_a_memory_bomb_and_the_peak_is_recorded() {
    let dir = plugin_dir(&["hostile"]);
    write_manifest(dir.path(), "hostile", "[limits]\nmemory = \"8 MiB\"\n");
    let outcome = host(dir.path())
        .deliver(delivery("hostile", &[("mode", "memory-bomb")]))
        .await;
    let Err(failure @ WasmFailure::MemoryLimit { cap, set_by }) = &outcome.result else {
        panic!("{outcome:?}")
    };
    assert_eq!(*cap, 8 << 20);
    assert!(
        set_by.contains("`limits.memory` in hostile.toml"),
        "{set_by}"
    );
    assert!(
        failure
            .to_string()
            .contains("memory cap of 8388608 bytes (8.0 MiB)"),
        "{failure}"
    );
    assert_eq!(outcome.memory_cap_bytes, 8 << 20);
    assert!(
        outcome.peak_memory_bytes > 1 << 20 && outcome.peak_memory_bytes <= 8 << 20,
        "{outcome:?}"
    );
    assert!(outcome.fuel_consumed > 0);
}

#[tokio::test]
async fn instance_caps_and_recursion_fail_saying_which_limit() {
    let dir = plugin_dir(&["hostile"]);
    let host = host(dir.path());
    let outcome = host
        .deliver(delivery("hostile", &[("mode", "recurse")]))
        .await;
    let Err(WasmFailure::Trap(trap)) = &outcome.result else {
        panic!("{outcome:?}")
    };
    assert!(trap.contains("recursed too deep"), "{trap}");

    write_manifest(dir.path(), "hostile", "[limits]\ninstances = 1\n");
    let outcome = host
        .deliver(delivery("hostile", &[("mode", "config")]))
        .await;
    let Err(failure @ WasmFailure::ResourceLimit { .. }) = &outcome.result else {
        panic!("{outcome:?}")
    };
    let message = failure.to_string();
    assert!(
        message.contains("cap of 1 instances") && message.contains("`limits.instances`"),
        "{message}"
    );
}

#[tokio::test]
async fn a_plugin_importing_wasi_http_needs_a_linker_that_provides_it() {
    use wasmtime::component::{Component, Linker};

    let dir = plugin_dir(&["hostile"]);
    let engine = wasmtime::Engine::default();
    let component = Component::from_file(&engine, dir.path().join("hostile.wasm")).unwrap();
    let add_hook = |linker: &mut Linker<HostState>| crate::wasm::bindings::add_to_linker(linker).unwrap();
    let mut bare = Linker::<HostState>::new(&engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut bare).unwrap();
    add_hook(&mut bare);
    let err = bare
        .instantiate_pre(&component)
        .err()
        .expect("wasi:http is missing");
    assert!(format!("{err:#}").contains("wasi:http/"), "{err:#}");

    let mut full = Linker::<HostState>::new(&engine);
    crate::wasm::capabilities::add_to_linker(&mut full).unwrap();
    add_hook(&mut full);
    full.instantiate_pre(&component)
        .expect("hooklet's linker provides wasi:http");
}
