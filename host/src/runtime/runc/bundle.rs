//! The OCI bundle of one container: `config.json` and a root filesystem.
//!
//! The root filesystem is an overlay: the image's unpacked rootfs (shared by all its
//! containers, never written) below, and a writable layer of the container's own
//! (`upper/`, `work/`) above, mounted at `rootfs/`. `config.json` is generated from the
//! manifest over the image config, as the kubelet and containerd do:
//!
//! | OCI field | from |
//! |---|---|
//! | `process.args` | `command` + `args`; a missing `command` is the image's `Entrypoint`, missing `args` its `Cmd` (only when `command` is not set either) |
//! | `process.env` | `PATH` default, `HOSTNAME`, the image's `Env`, then the manifest's `env` (later wins) |
//! | `process.cwd` | `workingDir`, else the image's `WorkingDir`, else `/` |
//! | `process.user` | the image's `User` when numeric (`uid[:gid]`), else root |
//! | `linux.resources` | `limits.memory`, `limits.cpu` (CFS quota per 100 ms period) |
//! | `linux.namespaces` | a new pid and mount namespace; the pod's network, IPC and UTS namespaces |
//! | `linux.cgroupsPath` | [`CGROUP_PARENT`]`/ID`, absolute: beside the daemon's own cgroup, never inside it |

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use serde_json::{json, Value};

use crate::runtime::DEFAULT_PATH;
use crate::runtime::network::PodNamespaces;
use crate::image::Image;
use crate::runtime::ContainerConfig;

/// Where containers' cgroups go in every hierarchy: `/hooklet/ID` from the hierarchy's
/// root, outside the cgroup hooklet itself runs in (a systemd service's, say), as the
/// kubelet's `/kubepods` is outside containerd's. `systemctl restart hooklet` then
/// finds only hooklet and the monitors in the unit, never a container.
pub const CGROUP_PARENT: &str = "/hooklet";

/// CFS period for CPU limits (the kubelet's 100 ms).
const CPU_PERIOD_US: u64 = 100_000;

/// The capabilities a container process gets (the OCI runtimes' default set).
const CAPABILITIES: &[&str] = &[
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW", "CAP_SETGID",
    "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

/// The argv a container runs: Kubernetes' rule for `command`/`args` over the image.
pub fn process_args(config: &ContainerConfig, image: &Image) -> anyhow::Result<Vec<String>> {
    let (command, args) = (config.command(), config.args());
    let argv: Vec<String> = match (command.is_empty(), args.is_empty()) {
        (false, _) => config.argv.clone(),
        (true, false) => image.config.entrypoint.iter().chain(args).cloned().collect(),
        (true, true) => image.config.entrypoint.iter().chain(&image.config.cmd).cloned().collect(),
    };
    if argv.is_empty() {
        bail!(
            "container {:?} has nothing to run: image {:?} has no Entrypoint or Cmd and the manifest sets no `command`; add `command:` to the container",
            config.name,
            config.image
        );
    }
    Ok(argv)
}

/// The container's environment: defaults, the image's `Env`, the manifest's `env`.
pub fn process_env(config: &ContainerConfig, image: &Image) -> Vec<String> {
    let mut env: Vec<(String, String)> = vec![
        ("PATH".into(), DEFAULT_PATH.into()),
        ("HOSTNAME".into(), config.pod.name.clone()),
    ];
    let image_env = image.config.env.iter().filter_map(|kv| kv.split_once('=')).map(|(k, v)| (k.to_string(), v.to_string()));
    for (key, value) in image_env.chain(config.env.iter().cloned()) {
        match env.iter_mut().find(|(k, _)| *k == key) {
            Some(slot) => slot.1 = value,
            None => env.push((key, value)),
        }
    }
    env.into_iter().map(|(k, v)| format!("{k}={v}")).collect()
}

/// `uid[:gid]` of the image's `User`, when numeric; names are not resolved.
fn user(image: &Image) -> (u32, u32) {
    let Some(user) = image.config.user.as_deref() else { return (0, 0) };
    let (uid, gid) = user.split_once(':').unwrap_or((user, "0"));
    match (uid.parse(), gid.parse()) {
        (Ok(uid), Ok(gid)) => (uid, gid),
        _ => {
            tracing::warn!(image = %image.id, user, "the image's User is not numeric; the container runs as root");
            (0, 0)
        }
    }
}

/// Writes `config.json` for `config` into `bundle` (whose `rootfs/` is mounted).
pub fn write_config(bundle: &Path, id: &str, config: &ContainerConfig, image: &Image, pod: &PodNamespaces) -> anyhow::Result<()> {
    let args = process_args(config, image)?;
    let cwd = config
        .working_dir
        .as_ref()
        .map(|d| d.display().to_string())
        .or_else(|| image.config.working_dir.clone())
        .unwrap_or_else(|| "/".into());
    let (uid, gid) = user(image);
    let mut resources = json!({ "devices": [{ "allow": false, "access": "rwm" }] });
    if let Some(bytes) = config.limits.memory_bytes {
        resources["memory"] = json!({ "limit": bytes });
    }
    if let Some(millis) = config.limits.cpu_millis {
        let quota = (millis * CPU_PERIOD_US / 1000).max(1000);
        resources["cpu"] = json!({ "quota": quota, "period": CPU_PERIOD_US });
    }
    let etc = write_etc_files(bundle, config, pod)?;
    let spec = json!({
        "ociVersion": "1.0.2",
        "process": {
            "terminal": false,
            "user": { "uid": uid, "gid": gid },
            "args": args,
            "env": process_env(config, image),
            "cwd": cwd,
            "capabilities": {
                "bounding": CAPABILITIES, "effective": CAPABILITIES, "permitted": CAPABILITIES,
            },
            "noNewPrivileges": false,
        },
        "root": { "path": "rootfs", "readonly": false },
        "mounts": mounts(&etc),
        "linux": {
            "namespaces": namespaces(pod),
            "resources": resources,
            "cgroupsPath": format!("{CGROUP_PARENT}/{id}"),
            "maskedPaths": [
                "/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list",
                "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware", "/proc/scsi",
            ],
            "readonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"],
        },
    });
    let text = serde_json::to_vec_pretty(&spec)?;
    let path = bundle.join("config.json");
    std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))
}

fn namespaces(pod: &PodNamespaces) -> Vec<Value> {
    vec![
        json!({ "type": "pid" }),
        json!({ "type": "mount" }),
        json!({ "type": "network", "path": pod.net }),
        json!({ "type": "ipc", "path": pod.ipc }),
        json!({ "type": "uts", "path": pod.uts }),
    ]
}

/// `/etc/hosts` and `/etc/hostname` of the pod, as the kubelet mounts them.
struct EtcFiles {
    hosts: PathBuf,
    hostname: PathBuf,
}

fn write_etc_files(bundle: &Path, config: &ContainerConfig, pod: &PodNamespaces) -> anyhow::Result<EtcFiles> {
    let name = &config.pod.name;
    let hosts = format!("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n{}\t{name}\n", pod.ip);
    let files = EtcFiles { hosts: bundle.join("hosts"), hostname: bundle.join("hostname") };
    std::fs::write(&files.hosts, hosts).with_context(|| format!("cannot write {}", files.hosts.display()))?;
    std::fs::write(&files.hostname, format!("{name}\n")).with_context(|| format!("cannot write {}", files.hostname.display()))?;
    Ok(files)
}

fn mounts(etc: &EtcFiles) -> Vec<Value> {
    let bind = |source: &Path, destination: &str| {
        json!({ "destination": destination, "type": "bind", "source": source, "options": ["rbind", "rprivate"] })
    };
    vec![
        json!({ "destination": "/proc", "type": "proc", "source": "proc" }),
        json!({ "destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"] }),
        json!({ "destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"] }),
        json!({ "destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"] }),
        json!({ "destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"] }),
        json!({ "destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"] }),
        bind(&etc.hosts, "/etc/hosts"),
        bind(&etc.hostname, "/etc/hostname"),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::config::ImageConfig;

    fn image(entrypoint: &[&str], cmd: &[&str]) -> Image {
        Image {
            id: "sha256:0".into(),
            manifest_digest: None,
            index_digest: None,
            references: vec![],
            config: ImageConfig {
                entrypoint: entrypoint.iter().map(|s| s.to_string()).collect(),
                cmd: cmd.iter().map(|s| s.to_string()).collect(),
                env: vec!["PATH=/image/bin".into(), "FROM_IMAGE=1".into()],
                ..Default::default()
            },
            layers: vec![],
            size_bytes: 0,
            imported_at: String::new(),
            dir: PathBuf::new(),
        }
    }

    fn config(command: &[&str], args: &[&str]) -> ContainerConfig {
        ContainerConfig {
            name: "app".into(),
            argv: command.iter().chain(args).map(|s| s.to_string()).collect(),
            command_len: command.len(),
            env: vec![("FROM_IMAGE".into(), "2".into())],
            ..Default::default()
        }
    }

    #[test]
    fn command_and_args_follow_kubernetes_over_the_image() {
        let img = image(&["/entry"], &["default"]);
        assert_eq!(process_args(&config(&[], &[]), &img).unwrap(), ["/entry", "default"]);
        assert_eq!(process_args(&config(&[], &["x"]), &img).unwrap(), ["/entry", "x"]);
        assert_eq!(process_args(&config(&["sh"], &[]), &img).unwrap(), ["sh"]);
        assert_eq!(process_args(&config(&["sh"], &["-c", "y"]), &img).unwrap(), ["sh", "-c", "y"]);
        let err = process_args(&config(&[], &[]), &image(&[], &[])).unwrap_err().to_string();
        assert!(err.contains("add `command:`"), "{err}");
    }

    #[test]
    fn manifest_env_wins_over_image_env() {
        let env = process_env(&config(&[], &[]), &image(&[], &[]));
        assert!(env.contains(&"PATH=/image/bin".to_string()), "{env:?}");
        assert!(env.contains(&"FROM_IMAGE=2".to_string()), "{env:?}");
        assert_eq!(env.iter().filter(|e| e.starts_with("FROM_IMAGE=")).count(), 1);
    }
}
