//! Container probes (`livenessProbe`, `readinessProbe`, `startupProbe`): the `v1.Probe`
//! model, the apiserver's defaulting (`SetDefaults_Probe`) and its validation messages
//! (probe spec §1). hooklet adds one handler kind, `wasm`, after `grpc`.

use serde::{Deserialize, Serialize};

use super::handler::{validate_exec, validate_http_get, validate_port_num_or_name, validate_wasm};
use super::model::{ExecAction, HttpGetAction, SleepAction, TcpSocketAction, WasmAction};
use super::names;
use super::validate::FieldError;

/// `timeoutSeconds` when 0 or absent.
pub const DEFAULT_TIMEOUT_SECONDS: i64 = 1;
/// `periodSeconds` when 0 or absent.
pub const DEFAULT_PERIOD_SECONDS: i64 = 10;
/// `successThreshold` when 0 or absent.
pub const DEFAULT_SUCCESS_THRESHOLD: i64 = 1;
/// `failureThreshold` when 0 or absent.
pub const DEFAULT_FAILURE_THRESHOLD: i64 = 3;

/// A `v1.Probe`: one handler (exec, httpGet, tcpSocket, grpc or hooklet's wasm) and its
/// timing. Numbers are `i64` so that a negative value in a manifest reaches validation.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Probe {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exec: Option<ExecAction>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_get: Option<HttpGetAction>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tcp_socket: Option<TcpSocketAction>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grpc: Option<GrpcAction>,
    /// hooklet extension: a WebAssembly plugin exporting `hooklet:hook/prober@0.2.0`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wasm: Option<WasmAction>,
    /// Not a probe action in Kubernetes; modelled only to reject it with a clear message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sleep: Option<SleepAction>,
    #[serde(default)]
    pub initial_delay_seconds: i64,
    #[serde(default)]
    pub timeout_seconds: i64,
    #[serde(default)]
    pub period_seconds: i64,
    #[serde(default)]
    pub success_threshold: i64,
    #[serde(default)]
    pub failure_threshold: i64,
    /// Liveness and startup only: the grace of the kill this probe causes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub termination_grace_period_seconds: Option<i64>,
}

/// `grpc` probe action: `grpc.health.v1.Health/Check` on the pod IP.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GrpcAction {
    /// A port number (gRPC probes cannot name a port).
    #[serde(default)]
    pub port: i64,
    /// The `service` of the health request; absent is `""`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
}

/// Which probe a [`Probe`] is, as the kubelet names them in events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum ProbeType {
    Liveness,
    Readiness,
    Startup,
}

impl ProbeType {
    /// Every kind, in the order the kubelet creates workers: startup, readiness, liveness.
    pub const ALL: [ProbeType; 3] = [ProbeType::Startup, ProbeType::Readiness, ProbeType::Liveness];

    /// `Liveness`, `Readiness`, `Startup` (`probeType.String()`).
    pub fn as_str(self) -> &'static str {
        match self {
            ProbeType::Liveness => "Liveness",
            ProbeType::Readiness => "Readiness",
            ProbeType::Startup => "Startup",
        }
    }

    /// The manifest field: `livenessProbe`, `readinessProbe`, `startupProbe`.
    pub fn field(self) -> &'static str {
        match self {
            ProbeType::Liveness => "livenessProbe",
            ProbeType::Readiness => "readinessProbe",
            ProbeType::Startup => "startupProbe",
        }
    }
}

impl Probe {
    /// `SetDefaults_Probe`: 0 means the default for timeout, period and thresholds;
    /// `httpGet` gets `path: /` and `scheme: HTTP` when empty.
    pub fn apply_defaults(&mut self) {
        let default = |value: &mut i64, default: i64| {
            if *value == 0 {
                *value = default;
            }
        };
        default(&mut self.timeout_seconds, DEFAULT_TIMEOUT_SECONDS);
        default(&mut self.period_seconds, DEFAULT_PERIOD_SECONDS);
        default(&mut self.success_threshold, DEFAULT_SUCCESS_THRESHOLD);
        default(&mut self.failure_threshold, DEFAULT_FAILURE_THRESHOLD);
        if let Some(http) = &mut self.http_get {
            http.apply_defaults();
        }
    }

    /// The handler kind's manifest name (`exec`, `httpGet`, `tcpSocket`, `grpc`, `wasm`),
    /// in the order the kubelet checks them.
    pub fn kind(&self) -> &'static str {
        if self.exec.is_some() {
            "exec"
        } else if self.http_get.is_some() {
            "httpGet"
        } else if self.tcp_socket.is_some() {
            "tcpSocket"
        } else if self.grpc.is_some() {
            "grpc"
        } else if self.wasm.is_some() {
            "wasm"
        } else {
            "none"
        }
    }
}

/// Validates one probe of a container at `path` (`spec.containers[0].livenessProbe`).
pub(crate) fn validate_probe(probe: &Probe, kind: ProbeType, path: &str, errs: &mut Vec<FieldError>) {
    validate_probe_handler(probe, path, errs);
    let numbers = [
        ("initialDelaySeconds", probe.initial_delay_seconds),
        ("timeoutSeconds", probe.timeout_seconds),
        ("periodSeconds", probe.period_seconds),
        ("successThreshold", probe.success_threshold),
        ("failureThreshold", probe.failure_threshold),
    ];
    for (field, value) in numbers {
        if value < 0 {
            errs.push(FieldError::invalid_int(
                &format!("{path}.{field}"),
                value.into(),
                "must be greater than or equal to 0",
            ));
        }
    }
    let tgps_path = format!("{path}.terminationGracePeriodSeconds");
    match kind {
        ProbeType::Readiness => {
            if let Some(tgps) = probe.termination_grace_period_seconds {
                errs.push(FieldError::invalid_int(&tgps_path, tgps.into(), "must not be set for readinessProbes"));
            }
        }
        ProbeType::Liveness | ProbeType::Startup => {
            if probe.success_threshold >= 0 && probe.success_threshold != 1 {
                errs.push(FieldError::invalid_int(
                    &format!("{path}.successThreshold"),
                    probe.success_threshold.into(),
                    "must be 1",
                ));
            }
            if let Some(tgps) = probe.termination_grace_period_seconds.filter(|t| *t <= 0) {
                errs.push(FieldError::invalid_int(&tgps_path, tgps.into(), "must be greater than 0"));
            }
        }
    }
}

/// `validateHandler` for probes: exactly one of exec, httpGet, tcpSocket, grpc (and
/// hooklet's wasm); `sleep` is a lifecycle action only.
fn validate_probe_handler(probe: &Probe, path: &str, errs: &mut Vec<FieldError>) {
    if probe.sleep.is_some() {
        errs.push(FieldError::forbidden(
            &format!("{path}.sleep"),
            "sleep is a lifecycle hook action, not a probe action; use exec, httpGet, tcpSocket, grpc or wasm",
        ));
    }
    let present = [
        ("exec", probe.exec.is_some()),
        ("httpGet", probe.http_get.is_some()),
        ("tcpSocket", probe.tcp_socket.is_some()),
        ("grpc", probe.grpc.is_some()),
        ("wasm", probe.wasm.is_some()),
    ];
    let mut count = 0;
    for (name, is_set) in present {
        if !is_set {
            continue;
        }
        let action_path = format!("{path}.{name}");
        if count > 0 {
            errs.push(FieldError::forbidden(&action_path, "may not specify more than 1 handler type"));
            continue;
        }
        count += 1;
        match name {
            "exec" => validate_exec(probe.exec.as_ref().expect("set"), &action_path, errs),
            "httpGet" => validate_http_get(probe.http_get.as_ref().expect("set"), &action_path, errs),
            "tcpSocket" => {
                let tcp = probe.tcp_socket.as_ref().expect("set");
                validate_port_num_or_name(&tcp.port, &format!("{action_path}.port"), errs)
            }
            "grpc" => {
                let port = probe.grpc.as_ref().expect("set").port;
                for msg in names::is_valid_port_num(port) {
                    errs.push(FieldError::invalid_int(&format!("{action_path}.port"), port.into(), &msg));
                }
            }
            _ => validate_wasm(probe.wasm.as_ref().expect("set"), &action_path, errs),
        }
    }
    if count == 0 && probe.sleep.is_none() {
        errs.push(FieldError::required(path, "must specify a handler type"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errors(probe: &Probe, kind: ProbeType) -> Vec<String> {
        let mut errs = Vec::new();
        validate_probe(probe, kind, "spec.containers[0].p", &mut errs);
        errs.iter().map(|e| e.to_string()).collect()
    }

    fn exec_probe() -> Probe {
        let mut p = Probe { exec: Some(ExecAction { command: vec!["true".into()] }), ..Probe::default() };
        p.apply_defaults();
        p
    }

    #[test]
    fn zero_means_the_default() {
        let p = exec_probe();
        assert_eq!((p.timeout_seconds, p.period_seconds, p.success_threshold, p.failure_threshold), (1, 10, 1, 3));
        assert_eq!(p.initial_delay_seconds, 0);
        assert!(errors(&p, ProbeType::Liveness).is_empty());
    }

    #[test]
    fn apiserver_messages() {
        let p = Probe { success_threshold: 2, period_seconds: -1, ..exec_probe() };
        assert_eq!(
            errors(&p, ProbeType::Liveness),
            [
                "spec.containers[0].p.periodSeconds: Invalid value: -1: must be greater than or equal to 0",
                "spec.containers[0].p.successThreshold: Invalid value: 2: must be 1",
            ]
        );
        assert!(errors(&Probe { success_threshold: 2, ..exec_probe() }, ProbeType::Readiness).is_empty());
        let tgps = Probe { termination_grace_period_seconds: Some(5), ..exec_probe() };
        assert_eq!(
            errors(&tgps, ProbeType::Readiness),
            ["spec.containers[0].p.terminationGracePeriodSeconds: Invalid value: 5: must not be set for readinessProbes"]
        );
        assert!(errors(&tgps, ProbeType::Startup).is_empty());
        let zero = Probe { termination_grace_period_seconds: Some(0), ..exec_probe() };
        assert_eq!(
            errors(&zero, ProbeType::Startup),
            ["spec.containers[0].p.terminationGracePeriodSeconds: Invalid value: 0: must be greater than 0"]
        );
    }

    #[test]
    fn exactly_one_handler() {
        let none = Probe::default();
        assert_eq!(errors(&none, ProbeType::Readiness), ["spec.containers[0].p: Required value: must specify a handler type"]);
        let two = Probe { grpc: Some(GrpcAction { port: 70000, service: None }), ..exec_probe() };
        assert_eq!(
            errors(&two, ProbeType::Readiness),
            ["spec.containers[0].p.grpc: Forbidden: may not specify more than 1 handler type"]
        );
        let grpc = Probe { exec: None, ..two };
        assert_eq!(
            errors(&grpc, ProbeType::Readiness),
            ["spec.containers[0].p.grpc.port: Invalid value: 70000: must be between 1 and 65535, inclusive"]
        );
        let sleep = Probe { exec: None, sleep: Some(SleepAction { seconds: 1 }), ..exec_probe() };
        assert_eq!(
            errors(&sleep, ProbeType::Liveness),
            ["spec.containers[0].p.sleep: Forbidden: sleep is a lifecycle hook action, not a probe action; use exec, httpGet, tcpSocket, grpc or wasm"]
        );
    }
}
