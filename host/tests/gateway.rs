//! `hooklet gateway` end to end: the real binary, spoken to with requests shaped exactly
//! as the kubelet's `httpGet` handler writes them (Go's `Request.write`: `GET`, `Host`,
//! `User-Agent: kube-lifecycle/1.34`, `Accept: */*`, `Accept-Encoding: gzip`, then the
//! manifest's `httpHeaders`), answered with the plugin's outcome.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const HOOKLET: &str = env!("CARGO_BIN_EXE_hooklet");

/// A running `hooklet gateway`.
struct Gateway {
    child: Child,
    addr: String,
}

impl Gateway {
    /// Starts the gateway on `plugins` on a free port, for pod `web` in `shop`.
    fn start(plugins: &Path, extra: &[&str]) -> Gateway {
        let mut child = Command::new(HOOKLET)
            .args(["gateway", "--listen", "127.0.0.1:0", "--plugin-cache"])
            .arg(plugins.with_file_name("plugin-cache"))
            .arg("--plugins")
            .arg(plugins)
            .args(extra)
            .envs([
                ("HOOKLET_POD_NAME", "web"),
                ("HOOKLET_POD_NAMESPACE", "shop"),
                ("HOOKLET_POD_UID", "uid-1"),
                ("HOOKLET_POD_IP", "10.1.2.3"),
                ("HOOKLET_LOG", "warn"),
            ])
            .stdout(Stdio::piped())
            .spawn()
            .expect("hooklet gateway starts");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let line = lines.next().expect("the gateway prints where it listens").unwrap();
        let addr = line
            .strip_prefix("hooklet gateway serving on http://")
            .and_then(|rest| rest.split_whitespace().next())
            .unwrap_or_else(|| panic!("{line}"))
            .to_string();
        std::thread::spawn(move || for _ in lines.by_ref() {});
        Gateway { child, addr }
    }

    /// Sends `GET target` as the kubelet writes it, with `headers` from the manifest's
    /// `httpHeaders`; the connection, to read the answer from.
    fn send(&self, target: &str, headers: &[(&str, &str)]) -> TcpStream {
        let mut request = format!(
            "GET {target} HTTP/1.1\r\nHost: {}\r\nUser-Agent: kube-lifecycle/1.34\r\nAccept: */*\r\n",
            self.addr
        );
        for (name, value) in headers {
            request.push_str(&format!("{name}: {value}\r\n"));
        }
        request.push_str("Accept-Encoding: gzip\r\n\r\n");
        let mut stream = TcpStream::connect(&self.addr).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(120))).unwrap();
        stream.write_all(request.as_bytes()).unwrap();
        stream
    }

    /// The status code and body of the answer to [`Gateway::send`].
    fn kubelet_get(&self, target: &str, headers: &[(&str, &str)]) -> (u16, String) {
        read_response(&mut self.send(target, headers))
    }

    /// Like [`Gateway::kubelet_get`], for an answer that may be no answer: `None` when the
    /// gateway closed the connection without one (what a Go client reports as `EOF`).
    fn kubelet_get_or_eof(&self, target: &str) -> Option<(u16, String)> {
        let mut stream = self.send(target, &[]);
        let mut first = [0u8; 1];
        match stream.peek(&mut first) {
            Ok(0) | Err(_) => None,
            Ok(_) => Some(read_response(&mut stream)),
        }
    }

    fn metrics(&self) -> String {
        let (status, body) = self.kubelet_get("/metrics", &[]);
        assert_eq!(status, 200, "{body}");
        body
    }

    /// Asks for /metrics until `ready` holds (each answer is an event, not a sleep).
    fn metrics_until(&self, what: &str, ready: impl Fn(&str) -> bool) -> String {
        for _ in 0..2000 {
            let body = self.metrics();
            if ready(&body) {
                return body;
            }
            std::thread::yield_now();
        }
        panic!("the metrics never showed {what}: {}", self.metrics());
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Reads one HTTP/1.1 response with a Content-Length body.
fn read_response(stream: &mut TcpStream) -> (u16, String) {
    let mut reader = BufReader::new(stream);
    let mut status_line = String::new();
    reader.read_line(&mut status_line).unwrap();
    let status = status_line.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or_else(|| panic!("{status_line:?}"));
    let mut length = 0;
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        if line == "\r\n" || line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            if name.eq_ignore_ascii_case("content-length") {
                length = value.trim().parse().unwrap();
            }
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).unwrap();
    (status, String::from_utf8(body).unwrap())
}

/// A plugin directory with the example plugins; `marker` may write into `markers/`.
fn plugins(dir: &Path) -> std::path::PathBuf {
    let built = hooklet::testing::example_plugins_dir();
    let plugins = dir.join("plugins");
    std::fs::create_dir_all(plugins.join("markers")).unwrap();
    for name in ["noop", "marker", "failing", "spin", "hostile"] {
        std::fs::copy(built.join(format!("{name}.wasm")), plugins.join(format!("{name}.wasm"))).unwrap();
    }
    std::fs::copy(built.join("hostile.wasm"), plugins.join("bomb.wasm")).unwrap();
    std::fs::write(plugins.join("bomb.toml"), "[limits]\nmemory = \"16 MiB\"\n").unwrap();
    std::fs::write(
        plugins.join("marker.toml"),
        "[[capabilities.dirs]]\nhost = \"markers\"\nguest = \"/out\"\naccess = \"read-write\"\n",
    )
    .unwrap();
    plugins
}

#[test]
fn hooks_succeed_with_the_pod_identity_and_the_request_config() {
    let dir = tempfile::tempdir().unwrap();
    let plugins = plugins(dir.path());
    let gateway = Gateway::start(&plugins, &[]);

    let (status, body) = gateway.kubelet_get(
        "/hooks/marker?phase=postStart&container=app&message=hello%20there",
        &[("X-Hooklet-Delivery-Id", "d-7"), ("X-Hooklet-Attempt", "2")],
    );
    assert_eq!(status, 200, "{body}");
    assert!(body.starts_with("PostStart hook delivered to plugin marker: succeeded in "), "{body}");
    assert!(body.contains("(delivery d-7, attempt 2, fuel "), "{body}");
    assert!(body.contains("[info] wrote /out/web_app.post-start"), "the plugin's log is the body: {body}");
    let marker = std::fs::read_to_string(plugins.join("markers/web_app.post-start")).unwrap();
    for line in ["phase=post-start", "namespace=shop", "pod=web", "pod-uid=uid-1", "container=app", "delivery-id=d-7", "attempt=2", "message=hello there"] {
        assert!(marker.lines().any(|l| l == line), "{line} in {marker}");
    }

    // Without the delivery headers (the kubelet sends none), a fresh delivery id.
    let (status, body) = gateway.kubelet_get("/hooks/noop?phase=preStop", &[]);
    assert_eq!(status, 200, "{body}");
    assert!(body.starts_with("PreStop hook delivered to plugin noop: succeeded in "), "{body}");

    let metrics = gateway.metrics();
    for line in [
        "hooklet_hook_deliveries_total{kind=\"wasm\",plugin=\"marker\",outcome=\"Succeeded\"} 1",
        "hooklet_hook_deliveries_total{kind=\"wasm\",plugin=\"noop\",outcome=\"Succeeded\"} 1",
        "hooklet_hook_redeliveries_total 1",
        "hooklet_gateway_requests_total{code=\"200\"} 2",
        "hooklet_hook_duration_seconds_count{kind=\"wasm\"} 2",
    ] {
        assert!(metrics.lines().any(|l| l == line), "{line} in\n{metrics}");
    }
    assert!(metrics.contains("hooklet_wasm_fuel_consumed_total{plugin=\"marker\"} "), "{metrics}");
    assert_eq!(gateway.kubelet_get("/healthz", &[]), (200, "ok\n".to_string()));
}

#[test]
fn a_failing_plugin_answers_500_with_its_reason_and_bad_requests_say_why() {
    let dir = tempfile::tempdir().unwrap();
    let gateway = Gateway::start(&plugins(dir.path()), &[]);

    let (status, body) = gateway.kubelet_get("/hooks/failing?phase=postStart&message=the+database+is+not+ready", &[]);
    assert_eq!(status, 500, "{body}");
    assert!(
        body.starts_with(
            "WASM lifecycle hook (failing) for Container \"app\" in Pod \"web_shop(uid-1)\" failed - error: \
             the plugin failed the hook: the database is not ready"
        ),
        "{body}"
    );
    assert!(body.contains(", message: \"[error] "), "the plugin's output follows: {body}");

    let (status, body) = gateway.kubelet_get("/hooks/nosuch?phase=postStart", &[]);
    assert_eq!(status, 404, "{body}");
    assert!(body.starts_with("no plugin nosuch: plugin `nosuch` not found: no file "), "{body}");
    assert!(body.contains("nosuch.wasm"), "{body}");

    let (status, body) = gateway.kubelet_get("/hooks/noop", &[]);
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("missing query parameter phase: end the hook's path with ?phase=postStart or ?phase=preStop"), "{body}");
    let (status, body) = gateway.kubelet_get("/hooks/noop?phase=preStop&deadline=soon", &[]);
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("deadline=\"soon\" is not a duration"), "{body}");
    let (status, body) = gateway.kubelet_get("/elsewhere", &[]);
    assert_eq!(status, 404, "{body}");
    assert!(body.contains("the gateway serves /hooks/PLUGIN, /metrics and /healthz"), "{body}");

    let metrics = gateway.metrics();
    assert!(metrics.contains("hooklet_hook_deliveries_total{kind=\"wasm\",plugin=\"failing\",outcome=\"Failed\"} 1"), "{metrics}");
    for code in ["500\"} 1", "404\"} 1", "400\"} 2"] {
        assert!(metrics.contains(&format!("hooklet_gateway_requests_total{{code=\"{code}")), "{code} in\n{metrics}");
    }
}

#[test]
fn with_on_failure_close_a_failed_hook_is_a_transport_error_for_a_stock_kubelet() {
    let dir = tempfile::tempdir().unwrap();
    let gateway = Gateway::start(&plugins(dir.path()), &["--on-failure", "close"]);
    assert_eq!(gateway.kubelet_get_or_eof("/hooks/failing?phase=postStart"), None, "a failing plugin");
    assert_eq!(gateway.kubelet_get_or_eof("/hooks/nosuch?phase=preStop"), None, "an unknown plugin");
    let (status, body) = gateway.kubelet_get_or_eof("/hooks/noop?phase=postStart").expect("success is answered");
    assert_eq!(status, 200, "{body}");
    let metrics = gateway.metrics();
    for line in ["hooklet_gateway_requests_total{code=\"500\"} 1", "hooklet_gateway_requests_total{code=\"404\"} 1"] {
        assert!(metrics.lines().any(|l| l == line), "{line} in\n{metrics}");
    }
}

#[test]
fn deadlines_stop_the_plugin_prestop_from_the_flag_or_the_request() {
    let dir = tempfile::tempdir().unwrap();
    let gateway = Gateway::start(&plugins(dir.path()), &["--prestop-deadline", "300ms", "--wasm-fuel", "100000000000000"]);

    // A PreStop that burns CPU for ever: the gateway's --prestop-deadline stops it.
    let (status, body) = gateway.kubelet_get("/hooks/spin?phase=preStop&mode=loop", &[]);
    assert_eq!(status, 504, "{body}");
    assert!(body.contains("deadline"), "{body}");
    assert!(body.contains("?deadline=") && body.contains("--prestop-deadline"), "the body says how to change it: {body}");
    // A PostStart has no deadline unless the request gives one; this one blocks in a host call.
    let (status, body) = gateway.kubelet_get("/hooks/spin?phase=postStart&mode=sleep&ms=60000&deadline=200ms", &[]);
    assert_eq!(status, 504, "{body}");
    assert!(body.contains("deadline"), "{body}");
    // The request's deadline wins over the flag: a 50 ms sleep fits in 5 s.
    let (status, body) = gateway.kubelet_get("/hooks/spin?phase=preStop&mode=sleep&ms=50&deadline=5s", &[]);
    assert_eq!(status, 200, "{body}");

    let metrics = gateway.metrics_until("no hook in flight", |m| m.contains("hooklet_gateway_requests_in_flight 0"));
    assert!(metrics.contains("hooklet_gateway_requests_total{code=\"504\"} 2"), "{metrics}");
}

#[test]
fn hostile_plugins_fail_clearly_and_the_gateway_keeps_serving() {
    let dir = tempfile::tempdir().unwrap();
    let gateway = Gateway::start(&plugins(dir.path()), &[]);

    let cases = [
        ("hostile", "mode=recurse", "recursed too deep"),
        ("bomb", "mode=memory-bomb", "memory cap of 16777216 bytes (16.0 MiB)"),
        ("hostile", "mode=trap", "the plugin crashed (wasm trap: wasm `unreachable` instruction executed)"),
        ("hostile", "mode=panic", "hostile: panicking on purpose"),
        ("hostile", "mode=read-file&path=/etc/passwd", "hostile: cannot read /etc/passwd"),
        ("hostile", "mode=loop&", "fuel ran out after"),
    ];
    for (plugin, query, expected) in cases {
        let (status, body) = gateway.kubelet_get(&format!("/hooks/{plugin}?phase=postStart&{query}"), &[]);
        assert_eq!(status, 500, "{query}: {body}");
        assert!(body.starts_with(&format!("WASM lifecycle hook ({plugin}) for Container \"app\"")), "{query}: {body}");
        assert!(body.contains(expected), "{query}: {expected} in {body}");
        assert!(!body.contains("root:"), "nothing of /etc/passwd leaks: {body}");
        assert_eq!(gateway.kubelet_get("/hooks/noop?phase=postStart", &[]).0, 200, "after {query}");
    }
    // A flood of output is bounded and is no failure.
    let (status, body) = gateway.kubelet_get("/hooks/hostile?phase=postStart&mode=flood&lines=20000&bytes=1048576", &[]);
    assert_eq!(status, 200, "{}", &body[..body.len().min(300)]);
    assert!(body.contains("[output past the caps dropped: 19744 log lines"), "{}", &body[..body.len().min(300)]);
    assert!(body.len() < 32 * 1024, "{} bytes", body.len());
}

#[test]
fn a_flood_is_bounded_by_the_pool_and_the_line_and_never_blocks_the_gateway() {
    let dir = tempfile::tempdir().unwrap();
    let gateway = std::sync::Arc::new(Gateway::start(&plugins(dir.path()), &["--wasm-pool-slots", "2", "--max-queued", "2"]));

    // Four hooks that block in a host call fill both slots and the line.
    let held: Vec<_> = (0..4)
        .map(|_| {
            let gateway = gateway.clone();
            std::thread::spawn(move || gateway.kubelet_get("/hooks/spin?phase=postStart&mode=sleep&ms=3000", &[]))
        })
        .collect();
    let metrics = gateway.metrics_until("four hooks in flight", |m| m.contains("hooklet_gateway_requests_in_flight 4"));
    assert!(metrics.contains("hooklet_gateway_request_capacity 4"), "{metrics}");

    // Every further hook is refused at once; /metrics and /healthz still answer.
    for _ in 0..6 {
        let (status, body) = gateway.kubelet_get("/hooks/noop?phase=postStart", &[]);
        assert_eq!(status, 503, "{body}");
        assert!(body.contains("the gateway is full: 4 hook requests are running or waiting (at most 4"), "{body}");
    }
    assert_eq!(gateway.kubelet_get("/healthz", &[]).0, 200);

    for hook in held {
        let (status, body) = hook.join().unwrap();
        assert_eq!(status, 200, "{body}");
    }
    let metrics = gateway.metrics_until("the flood drained", |m| m.contains("hooklet_gateway_requests_in_flight 0"));
    for line in ["hooklet_gateway_requests_refused_total 6", "hooklet_gateway_requests_total{code=\"503\"} 6", "hooklet_wasm_pool_waits_total 2"] {
        assert!(metrics.lines().any(|l| l == line), "{line} in\n{metrics}");
    }
    assert_eq!(gateway.kubelet_get("/hooks/noop?phase=postStart", &[]).0, 200, "served again");
}

/// p50 and p99 of `samples`, in microseconds.
fn percentiles(mut samples: Vec<Duration>) -> (u128, u128) {
    samples.sort();
    let at = |q: usize| samples[(samples.len() * q / 100).min(samples.len() - 1)].as_micros();
    (at(50), at(99))
}

/// The gateway's hook latency (a kubelet-shaped request on a new connection → the plugin's
/// outcome → the answer read) against the node's in-process wasm hook (`HookRunner::run`,
/// the pod worker's call), the `noop` plugin, one after the other in the same run.
/// `HOOKLET_GATEWAY_BENCH_N` hooks each (default 20: the smoke run; BENCHMARKS.md's figures
/// use 2000); prints a table, asserts nothing about time.
#[test]
fn bench_gateway_hook_latency_against_the_node_in_process() {
    use std::sync::Arc;

    use hooklet::hooks::http::HttpHookClient;
    use hooklet::hooks::{Delivery, HookLimits, HookOutcome, HookRunner, HookTarget};
    use hooklet::spec::{Container, HookPhase, LifecycleHandler, Pod, WasmAction};
    use hooklet::wasm::{WasmConfig, WasmHost};

    let n: usize = std::env::var("HOOKLET_GATEWAY_BENCH_N").ok().and_then(|v| v.parse().ok()).unwrap_or(20);
    let warmup = 20;
    let dir = tempfile::tempdir().unwrap();
    let plugins = plugins(dir.path());

    let node = tokio::runtime::Runtime::new().unwrap().block_on(async {
        let wasm = WasmHost::new(WasmConfig { plugin_dir: plugins.clone(), pool_slots: 16, ..WasmConfig::default() }).unwrap();
        let runner = HookRunner::without_runtime(HttpHookClient::new("kube-lifecycle/1.34".into()), wasm);
        let pod: Pod = serde_json::from_value(serde_json::json!({
            "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web", "namespace": "shop", "uid": "uid-1"}
        }))
        .unwrap();
        let handler = LifecycleHandler {
            wasm: Some(WasmAction { plugin: "noop".into(), ..WasmAction::default() }),
            ..LifecycleHandler::default()
        };
        let mut samples = Vec::with_capacity(n);
        for i in 0..warmup + n {
            let target = HookTarget {
                pod: Arc::new(pod.clone()),
                container: Arc::new(Container { name: "app".into(), ..Container::default() }),
                container_id: hooklet::runtime::ContainerId(format!("c-{i}")),
                pod_ip: None,
                phase: HookPhase::PostStart,
                delivery: Delivery::new(),
            };
            let started = std::time::Instant::now();
            let run = runner.run(&target, &handler, HookLimits::default()).await;
            assert_eq!(run.outcome, HookOutcome::Succeeded, "{}", run.output);
            if i >= warmup {
                samples.push(started.elapsed());
            }
        }
        samples
    });

    let gateway = Gateway::start(&plugins, &[]);
    let mut samples = Vec::with_capacity(n);
    for i in 0..warmup + n {
        let started = std::time::Instant::now();
        let (status, body) = gateway.kubelet_get("/hooks/noop?phase=postStart&container=app", &[]);
        assert_eq!(status, 200, "{body}");
        if i >= warmup {
            samples.push(started.elapsed());
        }
    }

    let ((node50, node99), (gw50, gw99)) = (percentiles(node), percentiles(samples));
    println!("hook latency, noop plugin, {n} hooks each (after {warmup} warm-up)");
    println!("| path | p50 (µs) | p99 (µs) |\n|---|---:|---:|");
    println!("| node: in-process wasm hook (HookRunner::run) | {node50} | {node99} |");
    println!("| gateway: kubelet-shaped GET, new connection, answer read | {gw50} | {gw99} |");
    println!("| ratio gateway / node | {:.2} | {:.2} |", gw50 as f64 / node50.max(1) as f64, gw99 as f64 / node99.max(1) as f64);
}
