//! The WIT boundary where a plugin's return values come back into hooklet: a real
//! component (`plugins/hostile`, mode `answer`, precompiled) runs a script from the
//! fuzzer's bytes and hands back what the script says through the canonical ABI: `ok` or
//! `err` strings of any size (repeated to 4 MiB), invalid UTF-8 among them, log lines
//! through the `log` import (any level, any bytes), stdout and stderr writes. The first
//! byte picks a hook delivery (`handle`) or a probe (`check`). hooklet's outcome keeps
//! every cap (reasons and messages 16 KiB, log lines 256 of 4096 bytes, 64 KiB of
//! output), holds only valid UTF-8 text, and a bad return is a trap of the plugin, never
//! a panic or a failure of hooklet's own.
//!
//! `HOOKLET_FUZZ_PLUGIN_DIR` names a directory holding `hostile.cwasm`
//! (`hooklet plugin compile plugins/hostile.wasm`); `scripts/fuzz` makes it.
#![no_main]

use std::sync::OnceLock;

use hooklet::wasm::{
    PluginEvent, PluginPhase, ProbeEvent, ProbeKind, WasmConfig, WasmDelivery, WasmFailure, WasmHost, WasmOutcome,
    WasmProbe,
};
use libfuzzer_sys::fuzz_target;

struct Host {
    runtime: tokio::runtime::Runtime,
    wasm: WasmHost,
    config: WasmConfig,
}

fn host() -> &'static Host {
    static HOST: OnceLock<Host> = OnceLock::new();
    HOST.get_or_init(|| {
        let dir = std::env::var_os("HOOKLET_FUZZ_PLUGIN_DIR").expect(
            "set HOOKLET_FUZZ_PLUGIN_DIR to a directory holding hostile.cwasm (scripts/fuzz makes it)",
        );
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a tokio runtime");
        let config = WasmConfig { plugin_dir: dir.into(), ..WasmConfig::default() };
        let wasm = runtime.block_on(async { WasmHost::new(config.clone()) }).expect("the wasm host");
        Host { runtime, wasm, config }
    })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn config(script: &[u8]) -> Vec<(String, String)> {
    vec![("mode".into(), "answer".into()), ("script".into(), hex(script))]
}

fn hook(script: &[u8]) -> WasmDelivery {
    let event = PluginEvent {
        phase: PluginPhase::PostStart,
        pod_name: "web".into(),
        pod_namespace: "default".into(),
        pod_uid: "uid".into(),
        container_name: "app".into(),
        container_id: "c-1".into(),
        image: "busybox".into(),
        labels: vec![],
        annotations: vec![],
        pod_ip: None,
        delivery_id: "d-1".into(),
        attempt: 1,
        config: config(script),
    };
    WasmDelivery { plugin: "hostile".into(), event, fuel: None, deadline: None }
}

fn probe(script: &[u8]) -> WasmProbe {
    // The same pod and container as the hook's.
    let e = hook(script).event;
    let event = ProbeEvent {
        kind: ProbeKind::Readiness,
        pod_name: e.pod_name,
        pod_namespace: e.pod_namespace,
        pod_uid: e.pod_uid,
        container_name: e.container_name,
        container_id: e.container_id,
        image: e.image,
        labels: e.labels,
        annotations: e.annotations,
        pod_ip: e.pod_ip,
        config: e.config,
    };
    WasmProbe { plugin: "hostile".into(), event, fuel: None, deadline: None }
}

/// A script that only appends valid UTF-8 and returns it: what hooklet must report.
fn plain_answer(script: &[u8]) -> Option<(bool, &str)> {
    let [3, len, rest @ ..] = script else { return None };
    let (text, end) = rest.split_at_checked(usize::from(*len))?;
    let [op] = end else { return None };
    Some((*op == 5, std::str::from_utf8(text).ok()?))
}

fn check(outcome: &WasmOutcome, config: &WasmConfig, script: &[u8], probe: bool) {
    const MAX_REASON: usize = 16 * 1024;
    match &outcome.result {
        Ok(()) => assert!(outcome.message.as_ref().is_none_or(|m| m.len() <= MAX_REASON)),
        Err(WasmFailure::Rejected(reason) | WasmFailure::ProbeFailed(reason)) => assert!(reason.len() <= MAX_REASON),
        Err(WasmFailure::Trap(_) | WasmFailure::OutOfFuel { .. } | WasmFailure::MemoryLimit { .. }) => {}
        Err(other) => panic!("a plugin's answer made hooklet fail on its own side: {other}"),
    }
    assert!(outcome.logs.len() <= config.log_line_limit);
    assert!(outcome.logs.iter().all(|l| l.message.len() <= config.log_line_bytes));
    assert!(outcome.stdout.len() <= config.output_limit_bytes && outcome.stderr.len() <= config.output_limit_bytes);
    if let Some((ok, text)) = plain_answer(script) {
        let expected = match (ok, probe) {
            (true, true) => (Ok(()), Some(text.to_string())),
            (true, false) => (Ok(()), None),
            (false, true) => (Err(WasmFailure::ProbeFailed(text.to_string())), None),
            (false, false) => (Err(WasmFailure::Rejected(text.to_string())), None),
        };
        assert_eq!((outcome.result.clone(), outcome.message.clone()), expected, "the plugin's answer came back changed");
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&which, script)) = data.split_first() else { return };
    let host = host();
    let is_probe = which & 1 == 1;
    let outcome = if is_probe {
        host.runtime.block_on(host.wasm.probe(probe(script)))
    } else {
        host.runtime.block_on(host.wasm.deliver(hook(script)))
    };
    check(&outcome, &host.config, script, is_probe);
});
