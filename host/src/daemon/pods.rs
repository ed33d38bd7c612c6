//! The daemon's operations on pods, events, hook output and plugins, as the API
//! handlers call them. Applies and deletes are serialised by one lock.

use std::sync::Arc;
use std::time::SystemTime;

use super::Daemon;
use super::error::{Cause, DaemonError, ErrorKind};
use super::views::{Applied, ApplyResponse, HookRunView, PluginView, PodView};
use crate::events::Event;
use crate::image::pull::Keyring;
use crate::spec::parse::{parse_objects, ManifestError, ParsedObject};
use crate::spec::Pod;
use crate::store::PodRow;

impl Daemon {
    /// Applies a manifest: creates its pods; an existing pod with the same spec is
    /// left as it is; one with a different spec is refused (no in-place update).
    pub async fn apply(self: &Arc<Self>, text: &str, filename: &str) -> Result<ApplyResponse, DaemonError> {
        self.apply_as(text, filename, false).await
    }

    /// Creates the pods of a manifest; one that exists already is refused
    /// (AlreadyExists), whatever its spec.
    pub async fn create(self: &Arc<Self>, text: &str, filename: &str) -> Result<ApplyResponse, DaemonError> {
        self.apply_as(text, filename, true).await
    }

    async fn apply_as(self: &Arc<Self>, text: &str, filename: &str, create_only: bool) -> Result<ApplyResponse, DaemonError> {
        let objects = parse_objects(text, filename, &Keyring::check).map_err(manifest_error)?;
        let _guard = self.mutations.lock().await;
        let mut response = ApplyResponse { pods: Vec::new(), secrets: Vec::new(), warnings: Vec::new() };
        let (mut parsed, mut secrets) = (Vec::new(), Vec::new());
        for object in objects {
            match object {
                ParsedObject::Pod(p) => parsed.push(p),
                ParsedObject::Secret(s) => {
                    response.warnings.extend(s.warnings);
                    secrets.push(s.secret);
                }
            }
        }
        // Check every pod before creating any, so a refused manifest changes nothing.
        let mut to_create = Vec::new();
        for p in parsed {
            let pod = p.pod;
            response.warnings.extend(p.warnings);
            let (namespace, name) = (pod.namespace().to_string(), pod.metadata.name.clone());
            match self.entry(&namespace, &name) {
                Some(_) if create_only => {
                    return Err(DaemonError::new(
                        ErrorKind::AlreadyExists,
                        format!("pods {name:?} already exists"),
                        Some("metadata.name"),
                    )
                    .about("pods", &name));
                }
                Some(existing) => {
                    let status = existing.handle.status();
                    if status.deletion_requested_at.is_some() {
                        return Err(DaemonError::new(
                            ErrorKind::Conflict,
                            format!("pod {name:?} in namespace {namespace:?} is being deleted; wait until it is gone (`hooklet delete pod {name} -n {namespace} --wait`) and apply again"),
                            Some("metadata.name"),
                        ));
                    }
                    if let Some(field) = changed_field(existing.handle.pod(), &pod) {
                        return Err(DaemonError::new(
                            ErrorKind::Conflict,
                            format!("pod {name:?} in namespace {namespace:?} already exists with a different {field}; hooklet does not update pods in place: delete it (`hooklet delete pod {name} -n {namespace} --wait`) and apply again"),
                            Some(field),
                        ));
                    }
                    let uid = existing.handle.pod().uid().to_string();
                    response.pods.push(Applied { namespace, name, uid, result: "unchanged".into() });
                }
                None => to_create.push(pod),
            }
        }
        // The secrets first: the pods of the same manifest may pull with them.
        for secret in secrets {
            response.secrets.push(self.put_secret(secret)?);
        }
        for pod in to_create {
            let applied_at = SystemTime::now();
            let row = PodRow {
                uid: pod.uid().to_string(),
                namespace: pod.namespace().to_string(),
                name: pod.metadata.name.clone(),
                manifest: serde_json::to_value(&pod).map_err(DaemonError::internal)?,
                applied_at,
                status: None,
            };
            // Durable before the pod starts: a restarted daemon knows it.
            self.store.insert_pod(&row)?;
            tracing::info!(namespace = %row.namespace, pod = %row.name, "pod created");
            let handle = self.admit_and_start(pod).await;
            self.track(handle, applied_at);
            response.pods.push(Applied { namespace: row.namespace, name: row.name, uid: row.uid, result: "created".into() });
        }
        Ok(response)
    }

    /// Every pod, or those of one namespace.
    pub fn list(&self, namespace: Option<&str>) -> Vec<PodView> {
        self.entries()
            .into_iter()
            .filter(|e| namespace.is_none_or(|ns| e.handle.pod().namespace() == ns))
            .map(|e| PodView { pod: (**e.handle.pod()).clone(), status: e.handle.status(), applied_at: e.applied_at, events: vec![] })
            .collect()
    }

    /// A pod's status now.
    pub fn pod_status(&self, namespace: &str, name: &str) -> Option<crate::lifecycle::PodStatus> {
        self.entry(namespace, name).map(|e| e.handle.status())
    }

    /// One pod with its events.
    pub fn get(&self, namespace: &str, name: &str) -> Result<PodView, DaemonError> {
        let entry = self.entry(namespace, name).ok_or_else(|| DaemonError::no_pod(namespace, name))?;
        let pod = (**entry.handle.pod()).clone();
        let events = self.events(Some(namespace), Some(name))?.into_iter().filter(|e| e.object.uid == pod.uid()).collect();
        Ok(PodView { pod, status: entry.handle.status(), applied_at: entry.applied_at, events })
    }

    /// Begins (or shortens) the deletion of a pod.
    pub async fn delete(&self, namespace: &str, name: &str, grace: Option<i64>) -> Result<PodView, DaemonError> {
        if grace.is_some_and(|g| g < 0) {
            return Err(DaemonError::bad_request("gracePeriodSeconds", "gracePeriodSeconds must be 0 or more"));
        }
        let _guard = self.mutations.lock().await;
        let entry = self.entry(namespace, name).ok_or_else(|| DaemonError::no_pod(namespace, name))?;
        tracing::info!(namespace, pod = name, ?grace, "deleting pod");
        entry.handle.delete(grace);
        Ok(PodView { pod: (**entry.handle.pod()).clone(), status: entry.handle.status(), applied_at: entry.applied_at, events: vec![] })
    }

    /// Stored events, oldest first, optionally of one namespace and/or pod.
    pub fn events(&self, namespace: Option<&str>, pod: Option<&str>) -> Result<Vec<Event>, DaemonError> {
        // Every event recorded before this call is listed.
        self.event_log.flush();
        let rows = self.store.list_events(namespace, pod)?;
        rows.into_iter()
            .map(|r| serde_json::from_value(r.event).map_err(DaemonError::internal))
            .collect()
    }

    /// A pod's hook runs with their output, optionally of one container.
    pub fn hook_runs(&self, namespace: &str, name: &str, container: Option<&str>) -> Result<Vec<HookRunView>, DaemonError> {
        let entry = self.entry(namespace, name).ok_or_else(|| DaemonError::no_pod(namespace, name))?;
        let pod = entry.handle.pod();
        if let Some(c) = container {
            pick_container(pod, Some(c))?;
        }
        let rows = self.store.hook_runs(pod.uid(), container)?;
        rows.into_iter()
            .map(|r| {
                let run = serde_json::from_value(r.run).map_err(DaemonError::internal)?;
                Ok(HookRunView { container: r.container, run })
            })
            .collect()
    }

    /// The plugins of the plugin directory.
    pub async fn plugins(&self) -> Result<Vec<PluginView>, DaemonError> {
        let list = self.node.wasm().list_plugins().await.map_err(|err| {
            DaemonError::new(ErrorKind::Internal, err, None)
        })?;
        Ok(list.iter().map(PluginView::from).collect())
    }
}

/// The container a logs or exec request is about: the one named (init containers
/// included), or the pod's only regular one.
pub(super) fn pick_container(pod: &Pod, container: Option<&str>) -> Result<String, DaemonError> {
    let names: Vec<&str> = pod.spec.containers.iter().map(|c| c.name.as_str()).collect();
    let init: Vec<&str> = pod.spec.init_containers.iter().map(|c| c.name.as_str()).collect();
    if let Some(c) = container.filter(|c| init.contains(c)) {
        return Ok(c.to_string());
    }
    match container {
        Some(c) if names.contains(&c) => Ok(c.to_string()),
        Some(c) => Err(DaemonError::new(
            ErrorKind::NotFound,
            format!("container {c:?} is not valid for pod {:?}: choose one of [{}]", pod.metadata.name, names.join(" ")),
            Some("container"),
        )),
        None if names.len() == 1 => Ok(names[0].to_string()),
        None => Err(DaemonError::bad_request(
            "container",
            format!("a container name must be specified for pod {:?}, choose one of: [{}] (-c NAME)", pod.metadata.name, names.join(" ")),
        )),
    }
}

/// The first part of the desired state that differs, or None if it is the same
/// (`metadata.uid` is generated when absent, so it is not compared).
fn changed_field(existing: &Pod, new: &Pod) -> Option<&'static str> {
    if existing.metadata.labels != new.metadata.labels {
        return Some("metadata.labels");
    }
    if existing.metadata.annotations != new.metadata.annotations {
        return Some("metadata.annotations");
    }
    (existing.spec != new.spec).then_some("spec")
}

/// A manifest that does not parse or validate: Invalid, naming the field (and every
/// field at fault) when known.
fn manifest_error(err: ManifestError) -> DaemonError {
    let field = match (&err, err.validation_errors()) {
        (ManifestError::InvalidSecret { field, .. }, _) => Some(field.clone()),
        (_, Some(errors)) => errors.errors().first().map(|e| e.field.clone()),
        _ => Some("manifest".to_string()),
    };
    let mut error = DaemonError::new(ErrorKind::Invalid, err.to_string(), field.as_deref());
    if let Some(errors) = err.validation_errors() {
        error = error.about("pods", errors.pod_name());
        error.causes = errors.errors().iter().map(|e| Cause { field: e.field.clone(), message: cause_message(e) }).collect();
    }
    error
}

/// A cause's message as the apiserver words it: the error without its field prefix.
fn cause_message(e: &crate::spec::validate::FieldError) -> String {
    let text = e.to_string();
    text.strip_prefix(&format!("{}: ", e.field)).map(str::to_string).unwrap_or(text)
}
