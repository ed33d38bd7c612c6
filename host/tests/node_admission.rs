//! The node under `hooklet serve`: its object (`get nodes`, `describe node`,
//! `/v1/nodes`), admission against allocatable with the kubelet's reasons and
//! messages, QoS classes, critical-pod preemption, the node's addresses
//! (`--node-ip`), and refused flags.

mod daemon_support;

use daemon_support::{hooklet, request, text, write, Daemon};

/// A pod requesting `cpu` millicores with a PreStop that appends to `marker`.
fn pod(name: &str, cpu: u64, priority: &str, marker: &std::path::Path) -> String {
    format!(
        r#"
apiVersion: v1
kind: Pod
metadata: {{name: {name}}}
spec:
  {priority}
  terminationGracePeriodSeconds: 4
  containers:
  - name: app
    image: busybox
    command: [sleep, "300"]
    resources: {{requests: {{cpu: {cpu}m, memory: 16Mi}}, limits: {{memory: 16Mi}}}}
    lifecycle:
      preStop:
        exec: {{command: [sh, -c, "echo prestop {name} >> {marker}"]}}
"#,
        marker = marker.display()
    )
}

/// Starts a daemon whose allocatable CPU is exactly 1000m on any machine.
fn daemon_with_one_cpu(dir: &std::path::Path) -> Daemon {
    let cpus = std::thread::available_parallelism().unwrap().get() as u64;
    let reserved = format!("cpu={}m", cpus * 1000 - 1000);
    Daemon::start(dir, &["--system-reserved", &reserved, "--max-pods", "20"])
}

fn json(daemon: &Daemon, path: &str) -> serde_json::Value {
    let (status, body) = daemon.raw(&request("GET", path, &[], b""));
    assert_eq!(status, 200, "{path}: {body}");
    serde_json::from_str(&body).unwrap()
}

fn running(v: &serde_json::Value) -> bool {
    v["status"]["phase"] == "Running" && daemon_support::started(v)
}

#[test]
fn the_third_pod_does_not_fit_and_is_rejected_with_the_kubelet_message() {
    let dir = tempfile::tempdir().unwrap();
    let _guard = daemon_support::ContainersGuard(dir.path().join("state"));
    let daemon = daemon_with_one_cpu(dir.path());
    let marker = dir.path().join("marker");
    for (name, cpu) in [("a", 400), ("b", 400)] {
        daemon.ok(&["apply", "-f", &write(dir.path(), &format!("{name}.yaml"), &pod(name, cpu, "", &marker))]);
    }
    daemon.wait_pod("a", 20, running);
    daemon.wait_pod("b", 20, running);
    daemon.ok(&["apply", "-f", &write(dir.path(), "c.yaml", &pod("c", 400, "", &marker))]);
    let c = daemon.wait_pod("c", 10, |v| v["status"]["phase"] == "Failed");
    assert_eq!(c["status"]["reason"], "OutOfcpu");
    assert_eq!(c["status"]["message"], "Pod was rejected: Node didn't have enough resource: cpu, requested: 400, used: 800, capacity: 1000");
    // Nothing was created for it.
    assert!(c["status"]["containers"][0]["containerId"].is_null(), "{c:#}");
    assert!(c["status"]["podIP"].is_null(), "{c:#}");
    let events = json(&daemon, "/v1/events?namespace=default&pod=c");
    let rejected = events["items"].as_array().unwrap().iter().find(|e| e["reason"] == "OutOfcpu").expect("an OutOfcpu event");
    assert_eq!((rejected["type"].as_str(), rejected["message"].as_str()), (Some("Warning"), Some("Node didn't have enough resource: cpu, requested: 400, used: 800, capacity: 1000")));
    let table = daemon.ok(&["get", "pods"]);
    assert!(table.lines().any(|l| l.starts_with("c ") && l.contains("OutOfcpu")), "{table}");
    // QoS: requests without limits on cpu make these Burstable.
    let describe = daemon.ok(&["describe", "pod", "a"]);
    assert!(describe.contains("QoS Class:    Burstable"), "{describe}");
    assert!(daemon.ok(&["describe", "pod", "c"]).contains("Reason:       OutOfcpu"));

    // The node: its object, the allocated resources, the pods on it.
    let nodes = json(&daemon, "/v1/nodes");
    let node = &nodes["items"][0];
    assert_eq!(node["allocatable"]["cpu"], "1");
    assert_eq!(node["allocatable"]["pods"], "20");
    assert_eq!(node["allocatedRequests"]["cpu"], "800m");
    let name = node["name"].as_str().unwrap().to_string();
    let conditions: Vec<(String, String, String)> = node["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["type"].as_str().unwrap().into(), c["status"].as_str().unwrap().into(), c["reason"].as_str().unwrap().into()))
        .collect();
    assert!(conditions.contains(&("MemoryPressure".into(), "False".into(), "KubeletHasSufficientMemory".into())), "{conditions:?}");
    assert!(conditions.contains(&("DiskPressure".into(), "False".into(), "KubeletHasNoDiskPressure".into())), "{conditions:?}");
    assert!(conditions.contains(&("PIDPressure".into(), "False".into(), "KubeletHasSufficientPID".into())), "{conditions:?}");
    assert!(conditions.contains(&("Ready".into(), "True".into(), "KubeletReady".into())), "{conditions:?}");
    let get = daemon.ok(&["get", "nodes"]);
    assert!(get.lines().next().unwrap().starts_with("NAME") && get.contains(&name) && get.contains("Ready"), "{get}");
    let describe = daemon.ok(&["describe", "node", &name]);
    for expected in ["Conditions:", "KubeletHasSufficientMemory", "Capacity:", "Allocatable:", "Non-terminated Pods:", "(2 in total)", "Allocated resources:", "800m (80%)", "400m (40%)", "Events:"] {
        assert!(describe.contains(expected), "missing {expected:?}:\n{describe}");
    }
    let out = daemon.cli(&["describe", "node", "elsewhere"]);
    assert!(!out.status.success() && text(&out.stderr).contains("nodes \"elsewhere\" not found"), "{}", text(&out.stderr));

    // A restarted daemon keeps it rejected: nothing is started for it.
    assert!(daemon.terminate().success());
    let daemon = daemon_with_one_cpu(dir.path());
    let c = daemon.pod("c");
    assert_eq!((c["status"]["phase"].as_str(), c["status"]["reason"].as_str()), (Some("Failed"), Some("OutOfcpu")));
    assert!(c["status"]["containers"][0]["containerId"].is_null(), "{c:#}");
    daemon.wait_pod("a", 20, running);

    // A rejected pod is kept until deleted, then goes.
    daemon.ok(&["delete", "pod", "c", "--wait"]);
    assert!(!daemon.ok(&["get", "pods"]).contains("\nc "));
}

#[test]
fn a_critical_pod_preempts_the_lowest_priority_pod_with_its_prestop() {
    let dir = tempfile::tempdir().unwrap();
    let _guard = daemon_support::ContainersGuard(dir.path().join("state"));
    let daemon = daemon_with_one_cpu(dir.path());
    let marker = dir.path().join("marker");
    for (name, priority) in [("high", "priority: 100"), ("low", "priority: 5"), ("mid", "priority: 50")] {
        let cpu = if name == "mid" { 200 } else { 400 };
        daemon.ok(&["apply", "-f", &write(dir.path(), &format!("{name}.yaml"), &pod(name, cpu, priority, &marker))]);
        daemon.wait_pod(name, 20, running);
    }
    // 1000m used: the critical pod needs 400m, which one 400m pod frees; of those,
    // the lower priority goes.
    let critical = pod("critical", 400, "priorityClassName: system-node-critical", &marker);
    daemon.ok(&["apply", "-f", &write(dir.path(), "critical.yaml", &critical)]);
    let low = daemon.wait_pod("low", 20, |v| v["status"]["finished"] == true);
    assert_eq!(low["status"]["phase"], "Failed");
    assert_eq!(low["status"]["reason"], "Preempted");
    assert_eq!(low["status"]["message"], "Preempted in order to admit critical pod");
    // Its own grace (terminationGracePeriodSeconds: 4), and its PreStop ran.
    assert_eq!(low["status"]["nodeKill"]["graceSeconds"], 4);
    assert_eq!(std::fs::read_to_string(&marker).unwrap(), "prestop low\n");
    assert_eq!(low["status"]["containers"][0]["restartCount"], 0);
    daemon.wait_pod("critical", 20, running);
    for other in ["high", "mid"] {
        assert_eq!(daemon.pod(other)["status"]["phase"], "Running", "{other}");
    }
    let events = json(&daemon, "/v1/events?namespace=default&pod=low");
    assert!(events["items"].as_array().unwrap().iter().any(|e| e["reason"] == "Preempted" && e["type"] == "Warning"), "{events:#}");
    let (_, metrics) = daemon.raw(&request("GET", "/metrics", &[], b""));
    assert!(metrics.contains("kubelet_preemptions{preemption_signal=\"cpu\"} 1"), "{metrics}");
    // A pod that is not critical is refused instead.
    daemon.ok(&["apply", "-f", &write(dir.path(), "late.yaml", &pod("late", 400, "priority: 1000", &marker))]);
    assert_eq!(daemon.wait_pod("late", 10, |v| v["status"]["phase"] == "Failed")["status"]["reason"], "OutOfcpu");
}

#[test]
fn malformed_node_and_eviction_flags_refuse_to_start_naming_the_flag() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    for (flag, value, expected) in [
        ("--eviction-hard", "memory.free<1Gi", "--eviction-hard: unsupported eviction signal memory.free"),
        ("--eviction-hard", "memory.available<0", "--eviction-hard: eviction threshold memory.available must be positive: 0"),
        ("--eviction-hard", "nodefs.available<101%", "--eviction-hard: eviction percentage threshold nodefs.available must be <= 100%: 101%"),
        ("--eviction-hard", "memory.available<12 MB", "--eviction-hard: quantities must match the regular expression"),
        ("--eviction-soft", "memory.available<1Gi", "--eviction-soft: grace period must be specified for the soft eviction threshold memory.available"),
        ("--eviction-soft-grace-period", "memory.available=later", "--eviction-soft-grace-period: time: invalid duration \"later\""),
        ("--eviction-minimum-reclaim", "pid.available=-5", "--eviction-minimum-reclaim: negative eviction minimum reclaim specified for pid.available"),
        ("--system-reserved", "cpu=a lot", "invalid argument \"cpu=a lot\" for \"--system-reserved\" flag: cpu: quantities must match"),
        ("--kube-reserved", "gpu=1", "for \"--kube-reserved\" flag: unsupported resource \"gpu\""),
        ("--housekeeping-interval", "10", "--housekeeping-interval: time: invalid duration \"10\""),
        ("--node-ip", "192.0.2.1,192.0.2.2", "bad --node-ip \"192.0.2.1,192.0.2.2\": must contain either a single IP or a dual-stack pair of IPs"),
        ("--node-ip", "edge-1", "bad --node-ip \"edge-1\": could not parse \"edge-1\"; give an IPv4 or IPv6 address"),
        ("--node-ip", "127.0.0.1", "--node-ip: failed to validate nodeIP: nodeIP can't be loopback address"),
        // 192.0.2.0/24 is for documentation: on no interface of any machine.
        ("--node-ip", "192.0.2.254", "--node-ip: failed to validate nodeIP: node IP: \"192.0.2.254\" not found in the host's network interfaces"),
    ] {
        let out = std::process::Command::new(hooklet())
            .args(["serve", "--state-dir"])
            .arg(&state)
            .args([flag, value])
            .output()
            .unwrap();
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{flag} {value}: {stderr}");
        assert!(stderr.contains(expected), "{flag} {value}: expected {expected:?} in {stderr:?}");
        assert!(!state.exists(), "{flag} {value}: the state directory was created");
    }
}

/// Sets up a network namespace with one veth interface holding a documentation (host
/// route: no default route, nothing on-link) address of each family, then runs the
/// rest of the command line in it.
const EDGE_NETNS: &str = "ip link set lo up && ip link add edge0 type veth peer name edge0p && ip addr add 192.0.2.55/32 dev edge0 \
    && ip -6 addr add 2001:db8::55/128 dev edge0 nodad && ip link set edge0 up && exec \"$@\"";

#[test]
fn the_node_ip_is_the_nodes_internal_ip_and_every_pods_host_ip() {
    let dir = tempfile::tempdir().unwrap();
    let _guard = daemon_support::ContainersGuard(dir.path().join("state"));
    let wrapper = ["unshare", "--net", "--", "sh", "-c", EDGE_NETNS, "sh"];
    let daemon = Daemon::start_under(dir.path(), &["--hostname-override", "edge1", "--node-ip", "192.0.2.55,2001:db8::55"], &wrapper);
    let node = json(&daemon, "/api/v1/nodes/edge1");
    assert_eq!(
        node["status"]["addresses"],
        serde_json::json!([{"type": "InternalIP", "address": "192.0.2.55"}, {"type": "InternalIP", "address": "2001:db8::55"}, {"type": "Hostname", "address": "edge1"}]),
        "{node:#}"
    );
    assert!(node["status"]["nodeInfo"]["kernelVersion"].as_str().is_some_and(|k| !k.is_empty()), "{node:#}");
    let described = daemon.ok(&["describe", "node", "edge1"]);
    assert!(described.contains("Addresses:\n  InternalIP:  192.0.2.55\n  InternalIP:  2001:db8::55\n  Hostname:    edge1\n"), "{described}");

    // The pods' status and their downward API.
    let manifest = r#"
apiVersion: v1
kind: Pod
metadata: {name: where}
spec:
  containers:
  - name: app
    image: busybox
    command: [sh, -c, 'echo "host=$HOST hosts=$HOSTS"; exec sleep 300']
    env:
    - {name: HOST, valueFrom: {fieldRef: {fieldPath: status.hostIP}}}
    - {name: HOSTS, valueFrom: {fieldRef: {fieldPath: status.hostIPs}}}
"#;
    daemon.ok(&["apply", "-f", &write(dir.path(), "where.yaml", manifest)]);
    daemon.wait_pod("where", 20, running);
    let pod = json(&daemon, "/api/v1/namespaces/default/pods/where");
    assert_eq!(pod["status"]["hostIP"], "192.0.2.55", "{pod:#}");
    assert_eq!(pod["status"]["hostIPs"], serde_json::json!([{"ip": "192.0.2.55"}, {"ip": "2001:db8::55"}]), "{pod:#}");
    let logs = daemon_support::wait_logs(&daemon, &["logs", "where"], |l| l.contains("host="));
    assert!(logs.contains("host=192.0.2.55 hosts=192.0.2.55,2001:db8::55"), "{logs}");

    // The same namespace without a default route and without --node-ip: no
    // InternalIP, no hostIP (as the kubelet when it finds no address).
    drop(daemon);
    let dir = tempfile::tempdir().unwrap();
    let _guard = daemon_support::ContainersGuard(dir.path().join("state"));
    let daemon = Daemon::start_under(dir.path(), &["--hostname-override", "edge1"], &wrapper);
    let node = json(&daemon, "/api/v1/nodes/edge1");
    assert_eq!(node["status"]["addresses"], serde_json::json!([{"type": "Hostname", "address": "edge1"}]), "{node:#}");
}
