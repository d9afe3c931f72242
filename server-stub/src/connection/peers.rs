//! Each client's share of the connection cap (second review, N4): one address holding every
//! one of `--max-connections` locked everyone else out, however short the deadlines.
//!
//! A client is an IPv4 address, or an IPv6 /64 (what one host or one customer line is given;
//! an attacker with one can pick any of its 2^64 addresses). An IPv4-mapped IPv6 address (a
//! dual-stack bind) is its IPv4 address. Loopback is a client like any other: on a shared
//! machine "local" is not always the developer, and one test suite stays far below the default
//! share; a proxy on this host makes all its clients one, so it needs a larger
//! `--max-connections-per-client`.
//!
//! The count lives in a map taken by the accept loop (one lookup per connection) and by each
//! connection's [`PeerSlot`] when it closes; entries go when their count does, so the map never
//! holds more than the open connections.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};

/// The default share: an eighth of the cap, at least 8 (but never more than the cap).
pub fn default_share(max_connections: usize) -> usize {
    (max_connections / 8).max(8).min(max_connections)
}

/// A client as the share counts it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Client {
    V4(u32),
    V6Net(u64),
}

fn client(ip: IpAddr) -> Client {
    match ip.to_canonical() {
        IpAddr::V4(v4) => Client::V4(v4.to_bits()),
        IpAddr::V6(v6) => Client::V6Net((v6.to_bits() >> 64) as u64),
    }
}

#[derive(Debug)]
pub struct Shares {
    per_client: usize,
    // SipHash (the std default): the keys are chosen by clients.
    open: Mutex<HashMap<Client, usize>>,
}

/// One connection of a client, counted until dropped.
#[derive(Debug)]
pub struct PeerSlot {
    shares: Arc<Shares>,
    client: Client,
}

impl Shares {
    pub fn new(per_client: usize) -> Arc<Self> {
        Arc::new(Self {
            per_client: per_client.max(1),
            open: Mutex::new(HashMap::new()),
        })
    }

    /// A slot for one more connection from `ip`, or `None` when it holds its share already.
    pub fn take(self: &Arc<Self>, ip: IpAddr) -> Option<PeerSlot> {
        let client = client(ip);
        // A panic elsewhere while holding the lock cannot leave the counts inconsistent (each
        // change is one statement): go on with them.
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        let n = open.entry(client).or_insert(0);
        if *n >= self.per_client {
            return None;
        }
        *n += 1;
        Some(PeerSlot {
            shares: Arc::clone(self),
            client,
        })
    }

    #[cfg(test)]
    fn clients(&self) -> usize {
        self.open
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

impl Drop for PeerSlot {
    fn drop(&mut self) {
        let mut open = self
            .shares
            .open
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(n) = open.get_mut(&self.client) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                open.remove(&self.client);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn the_default_share_is_an_eighth_of_the_cap_at_least_8() {
        assert_eq!(default_share(1024), 128);
        assert_eq!(default_share(64), 8);
        assert_eq!(default_share(16), 8);
        assert_eq!(default_share(4), 4);
    }

    #[test]
    fn a_client_gets_its_share_and_the_slot_comes_back_when_closed() {
        let shares = Shares::new(2);
        let a = shares.take(ip("192.0.2.1")).unwrap();
        let _b = shares.take(ip("192.0.2.1")).unwrap();
        assert!(shares.take(ip("192.0.2.1")).is_none());
        // Another address is another client, loopback included.
        assert!(shares.take(ip("192.0.2.2")).is_some());
        assert!(shares.take(ip("127.0.0.1")).is_some());
        drop(a);
        assert!(shares.take(ip("192.0.2.1")).is_some());
    }

    #[test]
    fn an_ipv6_client_is_its_64_and_a_mapped_ipv4_is_the_ipv4() {
        let shares = Shares::new(1);
        let _a = shares.take(ip("2001:db8:1:2::1")).unwrap();
        assert!(shares.take(ip("2001:db8:1:2:ffff::9")).is_none());
        assert!(shares.take(ip("2001:db8:1:3::1")).is_some());
        let _v4 = shares.take(ip("192.0.2.7")).unwrap();
        assert!(shares.take(ip("::ffff:192.0.2.7")).is_none());
    }

    #[test]
    fn closed_clients_leave_the_map() {
        let shares = Shares::new(8);
        let slots: Vec<_> = (0..100u8)
            .map(|i| shares.take(IpAddr::from([10, 0, 0, i])).unwrap())
            .collect();
        assert_eq!(shares.clients(), 100);
        drop(slots);
        assert_eq!(shares.clients(), 0);
    }
}
