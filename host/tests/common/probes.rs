//! Helpers for the probe tests: a node whose probe seconds last 100 ms, and waits on
//! events and probe counts instead of sleeps.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use hooklet::lifecycle::{Node, NodeConfig, PodStatus};

/// One probe second in the tests: `periodSeconds: 1` probes every 100 ms.
pub const UNIT: Duration = Duration::from_millis(100);

/// A node on the process runtime with shrunken probe seconds and back-off.
pub fn probe_node(dir: &Path) -> Arc<Node> {
    super::node_with(dir, NodeConfig { probe_time_unit: UNIT, ..super::test_config(dir) })
}

/// How many events with `reason` (merged repeats counted) the pod has had.
pub fn event_count(node: &Node, uid: &str, reason: &str) -> u32 {
    node.events().for_pod(uid).iter().filter(|e| e.reason == reason).map(|e| e.count).sum()
}

/// Waits until the pod has had `n` events with `reason` (merged repeats counted).
pub async fn until_events(node: &Node, uid: &str, reason: &str, n: u32) {
    let mut events = node.events().subscribe();
    while event_count(node, uid, reason) < n {
        let _ = tokio::time::timeout(Duration::from_secs(1), events.recv()).await;
    }
}

/// Waits until `n` probes with `result` (`successful`, `failed`, `unknown`) have run on
/// the node since it started.
pub async fn until_probes(node: &Node, result: &str, n: u64) {
    let metrics = node.prober().metrics().clone();
    while metrics.count(result) < n {
        tokio::time::sleep(UNIT / 4).await;
    }
}

/// The `status` of the pod condition `type_` (`True`/`False`).
pub fn condition(status: &PodStatus, type_: &str) -> String {
    status.condition(type_).map(|c| c.status.clone()).unwrap_or_default()
}

/// The message of the pod condition `type_`.
pub fn condition_message(status: &PodStatus, type_: &str) -> String {
    status.condition(type_).and_then(|c| c.message.clone()).unwrap_or_default()
}
