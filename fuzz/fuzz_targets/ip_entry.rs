//! IP allow-list entries: parsing never panics, and a set built from an accepted entry contains
//! that entry's first and last address.
#![no_main]

use ipnet::IpNet;
use libfuzzer_sys::fuzz_target;
use tokenauth_core::ip::{IpSet, parse_entry};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(net) = parse_entry(text) {
        let set = IpSet::new(&[net]);
        let (first, last) = match net {
            IpNet::V4(n) => (n.network().into(), n.broadcast().into()),
            IpNet::V6(n) => (n.network().into(), n.broadcast().into()),
        };
        assert!(set.contains(first));
        assert!(set.contains(last));
    }
});
