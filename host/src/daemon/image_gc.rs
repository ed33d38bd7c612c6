//! The daemon's side of image garbage collection ([`crate::image::gc`]): which
//! images the node's pods use, the periodic pass with the kubelet's node events and
//! log lines, and its metric.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Instant;

use super::Daemon;
use crate::events::EventType;
use crate::image::gc::GcError;

impl Daemon {
    /// The IDs of the stored images named by the containers of `pods` (every pod the
    /// node holds, or only the active ones).
    pub(crate) fn images_in_use(&self, active_only: bool) -> Result<HashSet<String>, GcError> {
        let handles: Vec<_> = match active_only {
            true => self.active_handles(),
            false => self.entries().into_iter().map(|e| e.handle).collect(),
        };
        let names: Vec<String> = handles
            .iter()
            .flat_map(|h| h.pod().spec.init_containers.iter().chain(&h.pod().spec.containers).map(|c| c.image.clone()).collect::<Vec<_>>())
            .collect();
        self.image_gc.ids_in_use(names.iter().map(String::as_str))
    }

    /// `kubelet_image_garbage_collected_total{reason}`.
    pub(crate) fn render_image_gc_metrics(&self) -> String {
        let mut out = String::from(
            "# HELP kubelet_image_garbage_collected_total Images deleted by image garbage collection, by reason (age or space).\n\
             # TYPE kubelet_image_garbage_collected_total counter\n",
        );
        for (reason, n) in self.image_gc.collected() {
            out += &format!("kubelet_image_garbage_collected_total{{reason=\"{}\"}} {n}\n", reason.as_str());
        }
        out
    }
}

/// Runs image GC every `--image-gc-period` (the first pass at start), as the kubelet's
/// `StartGarbageCollection`: a pass that cannot free enough records its own event
/// (`FreeDiskSpaceFailed`, `InvalidDiskCapacity`); a second failure in a row also
/// records `ImageGCFailed`.
pub(crate) async fn collect_periodically(daemon: Arc<Daemon>) {
    let policy = daemon.image_gc.policy().clone();
    if !policy.enabled() {
        tracing::info!("--image-gc-high-threshold is 100 and --image-maximum-gc-age is 0: image garbage collection is off");
        return;
    }
    let mut tick = tokio::time::interval(policy.period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut failed_before = false;
    loop {
        tick.tick().await;
        let d = daemon.clone();
        let pass = tokio::task::spawn_blocking(move || {
            let in_use = d.images_in_use(false)?;
            d.image_gc.garbage_collect(&in_use, Instant::now())
        });
        match pass.await {
            Ok(Ok(freed)) => {
                if failed_before {
                    tracing::info!(freed, "image garbage collection succeeded");
                }
                failed_before = false;
            }
            Ok(Err(err)) => {
                record_failure(&daemon, &err, failed_before);
                failed_before = true;
            }
            Err(join) => tracing::error!("image garbage collection panicked: {join}"),
        }
    }
}

fn record_failure(daemon: &Daemon, err: &GcError, failed_before: bool) {
    let node = daemon.node_state.object();
    let events = daemon.node.events();
    if let Some(reason) = err.event_reason() {
        events.record(node, EventType::Warning, reason, &err.to_string());
    }
    if failed_before {
        tracing::error!("Image garbage collection failed multiple times in a row: {err}");
        events.record(node, EventType::Warning, "ImageGCFailed", &err.to_string());
    } else {
        tracing::error!("Image garbage collection failed once. Stats initialization may not have completed yet: {err}");
    }
}
