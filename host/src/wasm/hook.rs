//! A lifecycle-hook call: [`WasmDelivery`], what the plugin is told ([`PluginEvent`]),
//! and its WIT form for each version of the hook handler (0.1.0 and 0.2.0, the same shape).

use tokio::time::Instant;

use super::bindings::{v0_1, v0_2};

/// A request to run one plugin for one hook.
#[derive(Debug, Clone)]
pub struct WasmDelivery {
    /// The plugin name: `<plugin_dir>/NAME.wasm`.
    pub plugin: String,
    /// What the plugin is told about the hook.
    pub event: PluginEvent,
    /// Fuel budget; `None` uses the manifest's `limits.fuel`, else the node default.
    pub fuel: Option<u64>,
    /// When the hook must be done; `None` runs until done (or until the future is dropped).
    pub deadline: Option<Instant>,
}

/// Which lifecycle point a hook runs at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PluginPhase {
    /// `lifecycle.postStart`.
    PostStart,
    /// `lifecycle.preStop`.
    PreStop,
}

/// What a plugin is told about the hook (the WIT `event` record, without `deadline-ms`,
/// which is computed from [`WasmDelivery::deadline`] when the call starts).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginEvent {
    /// Which lifecycle point this is.
    pub phase: PluginPhase,
    /// `metadata.name` of the pod.
    pub pod_name: String,
    /// `metadata.namespace` of the pod.
    pub pod_namespace: String,
    /// `metadata.uid` of the pod.
    pub pod_uid: String,
    /// The container whose hook this is.
    pub container_name: String,
    /// The runtime's id of the container.
    pub container_id: String,
    /// The container's image reference.
    pub image: String,
    /// The pod's labels.
    pub labels: Vec<(String, String)>,
    /// The pod's annotations.
    pub annotations: Vec<(String, String)>,
    /// The pod's IP, when it has one.
    pub pod_ip: Option<String>,
    /// Stable id of this delivery (the same on redelivery).
    pub delivery_id: String,
    /// 1 for the first try, then 2, 3, ... on redelivery.
    pub attempt: u32,
    /// The handler's `wasm.config` key/values.
    pub config: Vec<(String, String)>,
}

/// The WIT `event` record of handler version `$wit` (a module with `Event` and `Phase`)
/// for a [`PluginEvent`]: both versions have the same shape, so one expansion serves each.
macro_rules! wit_event {
    ($wit:path, $event:expr, $deadline_ms:expr) => {{
        use $wit as wit;
        let event: PluginEvent = $event;
        wit::Event {
            phase: match event.phase {
                PluginPhase::PostStart => wit::Phase::PostStart,
                PluginPhase::PreStop => wit::Phase::PreStop,
            },
            pod_name: event.pod_name,
            pod_namespace: event.pod_namespace,
            pod_uid: event.pod_uid,
            container_name: event.container_name,
            container_id: event.container_id,
            image: event.image,
            labels: event.labels,
            annotations: event.annotations,
            pod_ip: event.pod_ip,
            delivery_id: event.delivery_id,
            attempt: event.attempt,
            deadline_ms: $deadline_ms,
            config: event.config,
        }
    }};
}

/// The 0.1.0 WIT `event` record for `event`.
pub(crate) fn to_wit_0_1(event: PluginEvent, deadline_ms: Option<u64>) -> v0_1::Event {
    wit_event!(v0_1, event, deadline_ms)
}

/// The 0.2.0 WIT `event` record for `event`.
pub(crate) fn to_wit_0_2(event: PluginEvent, deadline_ms: Option<u64>) -> v0_2::Event {
    wit_event!(v0_2, event, deadline_ms)
}
