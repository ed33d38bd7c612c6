//! A second real client: the official Kubernetes Python client (PyPI `kubernetes`,
//! installed by `.ci/run` into the kubectl venv) lists pods, reads one and its log,
//! watches from a listed resourceVersion until a pod applied later runs, and gets a
//! NotFound it can read.

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use super::daemon_support::write;
use super::{kubectl_binary, with_web};

const SCRIPT: &str = r#"
import json, sys
from kubernetes import client, config, watch
config.load_kube_config(config_file=sys.argv[1])
v1 = client.CoreV1Api()
pods = v1.list_namespaced_pod("default")
print("list", " ".join(p.metadata.name for p in pods.items), flush=True)
web = v1.read_namespaced_pod("web", "default")
print("web", web.status.phase, web.spec.node_name, web.status.container_statuses[0].ready, flush=True)
print("log", json.dumps(v1.read_namespaced_pod_log("web", "default", container="app")), flush=True)
try:
    v1.read_namespaced_pod("nosuch", "default")
except client.exceptions.ApiException as e:
    print("error", e.status, json.loads(e.body)["message"], flush=True)
print("ready", flush=True)
sys.stdin.readline()
w = watch.Watch()
for ev in w.stream(v1.list_namespaced_pod, "default", resource_version=pods.metadata.resource_version, timeout_seconds=30):
    o = ev["object"]
    print("event", ev["type"], o.metadata.name, o.status.phase, flush=True)
    if o.metadata.name == "late" and o.status.phase == "Running":
        w.stop()
"#;

/// The venv's Python with the `kubernetes` package: `$KUBE_PYTHON`, else the
/// kubectl venv's. Missing: a failure under CI, else a skip with the reason.
pub(super) fn python() -> Option<PathBuf> {
    let candidate = std::env::var_os("KUBE_PYTHON").map(PathBuf::from).unwrap_or_else(|| "/opt/hooklet-kubectl/bin/python".into());
    let ok = Command::new(&candidate).args(["-c", "import kubernetes"]).output().is_ok_and(|o| o.status.success());
    if ok {
        return Some(candidate);
    }
    let install = "/opt/hooklet-kubectl/bin/pip install kubernetes==37.0.2";
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("the Python kubernetes client is missing at {} (set $KUBE_PYTHON or install it: {install})", candidate.display());
    }
    eprintln!("skipping: the Python kubernetes client is missing at {} ({install})", candidate.display());
    None
}

#[test]
fn the_python_client_lists_reads_and_watches_pods() {
    let (Some(binary), Some(python)) = (kubectl_binary(), python()) else { return };
    let (dir, _guard, daemon, kubectl) = with_web(binary);
    let mut child = Command::new(python)
        .arg("-c")
        .arg(SCRIPT)
        .arg(&kubectl.kubeconfig)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let (tx, rx) = mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let next = || rx.recv_timeout(Duration::from_secs(30)).expect("the Python client printed a line");
    assert_eq!(next(), "list web");
    assert_eq!(next(), "web Running edge1 True");
    assert_eq!(next(), r#"log "hello\n""#);
    assert_eq!(next(), r#"error 404 pods "nosuch" not found"#);
    assert_eq!(next(), "ready");
    // Applied after the list: the watch from the list's revision sees it start.
    let late = super::WEB.replace("name: web,", "name: late,");
    daemon.ok(&["apply", "-f", &write(dir.path(), "late.yaml", &late)]);
    child.stdin.take().unwrap().write_all(b"go\n").unwrap();
    let mut events = Vec::new();
    loop {
        let line = next();
        let done = line == "event MODIFIED late Running" || line == "event ADDED late Running";
        events.push(line);
        if done {
            break;
        }
    }
    assert_eq!(events[0], "event ADDED late Pending", "{events:#?}");
    assert!(child.wait().unwrap().success());
}
