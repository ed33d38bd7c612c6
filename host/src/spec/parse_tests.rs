//! Parsing: formats, multi-document streams, defaults, warnings for ignored
//! fields, and the messages of every kind of [`ManifestError`].

use super::parse::{parse_manifest_file, parse_manifests, ManifestError, ParsedPod};
use super::{HookPhase, IntOrString};

/// The Kubernetes docs' lifecycle-demo manifest
/// (tasks/configure-pod-container/attach-handler-lifecycle-event), verbatim.
const LIFECYCLE_DEMO: &str = r#"apiVersion: v1
kind: Pod
metadata:
  name: lifecycle-demo
spec:
  containers:
  - name: lifecycle-demo-container
    image: nginx
    lifecycle:
      postStart:
        exec:
          command: ["/bin/sh", "-c", "echo Hello from the postStart handler > /usr/share/message"]
      preStop:
        exec:
          command: ["/bin/sh","-c","nginx -s quit; while killall -0 nginx; do sleep 1; done"]
"#;

fn parse_one(text: &str) -> ParsedPod {
    let mut pods = parse_manifests(text, "pod.yaml").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(pods.len(), 1);
    pods.remove(0)
}

fn error_of(text: &str, source: &str) -> String {
    parse_manifests(text, source)
        .expect_err("must fail")
        .to_string()
}

#[test]
fn lifecycle_demo_manifest_parses_unchanged() {
    let parsed = parse_one(LIFECYCLE_DEMO);
    assert!(parsed.warnings.is_empty(), "{:?}", parsed.warnings);
    let pod = &parsed.pod;
    assert_eq!(pod.metadata.name, "lifecycle-demo");
    let ctr = &pod.spec.containers[0];
    assert_eq!(ctr.name, "lifecycle-demo-container");
    let post_start = ctr
        .hook(HookPhase::PostStart)
        .unwrap()
        .exec
        .as_ref()
        .unwrap();
    assert_eq!(
        post_start.command,
        [
            "/bin/sh",
            "-c",
            "echo Hello from the postStart handler > /usr/share/message"
        ]
    );
    let pre_stop = ctr.hook(HookPhase::PreStop).unwrap().exec.as_ref().unwrap();
    assert_eq!(
        pre_stop.command[2],
        "nginx -s quit; while killall -0 nginx; do sleep 1; done"
    );
}

#[test]
fn json_manifest() {
    let json = r#"{
      "apiVersion": "v1", "kind": "Pod",
      "metadata": {"name": "web", "namespace": "prod", "uid": "1234"},
      "spec": {"terminationGracePeriodSeconds": 5,
               "containers": [{"name": "app", "image": "nginx",
                               "lifecycle": {"preStop": {"sleep": {"seconds": 5}}}}]},
      "status": {}
    }"#;
    let parsed = parse_one(json);
    assert_eq!(
        parsed.warnings,
        ["status: hooklet does not act on this field; it is ignored"]
    );
    assert_eq!(parsed.pod.namespace(), "prod");
    assert_eq!(parsed.pod.uid(), "1234");
    assert_eq!(parsed.pod.spec.termination_grace_seconds(), 5);
    let sleep = parsed.pod.spec.containers[0]
        .hook(HookPhase::PreStop)
        .unwrap();
    assert_eq!(sleep.sleep.as_ref().unwrap().seconds, 5);
}

#[test]
fn multi_document_yaml_skips_empty_documents() {
    let text = format!(
        "---\n{LIFECYCLE_DEMO}---\n# only a comment\n---\n{}",
        LIFECYCLE_DEMO.replace("name: lifecycle-demo\n", "name: second\n")
    );
    let pods = parse_manifests(&text, "pods.yaml").unwrap();
    let names: Vec<&str> = pods.iter().map(|p| p.pod.metadata.name.as_str()).collect();
    assert_eq!(names, ["lifecycle-demo", "second"]);
}

#[test]
fn defaults_are_applied() {
    let parsed = parse_one(
        "apiVersion: v1\nkind: Pod\nmetadata: {name: web}\nspec:\n  containers:\n  - name: app\n    image: nginx\n    lifecycle:\n      postStart: {httpGet: {port: 8080}}\n  initContainers:\n  - name: side\n    image: envoy\n    restartPolicy: Always\n    lifecycle:\n      preStop: {httpGet: {port: admin, path: /quit, scheme: HTTPS}}\n",
    );
    let pod = parsed.pod;
    assert_eq!(pod.metadata.namespace.as_deref(), Some("default"));
    assert_eq!(pod.spec.termination_grace_period_seconds, None);
    assert_eq!(pod.spec.termination_grace_seconds(), 30);
    let http = pod.spec.containers[0]
        .hook(HookPhase::PostStart)
        .unwrap()
        .http_get
        .as_ref()
        .unwrap();
    assert_eq!((http.path.as_str(), http.scheme.as_str()), ("/", "HTTP"));
    assert_eq!(http.port, IntOrString::Int(8080));
    let side = pod.spec.init_containers[0]
        .hook(HookPhase::PreStop)
        .unwrap()
        .http_get
        .as_ref()
        .unwrap();
    assert_eq!(
        (side.path.as_str(), side.scheme.as_str()),
        ("/quit", "HTTPS")
    );
    assert_eq!(side.port, IntOrString::String("admin".into()));
}

#[test]
fn uid_is_generated_when_absent_and_kept_when_given() {
    let two = format!(
        "{LIFECYCLE_DEMO}---\n{}",
        LIFECYCLE_DEMO.replace("name: lifecycle-demo\n", "name: b\n")
    );
    let pods = parse_manifests(&two, "pods.yaml").unwrap();
    let (a, b) = (pods[0].pod.uid(), pods[1].pod.uid());
    let parsed = uuid::Uuid::parse_str(a).expect("a UUID");
    assert_eq!(parsed.get_version_num(), 4);
    assert_ne!(a, b);
    let given = LIFECYCLE_DEMO.replace("name: lifecycle-demo\n", "name: a\n  uid: 0e8c-given\n");
    assert_eq!(parse_one(&given).pod.uid(), "0e8c-given");
}

#[test]
fn unknown_fields_warn_with_full_paths() {
    let text = r#"apiVersion: v1
kind: Pod
metadata:
  name: web
  creationTimestamp: null
spec:
  nodeSelector: {disktype: ssd}
  containers:
  - name: app
    image: nginx
    securityContext: {runAsUser: 1000}
    lifecycle:
      preStop:
        exec: {command: [x]}
        grpc: {port: 9}
  - name: sidecar
    image: envoy
    workingDir: /srv
    stdin: true
    ports: [{containerPort: 80, hostPort: 8080}]
status: {phase: Running}
"#;
    let warnings = parse_one(text).warnings;
    let expected: Vec<String> = [
        "metadata.creationTimestamp",
        "spec.nodeSelector",
        "spec.containers[0].securityContext",
        "spec.containers[0].lifecycle.preStop.grpc",
        "spec.containers[1].stdin",
        "spec.containers[1].ports[0].hostPort",
        "status",
    ]
    .iter()
    .map(|p| format!("{p}: hooklet does not act on this field; it is ignored"))
    .collect();
    assert_eq!(warnings, expected);
}

#[test]
fn yaml_syntax_error_names_file_and_line() {
    let text = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\n spec: {}\n";
    let err = parse_manifests(text, "pod.yaml").unwrap_err();
    assert!(
        matches!(err, ManifestError::Syntax { line: Some(5), .. }),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "pod.yaml: invalid YAML: did not find expected key at line 5 column 2, while parsing a block mapping; fix the syntax there (for YAML: indentation, quoting, `key: value` pairs)"
    );
}

#[test]
fn syntax_error_in_second_document_names_it() {
    let text = format!("{LIFECYCLE_DEMO}---\nkind: [Pod\n");
    let msg = error_of(&text, "pods.yaml");
    assert!(
        msg.starts_with("pods.yaml (document 2): invalid YAML: "),
        "{msg}"
    );
    assert!(msg.contains("line 18"), "{msg}");
}

#[test]
fn json_syntax_error_names_file_and_line() {
    let msg = error_of(
        "{\n  \"apiVersion\": \"v1\",\n  \"kind\": \"Pod\"\n  \"spec\": {}\n}",
        "pod.json",
    );
    assert_eq!(
        msg,
        "pod.json: invalid JSON: expected `,` or `}` at line 4 column 3; fix the syntax there (for YAML: indentation, quoting, `key: value` pairs)"
    );
}

#[test]
fn wrong_type_names_field_and_line() {
    let text = LIFECYCLE_DEMO.replace(
        "    image: nginx\n",
        "    image: nginx\n    ports:\n    - containerPort: http\n",
    );
    let err = parse_manifests(&text, "pod.yaml").unwrap_err();
    assert!(
        matches!(err, ManifestError::Decode { line: Some(10), .. }),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "pod.yaml: spec.containers[0].ports[0].containerPort: invalid type: string \"http\", expected i64 at line 10 column 22; give the field a value of the type the Pod API expects (numbers unquoted, strings quoted when they look like numbers or booleans)"
    );
    let json = r#"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"a"},"spec":{"restartPolicy":"Sometimes"}}"#;
    assert_eq!(
        error_of(json, "pod.json"),
        "pod.json: spec.restartPolicy: unknown variant `Sometimes`, expected one of `Always`, `OnFailure`, `Never`; use one of the listed values (they are case-sensitive)"
    );
}

#[test]
fn wrong_kind_is_explained() {
    let deployment = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n  template:\n    spec: {containers: [{name: a, image: b}]}\n";
    assert_eq!(
        error_of(deployment, "deploy.yaml"),
        "deploy.yaml: kind \"Deployment\" (apiVersion \"apps/v1\") is not supported: hooklet runs Pods (`apiVersion: v1`, `kind: Pod`). To run this Deployment's pods, extract its pod template: take `spec.template` (its `metadata` and `spec`), add `apiVersion: v1` and `kind: Pod`, give it a `metadata.name`, and use that document"
    );
    let cases = [
        ("apiVersion: batch/v1\nkind: CronJob\n", "take `spec.jobTemplate.spec.template`"),
        ("apiVersion: v1\nkind: Service\n", "kind \"Service\" (apiVersion \"v1\") is not supported: hooklet runs Pods (`apiVersion: v1`, `kind: Pod`); remove this document from the manifest"),
        ("apiVersion: v1\nkind: List\nitems: []\n", "Put each Pod of `items` in its own YAML document, separated by `---`"),
        ("apiVersion: v1\nmetadata: {name: a}\n", "pod.yaml: not a Pod manifest: `kind` is missing; hooklet runs Pods: set `apiVersion: v1` and `kind: Pod`"),
        ("apiVersion: v2\nkind: Pod\n", "pod.yaml: apiVersion \"v2\" is not supported for kind \"Pod\": set `apiVersion: v1`"),
        ("kind: Pod\n", "pod.yaml: apiVersion none is not supported for kind \"Pod\": set `apiVersion: v1`"),
        ("- a\n- b\n", "pod.yaml: the document is a list, not a Pod: expected a mapping with apiVersion, kind, metadata and spec"),
    ];
    for (text, expected) in cases {
        let msg = error_of(text, "pod.yaml");
        assert!(msg.contains(expected), "{text:?}: {msg}");
    }
}

#[test]
fn invalid_pod_reports_all_errors_with_document_and_name() {
    let bad = "apiVersion: v1\nkind: Pod\nmetadata: {name: bad}\nspec:\n  containers:\n  - name: app\n    lifecycle:\n      preStop: {}\n";
    let text = format!("{LIFECYCLE_DEMO}---\n{bad}");
    let err = parse_manifests(&text, "pods.yaml").unwrap_err();
    assert_eq!(err.validation_errors().map(|e| e.0.len()), Some(2));
    assert_eq!(
        err.to_string(),
        "pods.yaml (document 2): Pod \"bad\" is invalid: [spec.containers[0].image: Required value, spec.containers[0].lifecycle.preStop: Required value: must specify a handler type]"
    );
}

#[test]
fn ephemeral_containers_are_forbidden_on_create() {
    let text =
        format!("{LIFECYCLE_DEMO}  ephemeralContainers:\n  - name: debug\n    image: busybox\n");
    assert_eq!(
        error_of(&text, "pod.yaml"),
        "pod.yaml: Pod \"lifecycle-demo\" is invalid: spec.ephemeralContainers: Forbidden: cannot be set on create"
    );
}

#[test]
fn empty_input_is_an_error() {
    for text in ["", "\n# nothing here\n", "---\n---\n"] {
        assert_eq!(
            error_of(text, "empty.yaml"),
            "empty.yaml: no Pod manifest found: the input is empty or holds only empty documents",
            "{text:?}"
        );
    }
}

#[test]
fn manifest_file_is_read_and_io_errors_name_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("demo.yaml");
    std::fs::write(&path, LIFECYCLE_DEMO).unwrap();
    let pods = parse_manifest_file(&path).unwrap();
    assert_eq!(pods[0].pod.metadata.name, "lifecycle-demo");

    let missing = dir.path().join("missing.yaml");
    let msg = parse_manifest_file(&missing).unwrap_err().to_string();
    assert!(
        msg.starts_with(&format!("cannot read pod manifest {}: ", missing.display())),
        "{msg}"
    );
    assert!(
        msg.ends_with("; check that the file exists and is readable"),
        "{msg}"
    );
}
