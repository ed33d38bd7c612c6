//! The JSON bodies of hooklet's own `/v1` API, shared with the CLI client (the
//! daemon's result types are re-exported from [`crate::daemon::views`]).

use serde::{Deserialize, Serialize};

use crate::events::Event;
pub use crate::daemon::views::{Applied, ApplyResponse, HookRunView, PluginView, PodView, SecretView};

/// `POST /v1/pods`: a manifest to apply (YAML or JSON text, one or more Pods).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ApplyRequest {
    /// The manifest text.
    pub manifest: String,
    /// The file name, used in error messages (`pod.yaml: Pod "web" is invalid: …`).
    #[serde(default)]
    pub filename: Option<String>,
}

/// `GET /v1/pods` response.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PodList {
    pub items: Vec<PodView>,
}

/// `GET /v1/secrets` response.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SecretList {
    pub items: Vec<SecretView>,
}

/// `GET /v1/nodes` response: this node.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NodeList {
    pub items: Vec<crate::nodestatus::NodeView>,
}

/// `GET /v1/events` response (the watch form streams one [`Event`] per line).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EventList {
    pub items: Vec<Event>,
}

/// `GET …/hooks` response.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HookRunList {
    pub items: Vec<HookRunView>,
}

/// `GET /v1/plugins` response.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PluginList {
    pub plugin_dir: String,
    pub items: Vec<PluginView>,
}

/// The body of every 4xx/5xx response except 401 (which has none).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// What is wrong and how to fix it.
    pub error: String,
    /// The request field (or query parameter, or manifest field path) at fault.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}
