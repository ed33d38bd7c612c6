//! The directories capability, `[[capabilities.dirs]]`: host directories preopened for the
//! plugin at a guest path, read-only or read-write. Nothing else of the host filesystem is
//! reachable: WASI resolves every path against a preopened directory and refuses `..`
//! escapes and symlinks that leave it.
//!
//! ```toml
//! [[capabilities.dirs]]
//! host = "markers"           # relative paths resolve against the plugin directory
//! guest = "/out"
//! access = "read-write"      # or "read-only"
//! ```

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use wasmtime_wasi::{FsPerms, WasiCtxBuilder};

/// One `[[capabilities.dirs]]` entry: a host directory the plugin sees at `guest`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DirGrant {
    /// The host directory. After [`PluginManifest::load`](super::super::PluginManifest::load)
    /// this is absolute (a relative path in the file resolves against the plugin directory).
    pub host: PathBuf,
    /// The absolute path at which the plugin sees it, e.g. `/out`.
    pub guest: String,
    /// Whether the plugin may write.
    pub access: DirAccess,
}

/// How a granted directory may be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DirAccess {
    /// Read files and list directories.
    ReadOnly,
    /// Also create, write, rename and delete.
    ReadWrite,
}

/// Checks the grants and makes their `host` paths absolute (against `plugin_dir`).
pub(super) fn check(grants: &mut [DirGrant], plugin_dir: &Path) -> Result<(), String> {
    let mut guests = HashSet::new();
    for (i, grant) in grants.iter_mut().enumerate() {
        let key = format!("capabilities.dirs[{i}]");
        if !grant.guest.starts_with('/') {
            return Err(format!(
                "`{key}.guest` = {:?} is not an absolute path; write it like \"/out\"",
                grant.guest
            ));
        }
        if !guests.insert(grant.guest.clone()) {
            return Err(format!(
                "`{key}.guest` = {:?} is granted twice; give each directory its own guest path",
                grant.guest
            ));
        }
        let host = plugin_dir.join(&grant.host);
        if !host.is_dir() {
            return Err(format!(
                "`{key}.host` = {:?} ({}) is not an existing directory; create it or fix \
                 the path (relative paths resolve against the plugin directory)",
                grant.host,
                host.display()
            ));
        }
        grant.host = host;
    }
    Ok(())
}

/// Preopens every granted directory in `wasi`.
pub(super) fn grant(grants: &[DirGrant], wasi: &mut WasiCtxBuilder) -> Result<(), String> {
    for grant in grants {
        let perms = match grant.access {
            DirAccess::ReadOnly => FsPerms::ReadOnly,
            DirAccess::ReadWrite => FsPerms::ReadWrite,
        };
        wasi.preopened_dir(&grant.host, &grant.guest, perms)
            .map_err(|err| {
                format!(
                    "cannot open the granted directory {} (guest path {}): {err}; \
                     check that it still exists and is readable",
                    grant.host.display(),
                    grant.guest
                )
            })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grant(host: &str, guest: &str) -> DirGrant {
        DirGrant {
            host: host.into(),
            guest: guest.into(),
            access: DirAccess::ReadOnly,
        }
    }

    #[test]
    fn checks_guest_paths_and_resolves_relative_hosts() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("out")).unwrap();

        let mut ok = [grant("out", "/out")];
        check(&mut ok, dir.path()).unwrap();
        assert_eq!(ok[0].host, dir.path().join("out"));

        let err = check(&mut [grant("missing", "/out")], dir.path()).unwrap_err();
        assert!(
            err.contains("capabilities.dirs[0].host") && err.contains("create it"),
            "{err}"
        );
        let err = check(&mut [grant("out", "out")], dir.path()).unwrap_err();
        assert!(err.contains("not an absolute path"), "{err}");
        let err = check(&mut [grant("out", "/o"), grant("out", "/o")], dir.path()).unwrap_err();
        assert!(err.contains("capabilities.dirs[1].guest"), "{err}");
    }
}
