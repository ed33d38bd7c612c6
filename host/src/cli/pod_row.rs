//! One `get pods` row of hooklet's CLI: kubectl's columns ([`crate::printers::pod`]),
//! NAMESPACE first with `-A`, IP and UID last with `-o wide`.

use super::format::age;
use crate::api::types::PodView;
use crate::printers::pod::columns;

/// The row of `v`: NAMESPACE first when `namespace`, IP and UID last when `wide`.
pub fn pod_row(v: &PodView, namespace: bool, wide: bool) -> Vec<String> {
    let (pod, s) = (&v.pod, &v.status);
    let cols = columns(pod, s);
    let mut row = vec![pod.metadata.name.clone(), cols.ready, cols.status, cols.restarts.to_string(), age(v.applied_at)];
    if namespace {
        row.insert(0, pod.namespace().to_string());
    }
    if wide {
        row.push(s.pod_ip.map(|ip| ip.to_string()).unwrap_or_else(|| "<none>".into()));
        row.push(pod.uid().to_string());
    }
    row
}
