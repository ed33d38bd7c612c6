//! `hooklet plugin list --plugins DIR` and `hooklet plugin check FILE`: the plugin
//! commands that need no daemon (and `compile`, in [`super::plugin_compile`]), and the plugin table shared with the daemon's list.

use std::path::{Path, PathBuf};

use super::format::table;
use clap::Subcommand;

use super::{registry_args, ClientArgs};
use crate::api::types::PluginView;
use crate::wasm::{CompiledFrom, PluginInfo, WasmConfig, WasmFailure, WasmHost};

/// Exit code: a plugin is invalid.
const EXIT_INVALID: i32 = 1;
/// Exit code: no such file or directory.
const EXIT_MISSING: i32 = 2;

/// The user's cache of compiled plugins: `$XDG_CACHE_HOME/hooklet/plugins`, else
/// `~/.cache/hooklet/plugins`; `None` without a home directory.
pub fn default_plugin_cache() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").filter(|v| !v.is_empty()).map(|h| PathBuf::from(h).join(".cache")))?;
    Some(base.join("hooklet").join("plugins"))
}

/// Runs a plugin command that needs no daemon; returns the exit code.
pub async fn run_plugin_command(command: PluginCommand) -> i32 {
    match command {
        PluginCommand::List { plugins: Some(dir), plugin_cache, .. } => list_dir(&dir, plugin_cache).await,
        PluginCommand::List { plugins: None, .. } => unreachable!("the daemon lists its own plugins"),
        PluginCommand::Check { file } => check(&file).await,
        PluginCommand::Compile { file, target, output } => {
            super::plugin_compile::compile(&file, target.as_deref(), output.as_deref())
        }
        PluginCommand::Push { file, reference, registry } => super::plugin_oci::push(&file, &reference, &registry).await,
        PluginCommand::Pull { reference, plugins, name, registry } => {
            super::plugin_oci::pull(&reference, &plugins, name.as_deref(), &registry).await
        }
    }
}

/// A host for the plugins in `dir` that runs nothing: no watcher, one pool slot.
fn offline_host(dir: &Path, cache_dir: Option<PathBuf>) -> anyhow::Result<WasmHost> {
    WasmHost::new(WasmConfig {
        plugin_dir: dir.to_path_buf(),
        cache_dir,
        pool_slots: 1,
        ..WasmConfig::default()
    })
}

async fn list_dir(dir: &Path, cache: Option<PathBuf>) -> i32 {
    let host = match offline_host(dir, cache.or_else(default_plugin_cache)) {
        Ok(host) => host,
        Err(err) => {
            eprintln!("error: {err:#}");
            return EXIT_INVALID;
        }
    };
    match host.list_plugins().await {
        Ok(list) => {
            let views: Vec<PluginView> = list.iter().map(PluginView::from).collect();
            print_plugins(&dir.display().to_string(), &views)
        }
        Err(err) => {
            eprintln!("error: {err}");
            EXIT_MISSING
        }
    }
}

/// Prints the plugin table; returns 0, or 1 when a plugin has a problem.
pub fn print_plugins(dir: &str, plugins: &[PluginView]) -> i32 {
    if plugins.is_empty() {
        eprintln!("No plugins in {dir}.");
        return 0;
    }
    let dash = || "-".to_string();
    let mut rows = vec![["NAME", "VERSION", "SHA256", "FUEL", "MEMORY", "TIMEOUT", "GRANTS", "COMPILED", "DELIVERIES", "FUEL USED", "STATUS", "SOURCE", "DESCRIPTION"]
        .map(String::from)
        .to_vec()];
    for p in plugins {
        let status = match (&p.problem, &p.serving_sha256) {
            (Some(problem), Some(serving)) => format!("refused, {} serving: {problem}", &serving[..12.min(serving.len())]),
            (Some(problem), None) => format!("invalid: {problem}"),
            (None, _) => "ok".into(),
        };
        rows.push(vec![
            p.name.clone(),
            p.version.clone().unwrap_or_else(dash),
            p.sha256.as_deref().map(|s| s[..12.min(s.len())].to_string()).unwrap_or_else(dash),
            p.fuel_limit.map(|f| f.to_string()).unwrap_or_else(|| "default".into()),
            p.memory_limit.map(mebibytes).unwrap_or_else(|| "default".into()),
            p.timeout_seconds.map(|s| format!("{s}s")).unwrap_or_else(|| "default".into()),
            if p.grant_kinds.is_empty() { "none".into() } else { p.grant_kinds.join(",") },
            p.compiled.clone(),
            p.deliveries.to_string(),
            p.fuel_consumed.to_string(),
            status,
            p.source.clone().unwrap_or_else(dash),
            p.description.clone().unwrap_or_default(),
        ]);
    }
    print!("{}", table(&rows, ""));
    if plugins.iter().any(|p| p.problem.is_some()) {
        EXIT_INVALID
    } else {
        0
    }
}

fn mebibytes(bytes: u64) -> String {
    format!("{:.0}Mi", bytes as f64 / (1024.0 * 1024.0))
}

/// `hooklet plugin check FILE`.
async fn check(file: &Path) -> i32 {
    let (Some(dir), Some(name)) = (file.parent(), file.file_name().and_then(|n| n.to_str())) else {
        eprintln!("error: {} is not a plugin file path", file.display());
        return EXIT_MISSING;
    };
    let Some(name) = name.strip_suffix(".wasm").or_else(|| name.strip_suffix(".cwasm")) else {
        eprintln!(
            "error: {} is not named NAME.wasm or NAME.cwasm; plugins are loaded as NAME.wasm (or precompiled \
             NAME.cwasm) from the plugin directory",
            file.display()
        );
        return EXIT_INVALID;
    };
    let dir = if dir.as_os_str().is_empty() { Path::new(".") } else { dir };
    let host = match offline_host(dir, default_plugin_cache()) {
        Ok(host) => host,
        Err(err) => {
            eprintln!("error: {err:#}");
            return EXIT_INVALID;
        }
    };
    match host.load(name).await {
        Ok(info) => {
            print!("{}", describe_valid(&info, host.config()));
            0
        }
        Err(failure @ WasmFailure::PluginNotFound { .. }) => {
            eprintln!("error: {failure}");
            EXIT_MISSING
        }
        Err(failure) => {
            println!("{}: INVALID", file.display());
            println!("  {failure}");
            EXIT_INVALID
        }
    }
}

/// What `plugin check` prints for a valid plugin.
fn describe_valid(info: &PluginInfo, node: &WasmConfig) -> String {
    let manifest = info.manifest.as_ref();
    let limits = manifest.map(|m| m.limits.clone()).unwrap_or_default();
    let source = |set: bool| if set { "manifest" } else { "node default" };
    let mut lines = vec![
        format!("{}: valid plugin `{}` for world {}", info.path.display(), info.name, info.world()),
        format!("  exports:  {}", info.exports.join(", ")),
        format!("  sha256:   {}", info.sha256),
        format!(
            "  manifest: {}",
            match manifest {
                Some(_) => info.path.with_extension("toml").display().to_string(),
                None => "none (node defaults, no capabilities)".into(),
            }
        ),
    ];
    lines.push(format!(
        "  code:     {}",
        match info.compiled {
            CompiledFrom::Precompiled(took) => format!("precompiled (nothing compiled; loaded in {} ms)", took.as_millis()),
            CompiledFrom::DiskCache(took) => format!("from the compiled-plugin cache (loaded in {} ms)", took.as_millis()),
            CompiledFrom::Compiler(took) => format!("compiled here in {} ms", took.as_millis()),
            CompiledFrom::PreviousVersion => "as loaded before".into(),
        }
    ));
    if let Some(version) = manifest.and_then(|m| m.version.as_deref()) {
        lines.push(format!("  version:  {version}"));
    }
    lines.push(format!(
        "  limits:   fuel {} ({}), memory {} ({}), timeout {} ({})",
        limits.fuel.unwrap_or(node.default_fuel),
        source(limits.fuel.is_some()),
        mebibytes(limits.memory.unwrap_or(node.max_memory_bytes)),
        source(limits.memory.is_some()),
        limits.timeout_seconds.map_or("none".into(), |s| format!("{s}s")),
        source(limits.timeout_seconds.is_some()),
    ));
    let grants = manifest.map(|m| m.capabilities.describe()).unwrap_or_default();
    if grants.is_empty() {
        lines.push("  grants:   nothing (no files, network or environment variables)".into());
    }
    for (i, grant) in grants.iter().enumerate() {
        lines.push(format!("  {}{grant}", if i == 0 { "grants:   " } else { "          " }));
    }
    lines.join("\n") + "\n"
}

/// `hooklet plugin …`.
#[derive(Debug, Subcommand)]
pub enum PluginCommand {
    /// List the plugins of the daemon's plugin directory, or with --plugins DIR those of a
    /// directory (no daemon needed): name, version, digest, limits, capabilities, whether
    /// compiled, deliveries and fuel used.
    ///
    /// Exit codes: 0 every plugin is usable; 1 a plugin has a problem (shown in STATUS);
    /// 2 the directory cannot be read.
    List {
        /// List this directory instead of asking the daemon.
        #[arg(long, value_name = "DIR")]
        plugins: Option<PathBuf>,
        /// Cache of compiled plugins consulted for the COMPILED column (with --plugins).
        #[arg(long, value_name = "DIR")]
        plugin_cache: Option<PathBuf>,
        #[command(flatten)]
        client: ClientArgs,
    },

    /// Check a plugin file: that it is a component of the hook world that imports only
    /// what hooklet provides, that its manifest (NAME.toml beside it) is valid and its
    /// pin matches; print its limits and everything it would be granted.
    ///
    /// Exit codes: 0 valid; 1 invalid (the reason is printed); 2 no such file.
    Check {
        /// The component, `NAME.wasm`, or a precompiled `NAME.cwasm`.
        file: PathBuf,
    },

    /// Precompile a plugin for a node, this one or another (e.g. an ARM64 board), so that
    /// the node loads it without compiling: writes `NAME.cwasm`, which goes into the
    /// node's plugin directory in place of (or beside: it wins) `NAME.wasm`. The code uses
    /// the target's baseline CPU features, so it runs on every CPU of that architecture; a
    /// node refuses it, saying what to do, if it is for another target or another hooklet
    /// version. hooklet's runtime-only build (no compiler) runs only such plugins.
    ///
    /// Exit codes: 0 written; 1 the file is not a valid component, the target is not
    /// supported, or this is the runtime-only build; 2 no such file.
    Compile {
        /// The component, `NAME.wasm`.
        file: PathBuf,
        /// The node's target triple, e.g. `aarch64-unknown-linux-gnu`; default this
        /// machine's.
        #[arg(long, value_name = "TRIPLE")]
        target: Option<String>,
        /// Where to write the artefact; default `NAME.cwasm` beside FILE.
        #[arg(short, long, value_name = "OUT")]
        output: Option<PathBuf>,
    },

    /// Publish a plugin to a registry as a CNCF wasm OCI artifact (config
    /// application/vnd.wasm.config.v0+json, one application/wasm layer: the component).
    /// Prints the manifest digest, so `REF@sha256:…` names exactly this push.
    ///
    /// Exit codes: 0 pushed; 1 the push failed or the file is not a component; 2 the
    /// reference is invalid.
    Push {
        /// The component, `NAME.wasm`.
        file: PathBuf,
        /// Where to push it: `HOST[:PORT]/REPO[:TAG]`.
        reference: String,
        #[command(flatten)]
        registry: registry_args::RegistryArgs,
    },

    /// Pull a plugin pushed as a wasm OCI artifact into the plugin directory: NAME.wasm,
    /// with NAME.toml pinning its sha256 and recording its source (other keys of an
    /// existing NAME.toml are kept). A running daemon loads it as any new file.
    /// `REF@sha256:…` pulls exactly that push.
    ///
    /// Exit codes: 0 pulled; 1 the pull failed or it is not a wasm plugin; 2 the
    /// reference or the name is invalid.
    Pull {
        /// What to pull: `HOST[:PORT]/REPO[:TAG|@sha256:…]`.
        reference: String,
        /// The plugin directory.
        #[arg(long, value_name = "DIR", default_value = "plugins")]
        plugins: PathBuf,
        /// The plugin's name (NAME.wasm); default the repository's last component.
        #[arg(long)]
        name: Option<String>,
        #[command(flatten)]
        registry: registry_args::RegistryArgs,
    },
}
