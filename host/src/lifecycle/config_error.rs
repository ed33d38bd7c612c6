//! A container whose environment cannot be built (a Secret or key it needs is
//! missing): the kubelet's `CreateContainerConfigError`. Nothing is created, so it is
//! no restart; the start is tried again after the kubelet's pod-worker back-off, or
//! as soon as a Secret is applied or deleted.

use std::time::Duration;

use super::container::{ContainerWorker, Step};
use super::status::ContainerState;
use crate::events::EventType;

/// The kubelet's pod worker retries a failed sync after 10 s.
const CONFIG_RETRY: Duration = Duration::from_secs(10);

/// The waiting reason.
pub const CREATE_CONTAINER_CONFIG_ERROR: &str = "CreateContainerConfigError";

impl ContainerWorker {
    /// Records `Warning Failed "Error: MESSAGE"`, waits in `CreateContainerConfigError`
    /// and starts again.
    pub(super) async fn config_error(&mut self, message: String) -> Step {
        // Subscribed before the status shows the error: a Secret applied after that is seen.
        let mut changes = self.shared.node.environment().secret_changes();
        tracing::info!(pod = %self.shared.pod.metadata.name, container = %self.container.name, "cannot build the container's environment: {message}");
        self.event(EventType::Warning, "Failed", &format!("Error: {message}"));
        self.set_state(ContainerState::waiting(CREATE_CONTAINER_CONFIG_ERROR, Some(message)));
        let changed = async {
            if let Some(rx) = changes.as_mut() {
                if rx.changed().await.is_ok() {
                    return;
                }
            }
            std::future::pending::<()>().await
        };
        tokio::select! {
            _ = tokio::time::sleep(CONFIG_RETRY) => Step::Start,
            _ = changed => Step::Start,
            _ = self.shared.stopping.cancelled() => Step::Done,
        }
    }
}
