//! `hooklet serve --runtime runc` and `hooklet run --runtime runc`, the real binary:
//! pods in runc containers under their monitors, adopted by a daemon restarted after
//! a SIGKILL (exits, OOM kills and dead monitors while it was down recorded), damaged
//! state reported, and a clear refusal without root.

mod daemon_support;
mod runc_support;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use daemon_support::{hooklet, started, text, write, Daemon};
use hooklet_monitor::record::{ProcessRecord, MONITOR_FILE};

const WEB: &str = r#"
apiVersion: v1
kind: Pod
metadata: {name: web}
spec:
  terminationGracePeriodSeconds: 5
  containers:
  - name: app
    image: busybox
    imagePullPolicy: IfNotPresent
    command: [sh, -c, 'echo serving from $(hostname); trap "echo stopping; exit 0" TERM; while true; do sleep 0.1; done']
    lifecycle:
      postStart:
        exec: {command: [sh, -c, 'echo started > /tmp/poststart']}
      preStop:
        exec: {command: [cat, /tmp/poststart]}
"#;

/// `serve --runtime runc` on test network 20 (`runc_support::network`).
const RUNC: &[&str] = &["--runtime", "runc", "--pod-bridge", "hkt-rc20", "--pod-subnet", "10.217.20.0/24"];

/// Imports the busybox image into `STATE/images` with the CLI.
fn import_busybox(state: &std::path::Path) {
    let out = Command::new(hooklet())
        .args(["image", "import", "--state-dir"])
        .arg(state)
        .arg(runc_support::busybox_archive())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
}

/// The runc container id in a pod's JSON view (`runc://ID`).
fn container_id(pod: &serde_json::Value) -> String {
    let id = pod["status"]["containers"][0]["containerId"].as_str().unwrap_or_default();
    id.strip_prefix("runc://").unwrap_or_else(|| panic!("not a runc container: {pod:#}")).to_string()
}

/// Four pods for the restart test: `keeper` (PostStart and PreStop exec hooks; a
/// counter on stdout and stderr every 100 ms), `quitter` (restarted always; exits 3 on
/// TERM), `oom` (16Mi; fills memory once `/tmp/go` exists) and `lonely` (sleeps; its
/// monitor is killed on its own).
const FOUR: &str = r#"
apiVersion: v1
kind: Pod
metadata: {name: keeper}
spec:
  terminationGracePeriodSeconds: 5
  containers:
  - name: app
    image: busybox
    imagePullPolicy: IfNotPresent
    command: [sh, -c, 'echo started once; trap "echo stopping; exit 0" TERM; i=0; while true; do echo out $i; echo err $i >&2; i=$((i+1)); sleep 0.1; done']
    lifecycle:
      postStart:
        exec: {command: [sh, -c, 'echo poststart']}
      preStop:
        exec: {command: [sh, -c, 'echo prestop ran > /proc/1/fd/1']}
---
apiVersion: v1
kind: Pod
metadata: {name: quitter}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: app
    image: busybox
    imagePullPolicy: IfNotPresent
    command: [sh, -c, 'echo quitter up; trap "exit 3" TERM; while true; do sleep 0.1; done']
---
apiVersion: v1
kind: Pod
metadata: {name: oom}
spec:
  restartPolicy: Never
  containers:
  - name: app
    image: busybox
    imagePullPolicy: IfNotPresent
    command: [sh, -c, 'while [ ! -e /tmp/go ]; do sleep 0.1; done; x=$(head -c 200000000 /dev/zero | tr "\0" a)']
    resources: {limits: {memory: 16Mi}}
---
apiVersion: v1
kind: Pod
metadata: {name: lonely}
spec:
  restartPolicy: Never
  terminationGracePeriodSeconds: 1
  containers:
  - name: app
    image: busybox
    imagePullPolicy: IfNotPresent
    command: [sh, -c, 'exec sleep 600']
"#;

/// The bundle directory of runc container `id`.
fn bundle(state: &Path, id: &str) -> PathBuf {
    state.join("runc/bundles").join(id)
}

/// Waits (at most 30 s) until the monitor of `id` has recorded its exit; returns it.
fn wait_exit_file(state: &Path, id: &str) -> serde_json::Value {
    let file = bundle(state, id).join("exit.json");
    let until = Instant::now() + Duration::from_secs(30);
    while !file.exists() {
        assert!(Instant::now() < until, "the monitor of {id} never recorded the exit");
        std::thread::sleep(Duration::from_millis(20));
    }
    serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap()
}

/// The monitor of container `id`, as it recorded itself.
fn monitor_of(state: &Path, id: &str) -> ProcessRecord {
    ProcessRecord::read(&bundle(state, id), MONITOR_FILE).unwrap_or_else(|| panic!("{id} has no monitor record"))
}

/// SIGKILLs the monitor of `id` and waits until it is gone.
fn kill_monitor(state: &Path, id: &str) {
    let monitor = monitor_of(state, id);
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(monitor.pid), nix::sys::signal::Signal::SIGKILL).unwrap();
    let until = Instant::now() + Duration::from_secs(10);
    while monitor.is_live() && !zombie(monitor.pid) {
        assert!(Instant::now() < until, "the monitor of {id} survived SIGKILL");
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn zombie(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| s.rsplit_once(')').unwrap().1.split_whitespace().next() == Some("Z"))
}

/// `runc state ID`'s status (`running`, `stopped`), or `None` if runc does not know it.
fn runc_status(state: &Path, id: &str) -> Option<String> {
    let out = Command::new("runc").arg("--root").arg(state.join("runc/runc")).args(["state", id]).output().unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
    v["status"].as_str().map(str::to_string)
}

fn runc(state: &Path, args: &[&str]) {
    let out = Command::new("runc").arg("--root").arg(state.join("runc/runc")).args(args).output().unwrap();
    assert!(out.status.success(), "runc {args:?}: {}", text(&out.stderr));
}

fn first(pod: &serde_json::Value) -> &serde_json::Value {
    &pod["status"]["containers"][0]
}

fn terminated(pod: &serde_json::Value) -> bool {
    first(pod)["state"]["terminated"].is_object()
}

/// SIGKILL of `hooklet serve --runtime runc`: the containers keep running under their
/// monitors; exits, an OOM kill and a monitor killed on its own while the daemon is
/// down are recorded; the restarted daemon adopts the running ones with their ids
/// (no PostStart again, no restart counted), applies the restart policy to the exits,
/// and a PreStop still runs on delete. The log has no gap, stdout and stderr apart. The
/// containers' cgroups are outside the daemon's own (a stand-in service cgroup); the
/// monitors stay in it, as containerd's shims do.
#[test]
fn serve_keeps_runc_containers_across_a_sigkill_and_adopts_them() {
    if !runc_support::can_run() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    import_busybox(&state);
    let _guard = runc_support::RuncGuard::new(&state.join("runc"), 20);
    let daemon = Daemon::start(dir.path(), RUNC);
    let daemon_pid = daemon.child.id() as i32;
    let service = ServiceCgroup::enter(daemon.child.id());
    daemon.ok(&["apply", "-f", &write(dir.path(), "four.yaml", FOUR)]);
    let ids: Vec<String> = ["keeper", "quitter", "oom", "lonely"].iter().map(|name| container_id(&daemon.wait_pod(name, 60, started))).collect();
    let [keeper, quitter, oom, lonely] = <[String; 4]>::try_from(ids.clone()).unwrap();
    for id in &ids {
        let dirs = runc_support::cgroup_dirs(id);
        assert!(!dirs.is_empty(), "{id} has cgroups");
        for dir in dirs {
            let hierarchy = dir.parent().and_then(Path::parent).and_then(Path::parent);
            assert!(dir.parent().unwrap().ends_with("hooklet") && hierarchy == Some(Path::new("/sys/fs/cgroup")), "{id}'s cgroup is /hooklet/ID at a hierarchy's root, outside the daemon's: {dir:?}");
        }
        assert!(service.holds(monitor_of(&state, id).pid), "the monitor of {id} stays in the daemon's (service's) cgroup");
    }
    daemon.wait_pod("keeper", 30, |p| first(p)["hooks"].as_array().is_some_and(|h| h.len() == 1));
    while !daemon.ok(&["logs", "keeper"]).contains("out 5") {
        std::thread::sleep(Duration::from_millis(50));
    }

    daemon.kill();
    for id in &ids {
        assert_eq!(runc_status(&state, id).as_deref(), Some("running"), "{id} keeps running");
        let monitor = monitor_of(&state, id);
        assert!(monitor.is_live(), "the monitor of {id} lives on");
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", monitor.pid)).unwrap();
        let ppid: i32 = stat.rsplit_once(')').unwrap().1.split_whitespace().nth(1).unwrap().parse().unwrap();
        assert_ne!(ppid, daemon_pid, "the monitor of {id} is not the dead daemon's child");
    }
    // While the daemon is down: quitter exits 3 on TERM, oom fills its memory, and
    // lonely's monitor is killed on its own.
    runc(&state, &["kill", &quitter, "TERM"]);
    assert_eq!(wait_exit_file(&state, &quitter)["exit_code"], 3);
    std::fs::write(bundle(&state, &oom).join("rootfs/tmp/go"), "").unwrap();
    let oom_exit = wait_exit_file(&state, &oom);
    assert_eq!((oom_exit["exit_code"].as_i64(), oom_exit["oom_killed"].as_bool()), (Some(137), Some(true)), "{oom_exit}");
    kill_monitor(&state, &lonely);
    assert_eq!(runc_status(&state, &lonely).as_deref(), Some("running"), "only the daemon can tell: nobody supervises it now");

    let daemon = Daemon::start(dir.path(), RUNC);
    let pod = daemon.wait_pod("keeper", 60, started);
    assert_eq!(container_id(&pod), keeper, "the same container, adopted");
    assert_eq!(first(&pod)["restartCount"], 0);
    assert_eq!(first(&pod)["hooks"].as_array().unwrap().len(), 1, "PostStart is not run again: {pod:#}");
    let pod = daemon.wait_pod("quitter", 60, |p| started(p) && container_id(p) != quitter);
    assert_eq!(first(&pod)["lastState"]["terminated"]["exitCode"], 3, "{pod:#}");
    assert_eq!(first(&pod)["restartCount"], 1, "{pod:#}");
    let new_quitter = container_id(&pod);
    let pod = daemon.wait_pod("oom", 60, terminated);
    let state_of = |p: &serde_json::Value| first(p)["state"]["terminated"].clone();
    assert_eq!((state_of(&pod)["exitCode"].as_i64(), state_of(&pod)["reason"].as_str()), (Some(137), Some("OOMKilled")), "{pod:#}");
    let pod = daemon.wait_pod("lonely", 60, terminated);
    assert_eq!(state_of(&pod)["exitCode"], 137, "killed with its monitor: {pod:#}");
    assert_ne!(runc_status(&state, &lonely).as_deref(), Some("running"), "no unsupervised container is left");
    let running: Vec<String> = runc_support::runc_list(&state).into_iter().filter(|id| runc_status(&state, id).as_deref() == Some("running")).collect();
    assert_eq!(running.iter().collect::<std::collections::BTreeSet<_>>(), [&keeper, &new_quitter].into_iter().collect(), "nothing else runs");

    // The log across the restart: once started, no counter value missing, stderr apart.
    while !daemon.ok(&["logs", "keeper"]).contains("out 30") {
        std::thread::sleep(Duration::from_millis(50));
    }
    let logs = daemon.ok(&["logs", "keeper", "--stream", "Stdout"]);
    assert_eq!(logs.matches("started once").count(), 1, "not restarted: {logs}");
    let counted: Vec<u32> = logs.lines().filter_map(|l| l.strip_prefix("out ")?.parse().ok()).collect();
    assert_eq!(counted, (0..counted.len() as u32).collect::<Vec<_>>(), "no gap in stdout across the restart");
    let errors = daemon.ok(&["logs", "keeper", "--stream", "Stderr"]);
    assert!(errors.lines().all(|l| l.starts_with("err ")) && errors.contains("err 30"), "stderr apart: {errors}");

    // A PreStop still runs on delete, then the stop signal; nothing is left.
    let cgroups = runc_support::cgroup_dirs(&keeper);
    assert!(!cgroups.is_empty());
    daemon.ok(&["delete", "pod", "keeper", "--wait"]);
    let log = std::fs::read_to_string(runc_log(&state, "keeper")).unwrap();
    assert!(log.contains("stdout F prestop ran") && log.contains("stdout F stopping"), "PreStop ran, then TERM: {log}");
    assert!(!bundle(&state, &keeper).exists() && runc_support::cgroup_dirs(&keeper).is_empty(), "bundle and cgroups removed");
    for pod in ["quitter", "oom", "lonely"] {
        daemon.ok(&["delete", "pod", pod, "--wait"]);
    }
    assert!(runc_support::runc_list(&state).is_empty());
    assert!(daemon.terminate().success());
}

/// A memory cgroup standing in for a systemd service's (`/hkt-service-PID` in the memory
/// hierarchy, or the unified one on cgroup v2), removed on drop.
struct ServiceCgroup(PathBuf);

impl ServiceCgroup {
    /// Creates it and moves process `pid` into it.
    fn enter(pid: u32) -> ServiceCgroup {
        let root = if Path::new("/sys/fs/cgroup/cgroup.controllers").exists() { "/sys/fs/cgroup" } else { "/sys/fs/cgroup/memory" };
        let dir = Path::new(root).join(format!("hkt-service-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("cgroup.procs"), pid.to_string()).unwrap();
        ServiceCgroup(dir)
    }

    /// Whether process `pid` is in it.
    fn holds(&self, pid: i32) -> bool {
        let procs = std::fs::read_to_string(self.0.join("cgroup.procs")).unwrap();
        procs.lines().any(|l| l.trim() == pid.to_string())
    }
}

impl Drop for ServiceCgroup {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir(&self.0);
    }
}

/// The CRI log of pod `pod`'s container `app`.
fn runc_log(state: &Path, pod: &str) -> PathBuf {
    let dir = std::fs::read_dir(state.join("logs")).unwrap().flatten().find(|e| e.file_name().to_string_lossy().starts_with(&format!("default_{pod}_")));
    dir.unwrap_or_else(|| panic!("no log directory for {pod}")).path().join("app.log")
}

/// What a restarted daemon finds damaged: a truncated exit file, a container runc no
/// longer knows whose monitor is gone, a bundle entry with a junk record. Each is
/// reported clearly, nothing crashes, and the daemon keeps running pods.
#[test]
fn damaged_runc_state_is_reported_and_the_daemon_keeps_running() {
    if !runc_support::can_run() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    import_busybox(&state);
    let _guard = runc_support::RuncGuard::new(&state.join("runc"), 26);
    let net = ["--runtime", "runc", "--pod-bridge", "hkt-rc26", "--pod-subnet", "10.217.26.0/24"];
    let daemon = Daemon::start(dir.path(), &net);
    let pods = FOUR.replace("name: oom", "name: ender").replace("x=$(head -c 200000000 /dev/zero | tr \"\\0\" a)", "exit 4");
    daemon.ok(&["apply", "-f", &write(dir.path(), "pods.yaml", &pods)]);
    let ender = container_id(&daemon.wait_pod("ender", 60, started));
    let lonely = container_id(&daemon.wait_pod("lonely", 60, started));
    daemon.kill();

    std::fs::write(bundle(&state, &ender).join("rootfs/tmp/go"), "").unwrap();
    assert_eq!(wait_exit_file(&state, &ender)["exit_code"], 4);
    std::fs::write(bundle(&state, &ender).join("exit.json"), "{\"exit_code\":4,\"sig").unwrap();
    kill_monitor(&state, &lonely);
    runc(&state, &["delete", "--force", &lonely]);
    let junk = bundle(&state, "junk-entry");
    std::fs::create_dir_all(&junk).unwrap();
    std::fs::write(junk.join(MONITOR_FILE), "not a record").unwrap();

    let log = dir.path().join("daemon.log");
    let daemon = Daemon::start_logged(dir.path(), &net, &log);
    let pod = daemon.wait_pod("ender", 60, terminated);
    assert_eq!(first(&pod)["state"]["terminated"]["exitCode"], 255, "an unknown exit: {pod:#}");
    let pod = daemon.wait_pod("lonely", 60, terminated);
    assert_eq!(first(&pod)["state"]["terminated"]["exitCode"], 137, "{pod:#}");
    daemon.wait_pod("keeper", 60, started);
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("exit file is damaged") && text.contains(&format!("{ender}/exit.json is not an exit status")), "{text}");
    assert!(text.contains("runc no longer knows the container"), "{text}");
    assert!(!junk.exists(), "the junk entry was removed as a leftover");
    for pod in ["keeper", "quitter", "ender", "lonely"] {
        daemon.ok(&["delete", "pod", pod, "--wait"]);
    }
    assert!(runc_support::runc_list(&state).is_empty());
    assert!(daemon.terminate().success());
}

/// A pod whose first PreStop attempt never ends on its own; the second one counts the
/// copies of the first still running.
const SLOW_STOP: &str = r#"
apiVersion: v1
kind: Pod
metadata: {name: slowstop}
spec:
  terminationGracePeriodSeconds: 60
  containers:
  - name: app
    image: busybox
    imagePullPolicy: IfNotPresent
    command: [sh, -c, 'trap "echo stopping; exit 0" TERM; while true; do sleep 0.1; done']
    lifecycle:
      preStop:
        exec: {command: [sh, -c, 'echo "prestop $HOOKLET_ATTEMPT" > /proc/1/fd/1; [ "$HOOKLET_ATTEMPT" = 1 ] && sleep 600; echo "prestop done $HOOKLET_ATTEMPT, stale copies: $(ps -o args | grep -c "^sleep 600$")" > /proc/1/fd/1']}
"#;

/// The pids in the exec cgroups (`hook-*`) of runc container `id`.
fn hook_pids(id: &str) -> Vec<i32> {
    let hooks = runc_support::cgroup_dirs(id).into_iter().flat_map(|d| std::fs::read_dir(d).into_iter().flatten().flatten());
    let procs = hooks.filter(|e| e.file_name().to_string_lossy().starts_with("hook-")).map(|e| std::fs::read_to_string(e.path().join("cgroup.procs")).unwrap_or_default());
    procs.flat_map(|t| t.lines().filter_map(|l| l.parse().ok()).collect::<Vec<i32>>()).collect()
}

/// A PreStop running when the daemon is SIGKILLed: the restarted daemon kills the stale
/// copy (with its exec cgroup) before it redelivers the hook as attempt 2, which runs
/// once; then the stop signal, and the pod is gone.
#[test]
fn a_prestop_pending_across_a_sigkill_is_redelivered_without_its_stale_copy() {
    if !runc_support::can_run() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    import_busybox(&state);
    let _guard = runc_support::RuncGuard::new(&state.join("runc"), 25);
    let net = ["--runtime", "runc", "--pod-bridge", "hkt-rc25", "--pod-subnet", "10.217.25.0/24"];
    let daemon = Daemon::start(dir.path(), &net);
    daemon.ok(&["apply", "-f", &write(dir.path(), "slow.yaml", SLOW_STOP)]);
    let id = container_id(&daemon.wait_pod("slowstop", 60, started));
    daemon.ok(&["delete", "pod", "slowstop"]);
    let log = || std::fs::read_to_string(runc_log(&state, "slowstop")).unwrap_or_default();
    while !log().contains("stdout F prestop 1") {
        std::thread::sleep(Duration::from_millis(20));
    }
    let stale = hook_pids(&id);
    assert!(!stale.is_empty(), "the first PreStop runs in an exec cgroup");
    daemon.kill();
    assert!(stale.iter().all(|pid| !zombie(*pid) && Path::new(&format!("/proc/{pid}")).exists()), "the stale hook outlives the daemon");

    let daemon = Daemon::start(dir.path(), &net);
    daemon.ok(&["delete", "pod", "slowstop", "--wait"]);
    let text = log();
    assert!(text.contains("stdout F prestop 2") && text.contains("stdout F prestop done 2, stale copies: 0"), "attempt 2 ran alone: {text}");
    assert!(!text.contains("prestop done 1"), "the stale attempt never finished: {text}");
    let after = text.split("prestop done 2").nth(1).unwrap_or_default();
    assert!(after.contains("stdout F stopping"), "the stop signal after the PreStop: {text}");
    assert!(stale.iter().all(|pid| !Path::new(&format!("/proc/{pid}")).exists() || zombie(*pid)), "the stale hook was killed");
    assert!(runc_support::cgroup_dirs(&id).is_empty() && !bundle(&state, &id).exists(), "nothing of the container is left");
    assert!(daemon.terminate().success());
}

/// Without root, `--runtime runc` stops at start-up with what to do, and creates nothing.
#[test]
fn runc_without_root_fails_clearly() {
    if !runc_support::can_run() {
        return; // needs root to switch to another user
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let manifest = write(dir.path(), "web.yaml", WEB);
    std::fs::set_permissions(&manifest, std::fs::Permissions::from_mode(0o644)).unwrap();
    let state = dir.path().join("state");
    let out = Command::new("setpriv")
        .args(["--reuid", "65534", "--regid", "65534", "--clear-groups", "--"])
        .arg(hooklet())
        .args(["run", "--runtime", "runc", "--state-dir"])
        .arg(&state)
        .args(["--plugins", "/nonexistent", "--log-dir", "/tmp", "-f", &manifest])
        .output()
        .unwrap();
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("--runtime runc needs root"), "{stderr}");
    assert!(stderr.contains("--runtime process"), "{stderr}");
    assert!(!state.exists(), "nothing was created");

    let out = Command::new("setpriv")
        .args(["--reuid", "65534", "--regid", "65534", "--clear-groups", "--"])
        .arg(hooklet())
        .args(["serve", "--runtime", "runc", "--state-dir"])
        .arg(&state)
        .output()
        .unwrap();
    let stderr = text(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("--runtime runc needs root"), "{stderr}");
    assert!(!state.exists(), "serve created nothing either");
}
