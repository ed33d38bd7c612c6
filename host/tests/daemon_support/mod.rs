//! Running the real `hooklet serve` binary in tests: start it on a temp state dir
//! with its own socket, wait for it to listen, talk to it with the CLI or raw HTTP.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

pub const HOOKLET: &str = env!("CARGO_BIN_EXE_hooklet");

/// The binary under test: `$HOOKLET_BIN` if set (e.g. a copy taken right after the
/// build when several checkouts share one target directory), else cargo's.
pub fn hooklet() -> String {
    std::env::var("HOOKLET_BIN").unwrap_or_else(|_| HOOKLET.to_string())
}

/// A running daemon.
pub struct Daemon {
    pub child: Child,
    pub state: PathBuf,
    pub socket: PathBuf,
    pub plugins: PathBuf,
    /// `host:port` when started with `--listen`.
    pub tcp: Option<String>,
}

impl Daemon {
    /// Starts `hooklet serve` with state under `dir/state`, socket `dir/h.sock`.
    pub fn start(dir: &Path, extra: &[&str]) -> Daemon {
        Daemon::start_with(dir, extra, &[], Stdio::inherit())
    }

    /// [`Daemon::start`] with `HOOKLET_LOG=debug` and its log (stderr) written to `log`.
    pub fn start_logged(dir: &Path, extra: &[&str], log: &Path) -> Daemon {
        let file = std::fs::OpenOptions::new().create(true).append(true).open(log).unwrap();
        Daemon::start_with(dir, extra, &[("HOOKLET_LOG", "debug")], Stdio::from(file))
    }

    /// [`Daemon::start`] with `HOOKLET_LOG=trace` (everything, every library's too) and
    /// its log (stderr) written to `log`.
    pub fn start_traced(dir: &Path, extra: &[&str], log: &Path) -> Daemon {
        let file = std::fs::OpenOptions::new().create(true).append(true).open(log).unwrap();
        Daemon::start_with(dir, extra, &[("HOOKLET_LOG", "trace")], Stdio::from(file))
    }

    /// [`Daemon::start`] under `wrapper`, a command that runs the arguments after it
    /// (e.g. `unshare --net sh -c 'SETUP; exec "$@"' sh`).
    pub fn start_under(dir: &Path, extra: &[&str], wrapper: &[&str]) -> Daemon {
        let serve = serve_command(dir, extra);
        let mut command = Command::new(wrapper[0]);
        command.args(&wrapper[1..]).arg(serve.get_program()).args(serve.get_args());
        Daemon::spawn(command, dir, extra, Stdio::inherit())
    }

    fn start_with(dir: &Path, extra: &[&str], env: &[(&str, &str)], stderr: Stdio) -> Daemon {
        let mut command = serve_command(dir, extra);
        command.envs(env.iter().copied());
        Daemon::spawn(command, dir, extra, stderr)
    }

    fn spawn(mut command: Command, dir: &Path, extra: &[&str], stderr: Stdio) -> Daemon {
        let (state, socket, plugins) = (dir.join("state"), dir.join("h.sock"), dir.join("plugins"));
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("hooklet serve starts");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let expected = if extra.contains(&"--listen") { 2 } else { 1 };
        let mut tcp = None;
        for _ in 0..expected {
            let line = lines.next().unwrap_or_else(|| panic!("hooklet serve exited: {:?}", child.wait())).unwrap();
            assert!(line.starts_with("hooklet serving on "), "{line}");
            if let Some(rest) = line.strip_prefix("hooklet serving on https://") {
                tcp = Some(rest.split_whitespace().next().unwrap().to_string());
            }
        }
        // Keep draining stdout so the daemon never blocks on it.
        std::thread::spawn(move || for _ in lines.by_ref() {});
        Daemon { child, state, socket, plugins, tcp }
    }

    /// A client command against this daemon, to run.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(hooklet());
        command.args(args).env("HOOKLET_SERVER", format!("unix://{}", self.socket.display())).env_remove("HOOKLET_TOKEN");
        command
    }

    /// Runs a client command against this daemon.
    pub fn cli(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("hooklet runs")
    }

    /// Runs a client command and asserts it succeeds; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.cli(args);
        assert!(out.status.success(), "hooklet {args:?} failed: {}{}", text(&out.stdout), text(&out.stderr));
        text(&out.stdout)
    }

    /// hooklet's own view of pod `name` in `default` (`GET /v1/namespaces/default/pods/NAME`:
    /// `status.containers[].started`, `hooks`, `events`, …; `hooklet get -o json` prints
    /// the Kubernetes `v1.Pod` instead), or the error answer.
    pub fn view(&self, name: &str) -> Result<serde_json::Value, String> {
        let (status, body) = self.raw(&request("GET", &format!("/v1/namespaces/default/pods/{name}"), &[], b""));
        match status {
            200 => Ok(serde_json::from_str(&body).unwrap_or_else(|e| panic!("pod {name}: {e}: {body}"))),
            _ => Err(format!("{status}: {body}")),
        }
    }

    /// hooklet's own view of pod `name` (see [`Daemon::view`]).
    pub fn pod(&self, name: &str) -> serde_json::Value {
        self.view(name).unwrap_or_else(|e| panic!("pod {name}: {e}"))
    }

    /// Waits (up to `secs`) until `pred` holds for pod `name`'s view ([`Daemon::view`]).
    pub fn wait_pod(&self, name: &str, secs: u64, pred: impl Fn(&serde_json::Value) -> bool) -> serde_json::Value {
        let until = Instant::now() + Duration::from_secs(secs);
        loop {
            match self.view(name) {
                Ok(v) if pred(&v) => return v,
                Ok(v) => assert!(Instant::now() < until, "pod {name} never reached the condition: {v:#}"),
                Err(e) => assert!(Instant::now() < until, "pod {name}: {e}"),
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// A raw HTTP request over the unix socket: (status, body).
    pub fn raw(&self, request: &[u8]) -> (u16, String) {
        let mut stream = std::os::unix::net::UnixStream::connect(&self.socket).unwrap();
        exchange(&mut stream, request)
    }

    /// A raw HTTP request over TCP (HTTPS, trusting the daemon's generated CA).
    pub fn raw_tcp(&self, request: &[u8]) -> (u16, String) {
        let mut stream = self.tls_stream();
        exchange(&mut stream, request)
    }

    /// A TLS connection to the TCP listener, trusting the daemon's generated CA.
    pub fn tls_stream(&self) -> rustls::StreamOwned<rustls::ClientConnection, std::net::TcpStream> {
        use rustls::pki_types::pem::PemObject;
        let ca = self.state.join("tls/ca.crt");
        let mut roots = rustls::RootCertStore::empty();
        for cert in rustls::pki_types::CertificateDer::pem_file_iter(&ca).unwrap() {
            roots.add(cert.unwrap()).unwrap();
        }
        let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
        let connection = rustls::ClientConnection::new(std::sync::Arc::new(config), name).unwrap();
        let tcp = std::net::TcpStream::connect(self.tcp.as_ref().expect("--listen")).unwrap();
        rustls::StreamOwned::new(connection, tcp)
    }

    /// SIGTERM, then the exit status.
    pub fn terminate(mut self) -> ExitStatus {
        signal(self.child.id(), "TERM");
        self.child.wait().unwrap()
    }

    /// SIGKILL, then reap.
    pub fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

/// The `hooklet serve` command [`Daemon::start`] runs: state under `dir/state`, socket
/// `dir/h.sock`, plugins in `dir/plugins` (created), and the tests' default flags.
pub fn serve_command(dir: &Path, extra: &[&str]) -> Command {
    let plugins = dir.join("plugins");
    std::fs::create_dir_all(&plugins).unwrap();
    let mut command = Command::new(hooklet());
    command
        .arg("serve")
        .arg("--state-dir")
        .arg(dir.join("state"))
        .arg("--socket")
        .arg(dir.join("h.sock"))
        .arg("--plugins")
        .arg(&plugins)
        .args(if extra.contains(&"--backoff-initial") { &[][..] } else { &["--backoff-initial", "200ms", "--backoff-max", "400ms"][..] })
        .args(if extra.contains(&"--eviction-hard") { &[][..] } else { &["--eviction-hard", hooklet::testing::TEST_EVICTION_HARD][..] })
        // Image GC off unless a test turns it on: its verdict depends on the host's disk
        // (the tests' state dirs share it), and its node events on how full that is.
        .args(if extra.contains(&"--image-gc-high-threshold") { &[][..] } else { &["--image-gc-high-threshold", "100"][..] })
        .args(extra);
    command
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn exchange(stream: &mut (impl Read + Write), request: &[u8]) -> (u16, String) {
    // A refused oversize body may be cut off by the server: the answer is still readable.
    let _ = stream.write_all(request);
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response);
    let response = String::from_utf8_lossy(&response).into_owned();
    let status = response.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or_else(|| panic!("no status in {response:?}"));
    let body = response.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
    (status, body)
}

/// A `Connection: close` request with an optional body.
pub fn request(method: &str, path: &str, headers: &[&str], body: &[u8]) -> Vec<u8> {
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: {}\r\n", body.len());
    for h in headers {
        head.push_str(h);
        head.push_str("\r\n");
    }
    head.push_str("\r\n");
    let mut bytes = head.into_bytes();
    bytes.extend_from_slice(body);
    bytes
}

pub fn signal(pid: u32, name: &str) {
    let status = Command::new("kill").args([&format!("-{name}"), &pid.to_string()]).status().unwrap();
    assert!(status.success());
}

/// Writes `dir/name` and returns its path.
pub fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

/// Runs `hooklet ARGS` (e.g. `logs POD`) until `done` holds for its output (up to 20 s).
pub fn wait_logs(daemon: &Daemon, args: &[&str], done: impl Fn(&str) -> bool) -> String {
    let until = Instant::now() + Duration::from_secs(20);
    loop {
        let out = daemon.ok(args);
        if done(&out) {
            return out;
        }
        assert!(Instant::now() < until, "hooklet {args:?} never got there: {out}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Whether every container of a pod's JSON view has started.
pub fn started(v: &serde_json::Value) -> bool {
    v["status"]["containers"].as_array().unwrap().iter().all(|c| c["started"] == true)
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Kills every supervisor (and so every container) under a state dir, for cleanup.
pub fn kill_containers(state: &Path) {
    let Ok(dirs) = std::fs::read_dir(state.join("containers")) else { return };
    for d in dirs.flatten() {
        if d.path().join("exit.json").exists() {
            continue; // reaped: the pid may be another process's by now
        }
        let Ok(pid) = std::fs::read_to_string(d.path().join("pid")) else { continue };
        let pid = pid.split_whitespace().next().unwrap_or_default();
        // pids are reused quickly (pid_max is 32768 here): kill the group only while the
        // process is still this container, a child of its supervisor, never whatever
        // process has the pid now.
        // Not `kill -KILL -PID`: procps-ng 4.0.2 reads `-18` as pid -1 and kills every
        // process of the user (the test run, the shell, other builds).
        match pid.parse::<i32>() {
            Ok(pgid) if pgid > 1 && supervised_by(pid, &d.path()) => {
                let _ = nix::sys::signal::killpg(nix::unistd::Pid::from_raw(pgid), nix::sys::signal::Signal::SIGKILL);
            }
            _ => {}
        }
    }
}

/// Whether process `pid` is a child of the supervisor of container directory `dir`.
fn supervised_by(pid: &str, dir: &Path) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { return false };
    // `pid (comm) state ppid …`; comm may contain spaces and parentheses.
    let Some(ppid) = stat.rsplit_once(')').and_then(|(_, rest)| rest.split_whitespace().nth(1)) else { return false };
    let cmdline = std::fs::read(format!("/proc/{ppid}/cmdline")).unwrap_or_default();
    let cmdline = String::from_utf8_lossy(&cmdline);
    cmdline.contains("hooklet-monitor") && cmdline.contains(&*dir.to_string_lossy())
}

/// Kills the containers under a state dir when dropped (also when a test fails).
pub struct ContainersGuard(pub PathBuf);

impl Drop for ContainersGuard {
    fn drop(&mut self) {
        kill_containers(&self.0);
    }
}

/// `memory.available` as the kubelet computes it, now: MemFree + Inactive(file).
pub fn memory_available() -> u64 {
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap();
    let field = |k: &str| -> u64 {
        let line = meminfo.lines().find(|l| l.starts_with(&format!("{k}:"))).unwrap();
        line.split_whitespace().nth(1).unwrap().parse::<u64>().unwrap() * 1024
    };
    field("MemFree") + field("Inactive(file)")
}

/// How far below what is available now memory tests set their threshold: far more
/// than other processes of a shared machine take or give back in the seconds a test
/// runs, so that the pressure is the test's and ends with it.
pub const MEMORY_MARGIN: u64 = 1536 << 20;

/// A Guaranteed pod `steady` (requests = limits, 100m and 64Mi) that sleeps.
pub const GUARANTEED: &str = r#"
apiVersion: v1
kind: Pod
metadata: {name: steady}
spec:
  containers:
  - name: app
    image: busybox
    imagePullPolicy: IfNotPresent
    command: [sh, -c, "while true; do sleep 600; done"]
    resources: {limits: {cpu: 100m, memory: 64Mi}}
"#;

/// Starts `command` with its stdout's lines sent to the receiver as they come (the
/// channel closes when stdout does); stderr is piped.
pub fn spawn_lines(mut command: Command) -> (std::process::Child, std::sync::mpsc::Receiver<String>) {
    use std::io::BufRead;
    let mut child = command.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped()).spawn().expect("the command starts");
    let (tx, rx) = std::sync::mpsc::channel();
    let stdout = child.stdout.take().expect("piped");
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    (child, rx)
}

/// A size-limited tmpfs mounted on a directory (created if missing; root only), for a
/// full disk; unmounted on drop.
pub struct Tmpfs(PathBuf);

impl Tmpfs {
    /// Mounts it, or `None` when mounting is not allowed (not root).
    pub fn on(path: &Path, size: &str) -> Option<Tmpfs> {
        std::fs::create_dir_all(path).ok()?;
        let ok = Command::new("mount").args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"]).arg(path).status().ok()?.success();
        ok.then(|| Tmpfs(path.to_path_buf()))
    }

    /// Gives it a new size (more room, or less).
    pub fn resize(&self, size: &str) {
        let status = Command::new("mount").args(["-o", &format!("remount,size={size}")]).arg(&self.0).status().unwrap();
        assert!(status.success(), "remount {} with size {size}", self.0.display());
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}
