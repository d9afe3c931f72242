//! The request as the engine sees it, its credentials sealed as it is built.

use crate::credentials;

/// A request as the engine sees it: what the server received, without any HTTP crate's types.
///
/// Its credentials are sealed (see [`crate::credentials`]): `headers` and `url` are the view that
/// templates, near misses and the journal read, with [`credentials::REDACTED`] in place of
/// every credential header's value and every credential query parameter's value; the real
/// values are kept apart, where only [`credentials::CredentialMatcher`] reads them. Build one
/// with [`MockRequest::new`] and [`MockRequest::header`], which seal as they go.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MockRequest {
    /// The method as received (compared upper-cased).
    pub method: String,
    /// Path plus `?query` as received (not decoded), but for credential parameters' values.
    url: String,
    /// Header names as received; every lookup ignores their case. Credentials redacted.
    headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    sealed: Sealed,
}

/// The real values of a request's credentials. Never printed.
#[derive(Clone, Default, PartialEq, Eq)]
struct Sealed {
    /// Credential headers (cookies among them), as received.
    headers: Vec<(String, String)>,
    /// The URL as received, when its view differs (a credential parameter was redacted).
    url: Option<String>,
}

impl std::fmt::Debug for Sealed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[sealed]")
    }
}

impl MockRequest {
    pub fn new(method: &str, url: &str) -> Self {
        Self::from_owned(method.to_owned(), url.to_owned())
    }

    /// [`Self::new`] from text the caller owns: moved in, not copied, when the URL has no
    /// credential parameter to seal (the journal builds one per request, issue 21).
    pub fn from_owned(method: String, url: String) -> Self {
        let mut r = MockRequest {
            method,
            ..Default::default()
        };
        r.put_url(url);
        r
    }

    /// Replaces the URL (sealing its credential parameters).
    pub fn set_url(&mut self, url: &str) {
        self.put_url(url.to_owned());
    }

    fn put_url(&mut self, url: String) {
        match redacted_url(&url) {
            Some(view) => {
                self.url = view;
                self.sealed.url = Some(url);
            }
            None => {
                self.url = url;
                self.sealed.url = None;
            }
        }
    }

    /// Adds a header; a credential's value is sealed and [`credentials::REDACTED`] shown.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.push_header(name, value);
        self
    }

    pub fn push_header(&mut self, name: &str, value: &str) {
        self.push_owned_header(name.to_owned(), value.to_owned());
    }

    /// [`Self::push_header`] of text the caller owns: a header that is no credential is moved
    /// in, not copied.
    pub fn push_owned_header(&mut self, name: String, value: String) {
        if credentials::is_credential_header(&name) {
            self.headers
                .push((name.clone(), credentials::REDACTED.to_owned()));
            self.sealed.headers.push((name, value));
        } else {
            self.headers.push((name, value));
        }
    }

    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }

    /// Path plus `?query`, credential parameters' values redacted.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The URL as received: only a whole-value comparison may read it (a mapping's `url`).
    pub(crate) fn received_url(&self) -> &str {
        self.sealed.url.as_deref().unwrap_or(&self.url)
    }

    /// The headers as templates and the journal see them (credentials redacted), in order.
    pub fn headers(&self) -> &[(String, String)] {
        &self.headers
    }

    /// Applies `f` to the text a template or the journal can read — the URL's view, every
    /// header value that is not a credential, and the body — so the server can cut out what
    /// the engine cannot know is secret (a token copied into a body). The sealed values stay.
    pub fn scrub_view(&mut self, mut f: impl FnMut(&str) -> Option<String>) {
        if let Some(u) = f(&self.url) {
            self.url = u;
        }
        for (n, v) in &mut self.headers {
            if !credentials::is_credential_header(n)
                && let Some(s) = f(v)
            {
                *v = s;
            }
        }
        if let Ok(text) = std::str::from_utf8(&self.body)
            && let Some(s) = f(text)
        {
            self.body = s.into_bytes();
        }
    }

    /// The request with every sealed value replaced by [`credentials::REDACTED`] (cookie names
    /// kept): what the journal stores, so that no credential outlives the request in memory.
    /// Presence tests still see what was there; no `equalTo` on a credential matches it.
    pub fn without_secrets(mut self) -> Self {
        for (n, v) in &mut self.sealed.headers {
            *v = if n.eq_ignore_ascii_case("cookie") {
                v.split(';')
                    .filter_map(|pair| pair.split_once('=').map(|(k, _)| k.trim()))
                    .map(|k| format!("{k}={}", credentials::REDACTED))
                    .collect::<Vec<_>>()
                    .join("; ")
            } else {
                credentials::REDACTED.to_owned()
            };
        }
        self.sealed.url = None;
        self
    }

    /// Keeps the first `max` headers; answers how many were dropped.
    pub fn truncate_headers(&mut self, max: usize) -> usize {
        let dropped = self.headers.len().saturating_sub(max);
        self.headers.truncate(max);
        dropped
    }

    /// The path: the URL up to `?` (or `#`, which a client should not send but may).
    pub fn path(&self) -> &str {
        path_of(&self.url)
    }

    /// The raw query string after `?`, if any (credential parameters redacted).
    pub fn query_string(&self) -> Option<&str> {
        query_of(&self.url)
    }

    /// Query parameters decoded as WireMock decodes them (`+` is a space, `%XX` escapes), in
    /// order, repeated names kept; credential parameters' values redacted.
    pub fn query_params(&self) -> Vec<(String, String)> {
        decoded_query(query_of(&self.url))
    }

    /// The query parameters with the credentials' real values: for credential matchers only.
    pub(crate) fn sealed_query_params(&self) -> Vec<(String, String)> {
        decoded_query(query_of(self.received_url()))
    }

    /// Every value of a header as the view has it, name compared without case (a header may
    /// be sent several times).
    pub fn header_values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Every real value of a credential header: for credential matchers only.
    pub(crate) fn sealed_header_values<'a>(
        &'a self,
        name: &'a str,
    ) -> impl Iterator<Item = &'a str> + 'a {
        self.sealed
            .headers
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The names of the cookies from every `Cookie` header, in order (their values are sealed).
    pub fn cookie_names(&self) -> Vec<String> {
        self.sealed_cookies().into_iter().map(|(k, _)| k).collect()
    }

    /// Cookies from every `Cookie` header (`a=1; b=2`), in order: for credential matchers only.
    pub(crate) fn sealed_cookies(&self) -> Vec<(String, String)> {
        self.sealed_header_values("cookie")
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

fn query_of(url: &str) -> Option<&str> {
    let q = &url[url.find('?')? + 1..];
    Some(q.split('#').next().unwrap_or(q))
}

fn decoded_query(q: Option<&str>) -> Vec<(String, String)> {
    match q {
        Some(q) => form_urlencoded::parse(q.as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect(),
        None => Vec::new(),
    }
}

/// The URL with each credential parameter's value replaced by [`credentials::REDACTED`], or
/// `None` when it has none (the common case costs one scan for `?`).
fn redacted_url(url: &str) -> Option<String> {
    let q_at = url.find('?')?;
    let (head, rest) = url.split_at(q_at + 1);
    let (query, fragment) = match rest.find('#') {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    let mut changed = false;
    let parts: Vec<String> = query
        .split('&')
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let name: String = form_urlencoded::parse(k.as_bytes())
                .next()
                .map(|(k, _)| k.into_owned())
                .unwrap_or_default();
            if !v.is_empty() && credentials::is_credential_param(&name) {
                changed = true;
                format!("{k}={}", credentials::REDACTED)
            } else {
                pair.to_owned()
            }
        })
        .collect();
    changed.then(|| format!("{head}{}{fragment}", parts.join("&")))
}

/// The path of a URL as received: up to `?` (or `#`, which a client should not send but may).
pub(crate) fn path_of(url: &str) -> &str {
    &url[..url.find(['?', '#']).unwrap_or(url.len())]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::credentials::REDACTED;

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
            r.sealed_cookies(),
            vec![
                ("a".into(), "1".into()),
                ("b".into(), "two".into()),
                ("c".into(), "3".into())
            ]
        );
        assert_eq!(r.cookie_names(), ["a", "b", "c"]);
    }

    #[test]
    fn credentials_are_sealed_and_the_view_shows_them_redacted() {
        let r = MockRequest::new("GET", "/x?jql=a&access_token=tka_1&Token=2#f")
            .header("Authorization", "Bearer tka_1")
            .header("X-Trace", "t")
            .header("X-Api-Key", "k");
        assert_eq!(
            r.url(),
            "/x?jql=a&access_token=[redacted]&Token=[redacted]#f"
        );
        assert_eq!(r.received_url(), "/x?jql=a&access_token=tka_1&Token=2#f");
        assert_eq!(
            r.headers(),
            [
                ("Authorization".to_owned(), REDACTED.to_owned()),
                ("X-Trace".to_owned(), "t".to_owned()),
                ("X-Api-Key".to_owned(), REDACTED.to_owned())
            ]
        );
        assert_eq!(
            r.sealed_header_values("authorization").collect::<Vec<_>>(),
            ["Bearer tka_1"]
        );
        let text = format!("{r:?}");
        assert!(!text.contains("tka_1"), "{text}");
        let kept = r.clone().header("Cookie", "s=abc").without_secrets();
        assert_eq!(kept.cookie_names(), ["s"]);
        assert!(!format!("{:?}", kept.sealed.headers).contains("abc"));
        assert_eq!(kept.received_url(), kept.url());
        // Nothing to seal: the URL is kept as it is.
        assert_eq!(MockRequest::new("GET", "/a?b=c").url(), "/a?b=c");
    }
}
