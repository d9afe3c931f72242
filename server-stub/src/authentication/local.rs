//! Who is "local": a caller on this machine speaking for itself, which the WireMock admin API
//! and `/metrics` serve without credentials (SPEC §8, §11). One definition for every route
//! that opens to such callers (security review 2, N3).
//!
//! A local caller is a loopback peer that shows no sign of a proxy and no sign of a web page:
//! - no proxy header at all ([`PROXY_HEADERS`]: `X-Forwarded-For`, `Forwarded`, `X-Real-IP`,
//!   `X-Forwarded-Host`, `X-Forwarded-Proto`, `Via`, …), since a proxy on this machine connects
//!   from loopback on behalf of everyone (nginx's usual `proxy_set_header X-Real-IP` included);
//! - a `Host` (and HTTP/2 `:authority`) naming this machine (`localhost`, a loopback address),
//!   against DNS rebinding; an `Origin`, if any, naming this machine; `Sec-Fetch-Site`, if any,
//!   `same-origin` or `none`, against a page on another site driving the API;
//! - each of those headers at most once and readable (what cannot be read cannot be vouched
//!   for);
//! - and never when a proxy may stand in front unseen: `--insecure-http` (assumed behind a
//!   proxy), or the peer among the settings' trusted proxies. A proxy on this machine that
//!   adds none of these headers and passes `Host` through is indistinguishable from a local
//!   client: such a proxy must be among the trusted proxies (then nothing it forwards is local).

use std::net::SocketAddr;

use axum::http::{HeaderMap, Uri};

use tokenauth_core::ip::IpSet;

/// Headers that a proxy adds: any of them makes a request not local.
pub const PROXY_HEADERS: &[&str] = &[
    "x-forwarded-for",
    "forwarded",
    "x-real-ip",
    "x-forwarded-host",
    "x-forwarded-proto",
    "x-forwarded-port",
    "x-forwarded-server",
    "x-forwarded-scheme",
    "x-original-forwarded-for",
    "x-client-ip",
    "x-cluster-client-ip",
    "true-client-ip",
    "cf-connecting-ip",
    "fastly-client-ip",
    "via",
];

/// Whether this request comes from a local caller (see the module comment), given the
/// settings' trusted proxies and `--insecure-http` (`AppState::is_local` passes the server's).
pub fn is_local(
    trusted: &IpSet,
    insecure_http: bool,
    peer: SocketAddr,
    headers: &HeaderMap,
    uri: &Uri,
) -> bool {
    !insecure_http
        && !trusted.contains(peer.ip())
        && !trusted.contains(peer.ip().to_canonical())
        && local_request(peer, headers, uri.authority().map(|a| a.as_str()))
}

/// [`is_local`]'s reading of the request alone.
pub fn local_request(peer: SocketAddr, headers: &HeaderMap, authority: Option<&str>) -> bool {
    let single = |name: &str| -> Result<Option<&str>, ()> {
        let mut values = headers.get_all(name).iter();
        match (values.next(), values.next()) {
            (None, _) => Ok(None),
            (Some(v), None) => v.to_str().map(Some).map_err(|_| ()),
            (Some(_), Some(_)) => Err(()),
        }
    };
    let (Ok(host), Ok(origin), Ok(fetch_site)) =
        (single("host"), single("origin"), single("sec-fetch-site"))
    else {
        return false;
    };
    peer.ip().to_canonical().is_loopback()
        && !PROXY_HEADERS.iter().any(|h| headers.contains_key(*h))
        && host.is_none_or(is_loopback_authority)
        && authority.is_none_or(is_loopback_authority)
        && origin.is_none_or(|o| {
            o.split_once("://")
                .is_some_and(|(_, authority)| is_loopback_authority(authority))
        })
        && fetch_site.is_none_or(|s| s == "same-origin" || s == "none")
}

/// `localhost`, a loopback IPv4 address or `[::1]`, optionally followed by `:` and a port;
/// nothing else.
pub fn is_loopback_authority(authority: &str) -> bool {
    let (host, port) = match authority.strip_prefix('[') {
        Some(bracketed) => match bracketed.split_once(']') {
            Some((h, "")) => (h, None),
            Some((h, rest)) => match rest.strip_prefix(':') {
                Some(p) => (h, Some(p)),
                None => return false,
            },
            None => return false,
        },
        None => match authority.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        },
    };
    let port_ok = port.is_none_or(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
    port_ok
        && (host.eq_ignore_ascii_case("localhost")
            || host
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.to_canonical().is_loopback()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn local(pairs: &[(&'static str, &'static str)]) -> bool {
        let mut h = HeaderMap::new();
        for (n, v) in pairs {
            h.insert(*n, axum::http::HeaderValue::from_static(v));
        }
        local_request("127.0.0.1:5000".parse().unwrap(), &h, None)
    }

    #[test]
    fn a_loopback_client_naming_this_machine_is_local() {
        assert!(local(&[]));
        assert!(local(&[("host", "127.0.0.1:2990")]));
        assert!(local(&[("host", "localhost:2990")]));
        assert!(local(&[
            ("host", "[::1]:2990"),
            ("origin", "http://localhost:2990")
        ]));
        assert!(local(&[("sec-fetch-site", "same-origin")]));
        assert!(!local_request(
            "10.0.0.5:5000".parse().unwrap(),
            &HeaderMap::new(),
            None
        ));
    }

    #[test]
    fn a_forwarded_call_a_foreign_page_or_a_rebound_name_is_not_local() {
        assert!(!local(&[("x-forwarded-for", "203.0.113.9")]));
        assert!(!local(&[("forwarded", "for=203.0.113.9")]));
        // The review's F4 and N3: nginx's usual `X-Real-IP`, and every other proxy sign.
        for sign in PROXY_HEADERS {
            let mut h = HeaderMap::new();
            h.insert(*sign, axum::http::HeaderValue::from_static("203.0.113.9"));
            assert!(
                !local_request("127.0.0.1:5000".parse().unwrap(), &h, None),
                "{sign}"
            );
        }
        assert!(!local(&[("origin", "http://evil.example")]));
        assert!(!local(&[("origin", "null")]));
        assert!(!local(&[("sec-fetch-site", "cross-site")]));
        assert!(!local(&[("host", "rebound.evil.example:2990")]));
        assert!(!local(&[("host", "127.0.0.1.evil.example")]));
        assert!(!local(&[("host", "localhost:evil.example")]));
        assert!(!local(&[("host", "[::1]evil.example")]));
        assert!(!local(&[("host", "localhost:")]));
        let peer = "127.0.0.1:5000".parse().unwrap();
        assert!(!local_request(
            peer,
            &HeaderMap::new(),
            Some("evil.example")
        ));
        let mut twice = HeaderMap::new();
        twice.append("host", axum::http::HeaderValue::from_static("localhost"));
        twice.append("host", axum::http::HeaderValue::from_static("evil.example"));
        assert!(!local_request(peer, &twice, None));
        let mut unreadable = HeaderMap::new();
        unreadable.insert(
            "sec-fetch-site",
            axum::http::HeaderValue::from_bytes(b"cross-site\xff").unwrap(),
        );
        assert!(!local_request(peer, &unreadable, None));
    }
}
