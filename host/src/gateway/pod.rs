//! The pod the gateway serves, as the downward API tells it: the identity every plugin
//! event carries.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::spec::{ObjectMeta, Pod};

/// The environment variables the gateway reads its pod's identity from, each with the
/// downward API `fieldRef` that fills it (`env: [{name: HOOKLET_POD_NAME, valueFrom:
/// {fieldRef: {fieldPath: metadata.name}}}, ...]`).
pub const POD_ENV: [(&str, &str); 4] = [
    ("HOOKLET_POD_NAME", "metadata.name"),
    ("HOOKLET_POD_NAMESPACE", "metadata.namespace"),
    ("HOOKLET_POD_UID", "metadata.uid"),
    ("HOOKLET_POD_IP", "status.podIP"),
];

/// The pod whose hooks the gateway serves.
#[derive(Debug, Clone, PartialEq)]
pub struct PodIdentity {
    /// The pod as a hook target sees it: name, namespace, uid (labels and annotations
    /// are not available to environment variables, so they are empty).
    pub pod: Arc<Pod>,
    /// `status.podIP`, when the downward API gave one that parses.
    pub pod_ip: Option<std::net::IpAddr>,
}

impl PodIdentity {
    /// The identity from `lookup` (the process environment in `hooklet gateway`). Unset
    /// variables leave the field empty (the namespace: `default`); a warning names each,
    /// with the `fieldRef` that would set it.
    pub fn from_env(lookup: impl Fn(&str) -> Option<String>) -> PodIdentity {
        let mut values = BTreeMap::new();
        for (name, field) in POD_ENV {
            match lookup(name).filter(|v| !v.is_empty()) {
                Some(value) => {
                    values.insert(name, value);
                }
                None => tracing::warn!(
                    "{name} is not set, so plugins see an empty {field}; give the gateway \
                     container `env: [{{name: {name}, valueFrom: {{fieldRef: {{fieldPath: {field}}}}}}}]`"
                ),
            }
        }
        let pod_ip = values.get("HOOKLET_POD_IP").and_then(|ip| match ip.parse() {
            Ok(ip) => Some(ip),
            Err(_) => {
                tracing::warn!("HOOKLET_POD_IP={ip:?} is not an IP address; plugins see no pod IP");
                None
            }
        });
        let pod = Pod {
            api_version: "v1".into(),
            kind: "Pod".into(),
            metadata: ObjectMeta {
                name: values.get("HOOKLET_POD_NAME").cloned().unwrap_or_default(),
                namespace: Some(values.get("HOOKLET_POD_NAMESPACE").cloned().unwrap_or_else(|| "default".into())),
                uid: values.get("HOOKLET_POD_UID").cloned(),
                ..ObjectMeta::default()
            },
            spec: Default::default(),
        };
        PodIdentity { pod: Arc::new(pod), pod_ip }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_comes_from_the_downward_api_variables() {
        let env = |name: &str| match name {
            "HOOKLET_POD_NAME" => Some("web-7f9c".to_string()),
            "HOOKLET_POD_NAMESPACE" => Some("shop".to_string()),
            "HOOKLET_POD_UID" => Some("0d5c-uid".to_string()),
            "HOOKLET_POD_IP" => Some("10.1.2.3".to_string()),
            _ => None,
        };
        let id = PodIdentity::from_env(env);
        assert_eq!(id.pod.display_name(), "web-7f9c_shop(0d5c-uid)");
        assert_eq!(id.pod_ip, Some("10.1.2.3".parse().unwrap()));
        let empty = PodIdentity::from_env(|_| None);
        assert_eq!(empty.pod.display_name(), "_default()");
        assert_eq!(PodIdentity::from_env(|n| (n == "HOOKLET_POD_IP").then(|| "x".into())).pod_ip, None);
    }
}
