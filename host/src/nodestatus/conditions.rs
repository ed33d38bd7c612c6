//! Node conditions with the kubelet's reasons and messages (`nodestatus/setters.go`)
//! and the events it records when one changes (`Node NAME status is now: …`).

use std::time::SystemTime;

use serde::{Deserialize, Serialize};

/// A pressure condition, the node-level side of an eviction signal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Pressure {
    MemoryPressure,
    DiskPressure,
    PIDPressure,
}

impl Pressure {
    /// All of them, in the order the kubelet reports them.
    pub const ALL: [Pressure; 3] = [Pressure::MemoryPressure, Pressure::DiskPressure, Pressure::PIDPressure];

    /// The condition type.
    pub fn as_str(self) -> &'static str {
        match self {
            Pressure::MemoryPressure => "MemoryPressure",
            Pressure::DiskPressure => "DiskPressure",
            Pressure::PIDPressure => "PIDPressure",
        }
    }

    /// (condition reason, message, event reason) when `on` (under pressure) or not.
    pub fn texts(self, on: bool) -> (&'static str, &'static str, &'static str) {
        match (self, on) {
            (Pressure::MemoryPressure, true) => ("KubeletHasInsufficientMemory", "kubelet has insufficient memory available", "NodeHasInsufficientMemory"),
            (Pressure::MemoryPressure, false) => ("KubeletHasSufficientMemory", "kubelet has sufficient memory available", "NodeHasSufficientMemory"),
            (Pressure::DiskPressure, true) => ("KubeletHasDiskPressure", "kubelet has disk pressure", "NodeHasDiskPressure"),
            (Pressure::DiskPressure, false) => ("KubeletHasNoDiskPressure", "kubelet has no disk pressure", "NodeHasNoDiskPressure"),
            (Pressure::PIDPressure, true) => ("KubeletHasInsufficientPID", "kubelet has insufficient PID available", "NodeHasInsufficientPID"),
            (Pressure::PIDPressure, false) => ("KubeletHasSufficientPID", "kubelet has sufficient PID available", "NodeHasSufficientPID"),
        }
    }
}

/// `status.conditions[]` of a Node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeCondition {
    #[serde(rename = "type")]
    pub condition_type: String,
    /// `True` or `False`.
    pub status: String,
    pub last_heartbeat_time: SystemTime,
    pub last_transition_time: SystemTime,
    pub reason: String,
    pub message: String,
}

impl NodeCondition {
    fn new(condition_type: &str, on: bool, reason: &str, message: &str, now: SystemTime) -> Self {
        NodeCondition {
            condition_type: condition_type.to_string(),
            status: if on { "True" } else { "False" }.to_string(),
            last_heartbeat_time: now,
            last_transition_time: now,
            reason: reason.to_string(),
            message: message.to_string(),
        }
    }

    /// Whether the condition holds.
    pub fn is_true(&self) -> bool {
        self.status == "True"
    }
}

/// The node's conditions: the three pressures and `Ready`.
#[derive(Debug, Clone)]
pub struct Conditions {
    list: Vec<NodeCondition>,
}

impl Conditions {
    /// No pressure, `Ready` (`KubeletReady`).
    pub fn new(now: SystemTime) -> Self {
        let mut list: Vec<NodeCondition> = Pressure::ALL
            .iter()
            .map(|p| {
                let (reason, message, _) = p.texts(false);
                NodeCondition::new(p.as_str(), false, reason, message, now)
            })
            .collect();
        list.push(NodeCondition::new("Ready", true, "KubeletReady", "kubelet is posting ready status", now));
        Conditions { list }
    }

    /// Sets a pressure; returns the event reason when it changed
    /// (`NodeHasInsufficientMemory` …). Every condition's heartbeat is `now`.
    pub fn set(&mut self, pressure: Pressure, on: bool, now: SystemTime) -> Option<&'static str> {
        let (reason, message, event) = pressure.texts(on);
        for c in &mut self.list {
            c.last_heartbeat_time = now;
        }
        let c = self.list.iter_mut().find(|c| c.condition_type == pressure.as_str())?;
        if c.is_true() == on {
            return None;
        }
        *c = NodeCondition::new(pressure.as_str(), on, reason, message, now);
        Some(event)
    }

    /// Whether `pressure` is reported.
    pub fn has(&self, pressure: Pressure) -> bool {
        self.list.iter().any(|c| c.condition_type == pressure.as_str() && c.is_true())
    }

    /// The pressures reported, in order (`[MemoryPressure]` in admission messages).
    pub fn active(&self) -> Vec<Pressure> {
        Pressure::ALL.into_iter().filter(|p| self.has(*p)).collect()
    }

    /// The list as the API shows it.
    pub fn list(&self) -> &[NodeCondition] {
        &self.list
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transitions_report_the_kubelet_event() {
        let t0 = SystemTime::UNIX_EPOCH;
        let mut c = Conditions::new(t0);
        assert_eq!(c.list().len(), 4);
        assert_eq!(c.set(Pressure::MemoryPressure, false, t0), None);
        let t1 = t0 + std::time::Duration::from_secs(5);
        assert_eq!(c.set(Pressure::MemoryPressure, true, t1), Some("NodeHasInsufficientMemory"));
        assert!(c.has(Pressure::MemoryPressure));
        let mem = &c.list()[0];
        assert_eq!((mem.reason.as_str(), mem.last_transition_time), ("KubeletHasInsufficientMemory", t1));
        assert_eq!(c.active(), vec![Pressure::MemoryPressure]);
        assert_eq!(c.set(Pressure::MemoryPressure, false, t1), Some("NodeHasSufficientMemory"));
    }
}
