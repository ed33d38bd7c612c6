//! The node object: capacity and allocatable, the conditions (`Ready`,
//! `MemoryPressure`, `DiskPressure`, `PIDPressure`) with the kubelet's reasons,
//! messages and events, and the API view (`/v1/nodes`, `hooklet describe node`).
//!
//! | module | what it is |
//! |---|---|
//! | [`resources`] | machine capacity, `--system-reserved` / `--kube-reserved`, allocatable |
//! | [`addresses`] | `--node-ip`, the `InternalIP` / `Hostname` addresses, system info |
//! | [`conditions`] | the conditions and their transitions |
//! | [`view`] | the API view: allocated resources, non-terminated pods |
//! | [`quantity`] | quantities printed as Kubernetes prints them |

pub mod addresses;
pub mod conditions;
pub mod quantity;
pub mod resources;
pub mod view;

use std::path::Path;
use std::sync::Mutex;
use std::time::SystemTime;

pub use addresses::{NodeAddress, NodeIp, SystemInfo};
pub use conditions::{Conditions, NodeCondition, Pressure};
pub use resources::{parse_reserved, Reserved, ResourceList};
pub use view::{NodePod, NodeView};

use crate::events::{EventRecorder, EventType, ObjectRef};

/// The kubelet's `--max-pods` default.
pub const DEFAULT_MAX_PODS: u64 = 110;

/// How the node describes itself (flags of `hooklet serve`).
#[derive(Debug, Clone)]
pub struct NodeSettings {
    /// `--hostname-override`; default: the machine's host name.
    pub name: Option<String>,
    /// `--max-pods`.
    pub max_pods: u64,
    /// `--system-reserved`.
    pub system_reserved: Reserved,
    /// `--kube-reserved`.
    pub kube_reserved: Reserved,
    /// `--node-ip`.
    pub node_ip: NodeIp,
}

impl Default for NodeSettings {
    fn default() -> Self {
        NodeSettings { name: None, max_pods: DEFAULT_MAX_PODS, system_reserved: Reserved::default(), kube_reserved: Reserved::default(), node_ip: NodeIp::default() }
    }
}

/// The node's identity, resources and conditions. Shared by admission, the
/// eviction manager and the API.
pub struct NodeState {
    pub name: String,
    /// The `InternalIP`s (`--node-ip`, or the detected address; possibly none).
    pub internal_ips: Vec<std::net::IpAddr>,
    pub system: SystemInfo,
    pub capacity: ResourceList,
    pub allocatable: ResourceList,
    /// Process ids reserved (`pid=` of the reservations), kept out of `pid.available`.
    pub reserved_pids: u64,
    pub created_at: SystemTime,
    conditions: Mutex<Conditions>,
    events: EventRecorder,
    object: ObjectRef,
}

impl NodeState {
    /// Measures the machine (`state_dir`'s filesystem for `ephemeral-storage`) and
    /// computes allocatable: capacity − system-reserved − kube-reserved −
    /// `eviction_reserve` (what the hard eviction thresholds keep free).
    pub fn new(settings: &NodeSettings, state_dir: &Path, eviction_reserve: impl Fn(&ResourceList) -> ResourceList, events: EventRecorder) -> anyhow::Result<NodeState> {
        let name = match &settings.name {
            Some(n) => n.clone(),
            None => nix::unistd::gethostname().ok().and_then(|h| h.into_string().ok()).unwrap_or_else(|| "localhost".into()),
        }
        .to_lowercase();
        let internal_ips = settings.node_ip.resolve().map_err(anyhow::Error::msg)?;
        let capacity = resources::machine_capacity(state_dir, settings.max_pods)?;
        let allocatable = capacity
            .saturating_sub(settings.system_reserved.resources)
            .saturating_sub(settings.kube_reserved.resources)
            .saturating_sub(eviction_reserve(&capacity));
        let now = SystemTime::now();
        tracing::info!(node = %name, ?internal_ips, ?capacity, ?allocatable, "node resources");
        Ok(NodeState {
            object: ObjectRef::node(&name),
            name,
            internal_ips,
            system: SystemInfo::local(),
            capacity,
            allocatable,
            reserved_pids: settings.system_reserved.pids + settings.kube_reserved.pids,
            created_at: now,
            conditions: Mutex::new(Conditions::new(now)),
            events,
        })
    }

    /// Reports or clears a pressure condition; a change is a `Normal` event on the
    /// node (`NodeHasInsufficientMemory`: `Node NAME status is now: …`).
    pub fn set_pressure(&self, pressure: Pressure, on: bool) {
        let changed = self.conditions.lock().unwrap_or_else(|e| e.into_inner()).set(pressure, on, SystemTime::now());
        if let Some(event) = changed {
            tracing::info!(node = %self.name, condition = pressure.as_str(), on, "node condition changed");
            let message = format!("Node {} status is now: {event}", self.name);
            self.events.record(&self.object, EventType::Normal, event, &message);
        }
    }

    /// A snapshot of the conditions.
    pub fn conditions(&self) -> Conditions {
        self.conditions.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The node as an event's involved object.
    pub fn object(&self) -> &ObjectRef {
        &self.object
    }
}
