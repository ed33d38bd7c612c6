//! `hooklet plugin check` and `hooklet plugin list`, and hot reload in the daemon, with
//! the real binary and plugins built from source.

mod daemon_support;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use daemon_support::{hooklet, text, Daemon};
use hooklet::testing::example_plugins_dir;

fn run(args: &[&str], cache: &Path) -> Output {
    Command::new(hooklet())
        .args(args)
        .env("XDG_CACHE_HOME", cache)
        .output()
        .expect("hooklet runs")
}

fn copy(name: &str, dir: &Path, to: &str) {
    std::fs::copy(example_plugins_dir().join(format!("{name}.wasm")), dir.join(format!("{to}.wasm"))).unwrap();
}

#[test]
fn plugin_check_validates_a_component_and_prints_its_grants() {
    let dir = tempfile::tempdir().unwrap();
    copy("marker", dir.path(), "marker");
    std::fs::create_dir(dir.path().join("out")).unwrap();
    std::fs::write(
        dir.path().join("marker.toml"),
        "version = \"1.2.0\"\n[limits]\nfuel = 5000000\n[capabilities.env]\nREGION = \"eu\"\n\
         [[capabilities.dirs]]\nhost = \"out\"\nguest = \"/out\"\naccess = \"read-write\"\n",
    )
    .unwrap();
    let file = dir.path().join("marker.wasm");
    let out = run(&["plugin", "check", file.to_str().unwrap()], dir.path());
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
    assert!(stdout.contains("valid plugin `marker` for world hooklet:hook/hook@0.1.0"), "{stdout}");
    assert!(stdout.contains("version:  1.2.0"), "{stdout}");
    assert!(stdout.contains("fuel 5000000 (manifest)"), "{stdout}");
    assert!(stdout.contains("environment: REGION"), "{stdout}");
    assert!(stdout.contains(&format!("directory: {} as /out (read-write)", dir.path().join("out").display())), "{stdout}");

    // Without a manifest: nothing granted.
    copy("noop", dir.path(), "noop");
    let out = run(&["plugin", "check", dir.path().join("noop.wasm").to_str().unwrap()], dir.path());
    assert_eq!(out.status.code(), Some(0));
    assert!(text(&out.stdout).contains("grants:   nothing"), "{}", text(&out.stdout));
}

#[test]
fn plugin_check_exit_codes_tell_invalid_from_missing() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("script.wasm"), "#!/bin/sh\necho hi\n").unwrap();
    let out = run(&["plugin", "check", dir.path().join("script.wasm").to_str().unwrap()], dir.path());
    assert_eq!(out.status.code(), Some(1));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("INVALID") && stdout.contains("is not a WebAssembly file"), "{stdout}");

    copy("noop", dir.path(), "pinned");
    std::fs::write(dir.path().join("pinned.toml"), format!("sha256 = \"{}\"\n", "ab".repeat(32))).unwrap();
    let out = run(&["plugin", "check", dir.path().join("pinned.wasm").to_str().unwrap()], dir.path());
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stdout).contains(&"ab".repeat(32)), "both digests: {}", text(&out.stdout));

    let out = run(&["plugin", "check", dir.path().join("nothere.wasm").to_str().unwrap()], dir.path());
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
}

#[test]
fn plugin_list_of_a_directory_shows_each_plugin_and_fails_on_a_broken_one() {
    let dir = tempfile::tempdir().unwrap();
    let plugins = dir.path().join("plugins");
    std::fs::create_dir(&plugins).unwrap();
    copy("noop", &plugins, "noop");
    std::fs::write(plugins.join("noop.toml"), "version = \"0.3.0\"\n[limits]\nfuel = 1000\ntimeout-seconds = 2\n").unwrap();
    let list = |cache: &Path| run(&["plugin", "list", "--plugins", plugins.to_str().unwrap()], cache);

    let out = list(dir.path());
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
    let row = stdout.lines().find(|l| l.starts_with("noop ")).unwrap_or_else(|| panic!("{stdout}"));
    for column in ["0.3.0", "1000", "2s", "none", " no ", " ok"] {
        assert!(row.contains(column), "{column:?} in {row:?}");
    }

    // Once `plugin check` compiled it into the cache, `list` says so.
    run(&["plugin", "check", plugins.join("noop.wasm").to_str().unwrap()], dir.path());
    let stdout = text(&list(dir.path()).stdout);
    assert!(stdout.lines().any(|l| l.starts_with("noop ") && l.contains(" cached ")), "{stdout}");

    std::fs::write(plugins.join("broken.toml"), "[limits]\nfuell = 5\n").unwrap();
    copy("noop", &plugins, "broken");
    let out = list(dir.path());
    assert_eq!(out.status.code(), Some(1));
    let stdout = text(&out.stdout);
    let row = stdout.lines().find(|l| l.starts_with("broken ")).unwrap_or_else(|| panic!("{stdout}"));
    assert!(row.contains("invalid:") && row.contains("fuell"), "{row}");

    let out = run(&["plugin", "list", "--plugins", "/nonexistent/plugins"], dir.path());
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("cannot read the plugin directory"), "{}", text(&out.stderr));
}

#[test]
fn the_daemon_reloads_plugins_and_reports_a_refused_replacement_as_an_event() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(dir.path(), &[]);
    // Follow the events while a plugin is added, then replaced by a broken build.
    let (mut watch, wait_for) = follow_events(&daemon);
    copy("noop", &daemon.plugins, "noop");
    let line = wait_for("PluginLoaded");
    assert!(line.contains("Normal") && line.contains("plugin/noop"), "{line}");
    let listed = daemon.ok(&["plugin", "list"]);
    let row = listed.lines().find(|l| l.starts_with("noop ")).unwrap_or_else(|| panic!("{listed}"));
    assert!(row.contains(" loaded ") && row.contains(" ok"), "{row}");
    std::fs::write(daemon.plugins.join("noop.next"), b"not a component").unwrap();
    std::fs::rename(daemon.plugins.join("noop.next"), daemon.plugins.join("noop.wasm")).unwrap();
    let line = wait_for("PluginReloadFailed");
    assert!(line.contains("Warning") && line.contains("plugin/noop") && line.contains("keeps serving"), "{line}");

    let out = daemon.cli(&["plugin", "list"]);
    assert_eq!(out.status.code(), Some(1), "a refused replacement is a problem to report");
    let (status, metrics) = daemon.raw(&daemon_support::request("GET", "/metrics", &[], b""));
    assert_eq!(status, 200);
    for series in ["hooklet_wasm_pool_slots 64", "hooklet_wasm_pool_slots_in_use 0", "hooklet_wasm_pool_waits_total 0"] {
        assert!(metrics.lines().any(|l| l == series), "{series} in:\n{metrics}");
    }
    assert!(text(&out.stdout).contains("refused,"), "{}", text(&out.stdout));
    let _ = watch.kill();
    let _ = watch.wait();
    daemon.terminate();
}

/// `hooklet events --watch` of `daemon`, and a function that waits for (and returns) the
/// next event line containing a string.
fn follow_events(daemon: &Daemon) -> (std::process::Child, impl Fn(&str) -> String) {
    let mut watch = Command::new(hooklet())
        .args(["events", "--watch", "--server"])
        .arg(format!("unix://{}", daemon.socket.display()))
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let (lines_tx, lines_rx) = mpsc::channel();
    let stdout = watch.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if lines_tx.send(line).is_err() {
                return;
            }
        }
    });
    let wait_for = move |needle: &str| loop {
        let line = lines_rx.recv_timeout(Duration::from_secs(30)).unwrap_or_else(|_| panic!("no event with {needle:?}"));
        if line.contains(needle) {
            return line;
        }
    };
    (watch, wait_for)
}

/// The triple of a machine this one is not: its precompiled plugins must be refused here.
fn foreign_target() -> &'static str {
    if cfg!(target_arch = "x86_64") { "aarch64-unknown-linux-gnu" } else { "x86_64-unknown-linux-gnu" }
}

/// `hooklet plugin compile`s the example plugin `name` into `out`, asserting success.
fn compile(name: &str, target: Option<&str>, out: &Path, cache: &Path) {
    let wasm = example_plugins_dir().join(format!("{name}.wasm"));
    let mut args = vec!["plugin", "compile", wasm.to_str().unwrap(), "-o", out.to_str().unwrap()];
    if let Some(target) = target {
        args.extend(["--target", target]);
    }
    let result = run(&args, cache);
    assert_eq!(result.status.code(), Some(0), "{}{}", text(&result.stdout), text(&result.stderr));
    assert!(text(&result.stdout).contains("precompiled for"), "{}", text(&result.stdout));
}

/// `plugin check FILE` of a refused artefact: exit 1, and what it prints.
fn refused(file: &Path, cache: &Path) -> String {
    let out = run(&["plugin", "check", file.to_str().unwrap()], cache);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}{}", text(&out.stderr));
    assert!(stdout.contains("INVALID"), "{stdout}");
    stdout
}

#[test]
fn a_precompiled_plugin_loads_without_compiling_and_keeps_the_source_digest() {
    let dir = tempfile::tempdir().unwrap();
    let plugins = dir.path().join("plugins");
    std::fs::create_dir(&plugins).unwrap();
    compile("noop", None, &plugins.join("noop.cwasm"), dir.path());
    let wasm = std::fs::read(example_plugins_dir().join("noop.wasm")).unwrap();
    let digest: String = sha2::Digest::finalize(<sha2::Sha256 as sha2::Digest>::new_with_prefix(&wasm))
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    // The source's digest pins the artefact made from it.
    std::fs::write(plugins.join("noop.toml"), format!("sha256 = \"{digest}\"\n")).unwrap();

    let out = run(&["plugin", "check", plugins.join("noop.cwasm").to_str().unwrap()], dir.path());
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
    assert!(stdout.contains("valid plugin `noop`") && stdout.contains(&digest), "{stdout}");
    assert!(stdout.contains("code:     precompiled"), "loaded, not compiled: {stdout}");

    let out = run(&["plugin", "list", "--plugins", plugins.to_str().unwrap()], dir.path());
    let stdout = text(&out.stdout);
    let row = stdout.lines().find(|l| l.starts_with("noop ")).unwrap_or_else(|| panic!("{stdout}"));
    assert!(row.contains(" precompiled ") && row.contains(" ok") && row.contains(&digest[..12]), "{row}");

    // Another pin refuses it, as it would refuse the .wasm.
    std::fs::write(plugins.join("noop.toml"), format!("sha256 = \"{}\"\n", "ab".repeat(32))).unwrap();
    assert!(refused(&plugins.join("noop.cwasm"), dir.path()).contains(&"ab".repeat(32)));

    // Not a component: refused by `compile`, nothing written.
    std::fs::write(dir.path().join("junk.wasm"), "#!/bin/sh\n").unwrap();
    let out = run(&["plugin", "compile", dir.path().join("junk.wasm").to_str().unwrap()], dir.path());
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("is not a WebAssembly file"), "{}", text(&out.stderr));
    assert!(!dir.path().join("junk.cwasm").exists());
    let out = run(&["plugin", "compile", "--target", "mips-unknown-linux-gnu", wasm_path("noop").as_str()], dir.path());
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("cannot compile for `mips-unknown-linux-gnu`"), "{}", text(&out.stderr));
}

fn wasm_path(name: &str) -> String {
    example_plugins_dir().join(format!("{name}.wasm")).display().to_string()
}

#[test]
fn precompiled_plugins_for_another_machine_or_hooklet_or_damaged_are_refused_with_the_fix() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    let fix = format!("hooklet plugin compile --target {}", hooklet::wasm::host_target());

    // A real artefact for the other architecture (aarch64, on an x86_64 machine).
    let arm = dir.path().join("arm.cwasm");
    compile("noop", Some(foreign_target()), &arm, dir.path());
    let stdout = refused(&arm, dir.path());
    assert!(stdout.contains(&format!("was compiled for `{}`", foreign_target())) && stdout.contains(&fix), "{stdout}");

    let good = dir.path().join("good.cwasm");
    compile("noop", None, &good, dir.path());
    let bytes = std::fs::read(&good).unwrap();

    let truncated = dir.path().join("truncated.cwasm");
    std::fs::write(&truncated, &bytes[..bytes.len() - 1000]).unwrap();
    let stdout = refused(&truncated, dir.path());
    assert!(stdout.contains("truncated or damaged") && stdout.contains(&fix), "{stdout}");

    let junk = dir.path().join("junk.cwasm");
    std::fs::write(&junk, b"MZ\x90\0 not a plugin at all").unwrap();
    assert!(refused(&junk, dir.path()).contains("no `HKLTPRE1` header"));

    // Another hooklet (so another wasmtime or engine settings): the header says which.
    let version = format!("\"hooklet\":\"{}\"", env!("CARGO_PKG_VERSION"));
    let other = format!("\"hooklet\":\"{}\"", "9".repeat(env!("CARGO_PKG_VERSION").len()));
    let text_of = String::from_utf8_lossy(&bytes[..200]).into_owned();
    assert!(text_of.contains(&version), "{text_of}");
    let at = bytes.windows(version.len()).position(|w| w == version.as_bytes()).unwrap();
    let mut older = bytes.clone();
    older[at..at + other.len()].copy_from_slice(other.as_bytes());
    let older_path = dir.path().join("older.cwasm");
    std::fs::write(&older_path, &older).unwrap();
    let stdout = refused(&older_path, dir.path());
    assert!(stdout.contains("was compiled by hooklet 9") && stdout.contains(&fix), "{stdout}");

    // Machine code others could have replaced is never loaded.
    let shared = dir.path().join("shared.cwasm");
    std::fs::write(&shared, &bytes).unwrap();
    std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o666)).unwrap();
    assert!(refused(&shared, dir.path()).contains("chmod go-w"));

    // A plain component named .cwasm.
    let plain = dir.path().join("plain.cwasm");
    std::fs::copy(example_plugins_dir().join("noop.wasm"), &plain).unwrap();
    assert!(refused(&plain, dir.path()).contains("name it NAME.wasm"));
}

#[test]
fn the_daemon_serves_a_precompiled_plugin_and_reports_a_foreign_one_as_failed() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(dir.path(), &[]);
    // The watcher loads one and refuses the other; the daemon goes on serving.
    let (mut watch, wait_for) = follow_events(&daemon);
    compile("noop", Some(foreign_target()), &daemon.plugins.join("arm.cwasm"), dir.path());
    let line = wait_for("plugin/arm");
    assert!(line.contains("PluginReloadFailed") && line.contains("cannot be loaded"), "{line}");
    assert!(line.contains(&format!("was compiled for `{}`", foreign_target())), "{line}");
    compile("noop", None, &daemon.plugins.join("noop.cwasm"), dir.path());
    assert!(wait_for("plugin/noop").contains("PluginLoaded"));
    let out = daemon.cli(&["plugin", "list"]);
    assert_eq!(out.status.code(), Some(1), "a refused plugin is a problem to report");
    let listed = text(&out.stdout);
    let noop = listed.lines().find(|l| l.starts_with("noop ")).unwrap_or_else(|| panic!("{listed}"));
    assert!(noop.contains(" loaded ") && noop.contains(" ok"), "{noop}");
    let arm = listed.lines().find(|l| l.starts_with("arm ")).unwrap();
    assert!(arm.contains(&format!("was compiled for `{}`", foreign_target())), "{arm}");
    let _ = watch.kill();
    let _ = watch.wait();
    daemon.terminate();
}
