//! Cross-site request forgery: which writes a browser may have been tricked into sending.
//!
//! A browser attaches the session cookie (and cached Basic credentials) to a request that any
//! page it shows can start. `SameSite=Lax` stops other *sites*, but not another port on the same
//! host or a sibling subdomain, and a `<form enctype="text/plain">` or a simple `fetch` needs no
//! CORS preflight. So, as Jira does:
//! - a write (any method but GET, HEAD, OPTIONS) with a foreign `Origin` is refused, whatever
//!   the credentials (no script, CLI or desktop client sends an `Origin`);
//! - a write authenticated by the session cookie must carry `Content-Type: application/json` or
//!   `X-Atlassian-Token: no-check` — neither can be sent cross-origin without a CORS preflight,
//!   which this server never grants — and must not be marked `Sec-Fetch-Site: cross-site` or
//!   `same-site` by the browser.
//!
//! Pure: header values in, a verdict out.

use crate::scope::is_read_method;

/// The request headers the rule reads, as raw bytes (a non-text value is simply not a match).
#[derive(Debug, Clone, Copy, Default)]
pub struct BrowserHeaders<'a> {
    pub origin: Option<&'a [u8]>,
    /// `Host`, or the authority of an HTTP/2 request.
    pub host: Option<&'a [u8]>,
    /// `X-Forwarded-Host`: believed only when the request came through a trusted proxy.
    pub forwarded_host: Option<&'a [u8]>,
    pub content_type: Option<&'a [u8]>,
    pub atlassian_token: Option<&'a [u8]>,
    pub sec_fetch_site: Option<&'a [u8]>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CsrfRefusal {
    /// `Origin` names another origin than the one the request was sent to.
    ForeignOrigin,
    /// The browser says another site or origin started the request.
    CrossSite,
    /// A cookie-authenticated write without a JSON content type or `X-Atlassian-Token: no-check`.
    NoXsrfHeader,
}

impl CsrfRefusal {
    /// For the audit event: why the write was refused.
    pub fn reason(self) -> &'static str {
        match self {
            CsrfRefusal::ForeignOrigin => "XSRF check failed: the Origin header names another site",
            CsrfRefusal::CrossSite => {
                "XSRF check failed: the browser reports a cross-site or same-site request"
            }
            CsrfRefusal::NoXsrfHeader => {
                "XSRF check failed: a cookie-authenticated write needs Content-Type: \
                 application/json or X-Atlassian-Token: no-check"
            }
        }
    }
}

/// Whether a request may go on. `cookie`: it is authenticated by the session cookie.
/// `via_trusted_proxy`: the peer is a trusted proxy, so `X-Forwarded-Host` is believed.
pub fn check(
    method: &str,
    cookie: bool,
    via_trusted_proxy: bool,
    h: &BrowserHeaders<'_>,
) -> Result<(), CsrfRefusal> {
    if is_read_method(method) {
        return Ok(());
    }
    if let Some(origin) = h.origin {
        let forwarded = h.forwarded_host.filter(|_| via_trusted_proxy);
        let same = [h.host, forwarded]
            .into_iter()
            .flatten()
            .any(|host| same_origin(origin, host));
        if !same {
            return Err(CsrfRefusal::ForeignOrigin);
        }
    }
    if !cookie {
        return Ok(());
    }
    if let Some(site) = h.sec_fetch_site
        && !(site.eq_ignore_ascii_case(b"same-origin") || site.eq_ignore_ascii_case(b"none"))
    {
        return Err(CsrfRefusal::CrossSite);
    }
    let no_check = h
        .atlassian_token
        .is_some_and(|t| t.trim_ascii().eq_ignore_ascii_case(b"no-check"));
    if no_check || h.content_type.is_some_and(is_json) {
        Ok(())
    } else {
        Err(CsrfRefusal::NoXsrfHeader)
    }
}

/// `application/json`, with or without parameters (`; charset=utf-8`).
fn is_json(content_type: &[u8]) -> bool {
    let media = content_type
        .split(|b| *b == b';')
        .next()
        .unwrap_or_default()
        .trim_ascii();
    media.eq_ignore_ascii_case(b"application/json")
}

/// Whether `Origin: scheme://authority` is the origin of a request sent to `Host: authority`.
/// Default ports are ignored on both sides; `null` and anything malformed are foreign. Only the
/// authority is compared: behind a TLS-terminating proxy the server cannot know the scheme the
/// browser used, and one host and port do not serve two origins that differ only in scheme.
fn same_origin(origin: &[u8], host: &[u8]) -> bool {
    let Ok(origin) = std::str::from_utf8(origin) else {
        return false;
    };
    let Ok(host) = std::str::from_utf8(host) else {
        return false;
    };
    let Some((scheme, authority)) = origin.trim().split_once("://") else {
        return false;
    };
    let default_port = match scheme.to_ascii_lowercase().as_str() {
        "http" => ":80",
        "https" => ":443",
        _ => return false,
    };
    if authority.is_empty() || authority.contains(['/', '@', '?', '#']) {
        return false;
    }
    let strip = |a: &str| {
        let a = a.trim().to_ascii_lowercase();
        match a.strip_suffix(default_port) {
            Some(bare) => bare.to_owned(),
            None => a,
        }
    };
    strip(authority) == strip(host)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h<'a>(origin: Option<&'a str>, ct: Option<&'a str>) -> BrowserHeaders<'a> {
        BrowserHeaders {
            origin: origin.map(str::as_bytes),
            host: Some(b"127.0.0.1:2990"),
            content_type: ct.map(str::as_bytes),
            ..BrowserHeaders::default()
        }
    }

    #[test]
    fn reads_are_never_refused() {
        let foreign = h(Some("http://evil.example"), None);
        for m in ["GET", "HEAD", "OPTIONS"] {
            assert_eq!(check(m, true, false, &foreign), Ok(()));
        }
    }

    #[test]
    fn m2_a_cookie_write_needs_json_or_the_atlassian_header() {
        assert_eq!(
            check("POST", true, false, &h(None, Some("text/plain"))),
            Err(CsrfRefusal::NoXsrfHeader)
        );
        assert_eq!(
            check("DELETE", true, false, &h(None, None)),
            Err(CsrfRefusal::NoXsrfHeader)
        );
        assert_eq!(
            check(
                "POST",
                true,
                false,
                &h(None, Some("Application/JSON; charset=utf-8"))
            ),
            Ok(())
        );
        let mut no_check = h(None, Some("text/plain"));
        no_check.atlassian_token = Some(b"no-check");
        assert_eq!(check("POST", true, false, &no_check), Ok(()));
        // Basic and Bearer writes are not cookie writes: curl -d keeps working.
        assert_eq!(
            check("POST", false, false, &h(None, Some("text/plain"))),
            Ok(())
        );
    }

    #[test]
    fn m2_a_foreign_origin_is_refused_for_every_write() {
        let json = Some("application/json");
        for cookie in [true, false] {
            for origin in [
                "http://127.0.0.1:8000",
                "http://localhost:2990",
                "null",
                "http://127.0.0.1:2990@evil",
            ] {
                assert_eq!(
                    check("POST", cookie, false, &h(Some(origin), json)),
                    Err(CsrfRefusal::ForeignOrigin),
                    "{origin}"
                );
            }
            assert_eq!(
                check(
                    "POST",
                    cookie,
                    false,
                    &h(Some("http://127.0.0.1:2990"), json)
                ),
                Ok(())
            );
        }
    }

    #[test]
    fn default_ports_and_case_do_not_make_an_origin_foreign() {
        assert!(same_origin(b"http://Example.com", b"example.com:80"));
        assert!(same_origin(b"https://example.com:443", b"example.com"));
        assert!(same_origin(b"http://[::1]:2990", b"[::1]:2990"));
        assert!(!same_origin(b"https://example.com", b"example.com:80"));
        assert!(!same_origin(b"ftp://example.com", b"example.com"));
    }

    #[test]
    fn behind_a_trusted_proxy_the_forwarded_host_is_the_origin() {
        let mut headers = h(Some("https://jira.example.com"), Some("application/json"));
        headers.forwarded_host = Some(b"jira.example.com");
        assert_eq!(check("POST", true, true, &headers), Ok(()));
        assert_eq!(
            check("POST", true, false, &headers),
            Err(CsrfRefusal::ForeignOrigin),
            "an untrusted peer's X-Forwarded-Host is not believed"
        );
    }

    #[test]
    fn the_browsers_cross_site_mark_refuses_a_cookie_write() {
        let mut headers = h(None, Some("application/json"));
        headers.sec_fetch_site = Some(b"same-site");
        assert_eq!(
            check("PUT", true, false, &headers),
            Err(CsrfRefusal::CrossSite)
        );
        headers.sec_fetch_site = Some(b"same-origin");
        assert_eq!(check("PUT", true, false, &headers), Ok(()));
    }
}
