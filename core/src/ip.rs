//! IP address rules: the allow-list and trusted proxies as sets of addresses and CIDR ranges,
//! and the resolution of the client and proxy address from the peer and `X-Forwarded-For`.
//!
//! A set is kept as sorted, merged intervals per family, so a lookup is a binary search whose
//! cost stays flat as the list grows to thousands of ranges. IPv4-mapped IPv6 addresses
//! (`::ffff:a.b.c.d`) are treated as the IPv4 address they carry, both in entries and in lookups.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::{IpNet, Ipv4Net};

use crate::validation::ValidationError;

/// Parses one entry: a single address or a CIDR range, IPv4 or IPv6. Host bits set in a range
/// (`10.0.0.1/8`) are refused because the admin most likely meant something else.
pub fn parse_entry(text: &str) -> Result<IpNet, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err("empty entry".into());
    }
    if let Ok(addr) = text.parse::<IpAddr>() {
        return Ok(IpNet::from(canonical(addr)));
    }
    let net: IpNet = text.parse().map_err(|_| {
        format!(
            "'{text}' is not an IP address or CIDR range (e.g. 192.168.0.0/16 or 2001:db8::/32)"
        )
    })?;
    if net.trunc() != net {
        return Err(format!(
            "'{text}' has host bits set; did you mean {}?",
            net.trunc()
        ));
    }
    Ok(canonical_net(net))
}

/// Validates a list of entries, naming the first bad one as `field[i]`.
pub fn parse_entries(field: &str, entries: &[String]) -> Result<Vec<IpNet>, ValidationError> {
    entries
        .iter()
        .enumerate()
        .map(|(i, e)| parse_entry(e).map_err(|m| ValidationError::new(format!("{field}[{i}]"), m)))
        .collect()
}

/// IPv4-mapped IPv6 becomes IPv4; everything else is unchanged.
pub fn canonical(addr: IpAddr) -> IpAddr {
    match addr {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(v6),
        },
        v4 => v4,
    }
}

fn canonical_net(net: IpNet) -> IpNet {
    if let IpNet::V6(v6) = net {
        // ::ffff:0:0/96 and narrower carry IPv4 addresses.
        if v6.prefix_len() >= 96
            && let Some(v4) = v6.network().to_ipv4_mapped()
            && let Ok(n) = Ipv4Net::new(v4, v6.prefix_len() - 96)
        {
            return IpNet::V4(n);
        }
    }
    net
}

/// `::ffff:0.0.0.0` and `::ffff:255.255.255.255`, the IPv4-mapped block.
const MAPPED_START: u128 = 0xffff_u128 << 32;
const MAPPED_END: u128 = MAPPED_START | 0xffff_ffff;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IpSet {
    v4: Vec<(u32, u32)>,
    v6: Vec<(u128, u128)>,
}

impl IpSet {
    pub fn new(nets: &[IpNet]) -> Self {
        let mut v4 = Vec::new();
        let mut v6 = Vec::new();
        for net in nets {
            match canonical_net(*net) {
                IpNet::V4(n) => v4.push((u32::from(n.network()), u32::from(n.broadcast()))),
                IpNet::V6(n) => {
                    let (start, end) = (u128::from(n.network()), u128::from(n.broadcast()));
                    v6.push((start, end));
                    // Lookups see a mapped address as IPv4, so the part of a wider IPv6 range
                    // that covers ::ffff:0:0/96 also counts as the IPv4 addresses it carries.
                    let lo = start.max(MAPPED_START);
                    let hi = end.min(MAPPED_END);
                    if lo <= hi {
                        v4.push(((lo - MAPPED_START) as u32, (hi - MAPPED_START) as u32));
                    }
                }
            }
        }
        Self {
            v4: merge(v4),
            v6: merge(v6),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.v4.is_empty() && self.v6.is_empty()
    }

    pub fn contains(&self, addr: IpAddr) -> bool {
        match canonical(addr) {
            IpAddr::V4(a) => contains(&self.v4, u32::from(a)),
            IpAddr::V6(a) => contains(&self.v6, u128::from(a)),
        }
    }

    /// The number of disjoint intervals kept (overlapping entries are merged).
    pub fn interval_count(&self) -> usize {
        self.v4.len() + self.v6.len()
    }
}

fn merge<T: Ord + Copy + num::Successor>(mut ranges: Vec<(T, T)>) -> Vec<(T, T)> {
    ranges.sort_unstable();
    let mut out: Vec<(T, T)> = Vec::with_capacity(ranges.len());
    for (start, end) in ranges {
        match out.last_mut() {
            Some(last) if start <= last.1.succ_saturating() => {
                if end > last.1 {
                    last.1 = end;
                }
            }
            _ => out.push((start, end)),
        }
    }
    out
}

fn contains<T: Ord + Copy>(ranges: &[(T, T)], x: T) -> bool {
    // The last interval starting at or before x is the only one that can hold it.
    let idx = ranges.partition_point(|&(start, _)| start <= x);
    idx > 0 && ranges[idx - 1].1 >= x
}

mod num {
    pub trait Successor {
        fn succ_saturating(self) -> Self;
    }
    impl Successor for u32 {
        fn succ_saturating(self) -> Self {
            self.saturating_add(1)
        }
    }
    impl Successor for u128 {
        fn succ_saturating(self) -> Self {
            self.saturating_add(1)
        }
    }
}

/// Where a request came from, as far as the trusted proxies let us know.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr {
    /// The right-most address in the chain that is not a trusted proxy.
    pub client: IpAddr,
    /// The trusted proxy that handed us the client's request, when there was one.
    pub proxy: Option<IpAddr>,
    /// A trusted proxy sent an `X-Forwarded-For` entry that is not an address; the client is then
    /// unknown and `client` is the last address we could trust. An allow-list refuses such a request.
    pub forwarded_for_malformed: bool,
}

/// Resolves the client address. `X-Forwarded-For` is believed only hop by hop from the peer
/// leftwards while each hop is a trusted proxy; several headers are joined with `,` first.
///
/// The header arrives as bytes: HTTP allows obs-text (bytes ≥ 0x80) in a value. An entry that
/// is not an address — garbage, or bytes that are not even text — makes the chain malformed;
/// it never makes the header count as absent, which would turn the proxy into the client.
pub fn resolve_client(peer: IpAddr, forwarded_for: Option<&[u8]>, trusted: &IpSet) -> ClientAddr {
    let peer = canonical(peer);
    let mut result = ClientAddr {
        client: peer,
        proxy: None,
        forwarded_for_malformed: false,
    };
    let Some(header) = forwarded_for else {
        return result;
    };
    if !trusted.contains(peer) {
        return result;
    }
    for entry in header.rsplit(|b| *b == b',') {
        let entry = entry.trim_ascii();
        if entry.is_empty() {
            continue;
        }
        let Some(addr) = std::str::from_utf8(entry)
            .ok()
            .and_then(parse_forwarded_addr)
        else {
            result.forwarded_for_malformed = true;
            return result;
        };
        result.proxy = Some(result.client);
        result.client = addr;
        if !trusted.contains(addr) {
            return result;
        }
    }
    result
}

/// One `X-Forwarded-For` entry: an address, optionally with a port (`1.2.3.4:80`, `[::1]:80`).
pub fn parse_forwarded_addr(entry: &str) -> Option<IpAddr> {
    let entry = entry.trim();
    if let Ok(a) = entry.parse::<IpAddr>() {
        return Some(canonical(a));
    }
    if let Some(rest) = entry.strip_prefix('[') {
        let (inside, after) = rest.split_once(']')?;
        if !(after.is_empty() || after.strip_prefix(':').is_some_and(is_port)) {
            return None;
        }
        return inside
            .parse::<Ipv6Addr>()
            .ok()
            .map(|a| canonical(IpAddr::V6(a)));
    }
    let (host, port) = entry.rsplit_once(':')?;
    if !is_port(port) {
        return None;
    }
    host.parse::<Ipv4Addr>().ok().map(IpAddr::V4)
}

fn is_port(text: &str) -> bool {
    !text.is_empty() && text.len() <= 5 && text.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ipnet::Ipv6Net;
    use proptest::prelude::*;

    fn set(entries: &[&str]) -> IpSet {
        let nets: Vec<IpNet> = entries.iter().map(|e| parse_entry(e).unwrap()).collect();
        IpSet::new(&nets)
    }
    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn single_addresses_and_ranges_of_both_families_match() {
        let s = set(&["10.0.0.0/8", "192.168.1.7", "2001:db8::/32", "::1"]);
        assert!(s.contains(ip("10.255.0.1")));
        assert!(s.contains(ip("192.168.1.7")));
        assert!(!s.contains(ip("192.168.1.8")));
        assert!(s.contains(ip("2001:db8:1::5")));
        assert!(s.contains(ip("::1")));
        assert!(!s.contains(ip("2001:db9::1")));
        assert!(!s.contains(ip("11.0.0.0")));
    }

    #[test]
    fn ipv4_mapped_ipv6_is_the_ipv4_address() {
        let s = set(&["127.0.0.1"]);
        assert!(s.contains(ip("::ffff:127.0.0.1")));
        let mapped = set(&["::ffff:10.0.0.0/104"]);
        assert!(mapped.contains(ip("10.1.2.3")));
        assert_eq!(
            parse_entry("::ffff:1.2.3.4").unwrap().to_string(),
            "1.2.3.4/32"
        );
    }

    #[test]
    fn a_wide_ipv6_range_covers_the_mapped_ipv4_addresses_inside_it() {
        // Found by the ip_entry fuzz target: ::/80 contains ::ffff:0:0/96.
        let s = set(&["::/80"]);
        assert!(s.contains(ip("::ffff:255.255.255.255")));
        assert!(s.contains(ip("255.255.255.255")));
        assert!(s.contains(ip("::1")));
        assert!(!s.contains(ip("::1:0:0:0")));
        let all = set(&["::/0"]);
        assert!(
            all.contains(ip("192.0.2.1")),
            "::/0 holds every mapped IPv4 address"
        );
        assert!(!set(&["2001:db8::/32"]).contains(ip("192.0.2.1")));
    }

    #[test]
    fn bad_entries_are_refused_with_a_reason() {
        assert!(parse_entry("10.0.0.0/33").is_err());
        assert!(parse_entry("300.1.1.1").is_err());
        assert!(parse_entry("").is_err());
        assert!(parse_entry("example.com").is_err());
        assert!(
            parse_entry("10.0.0.1/8")
                .unwrap_err()
                .contains("10.0.0.0/8")
        );
        let err = parse_entries("ipAllowList", &["10.0.0.0/8".into(), "nope".into()]).unwrap_err();
        assert_eq!(err.field, "ipAllowList[1]");
    }

    #[test]
    fn overlapping_and_adjacent_ranges_merge() {
        let s = set(&["10.0.0.0/24", "10.0.1.0/24", "10.0.0.5", "0.0.0.0/0"]);
        assert_eq!(s.interval_count(), 1);
        assert!(s.contains(ip("255.255.255.255")));
        assert!(!s.contains(ip("::2")));
    }

    #[test]
    fn an_empty_set_contains_nothing() {
        assert!(IpSet::default().is_empty());
        assert!(!IpSet::default().contains(ip("127.0.0.1")));
    }

    #[test]
    fn without_trusted_proxies_forwarded_for_is_ignored() {
        let r = resolve_client(
            ip("203.0.113.5"),
            Some(b"1.1.1.1".as_slice()),
            &IpSet::default(),
        );
        assert_eq!(r.client, ip("203.0.113.5"));
        assert_eq!(r.proxy, None);
    }

    #[test]
    fn the_client_is_the_right_most_untrusted_address() {
        let trusted = set(&["10.0.0.0/8"]);
        let r = resolve_client(
            ip("10.0.0.1"),
            Some(b"6.6.6.6, 198.51.100.7, 10.0.0.2".as_slice()),
            &trusted,
        );
        assert_eq!(r.client, ip("198.51.100.7"));
        assert_eq!(r.proxy, Some(ip("10.0.0.2")));
        assert!(!r.forwarded_for_malformed);
    }

    #[test]
    fn an_untrusted_peer_cannot_spoof_its_address() {
        let trusted = set(&["10.0.0.0/8"]);
        let r = resolve_client(ip("198.51.100.7"), Some(b"10.0.0.9".as_slice()), &trusted);
        assert_eq!(r.client, ip("198.51.100.7"));
        assert_eq!(r.proxy, None);
    }

    #[test]
    fn a_chain_of_only_trusted_proxies_yields_the_left_most() {
        let trusted = set(&["10.0.0.0/8"]);
        let r = resolve_client(
            ip("10.0.0.1"),
            Some(b"10.0.0.3, 10.0.0.2".as_slice()),
            &trusted,
        );
        assert_eq!(r.client, ip("10.0.0.3"));
        assert_eq!(r.proxy, Some(ip("10.0.0.2")));
    }

    #[test]
    fn ports_brackets_and_mapped_addresses_in_forwarded_for() {
        assert_eq!(parse_forwarded_addr("1.2.3.4:8080"), Some(ip("1.2.3.4")));
        assert_eq!(
            parse_forwarded_addr("[2001:db8::1]:443"),
            Some(ip("2001:db8::1"))
        );
        assert_eq!(
            parse_forwarded_addr("[2001:db8::1]"),
            Some(ip("2001:db8::1"))
        );
        assert_eq!(parse_forwarded_addr("::ffff:1.2.3.4"), Some(ip("1.2.3.4")));
        assert_eq!(parse_forwarded_addr("unknown"), None);
        assert_eq!(parse_forwarded_addr("1.2.3.4:"), None);
        assert_eq!(parse_forwarded_addr("[::1]x"), None);
    }

    #[test]
    fn h2_bytes_that_are_not_text_from_a_trusted_proxy_are_a_malformed_chain() {
        // nginx appends the real client to whatever the attacker sent: the whole value is one
        // header, so dropping a non-text value would make the proxy itself the client.
        let trusted = set(&["127.0.0.1"]);
        let r = resolve_client(ip("127.0.0.1"), Some(b"\xff, 203.0.113.9"), &trusted);
        assert_eq!(
            r.client,
            ip("203.0.113.9"),
            "the real client, not the proxy"
        );
        assert_eq!(r.proxy, Some(ip("127.0.0.1")));
        for header in [&b"203.0.113.9, \xc3"[..], b"\x80", b"127.0.0.1, \xff"] {
            let r = resolve_client(ip("127.0.0.1"), Some(header), &trusted);
            assert!(r.forwarded_for_malformed, "{header:?}");
        }
        // An untrusted peer's header is ignored, text or not.
        let r = resolve_client(ip("192.0.2.1"), Some(b"\xff"), &trusted);
        assert!(!r.forwarded_for_malformed);
        assert_eq!(r.client, ip("192.0.2.1"));
    }

    #[test]
    fn a_malformed_entry_from_a_trusted_proxy_marks_the_client_unknown() {
        let trusted = set(&["10.0.0.0/8"]);
        let r = resolve_client(
            ip("10.0.0.1"),
            Some(b"1.1.1.1, garbage".as_slice()),
            &trusted,
        );
        assert!(r.forwarded_for_malformed);
        assert_eq!(r.client, ip("10.0.0.1"));
    }

    proptest! {
        #[test]
        fn set_lookup_agrees_with_a_linear_scan(
            nets in proptest::collection::vec((any::<u32>(), 8u8..=32), 0..40),
            probes in proptest::collection::vec(any::<u32>(), 1..40),
        ) {
            let nets: Vec<IpNet> = nets
                .into_iter()
                .map(|(a, len)| IpNet::V4(Ipv4Net::new(Ipv4Addr::from(a), len).unwrap().trunc()))
                .collect();
            let s = IpSet::new(&nets);
            for p in probes {
                let addr = IpAddr::V4(Ipv4Addr::from(p));
                prop_assert_eq!(s.contains(addr), nets.iter().any(|n| n.contains(&addr)));
            }
        }

        #[test]
        fn v6_lookup_agrees_with_a_linear_scan(
            nets in proptest::collection::vec((any::<u128>(), 0u8..=128), 0..20),
            probes in proptest::collection::vec(
                prop_oneof![any::<u128>(), any::<u32>().prop_map(|v| MAPPED_START | u128::from(v))],
                1..20,
            ),
        ) {
            let nets: Vec<IpNet> = nets
                .into_iter()
                .map(|(a, len)| IpNet::V6(Ipv6Net::new(Ipv6Addr::from(a), len).unwrap().trunc()))
                .collect();
            let s = IpSet::new(&nets);
            for p in probes {
                let addr = IpAddr::V6(Ipv6Addr::from(p));
                // A mapped address is the same as its IPv4 form: it matches a net holding either.
                let expect = nets.iter().any(|n| n.contains(&addr) || canonical_net(*n).contains(&canonical(addr)));
                prop_assert_eq!(s.contains(addr), expect);
            }
        }

        #[test]
        fn resolution_of_raw_bytes_never_panics(
            peer in any::<u32>(), header in proptest::collection::vec(any::<u8>(), 0..80)
        ) {
            let peer = IpAddr::V4(Ipv4Addr::from(peer));
            let all = set(&["0.0.0.0/0", "::/0"]);
            let r = resolve_client(peer, Some(&header), &all);
            // Everything is trusted, so every entry is read: one that is not text makes the
            // chain malformed; it is never skipped.
            let not_text = header
                .split(|b| *b == b',')
                .any(|e| !e.trim_ascii().is_empty() && std::str::from_utf8(e).is_err());
            if not_text {
                prop_assert!(r.forwarded_for_malformed);
            }
        }

        #[test]
        fn resolution_never_panics_and_an_untrusted_peer_is_the_client(
            peer in any::<u32>(), header in ".{0,60}"
        ) {
            let peer = IpAddr::V4(Ipv4Addr::from(peer));
            let r = resolve_client(peer, Some(header.as_bytes()), &IpSet::default());
            prop_assert_eq!(r.client, peer);
            let all = set(&["0.0.0.0/0", "::/0"]);
            let r = resolve_client(peer, Some(header.as_bytes()), &all);
            // Everything is trusted: the client is one of the header's entries or the peer.
            let listed = header.split(',').filter_map(parse_forwarded_addr).any(|a| a == r.client);
            prop_assert!(r.client == peer || listed);
        }

        #[test]
        fn the_resolved_client_is_never_a_trusted_proxy_when_an_untrusted_hop_exists(
            client in any::<u32>(), hops in 0usize..4
        ) {
            let trusted = set(&["10.0.0.0/8"]);
            let client_ip = Ipv4Addr::from(client);
            prop_assume!(!trusted.contains(IpAddr::V4(client_ip)));
            let mut chain = vec![client_ip.to_string()];
            for h in 0..hops { chain.push(format!("10.0.0.{}", h + 2)); }
            let r = resolve_client(ip("10.0.0.1"), Some(chain.join(", ").as_bytes()), &trusted);
            prop_assert_eq!(r.client, IpAddr::V4(client_ip));
        }
    }
}
