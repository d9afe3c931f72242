//! Which addresses a webhook may be delivered to (security review 2, N10).
//!
//! An admin names the webhook's URL and can send a test message to any URL; the stub sends it
//! from inside the network it runs in. Without a policy that is a port scanner with the stub's
//! reach (a listening and a closed port answer differently) and a path to the cloud metadata
//! service. So the *resolved* address of every delivery is checked here — after DNS, so a name
//! cannot point somewhere a literal could not:
//! - link-local addresses (`169.254.0.0/16`, `fe80::/10`, where the cloud metadata services
//!   live), the other known metadata addresses, and addresses that route nowhere (unspecified,
//!   multicast, broadcast, `0.0.0.0/8`) never;
//! - loopback and private ranges (`127.0.0.0/8`, `::1`, `10/8`, `172.16/12`, `192.168/16`,
//!   `100.64/10`, `fc00::/7`, …) only when the stub itself listens on loopback (a developer
//!   testing their own receiver), or when the admin named the range at start-up
//!   (`--webhook-allow`);
//! - every other (public) address.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;

/// Why an address was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Link-local or a cloud metadata address: never a webhook receiver.
    LinkLocalOrMetadata,
    /// Unspecified, multicast, broadcast: no single receiver there.
    Unroutable,
    /// Loopback or a private range, and neither allowed.
    Internal,
}

impl Refusal {
    pub fn describe(self) -> &'static str {
        match self {
            Refusal::LinkLocalOrMetadata => {
                "the webhook resolves to a link-local or cloud metadata address"
            }
            Refusal::Unroutable => "the webhook resolves to an address with no single receiver",
            Refusal::Internal => {
                "the webhook resolves to a loopback or private address, which this server may \
                 reach only when it listens on loopback or --webhook-allow names the range"
            }
        }
    }
}

/// The policy in force for one server.
#[derive(Debug, Clone, Default)]
pub struct TargetPolicy {
    internal_allowed: bool,
    allowed: Vec<IpNet>,
}

/// Metadata services outside the link-local ranges (AWS's IPv6 one, Alibaba's, Oracle's).
const METADATA: &[IpAddr] = &[
    IpAddr::V6(Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254)),
    IpAddr::V4(Ipv4Addr::new(100, 100, 100, 200)),
    IpAddr::V4(Ipv4Addr::new(192, 0, 0, 192)),
];

impl TargetPolicy {
    /// `listens_on_loopback`: the stub's own bind address is loopback, so whoever can make it
    /// send is on this machine already; `allowed`: the ranges `--webhook-allow` names.
    pub fn new(listens_on_loopback: bool, allowed: Vec<IpNet>) -> Self {
        Self {
            internal_allowed: listens_on_loopback,
            allowed,
        }
    }

    /// Whether a delivery may connect to `ip`.
    pub fn check(&self, ip: IpAddr) -> Result<(), Refusal> {
        let ip = canonical(ip);
        if is_link_local(ip) || METADATA.contains(&ip) {
            return Err(Refusal::LinkLocalOrMetadata);
        }
        if is_unroutable(ip) {
            return Err(Refusal::Unroutable);
        }
        if is_internal(ip)
            && !self.internal_allowed
            && !self.allowed.iter().any(|n| n.contains(&ip))
        {
            return Err(Refusal::Internal);
        }
        Ok(())
    }
}

/// An IPv4-mapped IPv6 address is the IPv4 address it carries (`::ffff:127.0.0.1` is loopback).
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

fn is_link_local(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_link_local(),
        IpAddr::V6(v6) => (v6.segments()[0] & 0xffc0) == 0xfe80,
    }
}

fn is_unroutable(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            v4.is_unspecified() || v4.is_multicast() || v4.is_broadcast() || v4.octets()[0] == 0
        }
        IpAddr::V6(v6) => v6.is_unspecified() || v6.is_multicast(),
    }
}

fn is_internal(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            v4.is_loopback()
                || v4.is_private()
                // Carrier-grade NAT, and the benchmarking range: neither is the public internet.
                || (a == 100 && (64..128).contains(&b))
                || (a == 198 && (b == 18 || b == 19))
        }
        IpAddr::V6(v6) => {
            let first = v6.segments()[0];
            v6.is_loopback()
                // Unique local (fc00::/7) and the deprecated site-local (fec0::/10).
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfec0
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn metadata_and_link_local_are_never_reached_whatever_is_allowed() {
        let open = TargetPolicy::new(
            true,
            vec!["0.0.0.0/0".parse().unwrap(), "::/0".parse().unwrap()],
        );
        for a in [
            "169.254.169.254",
            "fe80::1",
            "fd00:ec2::254",
            "100.100.100.200",
            "::ffff:169.254.169.254",
        ] {
            assert_eq!(open.check(ip(a)), Err(Refusal::LinkLocalOrMetadata), "{a}");
        }
        for a in [
            "0.0.0.0",
            "0.1.2.3",
            "255.255.255.255",
            "224.0.0.1",
            "::",
            "ff02::1",
        ] {
            assert_eq!(open.check(ip(a)), Err(Refusal::Unroutable), "{a}");
        }
    }

    #[test]
    fn loopback_and_private_ranges_only_from_a_loopback_stub_or_when_named() {
        let exposed = TargetPolicy::new(false, vec![]);
        for a in [
            "127.0.0.1",
            "::1",
            "::ffff:127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "100.64.0.1",
            "fd12::1",
        ] {
            assert_eq!(exposed.check(ip(a)), Err(Refusal::Internal), "{a}");
        }
        assert_eq!(exposed.check(ip("93.184.215.14")), Ok(()));
        assert_eq!(exposed.check(ip("2606:4700::1")), Ok(()));
        let named = TargetPolicy::new(false, vec!["10.1.0.0/16".parse().unwrap()]);
        assert_eq!(named.check(ip("10.1.2.3")), Ok(()));
        assert_eq!(named.check(ip("10.2.0.1")), Err(Refusal::Internal));
        let developer = TargetPolicy::new(true, vec![]);
        assert_eq!(developer.check(ip("127.0.0.1")), Ok(()));
        assert_eq!(developer.check(ip("192.168.1.1")), Ok(()));
    }
}
