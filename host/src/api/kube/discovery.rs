//! `/version` and API discovery: which resources the core `v1` group has here.
//! Legacy discovery (`APIVersions`, `APIGroupList`, `APIResourceList`) for every
//! client, aggregated discovery (`APIGroupDiscoveryList`, `v2` or `v2beta1`) only
//! to a client whose `Accept` asks for that exact version: kubectl 1.27 offers only
//! `v2beta1` and breaks on a `v2` answer.

use hyper::{header, HeaderMap, Response, StatusCode};
use serde_json::{json, Value};

use crate::api::body::{self, Body};

/// One resource of the core group.
struct Resource {
    name: &'static str,
    singular: &'static str,
    kind: &'static str,
    namespaced: bool,
    verbs: &'static [&'static str],
    short_names: &'static [&'static str],
    categories: &'static [&'static str],
    /// Subresources: (name, kind answered, verbs).
    subresources: &'static [(&'static str, &'static str, &'static [&'static str])],
}

/// What hooklet serves of core `v1`.
const RESOURCES: &[Resource] = &[
    Resource {
        name: "pods",
        singular: "pod",
        kind: "Pod",
        namespaced: true,
        verbs: &["create", "delete", "get", "list", "patch", "watch"],
        short_names: &["po"],
        categories: &["all"],
        subresources: &[("log", "Pod", &["get"]), ("exec", "PodExecOptions", &["create", "get"])],
    },
    Resource {
        name: "events",
        singular: "event",
        kind: "Event",
        namespaced: true,
        verbs: &["list"],
        short_names: &["ev"],
        categories: &[],
        subresources: &[],
    },
    Resource {
        name: "nodes",
        singular: "node",
        kind: "Node",
        namespaced: false,
        verbs: &["get", "list"],
        short_names: &["no"],
        categories: &[],
        subresources: &[],
    },
    Resource {
        name: "namespaces",
        singular: "namespace",
        kind: "Namespace",
        namespaced: false,
        verbs: &["get", "list"],
        short_names: &["ns"],
        categories: &[],
        subresources: &[],
    },
];

/// The Kubernetes version whose API behaviour hooklet follows.
pub const KUBE_MINOR: &str = "37";

/// `GET /version`.
pub fn version() -> Value {
    json!({
        "major": "1",
        "minor": KUBE_MINOR,
        "gitVersion": git_version(),
        "gitCommit": "",
        "gitTreeState": "",
        "buildDate": "",
        "goVersion": "",
        "compiler": "rustc",
        "platform": format!("{}/{}", std::env::consts::OS, go_arch()),
    })
}

/// The version hooklet reports (`/version`, a node's `kubeletVersion`).
pub fn git_version() -> String {
    format!("v1.{KUBE_MINOR}.0-hooklet.{}", env!("CARGO_PKG_VERSION"))
}

pub use crate::nodestatus::addresses::go_arch;

/// The aggregated discovery version the client asked for, if any (`v2`, `v2beta1`),
/// in the order of its `Accept`.
fn aggregated_version(headers: &HeaderMap) -> Option<&'static str> {
    let accept = headers.get(header::ACCEPT)?.to_str().ok()?;
    accept.split(',').find_map(|part| {
        let params: Vec<&str> = part.split(';').map(str::trim).collect();
        if !params.contains(&"g=apidiscovery.k8s.io") || !params.contains(&"as=APIGroupDiscoveryList") {
            return None;
        }
        match params.iter().find_map(|p| p.strip_prefix("v=")) {
            Some("v2") => Some("v2"),
            Some("v2beta1") => Some("v2beta1"),
            _ => None,
        }
    })
}

fn aggregated(version: &str, groups: Vec<Value>) -> Response<Body> {
    let list = json!({"kind": "APIGroupDiscoveryList", "apiVersion": format!("apidiscovery.k8s.io/{version}"), "metadata": {}, "items": groups});
    let mut response = body::json(StatusCode::OK, &list);
    let content_type = format!("application/json;g=apidiscovery.k8s.io;v={version};as=APIGroupDiscoveryList");
    response.headers_mut().insert(header::CONTENT_TYPE, content_type.parse().expect("a valid header"));
    response
}

/// `GET /api`.
pub fn api(headers: &HeaderMap) -> Response<Body> {
    match aggregated_version(headers) {
        Some(version) => aggregated(version, vec![core_group()]),
        None => body::json(
            StatusCode::OK,
            &json!({"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": ""}]}),
        ),
    }
}

/// `GET /apis`: no named groups.
pub fn apis(headers: &HeaderMap) -> Response<Body> {
    match aggregated_version(headers) {
        Some(version) => aggregated(version, vec![]),
        None => body::json(StatusCode::OK, &json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": []})),
    }
}

/// `GET /api/v1`.
pub fn api_v1() -> Value {
    let mut resources = Vec::new();
    for r in RESOURCES {
        resources.push(json!({
            "name": r.name, "singularName": r.singular, "namespaced": r.namespaced, "kind": r.kind,
            "verbs": r.verbs, "shortNames": r.short_names, "categories": r.categories,
        }));
        for (sub, kind, verbs) in r.subresources {
            resources.push(json!({"name": format!("{}/{sub}", r.name), "singularName": "", "namespaced": r.namespaced, "kind": kind, "verbs": verbs}));
        }
    }
    json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": "v1", "resources": resources})
}

fn core_group() -> Value {
    let resources: Vec<Value> = RESOURCES
        .iter()
        .map(|r| {
            json!({
                "resource": r.name,
                "responseKind": {"group": "", "version": "v1", "kind": r.kind},
                "scope": if r.namespaced { "Namespaced" } else { "Cluster" },
                "singularResource": r.singular,
                "verbs": r.verbs,
                "shortNames": r.short_names,
                "categories": r.categories,
                "subresources": r.subresources.iter().map(|(sub, kind, verbs)| json!({
                    "subresource": sub, "responseKind": {"group": "", "version": "v1", "kind": kind}, "verbs": verbs,
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    json!({"metadata": {"creationTimestamp": null}, "versions": [{"version": "v1", "resources": resources, "freshness": "Current"}]})
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::ACCEPT, value.parse().unwrap());
        h
    }

    #[test]
    fn aggregated_discovery_only_in_the_version_asked_for() {
        let v137 = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json";
        let v132 = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json";
        let v127 = "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json";
        assert_eq!(aggregated_version(&accept(v137)), Some("v2"));
        assert_eq!(aggregated_version(&accept(v132)), Some("v2"));
        assert_eq!(aggregated_version(&accept(v127)), Some("v2beta1"));
        assert_eq!(aggregated_version(&accept("application/json, */*")), None);
        assert_eq!(aggregated_version(&HeaderMap::new()), None);
        let response = api(&accept(v127));
        assert_eq!(response.headers()[header::CONTENT_TYPE], "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList");
        assert_eq!(api(&accept("application/json")).headers()[header::CONTENT_TYPE], "application/json");
    }

    #[test]
    fn legacy_discovery_lists_pods_with_their_short_name() {
        let list = api_v1();
        let pods = list["resources"].as_array().unwrap().iter().find(|r| r["name"] == "pods").unwrap();
        assert_eq!(pods["shortNames"], json!(["po"]));
        assert_eq!(pods["namespaced"], json!(true));
    }
}
