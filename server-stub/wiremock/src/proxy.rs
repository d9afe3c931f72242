//! A mapping's answer fetched from another server: WireMock's `proxyBaseUrl` with
//! `additionalProxyRequestHeaders`, `removeProxyRequestHeaders` and `proxyUrlPrefixToRemove`,
//! as data. Where the request goes and which headers it carries are decided here; sending it
//! is the server's (this crate does no I/O).
//!
//! One difference from WireMock, on purpose: `additionalProxyRequestHeaders` may not name a
//! credential header (`Authorization`, `Cookie`, …, [`crate::credentials`]). A mapping is a
//! file people commit and share; the upstream's credential is the operator's, given to the
//! server out of band (see the server's `upstream` module), never written into a mapping.

use serde_json::{Map, Value};

use crate::credentials::is_credential_header;
use crate::parse::{ErrorKind, MappingError, as_object, child, err, opt_string, scalar_string};

/// Where a proxied request goes and what changes on the way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyDefinition {
    /// `scheme://host[:port][/path]`, without a trailing `/`.
    pub base_url: String,
    /// Added to (or replacing) the request's own headers.
    pub additional_headers: Vec<(String, String)>,
    /// Lower-cased names left out of the forwarded request.
    pub remove_headers: Vec<String>,
    /// Cut from the start of the request's path before it is appended to `base_url`.
    pub prefix_to_remove: Option<String>,
}

impl ProxyDefinition {
    /// The proxy part of a `response` object, if it has one.
    pub fn parse(m: &Map<String, Value>, ptr: &str) -> Result<Option<Self>, MappingError> {
        let Some(base) = opt_string(m, "proxyBaseUrl", ptr)? else {
            return Ok(None);
        };
        let at = child(ptr, "proxyBaseUrl");
        let base_url = absolute_base(&base).ok_or_else(|| {
            err(
                &at,
                ErrorKind::Invalid(format!(
                    "{base:?} is not an absolute http:// or https:// URL"
                )),
            )
        })?;
        let mut additional_headers = Vec::new();
        if let Some(h) = m
            .get("additionalProxyRequestHeaders")
            .filter(|h| !h.is_null())
        {
            let hat = child(ptr, "additionalProxyRequestHeaders");
            for (name, value) in as_object(h, &hat)? {
                let vat = child(&hat, name);
                if is_credential_header(name) {
                    return Err(err(
                        &vat,
                        ErrorKind::Invalid(format!(
                            "the header {name:?} is a credential: a mapping may not carry one (give the upstream's credential to the server, see the manual's \"Record your Jira\")"
                        )),
                    ));
                }
                additional_headers.push((name.clone(), scalar_string(value, &vat)?));
            }
        }
        let mut remove_headers = Vec::new();
        if let Some(list) = m.get("removeProxyRequestHeaders").filter(|h| !h.is_null()) {
            let lat = child(ptr, "removeProxyRequestHeaders");
            let Value::Array(list) = list else {
                return Err(err(&lat, ErrorKind::Expected("an array of header names")));
            };
            for (i, v) in list.iter().enumerate() {
                remove_headers.push(scalar_string(v, &child(&lat, &i.to_string()))?.to_lowercase());
            }
        }
        let prefix_to_remove = opt_string(m, "proxyUrlPrefixToRemove", ptr)?;
        Ok(Some(ProxyDefinition {
            base_url,
            additional_headers,
            remove_headers,
            prefix_to_remove,
        }))
    }

    /// The URL a request for `path_and_query` is sent to: the base URL's path, then the
    /// request's path without [`Self::prefix_to_remove`], then its query.
    pub fn target_url(&self, path_and_query: &str) -> String {
        let (path, query) = match path_and_query.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (path_and_query, None),
        };
        let path = self
            .prefix_to_remove
            .as_deref()
            .and_then(|prefix| path.strip_prefix(prefix))
            .unwrap_or(path);
        let mut url = self.base_url.clone();
        if !path.starts_with('/') && !path.is_empty() {
            url.push('/');
        }
        url.push_str(path);
        if let Some(q) = query {
            url.push('?');
            url.push_str(q);
        }
        url
    }

    /// Whether the request's header `name` is forwarded (before the additional ones are set).
    pub fn forwards(&self, name: &str) -> bool {
        let lower = name.to_ascii_lowercase();
        !self.remove_headers.contains(&lower)
            && !self
                .additional_headers
                .iter()
                .any(|(n, _)| n.eq_ignore_ascii_case(name))
    }

    /// `scheme://host[:port]` of the base URL, lower-cased: what a credential is bound to.
    pub fn origin(&self) -> String {
        origin_of(&self.base_url).unwrap_or_default()
    }
}

/// `url` as a base URL (`http(s)://authority[/path]`, no trailing `/`, no query or fragment),
/// or `None` when it is not one.
pub fn absolute_base(url: &str) -> Option<String> {
    if url.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return None;
    }
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))
        .or_else(|| url.strip_prefix("HTTP://"))
        .or_else(|| url.strip_prefix("HTTPS://"))?;
    let authority = rest.split('/').next().unwrap_or_default();
    if authority.is_empty()
        || authority.contains(['@', ' ', '?', '#', '\\'])
        || url.contains(['?', '#'])
    {
        return None;
    }
    Some(url.trim_end_matches('/').to_owned())
}

/// `scheme://host[:port]` of an absolute URL, lower-cased.
pub fn origin_of(url: &str) -> Option<String> {
    let base = absolute_base(url.split(['?', '#']).next().unwrap_or_default())?;
    let (scheme, rest) = base.split_once("://")?;
    let authority = rest.split('/').next()?;
    Some(format!("{}://{}", scheme, authority).to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parsed(v: Value) -> Result<Option<ProxyDefinition>, MappingError> {
        let m = v.as_object().cloned().unwrap_or_default();
        ProxyDefinition::parse(&m, "/response")
    }

    #[test]
    fn a_request_is_sent_to_the_base_url_with_its_path_and_query() {
        let p = parsed(json!({"proxyBaseUrl": "http://jira.example:8080/"}))
            .unwrap()
            .unwrap();
        assert_eq!(
            p.target_url("/rest/api/2/issue/X-1?fields=a"),
            "http://jira.example:8080/rest/api/2/issue/X-1?fields=a"
        );
        assert_eq!(p.origin(), "http://jira.example:8080");
    }

    #[test]
    fn the_base_urls_path_comes_first_and_a_named_prefix_is_cut() {
        let p =
            parsed(json!({"proxyBaseUrl": "https://h/jira", "proxyUrlPrefixToRemove": "/other"}))
                .unwrap()
                .unwrap();
        assert_eq!(p.target_url("/other/rest/x"), "https://h/jira/rest/x");
        assert_eq!(p.target_url("/rest/x"), "https://h/jira/rest/x");
    }

    #[test]
    fn header_changes_are_kept_and_removed_names_compared_without_case() {
        let p = parsed(json!({
            "proxyBaseUrl": "http://h",
            "additionalProxyRequestHeaders": {"X-Env": "test"},
            "removeProxyRequestHeaders": ["X-Trace"],
        }))
        .unwrap()
        .unwrap();
        assert!(!p.forwards("x-trace"));
        assert!(!p.forwards("X-ENV"));
        assert!(p.forwards("Accept"));
        assert_eq!(p.additional_headers, vec![("X-Env".into(), "test".into())]);
    }

    #[test]
    fn a_mapping_may_not_carry_a_credential_for_the_upstream() {
        for name in ["Authorization", "cookie", "Proxy-Authorization"] {
            let e = parsed(json!({
                "proxyBaseUrl": "http://h",
                "additionalProxyRequestHeaders": {name: "Basic YTpi"},
            }))
            .unwrap_err();
            assert_eq!(
                e.pointer,
                format!("/response/additionalProxyRequestHeaders/{name}")
            );
            assert!(e.to_string().contains("credential"), "{e}");
        }
    }

    #[test]
    fn a_base_url_that_is_not_absolute_http_is_refused_with_its_pointer() {
        for bad in [
            "jira.example",
            "ftp://h",
            "http://",
            "http://u:p@h",
            "http://h?x=1",
            "http://h\n",
        ] {
            let e = parsed(json!({"proxyBaseUrl": bad})).unwrap_err();
            assert_eq!(e.pointer, "/response/proxyBaseUrl", "{bad}");
        }
        assert_eq!(parsed(json!({"status": 200})).unwrap(), None);
    }
}
