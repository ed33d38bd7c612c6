//! Interfaces on the node: the bridge (holding the gateway address) and the pods'
//! veth pairs. hooklet recognises its own veths by their alias
//! (`hooklet:BRIDGE:POD_UID`), so it never touches an interface it did not create.

use std::net::Ipv4Addr;
use std::path::Path;

use anyhow::{bail, Context};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::cmd::{self, ip, ip_batch};
use super::config::Ipv4Subnet;

/// An interface as `ip -j -d link show` reports it (the fields used here).
#[derive(Debug, Deserialize)]
pub(super) struct Link {
    #[serde(default)]
    pub flags: Vec<String>,
    pub master: Option<String>,
    pub ifalias: Option<String>,
    pub linkinfo: Option<LinkInfo>,
}

#[derive(Debug, Deserialize)]
pub(super) struct LinkInfo {
    pub info_kind: Option<String>,
}

impl Link {
    fn kind(&self) -> Option<&str> {
        self.linkinfo.as_ref()?.info_kind.as_deref()
    }

    fn is_up(&self) -> bool {
        self.flags.iter().any(|f| f == "UP")
    }
}

/// The interface `name`, or `None` if there is none.
pub(super) fn show(name: &str) -> anyhow::Result<Option<Link>> {
    match ip(&["-j", "-d", "link", "show", "dev", name]) {
        Ok(json) => {
            let links: Vec<Link> = serde_json::from_str(&json).context("parsing `ip -j link show`")?;
            Ok(links.into_iter().next())
        }
        Err(e) if cmd::is_no_such_device(&e) => Ok(None),
        Err(e) => Err(e),
    }
}

/// The host-side veth name of a pod: `hk` + 12 hex digits of a hash of the bridge and
/// the pod uid (14 characters; Linux allows 15).
pub(super) fn veth_name(bridge: &str, uid: &str) -> String {
    let digest = Sha256::new().chain_update(bridge).chain_update([0]).chain_update(uid).finalize();
    let hex: String = digest.iter().take(6).map(|b| format!("{b:02x}")).collect();
    format!("hk{hex}")
}

/// The alias that marks a pod's host-side veth as hooklet's.
pub(super) fn veth_alias(bridge: &str, uid: &str) -> String {
    format!("hooklet:{bridge}:{uid}")
}

/// The pod uid of one of this bridge's veths, from its alias.
fn alias_uid<'a>(bridge: &str, alias: &'a str) -> Option<&'a str> {
    alias.strip_prefix("hooklet:")?.strip_prefix(bridge)?.strip_prefix(':')
}

/// The pod uids of every hooklet veth of `bridge` on the node.
pub(super) fn veth_uids(bridge: &str) -> anyhow::Result<Vec<String>> {
    let json = ip(&["-j", "-d", "link", "show", "type", "veth"])?;
    let links: Vec<Link> = serde_json::from_str(&json).context("parsing `ip -j link show type veth`")?;
    Ok(links
        .iter()
        .filter_map(|l| alias_uid(bridge, l.ifalias.as_deref()?))
        .map(str::to_string)
        .collect())
}

/// Creates the bridge with the gateway address if missing and brings it up. Fails if
/// `bridge` exists but is not a bridge, or if another interface already routes part
/// of the subnet.
pub(super) fn ensure_bridge(bridge: &str, subnet: &Ipv4Subnet) -> anyhow::Result<()> {
    check_no_overlap(bridge, subnet)?;
    let gateway = format!("{}/{}", subnet.gateway(), subnet.prefix());
    match show(bridge)? {
        Some(link) if link.kind() != Some("bridge") => bail!(
            "pod network `bridge` {bridge}: an interface of that name exists and is not a bridge \
             (kind {}); choose another name",
            link.kind().unwrap_or("unknown")
        ),
        Some(_) => {}
        None => {
            tracing::info!(%bridge, "pod network: creating the bridge");
            ip(&["link", "add", "name", bridge, "type", "bridge"])
                .with_context(|| format!("creating the pod network bridge {bridge}"))?;
        }
    }
    let json = ip(&["-j", "-4", "addr", "show", "dev", bridge])?;
    let ifaces: Vec<IfAddrs> = serde_json::from_str(&json).context("parsing `ip -j addr show`")?;
    let has_gateway = ifaces.iter().flat_map(|i| &i.addr_info).any(|a| {
        a.local.as_deref() == Some(&subnet.gateway().to_string()) && a.prefixlen == Some(subnet.prefix())
    });
    if !has_gateway {
        ip(&["addr", "add", &gateway, "dev", bridge])
            .with_context(|| format!("giving the pod network bridge {bridge} the gateway address {gateway}"))?;
    }
    ip(&["link", "set", "dev", bridge, "up"]).with_context(|| format!("bringing up the bridge {bridge}"))?;
    Ok(())
}

#[derive(Deserialize)]
struct IfAddrs {
    #[serde(default)]
    addr_info: Vec<AddrInfo>,
}

#[derive(Deserialize)]
struct AddrInfo {
    local: Option<String>,
    prefixlen: Option<u8>,
}

#[derive(Deserialize)]
struct Route {
    dst: String,
    dev: Option<String>,
}

/// Fails if a route of the main table through another interface than `bridge`
/// covers part of `subnet` (the node already uses those addresses).
fn check_no_overlap(bridge: &str, subnet: &Ipv4Subnet) -> anyhow::Result<()> {
    let json = ip(&["-j", "-4", "route", "show", "table", "main"])?;
    let routes: Vec<Route> = serde_json::from_str(&json).context("parsing `ip -j route show`")?;
    for route in routes.iter().filter(|r| r.dst != "default" && r.dev.as_deref() != Some(bridge)) {
        let dst = if route.dst.contains('/') { route.dst.clone() } else { format!("{}/32", route.dst) };
        let Ok(dst) = dst.parse::<Ipv4Subnet>() else { continue };
        if dst.overlaps(subnet) {
            bail!(
                "invalid pod network `subnet` {subnet}: it overlaps {dst} on {}, which the node \
                 already uses; choose another private range",
                route.dev.as_deref().unwrap_or("another interface")
            );
        }
    }
    Ok(())
}

/// A pod's veth as it should be: `veth` on the node, attached to `bridge` and up; its
/// peer `eth0` in `netns` with `ip/prefix`, up, default route via `gateway`.
pub(super) struct Veth<'a> {
    pub bridge: &'a str,
    pub uid: &'a str,
    pub netns: &'a Path,
    pub ip: Ipv4Addr,
    pub prefix: u8,
    pub gateway: Ipv4Addr,
}

impl Veth<'_> {
    fn name(&self) -> String {
        veth_name(self.bridge, self.uid)
    }

    /// Whether the node side exists, is ours, attached and up (the last setup step).
    pub fn is_complete(&self) -> anyhow::Result<bool> {
        Ok(show(&self.name())?.is_some_and(|l| {
            l.ifalias.as_deref() == Some(&veth_alias(self.bridge, self.uid))
                && l.master.as_deref() == Some(self.bridge)
                && l.is_up()
        }))
    }

    /// Creates the pair. Both ends are made inside the pod's namespace and the node
    /// end is tagged there before it moves out, so a crash at any point leaves no
    /// untagged veth on the node.
    pub fn create(&self) -> anyhow::Result<()> {
        let name = self.name();
        let host_netns = format!("/proc/{}/ns/net", std::process::id());
        let batch = format!(
            "link set lo up\n\
             link add eth0 type veth peer name {name}\n\
             link set dev {name} alias \"{alias}\"\n\
             addr add {ip}/{prefix} dev eth0\n\
             link set dev eth0 up\n\
             route add default via {gateway} dev eth0\n\
             link set dev {name} netns {host_netns}\n",
            alias = veth_alias(self.bridge, self.uid),
            ip = self.ip,
            prefix = self.prefix,
            gateway = self.gateway,
        );
        ip_batch(Some(self.netns), &batch).with_context(|| {
            format!("setting up eth0 of pod {} in {} (is the namespace file mounted?)", self.uid, self.netns.display())
        })?;
        // The node may remember another MAC for this IP (a deleted pod's): forget it.
        let attach = format!(
            "link set dev {name} master {bridge}\nlink set dev {name} up\nneigh flush to {ip} dev {bridge}\n",
            bridge = self.bridge,
            ip = self.ip,
        );
        ip_batch(None, &attach).with_context(|| format!("attaching the pod veth {name} to the bridge {}", self.bridge))
    }
}

/// Deletes the node end of a pod's veth (which deletes the pair), if it exists and is
/// hooklet's. Returns whether there was one.
pub(super) fn delete_veth(bridge: &str, uid: &str) -> anyhow::Result<bool> {
    let name = veth_name(bridge, uid);
    let Some(link) = show(&name)? else { return Ok(false) };
    if link.ifalias.as_deref() != Some(&veth_alias(bridge, uid)) {
        tracing::warn!(%name, alias = ?link.ifalias, "pod network: an interface has a pod veth's name but is not hooklet's; left alone");
        return Ok(false);
    }
    match ip(&["link", "del", "dev", &name]) {
        Ok(_) => Ok(true),
        Err(e) if cmd::is_no_such_device(&e) => Ok(false),
        Err(e) => Err(e.context(format!("deleting the pod veth {name}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn veth_names_are_short_stable_and_per_bridge() {
        let a = veth_name("hooklet0", "8d2f3c1e-0000-4000-8000-000000000001");
        assert_eq!(a.len(), 14);
        assert!(a.starts_with("hk") && a[2..].bytes().all(|b| b.is_ascii_hexdigit()));
        assert_eq!(a, veth_name("hooklet0", "8d2f3c1e-0000-4000-8000-000000000001"));
        assert_ne!(a, veth_name("hooklet0", "8d2f3c1e-0000-4000-8000-000000000002"));
        assert_ne!(a, veth_name("hkt-net0", "8d2f3c1e-0000-4000-8000-000000000001"));
    }

    #[test]
    fn aliases_name_bridge_and_uid() {
        let alias = veth_alias("hooklet0", "u-1");
        assert_eq!(alias, "hooklet:hooklet0:u-1");
        assert_eq!(alias_uid("hooklet0", &alias), Some("u-1"));
        assert_eq!(alias_uid("hooklet", &alias), None);
        assert_eq!(alias_uid("hooklet0", "something else"), None);
    }
}
