//! apiserver-style validation of a [`Pod`]: the rules of
//! `pkg/apis/core/validation/validation.go` that apply to the fields hooklet
//! models, with the same field paths and messages (spec section 1.2), plus the
//! checks for hooklet's extension fields (`wasm`, `timeoutSeconds`).
//!
//! Every error is collected (validation never stops at the first), in the
//! order the apiserver reports them: metadata, then `spec.containers`, then
//! `spec.initContainers`.

use std::collections::HashSet;

pub use super::field_error::{ErrorKind, FieldError, ValidationErrors};
use super::handler::validate_lifecycle;
use super::model::{Container, Pod, ProbeType, RestartPolicy};
use super::probe::validate_probe;
use super::names;

/// Switches that change validation the way apiserver feature gates do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ValidationOptions {
    /// `PodLifecycleSleepActionAllowZero`: a `sleep` of 0 seconds is valid.
    /// Default `true`: the gate is GA (locked on) since Kubernetes 1.34.
    pub allow_zero_sleep: bool,
}

impl Default for ValidationOptions {
    fn default() -> Self {
        ValidationOptions {
            allow_zero_sleep: true,
        }
    }
}

/// Validates a (defaulted) pod the way kube-apiserver validates a Pod create,
/// restricted to the fields hooklet models. Collects every error.
pub fn validate_pod(pod: &Pod, opts: &ValidationOptions) -> Result<(), ValidationErrors> {
    let mut errs = Vec::new();
    validate_metadata(pod, &mut errs);
    validate_spec(pod, opts, &mut errs);
    if errs.is_empty() {
        Ok(())
    } else {
        Err(ValidationErrors(errs, pod.metadata.name.clone()))
    }
}

/// `ValidateObjectMeta` with `ValidatePodName` (DNS-1123 subdomain) and a
/// namespaced kind (namespace is a DNS-1123 label).
fn validate_metadata(pod: &Pod, errs: &mut Vec<FieldError>) {
    let name = &pod.metadata.name;
    if name.is_empty() {
        errs.push(FieldError::required(
            "metadata.name",
            "name or generateName is required",
        ));
    } else {
        for msg in names::is_dns1123_subdomain(name) {
            errs.push(FieldError::invalid_str("metadata.name", name, &msg));
        }
    }
    // Defaulting has set the namespace; an empty one means the default too.
    let namespace = pod.namespace();
    if !namespace.is_empty() {
        for msg in names::is_dns1123_label(namespace) {
            errs.push(FieldError::invalid_str(
                "metadata.namespace",
                namespace,
                &msg,
            ));
        }
    }
}

fn validate_spec(pod: &Pod, opts: &ValidationOptions, errs: &mut Vec<FieldError>) {
    let spec = &pod.spec;
    super::priority::validate(spec, errs);
    // The apiserver converts a negative value to 1 (kubernetes#115606); hooklet
    // rejects it with `ValidateNonnegativeField`'s message instead.
    if let Some(tgps) = spec.termination_grace_period_seconds {
        if tgps < 0 {
            errs.push(FieldError::invalid_int(
                "spec.terminationGracePeriodSeconds",
                tgps.into(),
                "must be greater than or equal to 0",
            ));
        }
    }
    // The apiserver validates with the defaulted grace period (30 when unset).
    // A negative one is already reported above; sleeps are then not checked.
    let grace = Some(spec.termination_grace_seconds()).filter(|g| *g >= 0);

    if spec.containers.is_empty() {
        errs.push(FieldError::required("spec.containers", ""));
    }
    let mut names_seen: HashSet<&str> = HashSet::new();
    for (i, ctr) in spec.containers.iter().enumerate() {
        let path = format!("spec.containers[{i}]");
        validate_container_common(ctr, &path, errs);
        if !names_seen.insert(&ctr.name) {
            errs.push(FieldError::duplicate(&format!("{path}.name"), &ctr.name));
        }
        if let Some(lifecycle) = &ctr.lifecycle {
            validate_lifecycle(lifecycle, grace, &format!("{path}.lifecycle"), opts, errs);
        }
        validate_probes(ctr, &path, errs);
        if ctr.restart_policy.is_some() {
            errs.push(FieldError::forbidden(
                &format!("{path}.restartPolicy"),
                "may not be set for non-init containers",
            ));
        }
    }

    for (i, ctr) in spec.init_containers.iter().enumerate() {
        let path = format!("spec.initContainers[{i}]");
        validate_container_common(ctr, &path, errs);
        let mut restart_always = false;
        if let Some(policy) = ctr.restart_policy {
            restart_always = policy == RestartPolicy::Always;
            if !restart_always {
                errs.push(FieldError::not_supported(
                    &format!("{path}.restartPolicy"),
                    restart_policy_str(policy),
                    &["Always"],
                ));
            }
        }
        if names_seen.contains(ctr.name.as_str()) {
            errs.push(FieldError::duplicate(&format!("{path}.name"), &ctr.name));
        } else if !ctr.name.is_empty() {
            names_seen.insert(&ctr.name);
        }
        match (&ctr.lifecycle, restart_always) {
            (Some(lifecycle), true) => {
                validate_lifecycle(lifecycle, grace, &format!("{path}.lifecycle"), opts, errs)
            }
            (Some(_), false) => errs.push(FieldError::forbidden(
                &format!("{path}.lifecycle"),
                "may not be set for init containers without restartPolicy=Always",
            )),
            (None, _) => {}
        }
        if restart_always {
            validate_probes(ctr, &path, errs);
        } else {
            for kind in ProbeType::ALL.iter().rev() {
                if ctr.probe(*kind).is_some() {
                    errs.push(FieldError::forbidden(
                        &format!("{path}.{}", kind.field()),
                        "may not be set for init containers without restartPolicy=Always",
                    ));
                }
            }
        }
    }
}

/// The container's probes, in the order the apiserver validates them.
fn validate_probes(ctr: &Container, path: &str, errs: &mut Vec<FieldError>) {
    for kind in [ProbeType::Liveness, ProbeType::Readiness, ProbeType::Startup] {
        if let Some(probe) = ctr.probe(kind) {
            validate_probe(probe, kind, &format!("{path}.{}", kind.field()), errs);
        }
    }
}

fn restart_policy_str(policy: RestartPolicy) -> &'static str {
    match policy {
        RestartPolicy::Always => "Always",
        RestartPolicy::OnFailure => "OnFailure",
        RestartPolicy::Never => "Never",
    }
}

/// `validateContainerCommon`, for the modelled fields: name, image, ports, env,
/// envFrom, resources.
fn validate_container_common(ctr: &Container, path: &str, errs: &mut Vec<FieldError>) {
    let name_path = format!("{path}.name");
    if ctr.name.is_empty() {
        errs.push(FieldError::required(&name_path, ""));
    } else {
        for msg in names::is_dns1123_label(&ctr.name) {
            errs.push(FieldError::invalid_str(&name_path, &ctr.name, &msg));
        }
    }
    if ctr.image.is_empty() {
        errs.push(FieldError::required(&format!("{path}.image"), ""));
    }
    validate_ports(ctr, &format!("{path}.ports"), errs);
    super::env::validate_env(&ctr.env, &format!("{path}.env"), errs);
    super::env::validate_env_from(&ctr.env_from, &format!("{path}.envFrom"), errs);
    super::resources::validate(&ctr.resources, &format!("{path}.resources"), errs);
}

/// `validateContainerPorts`: names are IANA_SVC_NAMEs and unique, numbers in
/// 1–65535, protocol (when given) one of SCTP, TCP, UDP.
fn validate_ports(ctr: &Container, path: &str, errs: &mut Vec<FieldError>) {
    let mut port_names: HashSet<&str> = HashSet::new();
    for (i, port) in ctr.ports.iter().enumerate() {
        let idx = format!("{path}[{i}]");
        if let Some(name) = port.name.as_deref().filter(|n| !n.is_empty()) {
            let msgs = names::is_valid_port_name(name);
            if !msgs.is_empty() {
                for msg in msgs {
                    errs.push(FieldError::invalid_str(&format!("{idx}.name"), name, &msg));
                }
            } else if !port_names.insert(name) {
                errs.push(FieldError::duplicate(&format!("{idx}.name"), name));
            }
        }
        let number_path = format!("{idx}.containerPort");
        if port.container_port == 0 {
            errs.push(FieldError::required(&number_path, ""));
        } else {
            for msg in names::is_valid_port_num(port.container_port) {
                errs.push(FieldError::invalid_int(
                    &number_path,
                    port.container_port.into(),
                    &msg,
                ));
            }
        }
        // An empty protocol is defaulted to TCP by the apiserver.
        if let Some(protocol) = port.protocol.as_deref().filter(|p| !p.is_empty()) {
            if !["SCTP", "TCP", "UDP"].contains(&protocol) {
                errs.push(FieldError::not_supported(
                    &format!("{idx}.protocol"),
                    protocol,
                    &["SCTP", "TCP", "UDP"],
                ));
            }
        }
    }
}
