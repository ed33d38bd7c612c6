//! Which part of a container's log belongs to which instance.
//!
//! hooklet keeps one log per container (its monitor appends every instance's output to
//! the same CRI files, rotated by size), where the kubelet keeps a file per instance.
//! The instances are told apart by time: each instance's output begins when it was
//! created. A new instance is created only after the one before has exited and its
//! monitor has written the last of its output, and every CRI line carries the time
//! its monitor read it, so the lines from one creation time to the next are exactly
//! that instance's.
//!
//! With that, `logs` shows what the kubelet shows: the latest instance (the one
//! running, or the one that last ended while the next waits in back-off), and
//! `logs --previous` the last terminated instance, with the kubelet's errors when
//! there is none.

use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use super::status::{ContainerState, ContainerStatus};

/// When a container's last two instances were created (saved with the status, so a
/// restarted daemon still knows).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InstanceLogs {
    /// The latest instance: its output is the log from here on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current: Option<SystemTime>,
    /// The instance before it: its output is the log from here to `current`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous: Option<SystemTime>,
}

impl InstanceLogs {
    /// A new instance was created at `at`.
    pub fn begin(&mut self, at: SystemTime) {
        self.previous = self.current;
        self.current = Some(at);
    }

    /// Nothing recorded (no instance created yet).
    pub fn is_empty(&self) -> bool {
        self.current.is_none() && self.previous.is_none()
    }
}

/// One instance's part of the log: the lines written from `since` (inclusive) to
/// `until` (exclusive); `None` is unbounded.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LogWindow {
    pub since: Option<SystemTime>,
    pub until: Option<SystemTime>,
}

impl ContainerStatus {
    /// The part of the log that `logs` (or, with `previous`, `logs --previous`) shows
    /// for this container of pod `pod`, or the kubelet's error saying why there is none.
    pub fn log_window(&self, pod: &str, previous: bool) -> Result<LogWindow, String> {
        let spans = &self.instance_logs;
        let name = &self.name;
        let terminated_before = matches!(self.last_state, Some(ContainerState::Terminated { .. }));
        if previous {
            if !terminated_before {
                return Err(format!("previous terminated container {name:?} in pod {pod:?} not found"));
            }
            return Ok(match self.state {
                // Waiting for its restart: the latest instance is the one that ended.
                ContainerState::Waiting { .. } => LogWindow { since: spans.current, until: None },
                _ => LogWindow { since: spans.previous, until: spans.current },
            });
        }
        match &self.state {
            ContainerState::Waiting { reason, .. } if spans.current.is_none() && !terminated_before => {
                let why = match reason.as_str() {
                    "ErrImagePull" => "image can't be pulled",
                    "ImagePullBackOff" => "trying and failing to pull image",
                    other => other,
                };
                Err(format!("container {name:?} in pod {pod:?} is waiting to start: {why}"))
            }
            _ => Ok(LogWindow { since: spans.current, until: None }),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;
    use crate::runtime::ExitStatus;

    fn at(s: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(s)
    }

    fn status(state: ContainerState, last: Option<ContainerState>, spans: InstanceLogs) -> ContainerStatus {
        ContainerStatus { name: "app".into(), instance_logs: spans, ..crate::lifecycle::status::tests::status(state, last) }
    }

    fn ended() -> ContainerState {
        ContainerState::terminated(&ExitStatus { finished_at: at(15), ..ExitStatus::code(3) }, Some(at(10)))
    }

    #[test]
    fn each_instance_begins_where_the_one_before_ends() {
        let mut spans = InstanceLogs::default();
        assert!(spans.is_empty());
        spans.begin(at(10));
        spans.begin(at(20));
        assert_eq!(spans, InstanceLogs { current: Some(at(20)), previous: Some(at(10)) });
        let running = status(ContainerState::Running { started_at: at(21) }, Some(ended()), spans);
        assert_eq!(running.log_window("web", false), Ok(LogWindow { since: Some(at(20)), until: None }));
        assert_eq!(running.log_window("web", true), Ok(LogWindow { since: Some(at(10)), until: Some(at(20)) }));
    }

    #[test]
    fn in_back_off_both_show_the_instance_that_ended() {
        let spans = InstanceLogs { current: Some(at(20)), previous: Some(at(10)) };
        let waiting = status(ContainerState::waiting("CrashLoopBackOff", None), Some(ended()), spans);
        let latest = Ok(LogWindow { since: Some(at(20)), until: None });
        assert_eq!(waiting.log_window("web", false), latest);
        assert_eq!(waiting.log_window("web", true), latest);
    }

    #[test]
    fn the_kubelets_errors_when_there_is_no_such_instance() {
        let first = status(ContainerState::Running { started_at: at(11) }, None, InstanceLogs { current: Some(at(10)), previous: None });
        assert_eq!(first.log_window("web", true), Err("previous terminated container \"app\" in pod \"web\" not found".into()));
        let pulling = status(ContainerState::waiting("ImagePullBackOff", None), None, InstanceLogs::default());
        assert_eq!(pulling.log_window("web", false), Err("container \"app\" in pod \"web\" is waiting to start: trying and failing to pull image".into()));
        let creating = status(ContainerState::waiting("ContainerCreating", None), None, InstanceLogs::default());
        assert_eq!(creating.log_window("web", false), Err("container \"app\" in pod \"web\" is waiting to start: ContainerCreating".into()));
    }
}
