//! The subset of the Kubernetes `v1` Pod API that hooklet reads, plus hooklet's
//! extensions (`wasm` handler, `timeoutSeconds` on any handler, `failOnHttpError`).
//!
//! Field names follow the Kubernetes JSON names exactly, so existing manifests
//! deserialize unchanged. Fields that are not modelled here are reported as
//! warnings by [`crate::spec::parse`], never silently dropped.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub use super::env::{EnvFromSource, EnvVar, EnvVarSource, KeySelector, ObjectFieldSelector, ResourceFieldSelector, SourceRef};
pub use super::probe::{GrpcAction, Probe, ProbeType};
pub use super::resources::ResourceRequirements;

/// Default `terminationGracePeriodSeconds` when the manifest sets none.
pub const DEFAULT_TERMINATION_GRACE_SECONDS: i64 = 30;

/// A Kubernetes `v1` Pod.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Pod {
    /// Must be `v1`.
    pub api_version: String,
    /// Must be `Pod`.
    pub kind: String,
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// Absent means empty, so validation reports `spec.containers: Required value`.
    #[serde(default)]
    pub spec: PodSpec,
}

/// `metadata` of a Pod.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectMeta {
    #[serde(default)]
    pub name: String,
    /// Defaults to `default` (see [`crate::spec::parse`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Generated when absent (see [`crate::spec::parse`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// `spec` of a Pod.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodSpec {
    #[serde(default)]
    pub containers: Vec<Container>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub init_containers: Vec<Container>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub termination_grace_period_seconds: Option<i64>,
    #[serde(default)]
    pub restart_policy: RestartPolicy,
    /// `priorityClassName`: `system-node-critical` or `system-cluster-critical`
    /// (the built-in classes; see [`crate::spec::priority`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority_class_name: Option<String>,
    /// `priority`: the pod's priority; without it, the class's value (else 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<i32>,
    /// `imagePullSecrets`: Secrets of the pod's namespace whose registry credentials
    /// the image manager tries first (see [`crate::image::manager`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub image_pull_secrets: Vec<LocalObjectReference>,
    /// `serviceAccountName`: only read by the downward API (`fieldRef:
    /// spec.serviceAccountName`, `default` when absent, as the ServiceAccount admission
    /// plugin sets it); hooklet has no service accounts and mounts no token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_account_name: Option<String>,
}

/// A reference to an object of the same namespace by name.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LocalObjectReference {
    #[serde(default)]
    pub name: String,
}

impl PodSpec {
    /// The grace period the manifest asks for, with the Kubernetes default.
    pub fn termination_grace_seconds(&self) -> i64 {
        self.termination_grace_period_seconds
            .unwrap_or(DEFAULT_TERMINATION_GRACE_SECONDS)
    }
}

/// `spec.restartPolicy`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum RestartPolicy {
    #[default]
    Always,
    OnFailure,
    Never,
}

/// `imagePullPolicy` of a container.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PullPolicy {
    /// Always ask the registry for the tag's current digest.
    Always,
    /// Pull only when the store has no such image.
    IfNotPresent,
    /// Never pull: the image must be imported.
    Never,
}

/// One entry of `spec.containers` (or `spec.initContainers`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Container {
    /// Required; absent is reported by validation, as the apiserver does.
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub image: String,
    /// Absent: the API server's default (`Always` for `:latest` and untagged images,
    /// else `IfNotPresent`), applied by the image manager.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_pull_policy: Option<PullPolicy>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub command: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<String>,
    /// Literal values and `valueFrom` sources (see [`EnvVar`]), resolved at each start.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<EnvVar>,
    /// Every key of a Secret as a variable (see [`EnvFromSource`]); `env` wins.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env_from: Vec<EnvFromSource>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub working_dir: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<ContainerPort>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lifecycle: Option<Lifecycle>,
    /// Only meaningful on init containers: `Always` makes a sidecar.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restart_policy: Option<RestartPolicy>,
    /// Requests and limits; the runc runtime enforces `limits.memory` and `limits.cpu`.
    #[serde(default, skip_serializing_if = "ResourceRequirements::is_empty")]
    pub resources: ResourceRequirements,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub liveness_probe: Option<Probe>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub readiness_probe: Option<Probe>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub startup_probe: Option<Probe>,
}

/// `ports[]` entry.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerPort {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Absent (0) is reported by validation as `Required value`.
    #[serde(default)]
    pub container_port: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<String>,
}

/// `lifecycle` of a container.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Lifecycle {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub post_start: Option<LifecycleHandler>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pre_stop: Option<LifecycleHandler>,
}

/// A `LifecycleHandler`: exactly one action must be set (validated, not typed,
/// because the apiserver's messages for 0 or 2+ actions are part of the contract).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LifecycleHandler {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exec: Option<ExecAction>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_get: Option<HttpGetAction>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tcp_socket: Option<TcpSocketAction>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sleep: Option<SleepAction>,
    /// hooklet extension (decision D1): a WebAssembly component plugin.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wasm: Option<WasmAction>,
    /// hooklet extension (decision D5): a deadline for this handler. None = no timeout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_seconds: Option<i64>,
}

/// `exec` action: the command is exec'd directly, not through a shell.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExecAction {
    #[serde(default)]
    pub command: Vec<String>,
}

/// `httpGet` action (spec section 4).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HttpGetAction {
    /// Defaulted to `/` by [`crate::spec::parse`].
    #[serde(default)]
    pub path: String,
    /// Absent (0) is reported by validation, as the apiserver does.
    #[serde(default)]
    pub port: IntOrString,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// `HTTP` or `HTTPS`; defaulted to `HTTP`.
    #[serde(default)]
    pub scheme: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub http_headers: Vec<HttpHeader>,
    /// hooklet extension (decision D9): treat non-2xx/3xx responses as failures.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub fail_on_http_error: bool,
}

impl HttpGetAction {
    /// `SetDefaults_HTTPGetAction`: `path` = `/` and `scheme` = `HTTP` when empty.
    pub fn apply_defaults(&mut self) {
        if self.path.is_empty() {
            self.path = "/".to_string();
        }
        if self.scheme.is_empty() {
            self.scheme = "HTTP".to_string();
        }
    }
}

/// A header of an `httpGet` action.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct HttpHeader {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub value: String,
}

/// `tcpSocket` action: accepted by validation, fails at run time (spec 1.4).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TcpSocketAction {
    #[serde(default)]
    pub port: IntOrString,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
}

/// `sleep` action.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SleepAction {
    /// Absent means 0, as in Kubernetes.
    #[serde(default)]
    pub seconds: i64,
}

/// hooklet's `wasm` action: run plugin `NAME.wasm` from the plugin directory.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct WasmAction {
    /// Required; absent is reported by validation.
    #[serde(default)]
    pub plugin: String,
    /// Configuration handed to the plugin as key/value pairs.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub config: BTreeMap<String, String>,
    /// Fuel budget for one delivery; the plugin or node default when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fuel: Option<u64>,
}

/// Kubernetes `IntOrString`, as used for ports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum IntOrString {
    Int(i64),
    String(String),
}

impl Default for IntOrString {
    fn default() -> Self {
        IntOrString::Int(0)
    }
}

impl std::fmt::Display for IntOrString {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            IntOrString::Int(n) => write!(f, "{n}"),
            IntOrString::String(s) => f.write_str(s),
        }
    }
}

/// Which hook a handler is attached to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum HookPhase {
    PostStart,
    PreStop,
}

impl HookPhase {
    /// `PostStart` / `PreStop`, as Kubernetes spells it in events.
    pub fn as_str(self) -> &'static str {
        match self {
            HookPhase::PostStart => "PostStart",
            HookPhase::PreStop => "PreStop",
        }
    }
}

impl Pod {
    /// `metadata.namespace`, defaulted.
    pub fn namespace(&self) -> &str {
        self.metadata.namespace.as_deref().unwrap_or("default")
    }

    /// `metadata.uid` (always set after [`crate::spec::parse`]).
    pub fn uid(&self) -> &str {
        self.metadata.uid.as_deref().unwrap_or("")
    }

    /// The pod as `format.Pod` renders it: `<name>_<namespace>(<uid>)`.
    pub fn display_name(&self) -> String {
        format!(
            "{}_{}({})",
            self.metadata.name,
            self.namespace(),
            self.uid()
        )
    }
}

impl Container {
    /// The handler for `phase`, if the container has one.
    pub fn hook(&self, phase: HookPhase) -> Option<&LifecycleHandler> {
        let lifecycle = self.lifecycle.as_ref()?;
        match phase {
            HookPhase::PostStart => lifecycle.post_start.as_ref(),
            HookPhase::PreStop => lifecycle.pre_stop.as_ref(),
        }
    }

    /// The container's probe of `kind`, if it has one.
    pub fn probe(&self, kind: ProbeType) -> Option<&Probe> {
        match kind {
            ProbeType::Liveness => self.liveness_probe.as_ref(),
            ProbeType::Readiness => self.readiness_probe.as_ref(),
            ProbeType::Startup => self.startup_probe.as_ref(),
        }
    }

    /// Whether this (init) container is a sidecar: `restartPolicy: Always`.
    pub fn is_sidecar(&self) -> bool {
        self.restart_policy == Some(RestartPolicy::Always)
    }
}
