//! hooklet's own CLI prints the same Kubernetes objects as the real kubectl: `hooklet
//! get pods|pod NAME|nodes|node NAME|events -o json|yaml` against the same daemon,
//! over the unix socket and over HTTPS with the token.

use super::{kubectl_binary, with_web, Kubectl};
use crate::daemon_support::{hooklet, text, Daemon};

/// hooklet's CLI over HTTPS: `--server`, the generated CA, the token.
fn over_https(daemon: &Daemon, args: &[&str]) -> String {
    let token = std::fs::read_to_string(daemon.state.join("api-token")).unwrap();
    let out = std::process::Command::new(hooklet())
        .args(args)
        .arg("--server")
        .arg(format!("https://{}", daemon.tcp.as_deref().unwrap()))
        .arg("--certificate-authority")
        .arg(daemon.state.join("tls/ca.crt"))
        .env("HOOKLET_TOKEN", token.trim())
        .env_remove("HOOKLET_SERVER")
        .output()
        .unwrap();
    assert!(out.status.success(), "hooklet {args:?} over HTTPS: {}", text(&out.stderr));
    text(&out.stdout)
}

/// hooklet's output of `args` over the socket, over HTTPS, and kubectl's of `kubectl_args`,
/// taken in one pass. The objects can change between two reads (a node heartbeat, an
/// event's count): a pass counts only when hooklet's two answers around kubectl's agree.
fn three_outputs(daemon: &Daemon, kubectl: &Kubectl, args: &[&str], kubectl_args: &[&str]) -> (String, String, String) {
    for _ in 0..10 {
        let before = daemon.ok(args);
        let theirs = kubectl.ok(kubectl_args);
        let https = over_https(daemon, args);
        if before == https {
            return (before, https, theirs);
        }
    }
    panic!("hooklet {args:?} never gave the same answer twice in a row");
}

/// `hooklet ARGS` prints exactly what `kubectl ARGS` prints (JSON: byte for byte).
fn same_json(daemon: &Daemon, kubectl: &Kubectl, args: &[&str]) -> serde_json::Value {
    let (socket, https, theirs) = three_outputs(daemon, kubectl, args, args);
    assert_eq!(socket, theirs, "hooklet {args:?} differs from kubectl's");
    assert_eq!(https, theirs);
    serde_json::from_str(&theirs).unwrap()
}

/// `hooklet ARGS` and `kubectl ARGS` print the same YAML document (compared parsed:
/// the two YAML writers quote and indent differently).
fn same_yaml(daemon: &Daemon, kubectl: &Kubectl, args: &[&str]) -> serde_json::Value {
    let (socket, https, theirs) = three_outputs(daemon, kubectl, args, args);
    let parse = |s: &str| serde_norway::from_str::<serde_json::Value>(s).unwrap_or_else(|e| panic!("{e}: {s}"));
    let theirs = parse(&theirs);
    assert_eq!(parse(&socket), theirs, "hooklet {args:?} differs from kubectl's:\n{socket}");
    assert_eq!(parse(&https), theirs);
    theirs
}

#[test]
fn hooklet_get_prints_the_objects_kubectl_prints() {
    let Some(binary) = kubectl_binary() else { return };
    let (_dir, _guard, daemon, kubectl) = with_web(binary);

    // One pod: the v1.Pod, not hooklet's own view.
    let pod = same_json(&daemon, &kubectl, &["get", "pod", "web", "-o", "json"]);
    assert_eq!((pod["kind"].as_str(), pod["apiVersion"].as_str()), (Some("Pod"), Some("v1")), "{pod:#}");
    assert!(pod["metadata"]["resourceVersion"].is_string() && pod["status"]["podIP"].is_string(), "{pod:#}");
    assert!(pod["status"]["containerStatuses"][0]["state"]["running"]["startedAt"].as_str().unwrap().ends_with('Z'), "{pod:#}");
    assert!(pod.get("pod").is_none() && pod["status"].get("podIp").is_none(), "{pod:#}");
    let yaml = same_yaml(&daemon, &kubectl, &["get", "pods", "web", "-o", "yaml"]);
    assert_eq!(yaml["metadata"]["uid"], pod["metadata"]["uid"]);

    // Lists: kubectl's `List` of the items.
    let list = same_json(&daemon, &kubectl, &["get", "pods", "-o", "json"]);
    assert_eq!((list["kind"].as_str(), list["metadata"]["resourceVersion"].as_str()), (Some("List"), Some("")), "{list:#}");
    assert_eq!(list["items"][0]["metadata"]["name"], "web");
    same_yaml(&daemon, &kubectl, &["get", "pods", "-A", "-o", "yaml"]);
    let empty = same_json(&daemon, &kubectl, &["get", "pods", "-n", "nothing-here", "-o", "json"]);
    assert_eq!(empty["items"], serde_json::json!([]));

    // The node and the events.
    let nodes = same_json(&daemon, &kubectl, &["get", "nodes", "-o", "json"]);
    assert_eq!((nodes["items"][0]["kind"].as_str(), nodes["items"][0]["metadata"]["name"].as_str()), (Some("Node"), Some("edge1")));
    same_json(&daemon, &kubectl, &["get", "node", "edge1", "-o", "json"]);
    same_yaml(&daemon, &kubectl, &["get", "nodes", "-o", "yaml"]);
    let events = same_json(&daemon, &kubectl, &["get", "events", "-o", "json"]);
    let items = events["items"].as_array().unwrap();
    assert!(items.iter().any(|e| e["kind"] == "Event" && e["involvedObject"]["name"] == "web" && e["reason"] == "Started"), "{events:#}");
    same_yaml(&daemon, &kubectl, &["get", "events", "-A", "-o", "yaml"]);

    // The errors are the apiserver's, as kubectl prints them.
    let out = daemon.cli(&["get", "pod", "nosuch", "-o", "json"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(text(&out.stderr).trim(), kubectl.fails(&["get", "pod", "nosuch", "-o", "json"]).trim());
    // Tables stay hooklet's own, and `get events` lists as `hooklet events` does.
    assert!(daemon.ok(&["get", "events"]).contains("Started"));
}
