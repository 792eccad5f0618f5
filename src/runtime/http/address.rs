//! Which IP addresses a processor may connect to: public unicast addresses,
//! plus the networks its pipeline lists in `allowed_networks`. Everything a
//! server-side request forgery would aim at (loopback, private networks,
//! link-local and cloud metadata, ...) is refused unless listed.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

/// A CIDR network (`10.1.0.0/16`, `fd00::/8`), or one address written bare.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpNetwork {
    addr: IpAddr,
    prefix: u8,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NetworkError {
    #[error("{0:?} is not an IP network (write e.g. 10.1.0.0/16 or fd00::/8)")]
    Syntax(String),
    #[error("prefix /{prefix} is longer than the address ({max} bits)")]
    Prefix { prefix: u8, max: u8 },
    #[error("{written} has bits set past its prefix (did you mean {network}?)")]
    HostBits { written: String, network: IpNetwork },
}

impl IpNetwork {
    pub fn new(addr: IpAddr, prefix: u8) -> Result<Self, NetworkError> {
        let max = bits(addr);
        if prefix > max {
            return Err(NetworkError::Prefix { prefix, max });
        }
        Ok(Self { addr, prefix })
    }

    /// Whether `ip` is in this network. An IPv4-mapped IPv6 address (`::ffff:a.b.c.d`)
    /// is the IPv4 address it carries, as that is where a dual-stack socket connects.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, unmap(ip)) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                prefix_matches(net.to_bits().into(), ip.to_bits().into(), 32, self.prefix)
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => prefix_matches(net.to_bits(), ip.to_bits(), 128, self.prefix),
            _ => false,
        }
    }
}

impl FromStr for IpNetwork {
    type Err = NetworkError;

    fn from_str(text: &str) -> Result<Self, NetworkError> {
        let syntax = || NetworkError::Syntax(text.to_owned());
        let (addr, prefix) = match text.split_once('/') {
            Some((addr, prefix)) => {
                let addr: IpAddr = addr.parse().map_err(|_| syntax())?;
                (addr, prefix.parse::<u8>().map_err(|_| syntax())?)
            }
            None => {
                let addr: IpAddr = text.parse().map_err(|_| syntax())?;
                (addr, bits(addr))
            }
        };
        let network = IpNetwork::new(addr, prefix)?;
        let truncated = network.truncated();
        if truncated != network {
            return Err(NetworkError::HostBits { written: text.to_owned(), network: truncated });
        }
        Ok(network)
    }
}

impl IpNetwork {
    fn truncated(self) -> IpNetwork {
        let addr = match self.addr {
            IpAddr::V4(a) => IpAddr::V4(Ipv4Addr::from_bits(mask(a.to_bits().into(), 32, self.prefix) as u32)),
            IpAddr::V6(a) => IpAddr::V6(Ipv6Addr::from_bits(mask(a.to_bits(), 128, self.prefix))),
        };
        IpNetwork { addr, prefix: self.prefix }
    }
}

impl fmt::Display for IpNetwork {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

fn bits(addr: IpAddr) -> u8 {
    if addr.is_ipv4() {
        32
    } else {
        128
    }
}

/// `value` with every bit past `prefix` cleared; `width` is 32 or 128.
fn mask(value: u128, width: u32, prefix: u8) -> u128 {
    let host_bits = width - u32::from(prefix);
    if host_bits >= 128 {
        0
    } else {
        (value >> host_bits) << host_bits
    }
}

fn prefix_matches(net: u128, ip: u128, width: u32, prefix: u8) -> bool {
    mask(net, width, prefix) == mask(ip, width, prefix)
}

/// `::ffff:a.b.c.d` as `a.b.c.d`; anything else unchanged.
fn unmap(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// IPv4 ranges that are not public unicast, by name (RFC 6890 and its updates).
const V4_NON_PUBLIC: [(&str, Ipv4Addr, u8); 15] = [
    ("\"this network\"", Ipv4Addr::new(0, 0, 0, 0), 8),
    ("private", Ipv4Addr::new(10, 0, 0, 0), 8),
    ("shared address space (CGNAT)", Ipv4Addr::new(100, 64, 0, 0), 10),
    ("loopback", Ipv4Addr::new(127, 0, 0, 0), 8),
    ("link-local", Ipv4Addr::new(169, 254, 0, 0), 16),
    ("private", Ipv4Addr::new(172, 16, 0, 0), 12),
    ("IETF protocol assignments", Ipv4Addr::new(192, 0, 0, 0), 24),
    ("documentation", Ipv4Addr::new(192, 0, 2, 0), 24),
    ("6to4 relay anycast", Ipv4Addr::new(192, 88, 99, 0), 24),
    ("private", Ipv4Addr::new(192, 168, 0, 0), 16),
    ("benchmarking", Ipv4Addr::new(198, 18, 0, 0), 15),
    ("documentation", Ipv4Addr::new(198, 51, 100, 0), 24),
    ("documentation", Ipv4Addr::new(203, 0, 113, 0), 24),
    ("multicast", Ipv4Addr::new(224, 0, 0, 0), 4),
    // Includes the limited broadcast address 255.255.255.255.
    ("reserved or broadcast", Ipv4Addr::new(240, 0, 0, 0), 4),
];

/// IPv6 ranges inside global unicast (2000::/3) that are not public.
const V6_NON_PUBLIC: [(&str, Ipv6Addr, u8); 3] = [
    // Teredo, benchmarking, ORCHID and other special-purpose blocks.
    ("IETF protocol assignments", Ipv6Addr::new(0x2001, 0, 0, 0, 0, 0, 0, 0), 23),
    ("documentation", Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0), 32),
    ("documentation", Ipv6Addr::new(0x3fff, 0, 0, 0, 0, 0, 0, 0), 20),
];

/// Why `ip` is not a public unicast address, or `None` when it is one.
///
/// IPv6 addresses that carry an IPv4 address (mapped `::ffff:0:0/96`,
/// compatible `::/96`, NAT64 `64:ff9b::/96`, 6to4 `2002::/16`) are judged by
/// that IPv4 address, since that is the host the packets end up at.
pub fn non_public(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => non_public_v4(v4),
        IpAddr::V6(v6) => non_public_v6(v6),
    }
}

fn non_public_v4(ip: Ipv4Addr) -> Option<&'static str> {
    V4_NON_PUBLIC
        .iter()
        .find(|(_, net, prefix)| prefix_matches(net.to_bits().into(), ip.to_bits().into(), 32, *prefix))
        .map(|(name, _, _)| *name)
}

fn non_public_v6(ip: Ipv6Addr) -> Option<&'static str> {
    let value = ip.to_bits();
    if ip.is_unspecified() {
        return Some("unspecified");
    }
    if ip.is_loopback() {
        return Some("loopback");
    }
    if let Some(v4) = embedded_v4(value) {
        return non_public_v4(v4);
    }
    let in_net = |net: Ipv6Addr, prefix: u8| prefix_matches(net.to_bits(), value, 128, prefix);
    if in_net(Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0), 10) {
        return Some("link-local");
    }
    if in_net(Ipv6Addr::new(0xfc00, 0, 0, 0, 0, 0, 0, 0), 7) {
        return Some("unique local (private)");
    }
    if in_net(Ipv6Addr::new(0xff00, 0, 0, 0, 0, 0, 0, 0), 8) {
        return Some("multicast");
    }
    // Only 2000::/3 is allocated as global unicast; the rest is reserved
    // (site-local fec0::/10, discard 100::/64, local NAT64 64:ff9b:1::/48, ...).
    if !in_net(Ipv6Addr::new(0x2000, 0, 0, 0, 0, 0, 0, 0), 3) {
        return Some("reserved");
    }
    V6_NON_PUBLIC.iter().find(|(_, net, prefix)| in_net(*net, *prefix)).map(|(name, _, _)| *name)
}

/// The IPv4 address an IPv6 address stands for, if it is one of the forms
/// that carry one.
fn embedded_v4(value: u128) -> Option<Ipv4Addr> {
    let low32 = Ipv4Addr::from_bits(value as u32);
    let mapped = value >> 32 == 0xffff;
    let compatible = value >> 32 == 0;
    let nat64 = value >> 32 == 0x0064_ff9b_0000_0000_0000_0000;
    if mapped || compatible || nat64 {
        return Some(low32);
    }
    // 6to4: 2002:AABB:CCDD::/48 carries AA.BB.CC.DD.
    if value >> 112 == 0x2002 {
        return Some(Ipv4Addr::from_bits((value >> 80) as u32));
    }
    None
}

/// Whether `ip` may be connected to: listed in `allowed`, or public.
pub fn check(ip: IpAddr, allowed: &[IpNetwork]) -> Result<(), &'static str> {
    if allowed.iter().any(|network| network.contains(ip)) {
        return Ok(());
    }
    match non_public(ip) {
        Some(class) => Err(class),
        None => Ok(()),
    }
}
