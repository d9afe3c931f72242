//! Resolving the client from X-Forwarded-For, given as the raw bytes that arrived (a value may
//! hold obs-text, bytes ≥ 0x80): it never panics; an untrusted peer is always the client; with
//! trusted proxies the client is the peer or an address listed in the header; and an entry that
//! is not text never makes the header count as absent (finding H2): with every address trusted,
//! every entry is read, so one that is not text marks the chain malformed.
#![no_main]

use std::net::{IpAddr, Ipv4Addr};

use libfuzzer_sys::fuzz_target;
use tokenauth_core::ip::{IpSet, parse_entry, parse_forwarded_addr, resolve_client};

fuzz_target!(|header: &[u8]| {
    let peer = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
    let untrusted = resolve_client(peer, Some(header), &IpSet::default());
    assert_eq!(untrusted.client, peer);
    assert!(!untrusted.forwarded_for_malformed);
    let everything = IpSet::new(&[
        parse_entry("0.0.0.0/0").unwrap(),
        parse_entry("::/0").unwrap(),
    ]);
    let r = resolve_client(peer, Some(header), &everything);
    let entries: Vec<&[u8]> = header
        .split(|b| *b == b',')
        .map(<[u8]>::trim_ascii)
        .filter(|e| !e.is_empty())
        .collect();
    let listed = entries
        .iter()
        .filter_map(|e| std::str::from_utf8(e).ok())
        .filter_map(parse_forwarded_addr)
        .any(|a| a == r.client);
    assert!(r.client == peer || listed);
    if entries.iter().any(|e| std::str::from_utf8(e).is_err()) {
        assert!(r.forwarded_for_malformed, "a non-text entry was skipped");
    }
});
