//! A container's environment as the kubelet builds it at each start
//! (`makeEnvironmentVariables`): `envFrom` first (every key of a Secret, with its
//! prefix), then `env` in order, each literal value with its `$(VAR)` references to
//! the variables defined so far expanded, each `valueFrom` resolved from the pod,
//! the node, the container's resources or the Secrets applied now; `env` wins over
//! `envFrom`. hooklet has no Services, so there are no service variables.
//!
//! | module | what it is |
//! |---|---|
//! | [`expansion`] | `$(VAR)` expansion (env values, command and args, probes) |
//! | [`resource`] | `resourceFieldRef` values, with the node's allocatable for missing limits |
//!
//! Errors are the kubelet's texts (`secret "db" not found`, `couldn't find key password
//! in Secret default/db`): the container then waits in `CreateContainerConfigError`.
//! No value is ever part of an error.

pub mod expansion;
pub mod resource;

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

use crate::nodestatus::ResourceList;
use crate::secret::SecretStore;
use crate::spec::fieldpath::{convert_field_label, extract_metadata};
use crate::spec::names::go_quote;
use crate::spec::secret::Secret;
use crate::spec::{Container, ObjectFieldSelector, Pod};

/// What the node knows that the downward API shows.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeFacts {
    /// `spec.nodeName`.
    pub name: String,
    /// `status.hostIPs`: the node's addresses (IPv4 first).
    pub host_ips: Vec<IpAddr>,
    /// Stands in for a container's missing `cpu`, `memory`, `ephemeral-storage` limit.
    pub allocatable: ResourceList,
}

impl NodeFacts {
    /// This machine: its host name, the addresses it reaches other hosts from, and
    /// its whole capacity as allocatable (`hooklet run`, which has no node object).
    pub fn local() -> NodeFacts {
        let name = nix::unistd::gethostname().ok().and_then(|h| h.into_string().ok()).unwrap_or_else(|| "localhost".into()).to_lowercase();
        let allocatable = crate::nodestatus::resources::machine_capacity(&std::env::temp_dir(), crate::nodestatus::DEFAULT_MAX_PODS).unwrap_or_default();
        let host_ips = crate::nodestatus::NodeIp::default().resolve().unwrap_or_default();
        NodeFacts { name, host_ips, allocatable }
    }
}

/// Where environment values come from: the node and the applied Secrets.
#[derive(Debug, Clone)]
pub struct EnvSources {
    pub node: Arc<NodeFacts>,
    /// The node's Secrets (`hooklet serve`); none: every Secret is missing.
    pub secrets: Option<SecretStore>,
}

impl EnvSources {
    /// This machine, no Secrets.
    pub fn local() -> EnvSources {
        EnvSources { node: Arc::new(NodeFacts::local()), secrets: None }
    }

    /// Fires when a Secret is applied or deleted (never without a store).
    pub fn secret_changes(&self) -> Option<tokio::sync::watch::Receiver<u64>> {
        self.secrets.as_ref().map(SecretStore::subscribe)
    }
}

/// The variables in the order first defined; a later definition replaces the value.
#[derive(Default)]
struct Ordered {
    vars: Vec<(String, String)>,
    index: HashMap<String, usize>,
}

impl Ordered {
    fn set(&mut self, name: String, value: String) {
        match self.index.get(&name) {
            Some(&i) => self.vars[i].1 = value,
            None => {
                self.index.insert(name.clone(), self.vars.len());
                self.vars.push((name, value));
            }
        }
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.index.get(name).map(|&i| self.vars[i].1.as_str())
    }
}

/// The Secrets of one pod's namespace, each read once per start.
struct Secrets<'a> {
    store: Option<&'a SecretStore>,
    namespace: &'a str,
    read: HashMap<String, Secret>,
}

impl Secrets<'_> {
    /// The Secret `name`; `None` when it is missing and `optional`.
    fn get(&mut self, name: &str, optional: bool) -> Result<Option<&Secret>, String> {
        if !self.read.contains_key(name) {
            let stored = match self.store {
                Some(store) => store.get(self.namespace, name)?,
                None => None,
            };
            match stored {
                Some(stored) => {
                    self.read.insert(name.to_string(), stored.secret);
                }
                None if optional => return Ok(None),
                None => return Err(format!("secret {} not found", go_quote(name))),
            }
        }
        Ok(self.read.get(name))
    }
}

/// The environment of `container` (of `pod`, whose IP is `pod_ip`), in order.
pub fn make_environment(pod: &Pod, container: &Container, pod_ip: Option<IpAddr>, sources: &EnvSources) -> Result<Vec<(String, String)>, String> {
    let namespace = pod.namespace();
    let mut secrets = Secrets { store: sources.secrets.as_ref(), namespace, read: HashMap::new() };
    let mut env = Ordered::default();
    for from in &container.env_from {
        if let Some(source) = &from.secret_ref {
            let Some(secret) = secrets.get(&source.name, source.is_optional())? else { continue };
            for key in secret.data.keys() {
                env.set(format!("{}{key}", from.prefix), text(secret.value(key).unwrap_or_default()));
            }
        } else if let Some(source) = &from.config_map_ref {
            // No ConfigMap exists; validation lets only optional references through.
            if !source.is_optional() {
                return Err(format!("configmap {} not found", go_quote(&source.name)));
            }
        }
    }
    for var in &container.env {
        let value = match &var.value_from {
            _ if !var.value.is_empty() => expansion::expand(&var.value, |name| env.get(name)),
            None => String::new(),
            Some(source) => {
                if let Some(field) = &source.field_ref {
                    field_value(field, pod, pod_ip, &sources.node)?
                } else if let Some(selector) = &source.resource_field_ref {
                    resource::resource_value(selector, pod, container, &sources.node.allocatable)?
                } else if let Some(key_ref) = &source.secret_key_ref {
                    let optional = key_ref.is_optional();
                    let Some(secret) = secrets.get(&key_ref.name, optional)? else { continue };
                    match secret.value(&key_ref.key) {
                        Some(bytes) => text(bytes),
                        None if optional => continue,
                        None => return Err(format!("couldn't find key {} in Secret {namespace}/{}", key_ref.key, key_ref.name)),
                    }
                } else if let Some(key_ref) = &source.config_map_key_ref {
                    if key_ref.is_optional() {
                        continue;
                    }
                    return Err(format!("configmap {} not found", go_quote(&key_ref.name)));
                } else {
                    String::new()
                }
            }
        };
        env.set(var.name.clone(), value);
    }
    Ok(env.vars)
}

/// A Secret's bytes as an environment value (bytes that are not UTF-8 are replaced).
fn text(bytes: Vec<u8>) -> String {
    String::from_utf8(bytes).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// `podFieldSelectorRuntimeValue`.
fn field_value(selector: &ObjectFieldSelector, pod: &Pod, pod_ip: Option<IpAddr>, node: &NodeFacts) -> Result<String, String> {
    let path = convert_field_label(&selector.api_version, &selector.field_path)?;
    let host_ips = || match node.host_ips.as_slice() {
        [] => Err("host IP unknown; known addresses: []".to_string()),
        ips => Ok(ips),
    };
    match path.as_str() {
        "spec.nodeName" => Ok(node.name.clone()),
        "spec.serviceAccountName" => Ok(pod.spec.service_account_name.clone().unwrap_or_else(|| "default".into())),
        "status.hostIP" => Ok(host_ips()?[0].to_string()),
        "status.hostIPs" => Ok(host_ips()?.iter().map(ToString::to_string).collect::<Vec<_>>().join(",")),
        "status.podIP" | "status.podIPs" => Ok(pod_ip.map(|ip| ip.to_string()).unwrap_or_default()),
        _ => extract_metadata(pod, &path),
    }
}

#[cfg(test)]
mod tests;
