//! Pod priority without PriorityClass objects: the two built-in classes and the
//! `priority` field, as the apiserver's Priority admission resolves them.
//!
//! A pod is **critical** (the kubelet's `IsCriticalPod`) when its priority is at
//! least [`SYSTEM_CRITICAL_PRIORITY`]: critical pods are never evicted for node
//! pressure and may preempt other pods at admission.
//!
//! ```
//! use hooklet::spec::{priority, PodSpec};
//! let spec = PodSpec { priority_class_name: Some("system-node-critical".into()), ..PodSpec::default() };
//! assert_eq!(priority::of(&spec), 2_000_001_000);
//! assert!(priority::is_critical(&spec));
//! ```

use super::field_error::FieldError;
use super::model::PodSpec;

/// `scheduling.SystemCriticalPriority`: priorities from here up are critical.
pub const SYSTEM_CRITICAL_PRIORITY: i32 = 2_000_000_000;
/// `system-cluster-critical`.
pub const SYSTEM_CLUSTER_CRITICAL: &str = "system-cluster-critical";
/// `system-node-critical`.
pub const SYSTEM_NODE_CRITICAL: &str = "system-node-critical";

/// The value of a built-in priority class.
pub fn class_value(name: &str) -> Option<i32> {
    match name {
        SYSTEM_CLUSTER_CRITICAL => Some(SYSTEM_CRITICAL_PRIORITY),
        SYSTEM_NODE_CRITICAL => Some(SYSTEM_CRITICAL_PRIORITY + 1000),
        _ => None,
    }
}

/// The pod's priority: `priority`, else its class's value, else 0.
pub fn of(spec: &PodSpec) -> i32 {
    spec.priority
        .or_else(|| spec.priority_class_name.as_deref().and_then(class_value))
        .unwrap_or(0)
}

/// `IsCriticalPod`: priority at least [`SYSTEM_CRITICAL_PRIORITY`].
pub fn is_critical(spec: &PodSpec) -> bool {
    of(spec) >= SYSTEM_CRITICAL_PRIORITY
}

/// hooklet has no PriorityClass objects: any other class name is refused, as the
/// apiserver refuses a class it does not find.
pub(super) fn validate(spec: &PodSpec, errs: &mut Vec<FieldError>) {
    if let Some(name) = spec.priority_class_name.as_deref().filter(|n| !n.is_empty()) {
        if class_value(name).is_none() {
            let detail = format!(
                "no PriorityClass with name {name} was found (hooklet knows only {SYSTEM_NODE_CRITICAL} and {SYSTEM_CLUSTER_CRITICAL}; set spec.priority for others)"
            );
            errs.push(FieldError::invalid_str("spec.priorityClassName", name, &detail));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_and_explicit_priority() {
        let spec = |class: Option<&str>, priority| PodSpec { priority_class_name: class.map(str::to_string), priority, ..PodSpec::default() };
        assert_eq!(of(&spec(None, None)), 0);
        assert_eq!(of(&spec(Some(SYSTEM_CLUSTER_CRITICAL), None)), 2_000_000_000);
        assert_eq!(of(&spec(None, Some(7))), 7);
        assert!(is_critical(&spec(None, Some(2_000_000_000))));
        assert!(!is_critical(&spec(None, Some(1_999_999_999))));
        let mut errs = Vec::new();
        validate(&spec(Some("high"), None), &mut errs);
        assert_eq!(errs.len(), 1);
        assert!(errs[0].to_string().starts_with("spec.priorityClassName: Invalid value: \"high\": no PriorityClass with name high was found"), "{}", errs[0]);
    }
}
