//! What the daemon's operations return: pods with their status, apply results,
//! Secrets without their values, hook runs, plugins. The control API serves these
//! as they are on `/v1`; its Kubernetes paths convert them to the wire objects.

use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use crate::events::Event;
use crate::lifecycle::PodStatus;
use crate::spec::Pod;

/// What applying did to one pod or secret.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Applied {
    pub namespace: String,
    pub name: String,
    pub uid: String,
    /// `created` or `unchanged` (a secret also `configured`: new data).
    pub result: String,
}

/// `POST /v1/pods` response.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ApplyResponse {
    pub pods: Vec<Applied>,
    /// The manifest's Secrets.
    #[serde(default)]
    pub secrets: Vec<Applied>,
    /// Fields of the manifest hooklet ignores, one line each.
    pub warnings: Vec<String>,
}

/// A pod as the API shows it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodView {
    pub pod: Pod,
    pub status: PodStatus,
    pub applied_at: SystemTime,
    /// The pod's events (`GET` of one pod only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub events: Vec<Event>,
}

/// A Secret as the API shows it: never its values, only each key's size.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SecretView {
    pub name: String,
    pub namespace: String,
    pub uid: String,
    #[serde(rename = "type")]
    pub secret_type: String,
    #[serde(default)]
    pub labels: std::collections::BTreeMap<String, String>,
    /// Key -> bytes of its value.
    pub data_sizes: std::collections::BTreeMap<String, usize>,
    pub created_at: SystemTime,
}

/// One hook run of a container, with its output (`GET …/hooks`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HookRunView {
    pub container: String,
    pub run: crate::hooks::HookRun,
}

/// One plugin in the plugin directory.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PluginView {
    pub name: String,
    pub path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// The manifest's `source`: where `plugin pull` fetched it from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// SHA-256 of the component file (lower-case hex), if it could be read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// `loaded` (serving deliveries), `cached` (compiled on disk) or `no`.
    pub compiled: String,
    /// The digest of the version still serving when the file's was refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serving_sha256: Option<String>,
    /// The manifest's `limits.fuel`, if set (else the node default applies).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fuel_limit: Option<u64>,
    /// The manifest's `limits.memory` in bytes, if set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_limit: Option<u64>,
    /// The manifest's `limits.timeout-seconds`, if set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_seconds: Option<u64>,
    /// One line per capability granted (empty: nothing is).
    #[serde(default)]
    pub grants: Vec<String>,
    /// The kinds granted: `env`, `dirs`, `http` (empty: nothing is).
    #[serde(default)]
    pub grant_kinds: Vec<String>,
    /// What is wrong with the plugin's files (manifest, pin, component), if anything.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
    /// Deliveries of this plugin since hooklet started.
    pub deliveries: u64,
    /// Fuel consumed by this plugin's deliveries since hooklet started.
    pub fuel_consumed: u64,
}

impl From<&crate::wasm::PluginStatus> for PluginView {
    fn from(p: &crate::wasm::PluginStatus) -> Self {
        let manifest = p.manifest.as_ref();
        PluginView {
            name: p.name.clone(),
            path: p.path.display().to_string(),
            description: manifest.and_then(|m| m.description.clone()),
            version: manifest.and_then(|m| m.version.clone()),
            source: manifest.and_then(|m| m.source.clone()),
            sha256: p.sha256.clone(),
            compiled: p.compiled.to_string(),
            serving_sha256: p.serving_other.clone(),
            fuel_limit: manifest.and_then(|m| m.limits.fuel),
            memory_limit: manifest.and_then(|m| m.limits.memory),
            timeout_seconds: manifest.and_then(|m| m.limits.timeout_seconds),
            grants: manifest.map(|m| m.capabilities.describe()).unwrap_or_default(),
            grant_kinds: manifest
                .map(|m| m.capabilities.kinds().into_iter().map(String::from).collect())
                .unwrap_or_default(),
            problem: p.problem.clone(),
            deliveries: p.usage.deliveries,
            fuel_consumed: p.usage.fuel_consumed,
        }
    }
}
