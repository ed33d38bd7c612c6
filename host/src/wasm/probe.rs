//! A probe call: [`WasmProbe`], what the plugin is told ([`ProbeEvent`]), and its WIT form
//! (`hooklet:hook/prober@0.2.0`).

use tokio::time::Instant;

use super::bindings::v0_2;

/// A request to run one plugin's `check` for one probe of a container (see
/// [`WasmHost::probe`](super::WasmHost::probe)).
#[derive(Debug, Clone)]
pub struct WasmProbe {
    /// The plugin name: `<plugin_dir>/NAME.wasm`. It must export
    /// `hooklet:hook/prober@0.2.0`.
    pub plugin: String,
    /// What the plugin is told about the probe.
    pub event: ProbeEvent,
    /// Fuel budget; `None` uses the manifest's `limits.fuel`, else the node default.
    pub fuel: Option<u64>,
    /// When the probe must be done (its `timeoutSeconds`); `None` runs until done (or
    /// until the future is dropped).
    pub deadline: Option<Instant>,
}

/// Which probe of a container this is, as in Kubernetes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProbeKind {
    /// `livenessProbe`.
    Liveness,
    /// `readinessProbe`.
    Readiness,
    /// `startupProbe`.
    Startup,
}

impl ProbeKind {
    /// The kind as written in WIT: `"liveness"`, `"readiness"` or `"startup"`.
    pub fn as_str(self) -> &'static str {
        match self {
            ProbeKind::Liveness => "liveness",
            ProbeKind::Readiness => "readiness",
            ProbeKind::Startup => "startup",
        }
    }
}

impl std::fmt::Display for ProbeKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a plugin is told about the probe (the WIT `probe-event` record, without
/// `deadline-ms`, which is computed from [`WasmProbe::deadline`] when the call starts).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeEvent {
    /// Which probe this is.
    pub kind: ProbeKind,
    /// `metadata.name` of the pod.
    pub pod_name: String,
    /// `metadata.namespace` of the pod.
    pub pod_namespace: String,
    /// `metadata.uid` of the pod.
    pub pod_uid: String,
    /// The probed container.
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
    /// The probe handler's `wasm.config` key/values.
    pub config: Vec<(String, String)>,
}

/// The WIT `probe-event` record for `event`.
pub(crate) fn to_wit(event: ProbeEvent, deadline_ms: Option<u64>) -> v0_2::ProbeEvent {
    v0_2::ProbeEvent {
        kind: match event.kind {
            ProbeKind::Liveness => v0_2::ProbeKind::Liveness,
            ProbeKind::Readiness => v0_2::ProbeKind::Readiness,
            ProbeKind::Startup => v0_2::ProbeKind::Startup,
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
        deadline_ms,
        config: event.config,
    }
}
