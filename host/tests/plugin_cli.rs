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
    let wait_for = |needle: &str| loop {
        let line = lines_rx.recv_timeout(Duration::from_secs(30)).unwrap_or_else(|_| panic!("no event with {needle:?}"));
        if line.contains(needle) {
            return line;
        }
    };
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
