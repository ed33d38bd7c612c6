//! `GET /api/v1/namespaces/NS/pods/NAME/log`: a container's log as kubectl reads it
//! ([`crate::api::logs`] serves it): the latest instance's, or with `previous` the last
//! terminated one's; a followed log ends with the container instance, as the kubelet's.

use std::collections::HashMap;
use std::sync::Arc;

use hyper::Response;

use super::status::KubeError;
use crate::api::body::Body;
use crate::api::logs::{serve, FollowUntil, LogRequest};
use crate::daemon::Daemon;

/// Serves a log request.
pub fn log(daemon: &Arc<Daemon>, namespace: &str, name: &str, query: &HashMap<String, String>) -> Result<Response<Body>, KubeError> {
    let request = LogRequest::parse(query)?;
    Ok(serve(daemon, namespace, name, &request, FollowUntil::InstanceStops)?)
}
