//! The pods' change feed: a revision counter bumped by every change to a pod (it is
//! created, its status changes, it is gone), which the Kubernetes API calls
//! `resourceVersion`, and a broadcast of the changes with a short history, so that
//! a watch can start at a revision a client listed at.
//!
//! Revisions start at the daemon's start time in milliseconds: a restarted daemon
//! hands out larger ones than the process before it, and a revision of that older
//! process is older than the history (a client then lists again).

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use tokio::sync::broadcast;

use super::views::PodView;

/// How many changes a watch can start behind the newest.
const HISTORY: usize = 1024;

/// What happened to a pod.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    Added,
    Modified,
    Deleted,
}

/// One change, with the pod as it was after it.
#[derive(Debug, Clone)]
pub struct PodChange {
    pub kind: ChangeKind,
    pub revision: u64,
    pub view: PodView,
}

/// A watch's start: the changes after the revision asked for and the receiver of
/// the later ones.
pub struct WatchStart {
    pub backlog: Vec<Arc<PodChange>>,
    pub receiver: broadcast::Receiver<Arc<PodChange>>,
    /// The newest revision when the watch began.
    pub revision: u64,
}

/// The revision asked for is older than the history kept: list again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooOld {
    pub oldest: u64,
}

struct Inner {
    revision: u64,
    /// Shared with the broadcast's buffer: one copy of each pod view, not two.
    history: VecDeque<Arc<PodChange>>,
    /// The revision of each live pod's last change, by uid.
    revisions: HashMap<String, u64>,
}

/// The feed.
pub struct PodChanges {
    inner: Mutex<Inner>,
    tx: broadcast::Sender<Arc<PodChange>>,
    /// Watches being served (for `/metrics`, and to see that none is left behind).
    watches: Arc<AtomicUsize>,
}

impl Default for PodChanges {
    fn default() -> Self {
        let start = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_millis() as u64;
        PodChanges {
            inner: Mutex::new(Inner { revision: start, history: VecDeque::new(), revisions: HashMap::new() }),
            tx: broadcast::channel(HISTORY).0,
            watches: Arc::new(AtomicUsize::new(0)),
        }
    }
}

impl PodChanges {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records a change. A `Modified` of a pod already gone is dropped, so that
    /// nothing follows its `Deleted`.
    pub fn record(&self, kind: ChangeKind, view: PodView) {
        let mut inner = self.lock();
        let uid = view.pod.uid().to_string();
        if kind == ChangeKind::Modified && !inner.revisions.contains_key(&uid) {
            return;
        }
        inner.revision += 1;
        let revision = inner.revision;
        match kind {
            ChangeKind::Deleted => inner.revisions.remove(&uid),
            _ => inner.revisions.insert(uid, revision),
        };
        let change = Arc::new(PodChange { kind, revision, view });
        if inner.history.len() == HISTORY {
            inner.history.pop_front();
        }
        inner.history.push_back(change.clone());
        // Sent under the lock: receivers see the changes in revision order.
        let _ = self.tx.send(change);
    }

    /// The newest revision.
    pub fn revision(&self) -> u64 {
        self.lock().revision
    }

    /// The revision of a live pod's last change.
    pub fn revision_of(&self, uid: &str) -> Option<u64> {
        self.lock().revisions.get(uid).copied()
    }

    /// Starts a watch after revision `since` (None: from now on).
    pub fn watch(&self, since: Option<u64>) -> Result<WatchStart, TooOld> {
        let inner = self.lock();
        let receiver = self.tx.subscribe();
        let revision = inner.revision;
        let backlog = match since {
            None => Vec::new(),
            Some(since) if since >= revision => Vec::new(),
            Some(since) => {
                let oldest = inner.history.front().map(|c| c.revision).unwrap_or(revision + 1);
                if since + 1 < oldest {
                    return Err(TooOld { oldest });
                }
                inner.history.iter().filter(|c| c.revision > since).cloned().collect()
            }
        };
        Ok(WatchStart { backlog, receiver, revision })
    }

    /// Counts a watch for as long as the guard lives.
    pub fn watching(&self) -> WatchGuard {
        self.watches.fetch_add(1, Ordering::SeqCst);
        WatchGuard(self.watches.clone())
    }

    /// Watches being served now.
    pub fn open_watches(&self) -> usize {
        self.watches.load(Ordering::SeqCst)
    }
}

/// One open watch (see [`PodChanges::watching`]).
pub struct WatchGuard(Arc<AtomicUsize>);

impl Drop for WatchGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::parse::parse_manifests;

    fn view(name: &str) -> PodView {
        let yaml = format!("apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}, uid: uid-{name}}}\nspec:\n  containers:\n  - {{name: app, image: busybox}}\n");
        let pod = parse_manifests(&yaml, "p.yaml").unwrap().remove(0).pod;
        let status = serde_json::from_value(serde_json::json!({"phase": "Pending", "containers": [], "finished": false})).unwrap();
        PodView { pod, status, applied_at: SystemTime::now(), events: vec![] }
    }

    #[test]
    fn a_watch_replays_what_came_after_its_revision_and_nothing_follows_a_delete() {
        let feed = PodChanges::default();
        feed.record(ChangeKind::Added, view("a"));
        let listed = feed.revision();
        feed.record(ChangeKind::Modified, view("a"));
        feed.record(ChangeKind::Deleted, view("a"));
        feed.record(ChangeKind::Modified, view("a"));
        let start = feed.watch(Some(listed)).unwrap();
        let kinds: Vec<_> = start.backlog.iter().map(|c| c.kind).collect();
        assert_eq!(kinds, [ChangeKind::Modified, ChangeKind::Deleted]);
        assert_eq!(feed.revision_of("uid-a"), None);
        assert!(feed.watch(Some(listed - 5)).is_err(), "older than the history");
        assert!(feed.watch(None).unwrap().backlog.is_empty());
    }
}
