//! Which list of the pod spec a container is in: [`Slot`] names a container by list
//! and index, so the pod worker, container workers and status updates agree on it
//! without offsetting integers.

use crate::events::ObjectRef;
use crate::spec::{Container, Pod};

use super::status::{ContainerStatus, PodStatus};

/// A container of a pod: `spec.initContainers[i]` or `spec.containers[i]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Slot {
    /// `spec.initContainers[i]`; a sidecar when its `restartPolicy` is `Always`.
    Init(usize),
    /// `spec.containers[i]`.
    Regular(usize),
}

impl Slot {
    /// The container's spec.
    pub fn spec(self, pod: &Pod) -> &Container {
        match self {
            Slot::Init(i) => &pod.spec.init_containers[i],
            Slot::Regular(i) => &pod.spec.containers[i],
        }
    }

    /// The container's status.
    pub fn status(self, status: &PodStatus) -> &ContainerStatus {
        match self {
            Slot::Init(i) => &status.init_containers[i],
            Slot::Regular(i) => &status.containers[i],
        }
    }

    /// The container's status, to change it.
    pub fn status_mut(self, status: &mut PodStatus) -> &mut ContainerStatus {
        match self {
            Slot::Init(i) => &mut status.init_containers[i],
            Slot::Regular(i) => &mut status.containers[i],
        }
    }

    /// A sidecar: an init container with `restartPolicy: Always`.
    pub fn is_sidecar(self, pod: &Pod) -> bool {
        matches!(self, Slot::Init(_)) && self.spec(pod).is_sidecar()
    }

    /// A plain init container: runs to completion before the next one.
    pub fn is_plain_init(self, pod: &Pod) -> bool {
        matches!(self, Slot::Init(_)) && !self.spec(pod).is_sidecar()
    }

    /// The waiting reason while an instance is being created: `PodInitializing` for
    /// init containers, `ContainerCreating` for regular ones (as the kubelet reports).
    pub fn creating_reason(self) -> &'static str {
        match self {
            Slot::Init(_) => "PodInitializing",
            Slot::Regular(_) => "ContainerCreating",
        }
    }

    /// The container as an event's involved object (`spec.containers{name}` or
    /// `spec.initContainers{name}`, as the kubelet sets the field path).
    pub fn object(self, pod: &ObjectRef, name: &str) -> ObjectRef {
        match self {
            Slot::Init(_) => pod.init_container(name),
            Slot::Regular(_) => pod.container(name),
        }
    }
}
