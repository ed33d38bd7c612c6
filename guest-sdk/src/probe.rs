//! Probe plugins: the [`Probe`] trait, its [`ProbeEvent`], and the [`export_probe!`] and
//! [`export_plugin!`] macros (a probe alone, or a hook and a probe in one plugin).
//!
//! World `plugin@0.2.0` is exported as worlds `hook@0.2.0` and `probe@0.2.0` together:
//! the component's world is the union of the worlds whose exports it links in.

use std::fmt;

use crate::hook_bindings_v0_2::exports::hooklet::hook::handler as handler_v0_2;
use crate::Event;

pub use crate::probe_bindings::exports::hooklet::hook::prober::{ProbeEvent, ProbeKind};

/// A probe plugin: implement this on a type and export it with [`export_probe!`] (or,
/// with a [`Hook`](crate::Hook) too, [`export_plugin!`]).
pub trait Probe {
    /// Checks the container once.
    ///
    /// Return `Ok(message)` when it is healthy (the message may be empty; hooklet keeps it
    /// with the probe's output), or `Err` with a short, human-readable reason when it is
    /// not (hooklet reports it in the container's events, and the probe counts as failed).
    /// Every check runs in a fresh instance, so no state survives between calls: keep
    /// state in a granted directory.
    fn check(event: ProbeEvent) -> Result<String, String>;
}

/// Exports a [`Probe`] implementation as the plugin's `hooklet:hook/prober@0.2.0`
/// (world `hooklet:hook/probe@0.2.0`: the plugin is a probe only).
///
/// Use it exactly once per plugin crate, at the top level, instead of [`export_hook!`]
/// (to be both, use [`export_plugin!`]):
///
/// ```
/// struct AlwaysHealthy;
/// impl hooklet_guest::Probe for AlwaysHealthy {
///     fn check(event: hooklet_guest::ProbeEvent) -> Result<String, String> {
///         Ok(format!("{} ok", event.container_name))
///     }
/// }
/// hooklet_guest::export_probe!(AlwaysHealthy);
/// ```
#[macro_export]
macro_rules! export_probe {
    ($probe:ty) => {
        const _: () = {
            struct HookletExport;

            impl $crate::probe_bindings::exports::hooklet::hook::prober::Guest for HookletExport {
                fn check(
                    event: $crate::ProbeEvent,
                ) -> ::core::result::Result<$crate::__private::String, $crate::__private::String> {
                    <$probe as $crate::Probe>::check(event)
                }
            }

            $crate::probe_bindings::__hooklet_export_probe_world!(HookletExport with_types_in $crate::probe_bindings);
        };
    };
}

/// Exports a [`Hook`](crate::Hook) and a [`Probe`] from one plugin (world
/// `hooklet:hook/plugin@0.2.0`): `export_plugin!(hook: H, probe: P)`, or
/// `export_plugin!(T)` when one type implements both.
///
/// Use it exactly once per plugin crate, at the top level, instead of [`export_hook!`] or
/// [`export_probe!`]:
///
/// ```
/// use hooklet_guest::{Event, Hook, Probe, ProbeEvent};
///
/// struct Both;
/// impl Hook for Both {
///     fn handle(_event: Event) -> Result<(), String> {
///         Ok(())
///     }
/// }
/// impl Probe for Both {
///     fn check(_event: ProbeEvent) -> Result<String, String> {
///         Ok(String::new())
///     }
/// }
/// hooklet_guest::export_plugin!(Both);
/// ```
#[macro_export]
macro_rules! export_plugin {
    (hook: $hook:ty, probe: $probe:ty $(,)?) => {
        // Worlds `hook` and `probe` of 0.2.0 together make world `plugin`.
        $crate::export_probe!($probe);

        const _: () = {
            struct HookletExport;

            impl $crate::hook_bindings_v0_2::exports::hooklet::hook::handler::Guest for HookletExport {
                fn handle(
                    event: $crate::hook_bindings_v0_2::exports::hooklet::hook::handler::Event,
                ) -> ::core::result::Result<(), $crate::__private::String> {
                    <$hook as $crate::Hook>::handle($crate::__private::hook_event(event))
                }
            }

            $crate::hook_bindings_v0_2::__hooklet_export_hook_v0_2_world!(HookletExport with_types_in $crate::hook_bindings_v0_2);
        };
    };
    ($both:ty) => {
        $crate::export_plugin!(hook: $both, probe: $both);
    };
}

/// The [`Event`] for a hook delivered through the 0.2.0 handler (the same shape as
/// 0.1.0's), so one [`Hook`](crate::Hook) serves both versions.
pub fn hook_event(event: handler_v0_2::Event) -> Event {
    let handler_v0_2::Event {
        phase,
        pod_name,
        pod_namespace,
        pod_uid,
        container_name,
        container_id,
        image,
        labels,
        annotations,
        pod_ip,
        delivery_id,
        attempt,
        deadline_ms,
        config,
    } = event;
    let phase = match phase {
        handler_v0_2::Phase::PostStart => crate::Phase::PostStart,
        handler_v0_2::Phase::PreStop => crate::Phase::PreStop,
    };
    Event { phase, pod_name, pod_namespace, pod_uid, container_name, container_id, image,
        labels, annotations, pod_ip, delivery_id, attempt, deadline_ms, config }
}

impl ProbeKind {
    /// The kind as written in WIT: `"liveness"`, `"readiness"` or `"startup"`.
    pub fn as_str(&self) -> &'static str {
        match self {
            ProbeKind::Liveness => "liveness",
            ProbeKind::Readiness => "readiness",
            ProbeKind::Startup => "startup",
        }
    }
}

impl fmt::Display for ProbeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probe_event_accessors_find_values_by_key() {
        let e = ProbeEvent {
            kind: ProbeKind::Readiness,
            pod_name: "web".into(),
            pod_namespace: "prod".into(),
            pod_uid: "uid-9".into(),
            container_name: "app".into(),
            container_id: "c-9".into(),
            image: "nginx:1".into(),
            labels: vec![("tier".into(), "front".into())],
            annotations: vec![("team".into(), "core".into())],
            pod_ip: Some("10.0.0.9".into()),
            deadline_ms: Some(250),
            config: vec![("file".into(), "/state/ok".into())],
        };
        assert_eq!(e.label("tier"), Some("front"));
        assert_eq!(e.annotation("team"), Some("core"));
        assert_eq!(e.annotation("tier"), None);
        assert_eq!(e.config("file"), Some("/state/ok"));
        assert_eq!(e.config_or("fail", "false"), "false");
        assert_eq!(e.deadline(), Some(std::time::Duration::from_millis(250)));
    }

    #[test]
    fn a_hook_event_of_version_0_2_converts_field_for_field() {
        let e = hook_event(handler_v0_2::Event {
            phase: handler_v0_2::Phase::PreStop,
            pod_name: "web".into(),
            pod_namespace: "prod".into(),
            pod_uid: "uid-9".into(),
            container_name: "app".into(),
            container_id: "c-9".into(),
            image: "nginx:1".into(),
            labels: vec![],
            annotations: vec![],
            pod_ip: None,
            delivery_id: "d-7".into(),
            attempt: 3,
            deadline_ms: None,
            config: vec![("k".into(), "v".into())],
        });
        assert_eq!(e.phase, crate::Phase::PreStop);
        assert_eq!((e.delivery_id.as_str(), e.attempt), ("d-7", 3));
        assert_eq!((e.pod_namespace.as_str(), e.container_id.as_str()), ("prod", "c-9"));
        assert_eq!(e.config("k"), Some("v"));
        assert_eq!(e.deadline(), None);
    }

    #[test]
    fn probe_kinds_print_as_in_wit() {
        let kinds = [ProbeKind::Liveness, ProbeKind::Readiness, ProbeKind::Startup];
        let names: Vec<String> = kinds.iter().map(ToString::to_string).collect();
        assert_eq!(names, ["liveness", "readiness", "startup"]);
    }
}
