//! What a plugin's sandbox grants: `[capabilities]` in its manifest. Everything is denied
//! unless granted.
//!
//! As with Spin's factors, each capability is its own module with a narrow interface — a
//! manifest section, a `check` run when the manifest is loaded, and a `grant` that applies
//! it to one delivery's sandbox — and [`PluginCapabilities`] composes them:
//!
//! * [`env`]: environment variables with explicit values (`[capabilities.env]`);
//! * [`dirs`]: preopened host directories, read-only or read-write (`[[capabilities.dirs]]`);
//! * [`http`]: outgoing `wasi:http` requests to an allow-list of hosts (`[capabilities.http]`).
//!
//! Nothing else is ever granted: no arguments, no inherited stdio (stdout and stderr are
//! captured, stdin is closed), and no raw sockets — TCP, UDP and name lookups are refused
//! whatever the manifest says, so `wasi:http` is the only way out.

mod dirs;
mod env;
mod http;

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;
use wasmtime::component::Linker;
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiView};
use wasmtime_wasi_http::WasiHttpView;

pub use dirs::{DirAccess, DirGrant};
pub use http::HttpGrant;
pub(crate) use http::HttpPolicy;

use super::output::BoundedPipe;

/// `[capabilities]`: what the sandbox grants the plugin (nothing when absent).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PluginCapabilities {
    /// Environment variables the plugin sees (`[capabilities.env]`, `NAME = "value"`).
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Host directories visible to the plugin (`[[capabilities.dirs]]`).
    #[serde(default)]
    pub dirs: Vec<DirGrant>,
    /// Hosts the plugin may send HTTP requests to (`[capabilities.http]`); `None` denies
    /// every request.
    #[serde(default)]
    pub http: Option<HttpGrant>,
}

/// The sandbox of one delivery, built from the grants.
pub(crate) struct Sandbox {
    /// WASI 0.2: environment, directories and captured stdio.
    pub wasi: WasiCtx,
    /// `wasi:http`: the allow-list.
    pub http: HttpPolicy,
}

impl PluginCapabilities {
    /// Checks every grant, making directory paths absolute against `plugin_dir`. The error
    /// names the key and the fix.
    pub(crate) fn check(&mut self, plugin_dir: &Path) -> Result<(), String> {
        env::check(&self.env)?;
        dirs::check(&mut self.dirs, plugin_dir)?;
        if let Some(grant) = &self.http {
            http::check(grant)?;
        }
        Ok(())
    }

    /// One line per grant, for people (`hooklet plugin check`); empty when nothing is
    /// granted.
    pub fn describe(&self) -> Vec<String> {
        let mut lines = Vec::new();
        if !self.env.is_empty() {
            let names: Vec<&str> = self.env.keys().map(String::as_str).collect();
            lines.push(format!("environment: {}", names.join(", ")));
        }
        for dir in &self.dirs {
            let access = match dir.access {
                DirAccess::ReadOnly => "read-only",
                DirAccess::ReadWrite => "read-write",
            };
            lines.push(format!("directory: {} as {} ({access})", dir.host.display(), dir.guest));
        }
        if let Some(http) = &self.http {
            lines.push(format!("outgoing HTTP to: {}", http.allow.join(", ")));
        }
        lines
    }

    /// The kinds granted, one short word each: `env`, `dirs`, `http`.
    pub fn kinds(&self) -> Vec<&'static str> {
        [
            (!self.env.is_empty()).then_some("env"),
            (!self.dirs.is_empty()).then_some("dirs"),
            self.http.as_ref().map(|_| "http"),
        ]
        .into_iter()
        .flatten()
        .collect()
    }

    /// The sandbox for one delivery of `plugin`: the grants, stdout and stderr going to
    /// the given pipes, and nothing else.
    pub(crate) fn sandbox(
        &self,
        plugin: &str,
        stdout: &BoundedPipe,
        stderr: &BoundedPipe,
    ) -> Result<Sandbox, String> {
        let mut wasi = WasiCtxBuilder::new();
        wasi.stdout(stdout.clone())
            .stderr(stderr.clone())
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false);
        env::grant(&self.env, &mut wasi);
        dirs::grant(&self.dirs, &mut wasi)?;
        Ok(Sandbox {
            wasi: wasi.build(),
            http: HttpPolicy::new(plugin, self.http.as_ref()),
        })
    }
}

/// Adds every interface a capability can grant to `linker`: WASI 0.2 and `wasi:http`.
/// A plugin may import any of them; what it may actually do is decided per delivery.
pub(crate) fn add_to_linker<T: WasiView + WasiHttpView + 'static>(
    linker: &mut Linker<T>,
) -> anyhow::Result<()> {
    use anyhow::Context as _;
    wasmtime_wasi::p2::add_to_linker_async(linker)
        .map_err(anyhow::Error::from)
        .context("cannot add WASI 0.2 to the plugin linker")?;
    http::add_to_linker(linker).context("cannot add wasi:http to the plugin linker")
}
