//! WireMock-compatible stub mappings (SPEC §8), as a pure library: no HTTP types here, so the
//! engine can be tested and fuzzed on its own and the server translates at its edge.
//!
//! - [`mapping`]: WireMock 3 mapping JSON → [`Mapping`], errors with a JSON pointer; loading a
//!   `mappings/` + `__files/` directory all or nothing.
//! - [`matching`]: request patterns, the string/JSON matchers, [`Stubs`] (index, priority,
//!   scenarios, near misses).
//! - [`response`]: the response as data (status, headers, body, delays, faults) and Handlebars
//!   response templating.

pub mod mapping;
pub mod matching;
pub mod response;

pub use mapping::{LoadError, Mapping, MappingError, ScenarioRule, load_dir, parse_mapping};
pub use matching::{MatchedStub, NearMiss, RequestPattern, ScenarioStates, StringMatcher, Stubs};
pub use response::{ChunkedDribbleDelay, Fault, RenderError, RenderedResponse, ResponseDefinition};

/// A request as the engine sees it: what the server received, without any HTTP crate's types.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MockRequest {
    /// The method as received (compared upper-cased).
    pub method: String,
    /// Path plus `?query` exactly as received (not decoded), as WireMock's `url` compares it.
    pub url: String,
    /// Header names as received; every lookup ignores their case.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl MockRequest {
    pub fn new(method: &str, url: &str) -> Self {
        MockRequest {
            method: method.to_owned(),
            url: url.to_owned(),
            ..Default::default()
        }
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }

    /// The path: the URL up to `?` (or `#`, which a client should not send but may).
    pub fn path(&self) -> &str {
        path_of(&self.url)
    }

    /// The raw query string after `?`, if any.
    pub fn query_string(&self) -> Option<&str> {
        let q = &self.url[self.url.find('?')? + 1..];
        Some(q.split('#').next().unwrap_or(q))
    }

    /// Query parameters decoded as WireMock decodes them (`+` is a space, `%XX` escapes), in
    /// order, repeated names kept.
    pub fn query_params(&self) -> Vec<(String, String)> {
        match self.query_string() {
            Some(q) => form_urlencoded::parse(q.as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
            None => Vec::new(),
        }
    }

    /// Every value of a header, name compared without case (a header may be sent several times).
    pub fn header_values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Cookies from every `Cookie` header (`a=1; b=2`), in order.
    pub fn cookies(&self) -> Vec<(String, String)> {
        self.header_values("cookie")
            .flat_map(|h| h.split(';'))
            .filter_map(|pair| {
                let (k, v) = pair.split_once('=')?;
                let v = v.trim();
                // RFC 6265 allows a quoted cookie value; WireMock hands the value without quotes.
                let v = v
                    .strip_prefix('"')
                    .and_then(|s| s.strip_suffix('"'))
                    .unwrap_or(v);
                Some((k.trim().to_owned(), v.to_owned()))
            })
            .collect()
    }

    /// The body as text (WireMock matches bodies as strings; invalid UTF-8 is replaced).
    pub fn body_text(&self) -> std::borrow::Cow<'_, str> {
        String::from_utf8_lossy(&self.body)
    }
}

/// The path of a URL as received: up to `?` (or `#`, which a client should not send but may).
pub(crate) fn path_of(url: &str) -> &str {
    &url[..url.find(['?', '#']).unwrap_or(url.len())]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_splits_its_url_into_path_query_and_decoded_parameters() {
        let r = MockRequest::new("GET", "/rest/api/2/search?jql=project%20%3D%20X&x=a+b&x=c");
        assert_eq!(r.path(), "/rest/api/2/search");
        assert_eq!(r.query_string(), Some("jql=project%20%3D%20X&x=a+b&x=c"));
        assert_eq!(
            r.query_params(),
            vec![
                ("jql".into(), "project = X".into()),
                ("x".into(), "a b".into()),
                ("x".into(), "c".into())
            ]
        );
        assert_eq!(MockRequest::new("GET", "/a").query_string(), None);
    }

    #[test]
    fn cookies_come_from_every_cookie_header_and_lose_their_quotes() {
        let r = MockRequest::new("GET", "/")
            .header("Cookie", "a=1; b=\"two\"")
            .header("cookie", "c=3");
        assert_eq!(
            r.cookies(),
            vec![
                ("a".into(), "1".into()),
                ("b".into(), "two".into()),
                ("c".into(), "3".into())
            ]
        );
    }
}
