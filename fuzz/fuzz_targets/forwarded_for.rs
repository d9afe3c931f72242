//! Resolving the client from X-Forwarded-For never panics; an untrusted peer is always the
//! client; with trusted proxies the client is the peer or an address listed in the header.
#![no_main]

use std::net::{IpAddr, Ipv4Addr};

use libfuzzer_sys::fuzz_target;
use tokenauth_core::ip::{IpSet, parse_entry, parse_forwarded_addr, resolve_client};

fuzz_target!(|data: &[u8]| {
    let Ok(header) = std::str::from_utf8(data) else {
        return;
    };
    let peer = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
    let untrusted = resolve_client(peer, Some(header), &IpSet::default());
    assert_eq!(untrusted.client, peer);
    let trusted = IpSet::new(&[
        parse_entry("10.0.0.0/8").unwrap(),
        parse_entry("::/0").unwrap(),
    ]);
    let r = resolve_client(peer, Some(header), &trusted);
    let listed = header
        .split(',')
        .filter_map(parse_forwarded_addr)
        .any(|a| a == r.client);
    assert!(r.client == peer || listed);
});
