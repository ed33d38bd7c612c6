//! Hot reload: a thread that watches the plugin directory (inotify) and reloads a plugin
//! when its `NAME.wasm` or `NAME.toml` is added, replaced or removed.
//!
//! A change is loaded only once the plugin's files have been quiet for
//! [`WasmConfig::reload_debounce`](super::WasmConfig::reload_debounce) *and* the writer has
//! finished: a file closed after writing or renamed into place. A file that is still
//! being copied (written, not yet closed) is left alone until it has been quiet for ten
//! debounce periods, so a slow copy is never taken for a broken plugin. Loading then
//! verifies the file as always (pin, header, world); a broken version is refused and the
//! previous one keeps serving (see [`super::registry`]).
//!
//! When the directory itself is removed or moved away, deliveries check the files
//! themselves (and fail naming the missing directory) while the thread waits for it to
//! be back; then it brings the registry up to date with the files and watches again.
//!
//! The thread holds only a weak reference to the registry and ends when the host is gone.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::os::fd::AsFd as _;
use std::path::Path;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};

use super::plugin::check_name;
use super::registry::Registry;

/// How often the thread wakes up when nothing happens, to notice that the host is gone.
const IDLE_WAKEUP: Duration = Duration::from_millis(500);

/// A plugin with changes not loaded yet.
#[derive(Debug, Clone, Copy)]
struct Pending {
    /// The latest event about its files.
    last_event: Instant,
    /// Whether the latest write finished (closed, renamed into place, or deleted).
    settled: bool,
}

/// Starts watching `registry`'s plugin directory: loads every plugin found there, then
/// reloads plugins as their files change. Errors (no such directory, no inotify) are
/// returned; deliveries then notice changes themselves.
pub(crate) fn spawn(registry: &Arc<Registry>, debounce: Duration) -> Result<(), String> {
    let dir = registry.loader.dir.clone();
    let mut inotify = arm(&dir)?;
    registry.set_watched(true);
    let weak = Arc::downgrade(registry);
    std::thread::Builder::new()
        .name("hooklet-plugin-watch".into())
        .spawn(move || {
            preload(&weak, &dir);
            // `watch` returns when the directory goes away: wait for it to be back.
            while watch(inotify, &weak, debounce) {
                let Some(registry) = weak.upgrade() else { return };
                registry.set_watched(false);
                drop(registry);
                tracing::warn!(
                    dir = %dir.display(),
                    "the plugin directory was removed or moved; wasm hooks fail until it is back, then hot reload resumes"
                );
                let Some(armed) = wait_for(&weak, &dir) else { return };
                inotify = armed;
                let Some(registry) = weak.upgrade() else { return };
                // Deliveries compare the files themselves until the registry is current.
                for name in registry.serving_names().into_iter().chain(names_in(&dir)) {
                    let _ = registry.load_now(&name, false);
                }
                registry.set_watched(true);
                tracing::info!(dir = %dir.display(), "the plugin directory is back; hot reload resumes");
            }
            if let Some(registry) = weak.upgrade() {
                registry.set_watched(false);
            }
        })
        .map_err(|err| format!("cannot start the plugin watcher thread: {err}"))?;
    Ok(())
}

/// An inotify instance watching `dir`.
fn arm(dir: &Path) -> Result<Inotify, String> {
    let inotify = Inotify::init(InitFlags::IN_NONBLOCK | InitFlags::IN_CLOEXEC)
        .map_err(|err| format!("cannot watch the plugin directory (inotify: {err})"))?;
    let mask = AddWatchFlags::IN_CLOSE_WRITE
        | AddWatchFlags::IN_MODIFY
        | AddWatchFlags::IN_CREATE
        | AddWatchFlags::IN_DELETE
        | AddWatchFlags::IN_MOVED_FROM
        | AddWatchFlags::IN_MOVED_TO
        | AddWatchFlags::IN_ATTRIB
        | AddWatchFlags::IN_DELETE_SELF
        | AddWatchFlags::IN_MOVE_SELF
        | AddWatchFlags::IN_ONLYDIR;
    inotify.add_watch(dir, mask).map_err(|err| {
        format!(
            "cannot watch the plugin directory {} ({err}); create it, or plugins are reloaded \
             only when a delivery notices a change",
            dir.display()
        )
    })?;
    Ok(inotify)
}

/// Waits (looking every [`IDLE_WAKEUP`]) until `dir` is a directory again and watches
/// it; None when the host is gone.
fn wait_for(registry: &Weak<Registry>, dir: &Path) -> Option<Inotify> {
    loop {
        std::thread::sleep(IDLE_WAKEUP);
        registry.upgrade()?;
        if dir.is_dir() {
            match arm(dir) {
                Ok(inotify) => return Some(inotify),
                Err(problem) => tracing::debug!("{problem}"),
            }
        }
    }
}

/// The plugins with files in `dir`.
fn names_in(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir).into_iter().flatten().flatten().filter_map(|entry| plugin_name(&entry.file_name())).collect()
}

/// Loads every plugin in `dir` (from the disk cache when possible), so first deliveries
/// do not wait for a compile.
fn preload(registry: &Weak<Registry>, dir: &Path) {
    for name in names_in(dir) {
        let Some(registry) = registry.upgrade() else { return };
        if registry.serving(&name).is_none() {
            let _ = registry.load_now(&name, false);
        }
    }
}

/// The event loop: collects changes per plugin and reloads each once it is settled.
/// True when it ended because the directory was removed or moved.
fn watch(inotify: Inotify, registry: &Weak<Registry>, debounce: Duration) -> bool {
    let mut pending: HashMap<String, Pending> = HashMap::new();
    loop {
        let timeout = next_wakeup(&pending, debounce);
        let mut fds = [PollFd::new(inotify.as_fd(), PollFlags::POLLIN)];
        let ms = u16::try_from(timeout.as_millis().max(1)).unwrap_or(u16::MAX);
        if let Err(err) = poll(&mut fds, PollTimeout::from(ms)) {
            if err != nix::errno::Errno::EINTR {
                tracing::warn!("the plugin watcher stopped: {err}");
                return false;
            }
        }
        match inotify.read_events() {
            Ok(events) => {
                for event in events {
                    if event
                        .mask
                        .intersects(AddWatchFlags::IN_DELETE_SELF | AddWatchFlags::IN_MOVE_SELF | AddWatchFlags::IN_IGNORED)
                    {
                        return true;
                    }
                    let Some(name) = event.name.as_deref().and_then(plugin_name) else { continue };
                    let settled = event.mask.intersects(
                        AddWatchFlags::IN_CLOSE_WRITE
                            | AddWatchFlags::IN_MOVED_TO
                            | AddWatchFlags::IN_MOVED_FROM
                            | AddWatchFlags::IN_DELETE
                            | AddWatchFlags::IN_ATTRIB,
                    );
                    pending.insert(name, Pending { last_event: Instant::now(), settled });
                }
            }
            Err(nix::errno::Errno::EAGAIN) => {}
            Err(err) => {
                tracing::warn!("the plugin watcher stopped: {err}");
                return false;
            }
        }
        let Some(registry) = registry.upgrade() else { return false };
        let ready: Vec<String> = pending
            .iter()
            .filter(|(_, p)| is_ready(p, debounce))
            .map(|(name, _)| name.clone())
            .collect();
        for name in ready {
            pending.remove(&name);
            let wasm = registry.loader.paths(&name).0;
            if wasm.exists() {
                let _ = registry.load_now(&name, true);
            } else {
                registry.remove(&name);
            }
        }
    }
}

/// Whether a pending change can be loaded now.
fn is_ready(pending: &Pending, debounce: Duration) -> bool {
    let quiet = pending.last_event.elapsed();
    quiet >= debounce && (pending.settled || quiet >= debounce * 10)
}

/// How long to sleep: until the next pending change may be ready, else [`IDLE_WAKEUP`].
fn next_wakeup(pending: &HashMap<String, Pending>, debounce: Duration) -> Duration {
    pending
        .values()
        .map(|p| {
            let wait = if p.settled { debounce } else { debounce * 10 };
            wait.saturating_sub(p.last_event.elapsed())
        })
        .min()
        .unwrap_or(IDLE_WAKEUP)
        .min(IDLE_WAKEUP)
}

/// The plugin a file belongs to: `NAME` of `NAME.wasm`, `NAME.cwasm` or `NAME.toml` (valid names only:
/// editors' and copiers' temporary files such as `.NAME.wasm.swp` are ignored).
fn plugin_name(file: &OsStr) -> Option<String> {
    let file = file.to_str()?;
    let name = file
        .strip_suffix(".wasm")
        .or_else(|| file.strip_suffix(".cwasm"))
        .or_else(|| file.strip_suffix(".toml"))?;
    check_name(name).ok().map(|()| name.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plugin_files_count() {
        assert_eq!(plugin_name(OsStr::new("marker.wasm")).as_deref(), Some("marker"));
        assert_eq!(plugin_name(OsStr::new("marker.toml")).as_deref(), Some("marker"));
        assert_eq!(plugin_name(OsStr::new("marker.cwasm")).as_deref(), Some("marker"));
        assert_eq!(plugin_name(OsStr::new(".marker.wasm.swp")), None);
        assert_eq!(plugin_name(OsStr::new(".marker.wasm")), None);
        assert_eq!(plugin_name(OsStr::new("README.md")), None);
    }

    #[test]
    fn unfinished_writes_wait_ten_debounce_periods() {
        let debounce = Duration::from_millis(50);
        let old = Instant::now() - Duration::from_millis(100);
        assert!(is_ready(&Pending { last_event: old, settled: true }, debounce));
        assert!(!is_ready(&Pending { last_event: old, settled: false }, debounce));
        let older = Instant::now() - Duration::from_millis(600);
        assert!(is_ready(&Pending { last_event: older, settled: false }, debounce));
        let fresh = Instant::now();
        assert!(!is_ready(&Pending { last_event: fresh, settled: true }, debounce));
    }
}
