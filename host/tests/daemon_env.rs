//! Container environments under `hooklet serve` (process runtime), as the kubelet builds
//! them: `fieldRef`, `resourceFieldRef`, `secretKeyRef`, `envFrom` and `$(VAR)`, read back
//! from the container's own log; a missing Secret or key (`CreateContainerConfigError`,
//! then the start once it is applied); a restart of the daemon; and the secret values
//! nowhere in the daemon's log, its events or its API.

mod daemon_support;

use std::path::Path;

use daemon_support::{request, started, wait_logs, write, ContainersGuard, Daemon};

const PASSWORD: &str = "pw-7f3a9c-hunter2";
const TOKEN: &str = "tok-51d0e2b8";

fn secret(name: &str, data: &[(&str, &str)]) -> String {
    let data: Vec<String> = data.iter().map(|(k, v)| format!("  {k}: {v}")).collect();
    format!("apiVersion: v1\nkind: Secret\nmetadata: {{name: {name}}}\nstringData:\n{}\n", data.join("\n"))
}

const POD: &str = r#"apiVersion: v1
kind: Pod
metadata: {name: envy, labels: {app: shop}}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: app
    image: busybox
    resources: {limits: {memory: 64Mi}, requests: {cpu: 250m}}
    command: [sh, -c]
    args: ["env | sort; echo 'ARG $(POD_NAME) $$(POD_NAME) $(NOPE)'; echo END-OF-ENV; sleep 600"]
    envFrom:
    - {secretRef: {name: db}, prefix: DB_}
    env:
    - {name: POD_NAME, valueFrom: {fieldRef: {fieldPath: metadata.name}}}
    - {name: POD_NAMESPACE, valueFrom: {fieldRef: {fieldPath: metadata.namespace}}}
    - {name: POD_UID, valueFrom: {fieldRef: {fieldPath: metadata.uid}}}
    - {name: POD_APP, valueFrom: {fieldRef: {fieldPath: "metadata.labels['app']"}}}
    - {name: NODE, valueFrom: {fieldRef: {fieldPath: spec.nodeName}}}
    - {name: POD_IP, valueFrom: {fieldRef: {fieldPath: status.podIP}}}
    - {name: MEM_MI, valueFrom: {resourceFieldRef: {resource: limits.memory, divisor: 1Mi}}}
    - {name: CPU_MILLI, valueFrom: {resourceFieldRef: {resource: requests.cpu, divisor: 1m}}}
    - {name: CPU_CORES, valueFrom: {resourceFieldRef: {resource: limits.cpu}}}
    - {name: PASSWORD, valueFrom: {secretKeyRef: {name: db, key: password}}}
    - {name: MAYBE, valueFrom: {secretKeyRef: {name: db, key: nope, optional: true}}}
    - {name: URL, value: "postgres://$(DB_user):$(PASSWORD)@$(POD_IP)/$(LATER)"}
    - {name: LATER, value: x}
"#;

/// The value of `NAME=` in an `env | sort` output.
fn var<'a>(out: &'a str, name: &str) -> Option<&'a str> {
    out.lines().find_map(|l| l.strip_prefix(&format!("{name}=")))
}

/// The pod's events as (type, reason, message).
fn events(daemon: &Daemon, name: &str) -> Vec<(String, String, String)> {
    let v = daemon.pod(name);
    let text = |e: &serde_json::Value, k: &str| e[k].as_str().unwrap_or_default().to_string();
    v["events"].as_array().unwrap().iter().map(|e| (text(e, "type"), text(e, "reason"), text(e, "message"))).collect()
}

fn waiting(v: &serde_json::Value) -> (String, String) {
    let w = &v["status"]["containers"][0]["state"]["waiting"];
    (w["reason"].as_str().unwrap_or_default().to_string(), w["message"].as_str().unwrap_or_default().to_string())
}

/// Everything the daemon shows of pod `name`: its view (status, events), the
/// Kubernetes object, the events list and `describe`.
fn everything_shown(daemon: &Daemon, name: &str) -> String {
    let (status, kube) = daemon.raw(&request("GET", &format!("/api/v1/namespaces/default/pods/{name}"), &[], b""));
    assert_eq!(status, 200, "{kube}");
    let (status, kube_events) = daemon.raw(&request("GET", "/api/v1/namespaces/default/events", &[], b""));
    assert_eq!(status, 200, "{kube_events}");
    let view = daemon.pod(name).to_string();
    let describe = daemon.ok(&["describe", "pod", name]);
    format!("{view}\n{kube}\n{kube_events}\n{describe}")
}

#[test]
fn every_source_reaches_the_container_and_no_secret_value_shows() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("daemon.log");
    let daemon = Daemon::start_logged(dir.path(), &["--hostname-override", "edge-7"], &log);
    let _guard = ContainersGuard(daemon.state.clone());
    daemon.ok(&["apply", "-f", &write(dir.path(), "db.yaml", &secret("db", &[("user", "admin"), ("password", PASSWORD)]))]);
    daemon.ok(&["apply", "-f", &write(dir.path(), "pod.yaml", POD)]);
    let out = wait_logs(&daemon, &["logs", "envy"], |o| o.contains("END-OF-ENV"));
    let uid = daemon.pod("envy")["pod"]["metadata"]["uid"].as_str().unwrap().to_string();
    let expected = [
        ("POD_NAME", "envy"),
        ("POD_NAMESPACE", "default"),
        ("POD_UID", uid.as_str()),
        ("POD_APP", "shop"),
        ("NODE", "edge-7"),
        ("POD_IP", "127.0.0.1"),
        ("MEM_MI", "64"),
        ("CPU_MILLI", "250"),
        ("DB_user", "admin"),
        ("DB_password", PASSWORD),
        ("PASSWORD", PASSWORD),
        ("URL", &format!("postgres://admin:{PASSWORD}@127.0.0.1/$(LATER)")),
        ("LATER", "x"),
    ];
    for (name, value) in expected {
        assert_eq!(var(&out, name), Some(value), "{name} in {out}");
    }
    // No limit: the node's allocatable cores, rounded up.
    let cores: u64 = var(&out, "CPU_CORES").unwrap().parse().unwrap();
    assert!(cores >= 1, "{out}");
    assert_eq!(var(&out, "MAYBE"), None, "an optional missing key sets nothing: {out}");
    assert!(out.contains("ARG envy $(POD_NAME) $(NOPE)\n"), "{out}");

    let describe = daemon.ok(&["describe", "pod", "envy"]);
    for line in [
        "      db  Secret with prefix 'DB_'  Optional: false",
        "      POD_NAME:       envy (v1:metadata.name)",
        "      POD_IP:          (v1:status.podIP)",
        "      PASSWORD:       <set to the key 'password' in secret 'db'>  Optional: false",
        "      CPU_CORES:      node allocatable (limits.cpu)",
    ] {
        assert!(describe.contains(line), "{line:?} in {describe}");
    }
    let shown = everything_shown(&daemon, "envy");
    assert!(shown.contains("secretKeyRef") && shown.contains("Started"), "{shown}");
    assert!(!shown.contains(PASSWORD), "a secret value is shown: {shown}");
    drop(daemon);
    let log = std::fs::read_to_string(&log).unwrap();
    assert!(log.contains("pod created"), "the log is the daemon's: {log}");
    assert!(!log.contains(PASSWORD) && !log.contains(&format!("{PASSWORD}@")), "a secret value is in the daemon log");
}

/// A pod whose container needs key `token` of Secret `late`, with restart counting on.
fn late_pod(dir: &Path) -> String {
    let pod = "apiVersion: v1\nkind: Pod\nmetadata: {name: late}\nspec:\n  terminationGracePeriodSeconds: 1\n  containers:\n  - name: app\n    image: busybox\n    command: [sh, -c, 'echo \"T=$T\"; sleep 600']\n    env:\n    - {name: T, valueFrom: {secretKeyRef: {name: late, key: token}}}\n  - name: next\n    image: busybox\n    command: [sleep, '600']\n";
    write(dir, "late.yaml", pod)
}

#[test]
fn a_missing_secret_or_key_waits_in_create_container_config_error_until_applied() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("daemon.log");
    let daemon = Daemon::start_logged(dir.path(), &[], &log);
    let _guard = ContainersGuard(daemon.state.clone());
    daemon.ok(&["apply", "-f", &late_pod(dir.path())]);
    let v = daemon.wait_pod("late", 20, |v| waiting(v).0 == "CreateContainerConfigError");
    assert_eq!(waiting(&v).1, "secret \"late\" not found");
    assert_eq!(v["status"]["containers"][0]["restartCount"], 0);
    assert!(events(&daemon, "late").contains(&("Warning".into(), "Failed".into(), "Error: secret \"late\" not found".into())));
    // The kubelet goes on with the pod's next container.
    daemon.wait_pod("late", 20, |v| v["status"]["containers"][1]["started"] == true);

    daemon.ok(&["apply", "-f", &write(dir.path(), "s1.yaml", &secret("late", &[("other", "x")]))]);
    let v = daemon.wait_pod("late", 20, |v| waiting(v).1.starts_with("couldn't find key"));
    assert_eq!(waiting(&v), ("CreateContainerConfigError".into(), "couldn't find key token in Secret default/late".into()));

    daemon.ok(&["apply", "-f", &write(dir.path(), "s2.yaml", &secret("late", &[("other", "x"), ("token", TOKEN)]))]);
    let v = daemon.wait_pod("late", 20, started);
    assert_eq!(v["status"]["containers"][0]["restartCount"], 0, "a container never created is no restart");
    let out = wait_logs(&daemon, &["logs", "late", "-c", "app"], |o| o.contains("T="));
    assert_eq!(out, format!("T={TOKEN}\n"));
    let shown = everything_shown(&daemon, "late");
    assert!(shown.contains("CreateContainerConfigError") || shown.contains("couldn't find key token"), "{shown}");
    assert!(!shown.contains(TOKEN), "a secret value is shown: {shown}");
    drop(daemon);
    assert!(!std::fs::read_to_string(&log).unwrap().contains(TOKEN), "a secret value is in the daemon log");
}

#[test]
fn a_restart_after_a_daemon_restart_sees_the_secret_as_it_is_then() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = Daemon::start(dir.path(), &[]);
    let _guard = ContainersGuard(daemon.state.clone());
    let stop = dir.path().join("stop");
    daemon.ok(&["apply", "-f", &write(dir.path(), "v1.yaml", &secret("conf", &[("v", "one")]))]);
    let pod = format!("apiVersion: v1\nkind: Pod\nmetadata: {{name: again}}\nspec:\n  terminationGracePeriodSeconds: 1\n  containers:\n  - name: app\n    image: busybox\n    command: [sh, -c, 'echo \"V=$V\"; while [ ! -e {} ]; do sleep 0.1; done']\n    env:\n    - {{name: V, valueFrom: {{secretKeyRef: {{name: conf, key: v}}}}}}\n", stop.display());
    daemon.ok(&["apply", "-f", &write(dir.path(), "again.yaml", &pod)]);
    assert_eq!(wait_logs(&daemon, &["logs", "again"], |o| o.contains("V=")), "V=one\n");
    // The running container keeps its environment; the next instance gets the new one.
    daemon.ok(&["apply", "-f", &write(dir.path(), "v2.yaml", &secret("conf", &[("v", "two")]))]);
    assert!(daemon.terminate().success());
    let daemon = Daemon::start(dir.path(), &[]);
    assert_eq!(daemon.ok(&["logs", "again"]), "V=one\n", "adopted, not restarted");
    std::fs::write(&stop, "").unwrap();
    let out = wait_logs(&daemon, &["logs", "again"], |o| o.contains("V=two"));
    assert_eq!(out, "V=two\n");
}
