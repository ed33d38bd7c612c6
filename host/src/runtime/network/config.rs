//! The pod network's configuration: the bridge name, the pod subnet (validated: private,
//! `/16`–`/29`, no host bits) and the state directory.

use std::fmt;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::str::FromStr;

use anyhow::{bail, Context};
use serde::{Deserialize, Serialize};

/// The default bridge.
pub const DEFAULT_BRIDGE: &str = "hooklet0";

/// The default pod subnet, `10.213.0.0/16`: private (RFC 1918) and away from the
/// usual defaults of other tools on a node (Docker `172.17.0.0/16`, Podman
/// `10.88.0.0/16`, Flannel `10.244.0.0/16`, k3s `10.42.0.0/16`, Calico
/// `192.168.0.0/16`).
pub const DEFAULT_SUBNET: Ipv4Subnet = Ipv4Subnet { network: Ipv4Addr::new(10, 213, 0, 0), prefix: 16 };

/// The narrowest and widest prefixes accepted for the pod subnet.
pub const PREFIX_RANGE: std::ops::RangeInclusive<u8> = 16..=29;

/// Names the setting in error messages.
const SUBNET_SETTING: &str = "pod network `subnet`";

/// An IPv4 network, `a.b.c.d/prefix`, with no host bits set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Ipv4Subnet {
    network: Ipv4Addr,
    prefix: u8,
}

impl Ipv4Subnet {
    /// A subnet from its network address and prefix length (host bits must be zero).
    /// A subnet for a constant; unchecked ([`Ipv4Subnet::validate_for_pods`] runs when
    /// a network opens).
    pub const fn from_octets(octets: [u8; 4], prefix: u8) -> Self {
        Ipv4Subnet { network: Ipv4Addr::new(octets[0], octets[1], octets[2], octets[3]), prefix }
    }

    pub fn new(network: Ipv4Addr, prefix: u8) -> anyhow::Result<Self> {
        if prefix > 32 {
            bail!("prefix /{prefix} is longer than 32");
        }
        let subnet = Ipv4Subnet { network, prefix };
        let masked = Ipv4Addr::from(u32::from(network) & subnet.mask());
        if masked != network {
            bail!("{network}/{prefix} has host bits set (did you mean {masked}/{prefix}?)");
        }
        Ok(subnet)
    }

    /// The network address.
    pub fn network(&self) -> Ipv4Addr {
        self.network
    }

    /// The prefix length.
    pub fn prefix(&self) -> u8 {
        self.prefix
    }

    fn mask(&self) -> u32 {
        if self.prefix == 0 { 0 } else { u32::MAX << (32 - self.prefix) }
    }

    /// Whether `addr` is inside this subnet.
    pub fn contains(&self, addr: Ipv4Addr) -> bool {
        u32::from(addr) & self.mask() == u32::from(self.network)
    }

    /// Whether the two subnets share any address.
    pub fn overlaps(&self, other: &Ipv4Subnet) -> bool {
        self.contains(other.network) || other.contains(self.network)
    }

    /// The gateway: the first host address, held by the bridge.
    pub fn gateway(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.network) + 1)
    }

    /// The addresses pods get: from the second host address up to the last one
    /// before the broadcast address.
    pub fn pod_addresses(&self) -> impl Iterator<Item = Ipv4Addr> {
        let first = u32::from(self.network) + 2;
        let broadcast = u32::from(self.network) | !self.mask();
        (first..broadcast).map(Ipv4Addr::from)
    }

    /// Checks that this subnet suits pods: private (RFC 1918) and between
    /// `/16` and `/29`. The error names the setting.
    pub fn validate_for_pods(&self) -> anyhow::Result<()> {
        if !self.network.is_private() {
            bail!(
                "invalid {SUBNET_SETTING} {self}: not a private (RFC 1918) range; use one inside \
                 10.0.0.0/8, 172.16.0.0/12 or 192.168.0.0/16 (default {DEFAULT_SUBNET})"
            );
        }
        if !PREFIX_RANGE.contains(&self.prefix) {
            bail!(
                "invalid {SUBNET_SETTING} {self}: the prefix must be between /{} and /{} \
                 (default {DEFAULT_SUBNET})",
                PREFIX_RANGE.start(),
                PREFIX_RANGE.end()
            );
        }
        // Every private block is /16 or wider, so with a prefix of at least /16 the
        // whole subnet is private once its network address is.
        Ok(())
    }
}

impl fmt::Display for Ipv4Subnet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

impl FromStr for Ipv4Subnet {
    type Err = anyhow::Error;

    fn from_str(s: &str) -> anyhow::Result<Self> {
        let parse = || -> anyhow::Result<Self> {
            let (addr, prefix) = s.split_once('/').context("expected ADDRESS/PREFIX, like 10.213.0.0/16")?;
            let network: Ipv4Addr = addr.parse().context("not an IPv4 address")?;
            let prefix: u8 = prefix.parse().context("the prefix is not a number")?;
            Ipv4Subnet::new(network, prefix)
        };
        parse().with_context(|| format!("invalid {SUBNET_SETTING} `{s}`"))
    }
}

impl TryFrom<String> for Ipv4Subnet {
    type Error = anyhow::Error;

    fn try_from(s: String) -> anyhow::Result<Self> {
        s.parse()
    }
}

impl From<Ipv4Subnet> for String {
    fn from(s: Ipv4Subnet) -> String {
        s.to_string()
    }
}

/// Where and how pods are networked. See the [module docs](super).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkConfig {
    /// The node bridge the pods' veths attach to (default [`DEFAULT_BRIDGE`]); it holds
    /// the gateway address. At most 15 characters of `[A-Za-z0-9_.-]`.
    pub bridge: String,
    /// The pod subnet (default [`DEFAULT_SUBNET`]): private, `/16`–`/29`.
    pub subnet: Ipv4Subnet,
    /// Holds the IP allocations and the namespace files (the daemon's is
    /// `STATE_DIR/network`).
    pub state_dir: PathBuf,
}

impl NetworkConfig {
    /// The defaults with the given state directory.
    pub fn new(state_dir: impl Into<PathBuf>) -> Self {
        NetworkConfig { bridge: DEFAULT_BRIDGE.into(), subnet: DEFAULT_SUBNET, state_dir: state_dir.into() }
    }

    /// Checks every setting; the error names the one that is wrong.
    pub fn validate(&self) -> anyhow::Result<()> {
        validate_ifname(&self.bridge).context("invalid pod network `bridge`")?;
        self.subnet.validate_for_pods()?;
        if self.state_dir.as_os_str().is_empty() {
            bail!("invalid pod network `state_dir`: empty");
        }
        Ok(())
    }
}

/// Checks a Linux interface name: 1–15 characters of `[A-Za-z0-9_.-]`.
pub(super) fn validate_ifname(name: &str) -> anyhow::Result<()> {
    if name.is_empty() || name.len() > 15 {
        bail!("interface name `{name}` must have 1 to 15 characters");
    }
    if !name.bytes().all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b)) || name == "." || name == ".." {
        bail!("interface name `{name}` may only use letters, digits, `_`, `.` and `-`");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subnet(s: &str) -> Ipv4Subnet {
        s.parse().unwrap()
    }

    fn error(s: &str) -> String {
        match s.parse::<Ipv4Subnet>().and_then(|n| n.validate_for_pods().map(|()| n)) {
            Ok(n) => panic!("{s} accepted as {n}"),
            Err(e) => format!("{e:#}"),
        }
    }

    #[test]
    fn parses_and_prints() {
        let s = subnet("10.213.0.0/16");
        assert_eq!(s, DEFAULT_SUBNET);
        assert_eq!(s.to_string(), "10.213.0.0/16");
        assert_eq!(s.gateway(), Ipv4Addr::new(10, 213, 0, 1));
        assert!(s.contains(Ipv4Addr::new(10, 213, 255, 255)));
        assert!(!s.contains(Ipv4Addr::new(10, 214, 0, 0)));
        let json = serde_json::to_string(&s).unwrap();
        assert_eq!(json, "\"10.213.0.0/16\"");
        assert_eq!(serde_json::from_str::<Ipv4Subnet>(&json).unwrap(), s);
    }

    #[test]
    fn pod_addresses_skip_network_gateway_and_broadcast() {
        let all: Vec<_> = subnet("192.168.7.8/29").pod_addresses().collect();
        let want: Vec<Ipv4Addr> = (10..=14).map(|i| Ipv4Addr::new(192, 168, 7, i)).collect();
        assert_eq!(all, want);
        assert_eq!(subnet("10.0.0.0/16").pod_addresses().count(), 65536 - 3);
    }

    #[test]
    fn overlaps() {
        assert!(subnet("10.213.0.0/16").overlaps(&subnet("10.213.4.0/24")));
        assert!(subnet("10.213.4.0/24").overlaps(&subnet("10.0.0.0/8")));
        assert!(!subnet("10.213.0.0/16").overlaps(&subnet("10.214.0.0/16")));
    }

    #[test]
    fn bad_subnets_name_the_setting_and_the_fix() {
        let e = error("8.8.8.0/24");
        assert!(e.contains("pod network `subnet`") && e.contains("RFC 1918"), "{e}");
        let e = error("10.1.2.3/16");
        assert!(e.contains("did you mean 10.1.0.0/16"), "{e}");
        let e = error("10.0.0.0/8");
        assert!(e.contains("between /16 and /29"), "{e}");
        assert!(error("10.0.0.0/30").contains("between /16 and /29"));
        assert!(error("10.0.0.0").contains("ADDRESS/PREFIX"));
        assert!(error("10.0.0/24").contains("not an IPv4 address"));
        assert!(error("10.0.0.0/x").contains("not a number"));
        assert!(error("10.0.0.0/33").contains("longer than 32"));
    }

    #[test]
    fn config_validation_names_the_setting() {
        let mut c = NetworkConfig::new("/tmp/x");
        c.validate().unwrap();
        c.bridge = "a-bridge-name-too-long".into();
        assert!(format!("{:#}", c.validate().unwrap_err()).contains("`bridge`"));
        c.bridge = "br 0".into();
        assert!(c.validate().is_err());
        c.bridge = "hkt0".into();
        c.subnet = Ipv4Subnet::new(Ipv4Addr::new(100, 64, 0, 0), 16).unwrap();
        assert!(format!("{:#}", c.validate().unwrap_err()).contains("`subnet`"));
    }
}
