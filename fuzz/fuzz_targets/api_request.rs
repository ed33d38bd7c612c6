//! The control API's request readers, the parts that need no daemon: the query string
//! (percent-decoding, repeated `command=` values, typed `follow`/`tailLines`/`limitBytes`
//! … of a log request), label and field selectors, which face serves a path, the body of
//! `POST /v1/pods`, and the Kubernetes faces' Pod bodies (JSON or YAML), namespace/name
//! checks and JSON merge patch. The first byte picks the reader; the rest is its input.
//! Never a panic; every refusal is an error naming what is wrong.
#![no_main]

use hooklet::api::kube::selector::Selector;
use hooklet::api::kube::{events, write};
use hooklet::api::{logs::LogRequest, query, routes};
use libfuzzer_sys::fuzz_target;
use serde_json::json;

fn query(text: &str) {
    let Ok(map) = routes::parse_query(text) else { return };
    let _ = LogRequest::parse(&map);
    let _ = query::flag(&map, "watch");
    let _ = query::number(&map, "tailLines");
    let _ = events::selector(map.get("fieldSelector").map(String::as_str));
    let _ = map.get("labelSelector").map(|s| Selector::labels(s));
    let _ = routes::query_values(text, "command");
}

fn kube_body(bytes: &[u8]) {
    let Ok(value) = write::parse_json(bytes) else { return };
    let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web", "namespace": "default",
        "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}"}},
        "spec": {"containers": [{"name": "app", "image": "busybox"}]}});
    let mut merged = pod.clone();
    write::merge(&mut merged, &value);
    if write::first_change(&pod, &merged, "").is_none() {
        assert_eq!(pod, merged, "no change found, yet the merge changed the pod");
    }
    if let Ok(body) = write::pod_object(value.clone(), "default", None) {
        let reread: serde_json::Value = serde_json::from_str(&body.text).expect("the Pod body is JSON");
        assert_eq!(reread["metadata"]["namespace"], "default");
    }
    let _ = write::pod_object(value, "default", Some("web"));
}

fuzz_target!(|data: &[u8]| {
    let Some((&which, rest)) = data.split_first() else { return };
    let text = String::from_utf8_lossy(rest);
    match which % 6 {
        0 => query(&text),
        1 => {
            let _ = Selector::labels(&text);
            let _ = Selector::fields(&text, "pods", &["metadata.name", "metadata.namespace", "spec.nodeName", "status.phase"]);
        }
        2 => {
            let _ = routes::apply_request(rest);
        }
        3 => kube_body(rest),
        4 => {
            let _ = hooklet::api::kube::handles(&text);
            let _ = routes::decode(&text);
        }
        _ => query(&text),
    }
});
