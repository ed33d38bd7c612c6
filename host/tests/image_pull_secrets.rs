//! `imagePullSecrets` end to end: `hooklet serve --runtime runc` against a real
//! htpasswd registry, Secrets applied with the pods (`kubernetes.io/dockerconfigjson`
//! and `kubernetes.io/dockercfg`), the kubelet's order (each matching credential tried),
//! a missing secret (a Warning, the pull goes on without it), `get` / `describe` /
//! `delete secret`, and the passwords nowhere but in the secrets' own 0600 files.

mod daemon_support;
mod registry_support;
mod runc_support;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use base64::Engine as _;
use daemon_support::{started, text, write, Daemon};
use registry_support::{registry_available, Mode, TestRegistry, PASSWORD, USER};

const NET: u8 = 41;
const WRONG: &str = "not-the-pw-7731";

fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

/// Pushes the busybox image to `REPO:TAG` of the htpasswd registry with skopeo.
fn push_busybox(registry: &TestRegistry, tag: &str) {
    let target = format!("docker://{}/library/busybox:{tag}", registry.addr);
    let archive = format!("oci-archive:{}", runc_support::busybox_archive().display());
    let creds = format!("{USER}:{PASSWORD}");
    let out = Command::new("skopeo")
        .args(["copy", "--dest-tls-verify=false", "--dest-creds", &creds, &archive, &target])
        .output()
        .expect("skopeo (Debian package skopeo) runs");
    assert!(out.status.success(), "skopeo copy: {}", text(&out.stderr));
}

fn pod(name: &str, image: &str, secrets: &[&str]) -> String {
    let secrets: Vec<String> = secrets.iter().map(|s| format!("{{name: {s}}}")).collect();
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}}}\nspec:\n  terminationGracePeriodSeconds: 1\n  imagePullSecrets: [{}]\n  containers:\n  - name: app\n    image: {image}\n    imagePullPolicy: IfNotPresent\n    command: [sh, -c, 'echo pulled; sleep 300']\n",
        secrets.join(", ")
    )
}

fn waiting(v: &serde_json::Value) -> (String, String) {
    let w = &v["status"]["containers"][0]["state"]["waiting"];
    (w["reason"].as_str().unwrap_or_default().to_string(), w["message"].as_str().unwrap_or_default().to_string())
}

fn pod_events(daemon: &Daemon, name: &str) -> Vec<(String, String, String)> {
    // The pod's events come with the API's view of one pod.
    let (status, body) = daemon.raw(&daemon_support::request("GET", &format!("/v1/namespaces/default/pods/{name}"), &[], b""));
    assert_eq!(status, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    v["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["type"].as_str().unwrap().into(), e["reason"].as_str().unwrap().into(), e["message"].as_str().unwrap().into()))
        .collect()
}

/// Every file under `dir` but those under `except`.
fn files(dir: &Path, except: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.starts_with(except) {
            continue;
        }
        match entry.file_type() {
            Ok(t) if t.is_dir() => files(&path, except, out),
            Ok(t) if t.is_file() => out.push(path),
            _ => {}
        }
    }
}

#[test]
fn pods_pull_with_their_secrets_which_never_show() {
    if !runc_support::can_run() || !registry_available() {
        return;
    }
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let registry = runtime.block_on(TestRegistry::start(Mode::Htpasswd));
    for tag in ["1.35", "denied", "after"] {
        push_busybox(&registry, tag);
    }
    let addr = registry.addr.clone();
    let image = |tag: &str| format!("{addr}/library/busybox:{tag}");

    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let _guard = runc_support::RuncGuard::new(&state.join("runc"), NET);
    let bridge = format!("hkt-rc{NET}");
    let subnet = format!("10.217.{NET}.0/24");
    let log = dir.path().join("daemon.log");
    let args = ["--runtime", "runc", "--pod-bridge", bridge.as_str(), "--pod-subnet", subnet.as_str(), "--insecure-registry", addr.as_str()];
    let daemon = Daemon::start_logged(dir.path(), &args, &log);

    let right = format!(r#"{{"auths": {{"{addr}": {{"auth": "{}"}}}}}}"#, b64(&format!("{USER}:{PASSWORD}")));
    let legacy_wrong = format!(r#"{{"{addr}": {{"username": "{USER}", "password": "{WRONG}"}}}}"#);
    let manifest = format!(
        "apiVersion: v1\nkind: Secret\nmetadata: {{name: regcred}}\ntype: kubernetes.io/dockerconfigjson\nstringData:\n  .dockerconfigjson: '{right}'\n---\n\
         apiVersion: v1\nkind: Secret\nmetadata: {{name: oldcfg}}\ntype: kubernetes.io/dockercfg\ndata:\n  .dockercfg: {}\n---\n{}---\n{}",
        b64(&legacy_wrong),
        pod("private", &image("1.35"), &["missing", "oldcfg", "regcred"]),
        pod("denied", &image("denied"), &["oldcfg"]),
    );
    let file = write(dir.path(), "app.yaml", &manifest);
    let out = daemon.ok(&["apply", "-f", &file]);
    assert_eq!(out, "secret/regcred created\nsecret/oldcfg created\npod/private created\npod/denied created\n");

    // The wrong legacy credential is tried first (same key, listed first), then the right one.
    daemon.wait_pod("private", 120, started);
    let events = pod_events(&daemon, "private");
    let missing = "Unable to retrieve some image pull secrets (missing); attempting to pull the image may not succeed.";
    assert!(events.contains(&("Warning".into(), "FailedToRetrieveImagePullSecret".into(), missing.into())), "{events:?}");
    assert!(events.iter().any(|(_, r, m)| r == "Pulled" && m.starts_with(&format!("Successfully pulled image \"{}\"", image("1.35")))), "{events:?}");

    let denied = daemon.wait_pod("denied", 60, |v| waiting(v).0 == "ErrImagePull");
    let (_, message) = waiting(&denied);
    let expected = format!(
        "unauthorized: {addr} refused access to {} with each of the 1 credential(s) for it (from secret default/oldcfg)",
        image("denied")
    );
    assert_eq!(message, expected);

    // Applied again: unchanged.
    let again = daemon.ok(&["apply", "-f", &file]);
    assert_eq!(again, "secret/regcred unchanged\nsecret/oldcfg unchanged\npod/private unchanged\npod/denied unchanged\n");

    // get / describe show keys and sizes.
    let table = daemon.ok(&["get", "secrets"]);
    let rows: Vec<Vec<&str>> = table.lines().map(|l| l.split_whitespace().collect()).collect();
    assert_eq!(rows[0], ["NAME", "TYPE", "DATA", "AGE"]);
    assert_eq!(rows[1][..3], ["oldcfg", "kubernetes.io/dockercfg", "1"]);
    assert_eq!(rows[2][..3], ["regcred", "kubernetes.io/dockerconfigjson", "1"]);
    let described = daemon.ok(&["describe", "secret", "regcred"]);
    assert!(described.contains("Type:  kubernetes.io/dockerconfigjson") && described.contains(&format!(".dockerconfigjson:  {} bytes", right.len())), "{described}");

    // A bad secret is refused with its value redacted.
    let bad = write(dir.path(), "bad.yaml", &format!("apiVersion: v1\nkind: Secret\nmetadata: {{name: bad}}\ntype: kubernetes.io/dockerconfigjson\nstringData:\n  .dockerconfigjson: '{WRONG} {{'\n"));
    let out = daemon.cli(&["apply", "-f", &bad]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains("Secret \"bad\" is invalid: data[.dockerconfigjson]: Invalid value: \"<secret contents redacted>\""), "{err}");

    // Each secret is a 0600 file in a 0700 directory.
    let secrets_dir = state.join("secrets");
    assert_eq!(std::fs::metadata(&secrets_dir).unwrap().permissions().mode() & 0o777, 0o700);
    for name in ["default_regcred.json", "default_oldcfg.json"] {
        assert_eq!(std::fs::metadata(secrets_dir.join(name)).unwrap().permissions().mode() & 0o777, 0o600, "{name}");
    }

    // Nothing shown or written elsewhere holds a password or an encoding of one.
    let needles = [PASSWORD.to_string(), WRONG.to_string(), b64(&format!("{USER}:{PASSWORD}")), b64(&legacy_wrong), b64(&right)];
    let mut shown = vec![
        daemon.ok(&["get", "secrets", "-o", "yaml"]),
        daemon.ok(&["get", "secret", "regcred", "-o", "json"]),
        daemon.ok(&["get", "secret", "oldcfg", "-o", "yaml"]),
        described,
        daemon.ok(&["describe", "pod", "private"]),
        daemon.ok(&["describe", "pod", "denied"]),
        daemon.ok(&["get", "pods", "-o", "yaml"]),
        daemon.ok(&["get", "pods", "private", "-o", "json"]),
        daemon.ok(&["events"]),
        err,
    ];
    daemon.ok(&["delete", "secret", "regcred"]);
    let after = daemon.ok(&["apply", "-f", &write(dir.path(), "after.yaml", &pod("after", &image("after"), &["regcred"]))]);
    assert_eq!(after, "pod/after created\n");
    let late = daemon.wait_pod("after", 60, |v| waiting(v).0 == "ErrImagePull");
    assert!(waiting(&late).1.starts_with(&format!("unauthorized: {addr} refused anonymous access to {}", image("after"))), "{late:#}");
    let events = pod_events(&daemon, "after");
    let missing = "Unable to retrieve some image pull secrets (regcred); attempting to pull the image may not succeed.";
    assert!(events.iter().any(|(t, r, m)| t == "Warning" && r == "FailedToRetrieveImagePullSecret" && m == missing), "{events:?}");
    let gone = daemon.cli(&["get", "secret", "regcred"]);
    assert!(!gone.status.success() && text(&gone.stderr).contains("secret \"regcred\" not found"), "{}", text(&gone.stderr));
    assert!(!secrets_dir.join("default_regcred.json").exists());

    for pod in ["private", "denied", "after"] {
        daemon.ok(&["delete", "pod", pod, "--wait"]);
    }
    let status = daemon.terminate();
    assert!(status.success());
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(logged.contains("secret applied") && logged.contains("trying the next credential"), "the log was captured: {logged}");
    shown.push(logged);
    let mut stored = Vec::new();
    files(&state, &secrets_dir, &mut stored);
    assert!(stored.iter().any(|f| f.ends_with("hooklet.db")), "{stored:?}");
    for f in &stored {
        shown.push(String::from_utf8_lossy(&std::fs::read(f).unwrap()).into_owned());
    }
    for (i, text) in shown.iter().enumerate() {
        for needle in &needles {
            assert!(!text.contains(needle.as_str()), "output/file #{i} shows a secret: {text}");
        }
    }
}
