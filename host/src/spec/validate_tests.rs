//! Validation rules (spec section 1.2, checklist V1–V4, and the basic Pod
//! rules): one case per rule, asserting the exact apiserver text and path.

use serde_json::{json, Value};

use super::parse::apply_defaults;
use super::validate::{validate_pod, ErrorKind, FieldError, ValidationErrors, ValidationOptions};
use super::Pod;

const ALLOW_ZERO: ValidationOptions = ValidationOptions {
    allow_zero_sleep: true,
};
const NO_ZERO: ValidationOptions = ValidationOptions {
    allow_zero_sleep: false,
};

/// A valid pod with one container `app`, as JSON.
fn base() -> Value {
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "web"},
        "spec": {"containers": [{"name": "app", "image": "nginx"}]}
    })
}

/// Sets `value` at JSON `pointer`, creating objects on the way.
fn set(doc: &mut Value, pointer: &str, value: Value) {
    let mut cur = doc;
    for key in pointer.trim_start_matches('/').split('/') {
        cur = match key.parse::<usize>() {
            Ok(i) if cur.is_array() => {
                let list = cur.as_array_mut().unwrap();
                if i == list.len() {
                    list.push(Value::Null);
                }
                &mut list[i]
            }
            _ => {
                if !cur.is_object() {
                    *cur = json!({});
                }
                cur.as_object_mut()
                    .unwrap()
                    .entry(key)
                    .or_insert(Value::Null)
            }
        };
    }
    *cur = value;
}

/// Validation messages of `doc` after defaulting.
fn messages(doc: Value, opts: ValidationOptions) -> Vec<String> {
    let mut pod: Pod = serde_json::from_value(doc).expect("test pod decodes");
    apply_defaults(&mut pod);
    match validate_pod(&pod, &opts) {
        Ok(()) => Vec::new(),
        Err(errs) => errs.0.iter().map(ToString::to_string).collect(),
    }
}

/// One table row: case name, JSON-pointer patches to the base pod, options,
/// and the exact messages expected.
type Case<'a> = (
    &'a str,
    &'a [(&'a str, Value)],
    ValidationOptions,
    &'a [&'a str],
);

/// Table-driven: each case patches the base pod and lists the exact messages.
fn check(cases: &[Case]) {
    for (name, patches, opts, expected) in cases {
        let mut doc = base();
        for (pointer, value) in patches.iter() {
            set(&mut doc, pointer, value.clone());
        }
        assert_eq!(messages(doc, *opts), *expected, "case: {name}");
    }
}

const PRE_STOP: &str = "/spec/containers/0/lifecycle/preStop";
const POST_START: &str = "/spec/containers/0/lifecycle/postStart";

#[test]
fn valid_minimal_pod_has_no_errors() {
    assert!(messages(base(), ALLOW_ZERO).is_empty());
}

#[test]
fn v1_handler_type_count() {
    check(&[
        ("no handler type", &[(POST_START, json!({}))], ALLOW_ZERO,
         &["spec.containers[0].lifecycle.postStart: Required value: must specify a handler type"]),
        ("only timeoutSeconds is not a type", &[(PRE_STOP, json!({"timeoutSeconds": 5}))], ALLOW_ZERO,
         &["spec.containers[0].lifecycle.preStop: Required value: must specify a handler type"]),
        ("exec and httpGet", &[(PRE_STOP, json!({"exec": {"command": ["x"]}, "httpGet": {"port": 80}}))], ALLOW_ZERO,
         &["spec.containers[0].lifecycle.preStop.httpGet: Forbidden: may not specify more than 1 handler type"]),
        ("exec, sleep, wasm: each extra one", &[(PRE_STOP, json!({"exec": {"command": ["x"]}, "sleep": {"seconds": 1}, "wasm": {"plugin": "p"}}))], ALLOW_ZERO,
         &["spec.containers[0].lifecycle.preStop.sleep: Forbidden: may not specify more than 1 handler type",
           "spec.containers[0].lifecycle.preStop.wasm: Forbidden: may not specify more than 1 handler type"]),
        ("wasm counts as a type, after tcpSocket", &[(POST_START, json!({"tcpSocket": {"port": 80}, "wasm": {"plugin": "p"}}))], ALLOW_ZERO,
         &["spec.containers[0].lifecycle.postStart.wasm: Forbidden: may not specify more than 1 handler type"]),
        ("the extra type is not validated further", &[(PRE_STOP, json!({"exec": {"command": ["x"]}, "httpGet": {"port": 0, "scheme": "FTP"}}))], ALLOW_ZERO,
         &["spec.containers[0].lifecycle.preStop.httpGet: Forbidden: may not specify more than 1 handler type"]),
    ]);
}

#[test]
fn v2_sleep_bounds() {
    check(&[
        ("seconds == default TGPS (30) accepted", &[(PRE_STOP, json!({"sleep": {"seconds": 30}}))], ALLOW_ZERO, &[]),
        ("seconds == explicit TGPS accepted", &[("/spec/terminationGracePeriodSeconds", json!(10)), (PRE_STOP, json!({"sleep": {"seconds": 10}}))], NO_ZERO, &[]),
        ("TGPS + 1 rejected", &[(PRE_STOP, json!({"sleep": {"seconds": 31}}))], ALLOW_ZERO,
         &["spec.containers[0].lifecycle.preStop.sleep: Invalid value: 31: must be non-negative and less than terminationGracePeriodSeconds (30)"]),
        ("negative rejected", &[(PRE_STOP, json!({"sleep": {"seconds": -1}}))], ALLOW_ZERO,
         &["spec.containers[0].lifecycle.preStop.sleep: Invalid value: -1: must be non-negative and less than terminationGracePeriodSeconds (30)"]),
        ("zero with AllowZero", &[(PRE_STOP, json!({"sleep": {"seconds": 0}}))], ALLOW_ZERO, &[]),
        ("absent seconds means zero", &[(PRE_STOP, json!({"sleep": {}}))], ALLOW_ZERO, &[]),
        ("zero without AllowZero", &[(PRE_STOP, json!({"sleep": {"seconds": 0}}))], NO_ZERO,
         &["spec.containers[0].lifecycle.preStop.sleep: Invalid value: 0: must be greater than 0 and less than terminationGracePeriodSeconds (30). Enable AllowPodLifecycleSleepActionZeroValue feature gate for zero sleep."]),
        ("postStart sleep uses the same rule", &[("/spec/terminationGracePeriodSeconds", json!(5)), (POST_START, json!({"sleep": {"seconds": 6}}))], ALLOW_ZERO,
         &["spec.containers[0].lifecycle.postStart.sleep: Invalid value: 6: must be non-negative and less than terminationGracePeriodSeconds (5)"]),
        ("TGPS 0 allows only a zero sleep", &[("/spec/terminationGracePeriodSeconds", json!(0)), (PRE_STOP, json!({"sleep": {"seconds": 1}}))], ALLOW_ZERO,
         &["spec.containers[0].lifecycle.preStop.sleep: Invalid value: 1: must be non-negative and less than terminationGracePeriodSeconds (0)"]),
    ]);
}

#[test]
fn v3_tcp_socket_only_passes_validation() {
    check(&[
        ("tcpSocket only", &[(PRE_STOP, json!({"tcpSocket": {"port": 8080}}))], ALLOW_ZERO, &[]),
        ("tcpSocket named port", &[(POST_START, json!({"tcpSocket": {"port": "http"}}))], ALLOW_ZERO, &[]),
        ("tcpSocket port is validated", &[(PRE_STOP, json!({"tcpSocket": {"port": 0}}))], ALLOW_ZERO,
         &["spec.containers[0].lifecycle.preStop.tcpSocket.port: Invalid value: 0: must be between 1 and 65535, inclusive"]),
    ]);
}

#[test]
fn v4_init_container_lifecycle() {
    let init = |extra: Value| {
        let mut c = json!({"name": "init", "image": "busybox", "lifecycle": {"preStop": {"exec": {"command": ["x"]}}}});
        c.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        json!([c])
    };
    check(&[
        ("plain init container", &[("/spec/initContainers", init(json!({})))], ALLOW_ZERO,
         &["spec.initContainers[0].lifecycle: Forbidden: may not be set for init containers without restartPolicy=Always"]),
        ("sidecar (restartPolicy Always)", &[("/spec/initContainers", init(json!({"restartPolicy": "Always"})))], ALLOW_ZERO, &[]),
        ("sidecar handlers are validated", &[("/spec/initContainers", init(json!({"restartPolicy": "Always", "lifecycle": {"postStart": {"sleep": {"seconds": 99}}}})))], ALLOW_ZERO,
         &["spec.initContainers[0].lifecycle.postStart.sleep: Invalid value: 99: must be non-negative and less than terminationGracePeriodSeconds (30)"]),
        ("init restartPolicy other than Always", &[("/spec/initContainers", init(json!({"restartPolicy": "Never"})))], ALLOW_ZERO,
         &["spec.initContainers[0].restartPolicy: Unsupported value: \"Never\": supported values: \"Always\"",
           "spec.initContainers[0].lifecycle: Forbidden: may not be set for init containers without restartPolicy=Always"]),
        ("restartPolicy on a regular container", &[("/spec/containers/0/restartPolicy", json!("Always"))], ALLOW_ZERO,
         &["spec.containers[0].restartPolicy: Forbidden: may not be set for non-init containers"]),
    ]);
}

#[test]
fn exec_and_http_get_rules() {
    const HDR: &str = "a valid HTTP header must consist of alphanumeric characters or '-' (e.g. 'X-Header-Name', regex used for validation is '[-A-Za-z0-9]+')";
    let header_err = format!(
        "spec.containers[0].lifecycle.preStop.httpGet.httpHeaders: Invalid value: \"X Bad\": {HDR}"
    );
    check(&[
        ("exec without command", &[(PRE_STOP, json!({"exec": {}}))], ALLOW_ZERO,
         &["spec.containers[0].lifecycle.preStop.exec.command: Required value"]),
        ("httpGet defaults make it valid", &[(PRE_STOP, json!({"httpGet": {"port": 8080}}))], ALLOW_ZERO, &[]),
        ("scheme not supported", &[(PRE_STOP, json!({"httpGet": {"port": 80, "scheme": "FTP"}}))], ALLOW_ZERO,
         &["spec.containers[0].lifecycle.preStop.httpGet.scheme: Unsupported value: \"FTP\": supported values: \"HTTP\", \"HTTPS\""]),
        ("port above range", &[(PRE_STOP, json!({"httpGet": {"port": 65536}}))], ALLOW_ZERO,
         &["spec.containers[0].lifecycle.preStop.httpGet.port: Invalid value: 65536: must be between 1 and 65535, inclusive"]),
        ("port absent is 0", &[(PRE_STOP, json!({"httpGet": {"path": "/x"}}))], ALLOW_ZERO,
         &["spec.containers[0].lifecycle.preStop.httpGet.port: Invalid value: 0: must be between 1 and 65535, inclusive"]),
        ("port name with digits only", &[(PRE_STOP, json!({"httpGet": {"port": "8080"}}))], ALLOW_ZERO,
         &["spec.containers[0].lifecycle.preStop.httpGet.port: Invalid value: \"8080\": must contain at least one letter (a-z)"]),
        ("port name: every apimachinery message", &[(PRE_STOP, json!({"httpGet": {"port": "-Web--Server-Port"}}))], ALLOW_ZERO,
         &["spec.containers[0].lifecycle.preStop.httpGet.port: Invalid value: \"-Web--Server-Port\": must be no more than 15 characters",
           "spec.containers[0].lifecycle.preStop.httpGet.port: Invalid value: \"-Web--Server-Port\": must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)",
           "spec.containers[0].lifecycle.preStop.httpGet.port: Invalid value: \"-Web--Server-Port\": must not contain consecutive hyphens",
           "spec.containers[0].lifecycle.preStop.httpGet.port: Invalid value: \"-Web--Server-Port\": must not begin or end with a hyphen"]),
        ("header name", &[(PRE_STOP, json!({"httpGet": {"port": 80, "httpHeaders": [{"name": "X-Ok", "value": "1"}, {"name": "X Bad", "value": "2"}]}}))], ALLOW_ZERO,
         &[header_err.as_str()]),
    ]);
}

#[test]
fn http_get_path_required_when_not_defaulted() {
    let mut doc = base();
    set(
        &mut doc,
        PRE_STOP,
        json!({"httpGet": {"port": 80, "scheme": "HTTP"}}),
    );
    let pod: Pod = serde_json::from_value(doc).unwrap();
    let errs = validate_pod(&pod, &ALLOW_ZERO).unwrap_err();
    assert_eq!(
        errs.0,
        vec![FieldError {
            kind: ErrorKind::Required,
            field: "spec.containers[0].lifecycle.preStop.httpGet.path".into(),
            value: None,
            detail: String::new(),
        }]
    );
}

#[test]
fn hooklet_extension_fields() {
    check(&[
        ("timeoutSeconds 0", &[(POST_START, json!({"exec": {"command": ["x"]}, "timeoutSeconds": 0}))], ALLOW_ZERO,
         &["spec.containers[0].lifecycle.postStart.timeoutSeconds: Invalid value: 0: must be greater than 0; omit timeoutSeconds for no timeout"]),
        ("timeoutSeconds 5", &[(POST_START, json!({"exec": {"command": ["x"]}, "timeoutSeconds": 5}))], ALLOW_ZERO, &[]),
        ("wasm ok", &[(PRE_STOP, json!({"wasm": {"plugin": "notify-slack", "fuel": 1000, "config": {"k": "v"}}}))], ALLOW_ZERO, &[]),
        ("wasm plugin missing", &[(PRE_STOP, json!({"wasm": {}}))], ALLOW_ZERO,
         &["spec.containers[0].lifecycle.preStop.wasm.plugin: Required value: must name a plugin: NAME for the file NAME.wasm in the plugin directory"]),
        ("wasm plugin with extension", &[(PRE_STOP, json!({"wasm": {"plugin": "notify.wasm"}}))], ALLOW_ZERO,
         &["spec.containers[0].lifecycle.preStop.wasm.plugin: Invalid value: \"notify.wasm\": must be the plugin name without the .wasm extension (e.g. 'notify')"]),
        ("wasm plugin bad characters", &[(PRE_STOP, json!({"wasm": {"plugin": "../Evil"}}))], ALLOW_ZERO,
         &["spec.containers[0].lifecycle.preStop.wasm.plugin: Invalid value: \"../Evil\": a plugin name must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'notify-slack' for the plugin file notify-slack.wasm)"]),
        ("wasm fuel 0", &[(PRE_STOP, json!({"wasm": {"plugin": "p", "fuel": 0}}))], ALLOW_ZERO,
         &["spec.containers[0].lifecycle.preStop.wasm.fuel: Invalid value: 0: must be greater than 0; omit fuel to use the plugin's or the node's default budget"]),
    ]);
}

#[test]
fn metadata_rules() {
    const SUBDOMAIN: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
    const LABEL: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
    let name_err = format!("metadata.name: Invalid value: \"My_Pod\": {SUBDOMAIN}");
    let ns_err = format!("metadata.namespace: Invalid value: \"Team\": {LABEL}");
    check(&[
        (
            "name missing",
            &[("/metadata/name", json!(""))],
            ALLOW_ZERO,
            &["metadata.name: Required value: name or generateName is required"],
        ),
        (
            "name not a subdomain",
            &[("/metadata/name", json!("My_Pod"))],
            ALLOW_ZERO,
            &[name_err.as_str()],
        ),
        (
            "dotted name is fine",
            &[("/metadata/name", json!("web.v1"))],
            ALLOW_ZERO,
            &[],
        ),
        (
            "namespace with dots",
            &[("/metadata/namespace", json!("team.a"))],
            ALLOW_ZERO,
            &["metadata.namespace: Invalid value: \"team.a\": must not contain dots"],
        ),
        (
            "namespace not a label",
            &[("/metadata/namespace", json!("Team"))],
            ALLOW_ZERO,
            &[ns_err.as_str()],
        ),
    ]);
}

#[test]
fn container_rules() {
    check(&[
        ("no containers", &[("/spec/containers", json!([]))], ALLOW_ZERO, &["spec.containers: Required value"]),
        ("name missing", &[("/spec/containers/0/name", json!(""))], ALLOW_ZERO, &["spec.containers[0].name: Required value"]),
        ("name too long", &[("/spec/containers/0/name", json!("a".repeat(64)))], ALLOW_ZERO,
         &["spec.containers[0].name: Invalid value: \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\": must be no more than 63 characters"]),
        ("image missing", &[("/spec/containers/0/image", json!(""))], ALLOW_ZERO, &["spec.containers[0].image: Required value"]),
        ("duplicate among containers", &[("/spec/containers/1", json!({"name": "app", "image": "x"}))], ALLOW_ZERO,
         &["spec.containers[1].name: Duplicate value: \"app\""]),
        ("init container reuses a container name", &[("/spec/initContainers", json!([{"name": "app", "image": "x"}]))], ALLOW_ZERO,
         &["spec.initContainers[0].name: Duplicate value: \"app\""]),
        ("TGPS negative", &[("/spec/terminationGracePeriodSeconds", json!(-1))], ALLOW_ZERO,
         &["spec.terminationGracePeriodSeconds: Invalid value: -1: must be greater than or equal to 0"]),
        ("env name missing", &[("/spec/containers/0/env", json!([{"value": "x"}]))], ALLOW_ZERO,
         &["spec.containers[0].env[0].name: Required value"]),
        ("env name with =", &[("/spec/containers/0/env", json!([{"name": "A=B"}]))], ALLOW_ZERO,
         &["spec.containers[0].env[0].name: Invalid value: \"A=B\": a valid environment variable name must consist only of printable ASCII characters other than '='"]),
    ]);
}

#[test]
fn port_rules() {
    let ports = |p: Value| [("/spec/containers/0/ports", p)];
    check(&[
        ("valid ports", &ports(json!([{"name": "http", "containerPort": 80}, {"containerPort": 9090, "protocol": "UDP"}])), ALLOW_ZERO, &[]),
        ("containerPort missing", &ports(json!([{"name": "http"}])), ALLOW_ZERO, &["spec.containers[0].ports[0].containerPort: Required value"]),
        ("containerPort out of range", &ports(json!([{"containerPort": 70000}])), ALLOW_ZERO,
         &["spec.containers[0].ports[0].containerPort: Invalid value: 70000: must be between 1 and 65535, inclusive"]),
        ("port name not IANA_SVC_NAME", &ports(json!([{"name": "HTTP", "containerPort": 80}])), ALLOW_ZERO,
         &["spec.containers[0].ports[0].name: Invalid value: \"HTTP\": must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)",
           "spec.containers[0].ports[0].name: Invalid value: \"HTTP\": must contain at least one letter (a-z)"]),
        ("duplicate port name", &ports(json!([{"name": "http", "containerPort": 80}, {"name": "http", "containerPort": 81}])), ALLOW_ZERO,
         &["spec.containers[0].ports[1].name: Duplicate value: \"http\""]),
        ("protocol", &ports(json!([{"containerPort": 80, "protocol": "ICMP"}])), ALLOW_ZERO,
         &["spec.containers[0].ports[0].protocol: Unsupported value: \"ICMP\": supported values: \"SCTP\", \"TCP\", \"UDP\""]),
    ]);
}

#[test]
fn all_errors_are_collected_in_order() {
    let doc = json!({
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": ""},
        "spec": {
            "containers": [{"name": "app", "lifecycle": {"postStart": {}, "preStop": {"sleep": {"seconds": 31}}}}],
            "initContainers": [{"name": "app", "image": "x", "lifecycle": {"preStop": {"exec": {"command": ["x"]}}}}]
        }
    });
    assert_eq!(
        messages(doc, ALLOW_ZERO),
        vec![
            "metadata.name: Required value: name or generateName is required",
            "spec.containers[0].image: Required value",
            "spec.containers[0].lifecycle.postStart: Required value: must specify a handler type",
            "spec.containers[0].lifecycle.preStop.sleep: Invalid value: 31: must be non-negative and less than terminationGracePeriodSeconds (30)",
            "spec.initContainers[0].name: Duplicate value: \"app\"",
            "spec.initContainers[0].lifecycle: Forbidden: may not be set for init containers without restartPolicy=Always",
        ]
    );
}

#[test]
fn validation_errors_display_like_the_apiserver() {
    let one = ValidationErrors(
        vec![FieldError::required("spec.containers", "")],
        "web".into(),
    );
    assert_eq!(
        one.to_string(),
        "Pod \"web\" is invalid: spec.containers: Required value"
    );
    let dup = FieldError::forbidden("a", "x");
    let many = ValidationErrors(
        vec![dup.clone(), FieldError::invalid_int("b", 3, "too big"), dup],
        "web".into(),
    );
    assert_eq!(
        many.to_string(),
        "Pod \"web\" is invalid: [a: Forbidden: x, b: Invalid value: 3: too big]"
    );
    assert_eq!(
        FieldError::too_long("metadata.annotations", 262144).to_string(),
        "metadata.annotations: Too long: must have at most 262144 bytes"
    );
    assert_eq!(
        FieldError::invalid_str("f", "a\"b\n", "bad").to_string(),
        "f: Invalid value: \"a\\\"b\\n\": bad"
    );
}
