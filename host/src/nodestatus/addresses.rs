//! The node's addresses (`status.addresses`: `InternalIP` and `Hostname`) and its
//! system info, as the kubelet finds them: `--node-ip` parsed and validated with the
//! kubelet's messages, or, without it, the address the machine reaches other hosts
//! from. The pods' `status.hostIP(s)` and the downward API's `status.hostIP(s)` are
//! the `InternalIP`s.
//!
//! ```
//! use hooklet::nodestatus::addresses::{parse_node_ip, NodeIp};
//! assert_eq!(parse_node_ip("192.0.2.7").unwrap(), NodeIp::Given(vec!["192.0.2.7".parse().unwrap()]));
//! assert_eq!(parse_node_ip("::").unwrap(), NodeIp::Detect { prefer_ipv6: true });
//! let e = parse_node_ip("192.0.2.7,192.0.2.8").unwrap_err();
//! assert_eq!(e, r#"bad --node-ip "192.0.2.7,192.0.2.8": must contain either a single IP or a dual-stack pair of IPs"#);
//! ```

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, UdpSocket};

use serde::{Deserialize, Serialize};

/// What `--node-ip` says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeIp {
    /// Unset, `0.0.0.0` or `::`: the machine's default address, of the preferred
    /// family if it has one, else of the other (one address, as the kubelet).
    Detect { prefer_ipv6: bool },
    /// One address, or a dual-stack pair (primary first).
    Given(Vec<IpAddr>),
}

impl Default for NodeIp {
    fn default() -> Self {
        NodeIp::Detect { prefer_ipv6: false }
    }
}

/// Parses `--node-ip` as the kubelet does, except that an entry that is not an
/// address is an error here (the kubelet logs and ignores it).
pub fn parse_node_ip(value: &str) -> Result<NodeIp, String> {
    let bad = |why: String| format!("bad --node-ip {value:?}: {why}");
    let mut ips = Vec::new();
    for part in value.split(',').map(str::trim) {
        let ip: IpAddr = part.parse().map_err(|_| bad(format!("could not parse {part:?}; give an IPv4 or IPv6 address")))?;
        ips.push(ip);
    }
    match ips.as_slice() {
        [ip] if ip.is_unspecified() => Ok(NodeIp::Detect { prefer_ipv6: ip.is_ipv6() }),
        [_] => Ok(NodeIp::Given(ips)),
        [a, b] if a.is_ipv6() != b.is_ipv6() => {
            if a.is_unspecified() || b.is_unspecified() {
                return Err(bad("dual-stack node IP cannot include '0.0.0.0' or '::'".into()));
            }
            Ok(NodeIp::Given(ips))
        }
        _ => Err(bad("must contain either a single IP or a dual-stack pair of IPs".into())),
    }
}

/// The kubelet's `validateNodeIP`: not loopback, multicast, link-local or
/// unspecified, and one of this machine's interface addresses.
pub fn validate_node_ip(ip: IpAddr) -> Result<(), String> {
    let link_local = match ip {
        IpAddr::V4(v4) => v4.is_link_local(),
        IpAddr::V6(v6) => v6.is_unicast_link_local(),
    };
    let why = if ip.is_loopback() {
        "nodeIP can't be loopback address".to_string()
    } else if ip.is_multicast() {
        "nodeIP can't be a multicast address".to_string()
    } else if link_local {
        "nodeIP can't be a link-local unicast address".to_string()
    } else if ip.is_unspecified() {
        "nodeIP can't be an all zeros address".to_string()
    } else if !interface_addresses().contains(&ip) {
        format!("node IP: {:?} not found in the host's network interfaces", ip.to_string())
    } else {
        return Ok(());
    };
    Err(format!("--node-ip: failed to validate nodeIP: {why}; give one of this machine's addresses (`ip -brief address`) or leave --node-ip out"))
}

/// Every address on this machine's interfaces.
fn interface_addresses() -> Vec<IpAddr> {
    let Ok(addrs) = nix::ifaddrs::getifaddrs() else { return Vec::new() };
    addrs
        .filter_map(|a| a.address)
        .filter_map(|s| match (s.as_sockaddr_in(), s.as_sockaddr_in6()) {
            (Some(v4), _) => Some(IpAddr::V4(v4.ip())),
            (_, Some(v6)) => Some(IpAddr::V6(v6.ip())),
            _ => None,
        })
        .collect()
}

/// The source address of the default route of one family (no packet is sent).
fn default_route_source(ipv6: bool) -> Option<IpAddr> {
    // Documentation addresses: routed like any other, owned by no one.
    let (bind, target): (IpAddr, IpAddr) = if ipv6 {
        (Ipv6Addr::UNSPECIFIED.into(), "2001:db8::1".parse::<Ipv6Addr>().expect("an address").into())
    } else {
        (Ipv4Addr::UNSPECIFIED.into(), Ipv4Addr::new(192, 0, 2, 1).into())
    };
    let socket = UdpSocket::bind((bind, 0)).ok()?;
    socket.connect((target, 9)).ok()?;
    socket.local_addr().ok().map(|a| a.ip()).filter(|ip| !ip.is_unspecified() && !ip.is_loopback())
}

impl NodeIp {
    /// The node's `InternalIP`s: the given ones after validation, or the detected
    /// one (none on a machine without a default route).
    pub fn resolve(&self) -> Result<Vec<IpAddr>, String> {
        match self {
            NodeIp::Given(ips) => {
                ips.iter().try_for_each(|ip| validate_node_ip(*ip))?;
                Ok(ips.clone())
            }
            NodeIp::Detect { prefer_ipv6 } => {
                Ok(default_route_source(*prefer_ipv6).or_else(|| default_route_source(!prefer_ipv6)).into_iter().collect())
            }
        }
    }
}

/// One of `status.addresses`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeAddress {
    /// `InternalIP` or `Hostname`.
    #[serde(rename = "type")]
    pub address_type: String,
    pub address: String,
}

/// The node's addresses in the kubelet's order: the `InternalIP`s, then `Hostname`.
pub fn node_addresses(internal: &[IpAddr], hostname: &str) -> Vec<NodeAddress> {
    let entry = |t: &str, a: String| NodeAddress { address_type: t.into(), address: a };
    internal.iter().map(|ip| entry("InternalIP", ip.to_string())).chain([entry("Hostname", hostname.to_string())]).collect()
}

/// `status.nodeInfo`'s machine facts (`kubectl get nodes -o wide`, `describe node`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SystemInfo {
    /// `uname -r`.
    pub kernel_version: String,
    /// `PRETTY_NAME` of `/etc/os-release`.
    pub os_image: String,
    /// `GOOS`: `linux`.
    pub operating_system: String,
    /// `GOARCH`: `amd64`, `arm64`, …
    pub architecture: String,
}

/// This machine's architecture as Go (and so Kubernetes) names it.
pub fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

impl SystemInfo {
    /// This machine's.
    pub fn local() -> SystemInfo {
        let kernel_version = nix::sys::utsname::uname().map(|u| u.release().to_string_lossy().into_owned()).unwrap_or_default();
        let os_release = std::fs::read_to_string("/etc/os-release").or_else(|_| std::fs::read_to_string("/usr/lib/os-release")).unwrap_or_default();
        SystemInfo {
            kernel_version,
            os_image: pretty_name(&os_release).unwrap_or_else(|| "Linux".into()),
            operating_system: std::env::consts::OS.into(),
            architecture: go_arch().into(),
        }
    }
}

/// `PRETTY_NAME` of an os-release file, unquoted.
fn pretty_name(os_release: &str) -> Option<String> {
    let value = os_release.lines().find_map(|l| l.strip_prefix("PRETTY_NAME="))?;
    Some(value.trim().trim_matches(|c| c == '"' || c == '\'').to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn given(s: &str) -> Vec<IpAddr> {
        s.split(',').map(|p| p.parse().unwrap()).collect()
    }

    #[test]
    fn node_ip_parses_as_the_kubelets() {
        assert_eq!(parse_node_ip("192.0.2.7, 2001:db8::7").unwrap(), NodeIp::Given(given("192.0.2.7,2001:db8::7")));
        assert_eq!(parse_node_ip("0.0.0.0").unwrap(), NodeIp::Detect { prefer_ipv6: false });
        for (value, why) in [
            ("2001:db8::1,2001:db8::2", "must contain either a single IP or a dual-stack pair of IPs"),
            ("192.0.2.1,2001:db8::1,192.0.2.2", "must contain either a single IP or a dual-stack pair of IPs"),
            ("0.0.0.0,2001:db8::1", "dual-stack node IP cannot include '0.0.0.0' or '::'"),
            ("node-a", "could not parse \"node-a\"; give an IPv4 or IPv6 address"),
            ("", "could not parse \"\"; give an IPv4 or IPv6 address"),
        ] {
            assert_eq!(parse_node_ip(value).unwrap_err(), format!("bad --node-ip {value:?}: {why}"));
        }
    }

    #[test]
    fn node_ip_validation_has_the_kubelets_messages() {
        let why = |ip: &str| validate_node_ip(ip.parse().unwrap()).unwrap_err();
        assert!(why("127.0.0.1").contains("failed to validate nodeIP: nodeIP can't be loopback address;"), "{}", why("127.0.0.1"));
        assert!(why("::1").contains("nodeIP can't be loopback address"));
        assert!(why("239.0.0.254").contains("nodeIP can't be a multicast address"));
        assert!(why("169.254.0.9").contains("nodeIP can't be a link-local unicast address"));
        assert!(why("fe80::1").contains("nodeIP can't be a link-local unicast address"));
        // 192.0.2.0/24 is for documentation: no machine's interface has it.
        assert!(why("192.0.2.254").contains(r#"node IP: "192.0.2.254" not found in the host's network interfaces; give one of"#));
    }

    #[test]
    fn a_detected_address_is_one_of_the_machines() {
        let found = NodeIp::default().resolve().unwrap();
        assert!(found.len() <= 1, "{found:?}");
        for ip in found {
            assert!(interface_addresses().contains(&ip), "{ip} is not on an interface");
            validate_node_ip(ip).unwrap();
        }
    }

    #[test]
    fn addresses_and_system_info_in_the_kubelets_shape() {
        let a = serde_json::to_value(node_addresses(&given("192.0.2.7,2001:db8::7"), "edge1")).unwrap();
        assert_eq!(
            a,
            serde_json::json!([{"type": "InternalIP", "address": "192.0.2.7"}, {"type": "InternalIP", "address": "2001:db8::7"}, {"type": "Hostname", "address": "edge1"}])
        );
        assert_eq!(pretty_name("NAME=\"Debian GNU/Linux\"\nPRETTY_NAME=\"Debian GNU/Linux 13 (trixie)\"\n").as_deref(), Some("Debian GNU/Linux 13 (trixie)"));
        assert_eq!(pretty_name("ID=alpine\n"), None);
        assert!(!SystemInfo::local().kernel_version.is_empty());
    }
}
