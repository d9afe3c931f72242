//! One proxied request: the headers that go (and those that never do: hop-by-hop, the caller's
//! credentials, the client addresses it claims), the operator's credential for its one origin,
//! the loop mark, and the answer read within its bounds.

use std::time::Duration;

use axum::body::Bytes;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method};
use wiremock_engine::credentials::is_credential_header;

use crate::authentication::local::PROXY_HEADERS;
use crate::mocks::proxied_exchange::without_credential_params;
use wiremock_engine::proxy::{ProxyDefinition, origin_of};

/// The answer of a proxied request, as the caller gets it.
#[derive(Debug, Clone)]
pub struct Proxied {
    pub status: u16,
    /// Without hop-by-hop headers, `Content-Length` (the server frames the body) and
    /// `Set-Cookie`.
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
    /// The cookies the upstream set, held back from the caller: their values are secrets to
    /// cut from whatever is kept of this exchange.
    pub withheld_cookies: Vec<String>,
}

/// Why a proxied request got no answer from the upstream.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    #[error(
        "this request has already passed through this server (its Via header carries this server's mark): the proxy target leads back here"
    )]
    Loop,
    #[error("no answer from {url} within {} s", .after.as_secs_f32())]
    Timeout { url: String, after: Duration },
    #[error("the answer from {url} is larger than the {limit} bytes a proxied answer may have")]
    TooLarge { url: String, limit: usize },
    #[error("network failure trying to make a proxied request to {url}: {why}")]
    Unreachable { url: String, why: String },
    #[error("{0} proxied requests are in flight already; try again")]
    Busy(usize),
    #[error("this server cannot send proxied requests: {0}")]
    NoClient(String),
}

impl ProxyError {
    /// The status the caller gets: 508 for a loop, 504 for a timeout, 503 when too many are in
    /// flight, 502 otherwise.
    pub fn status(&self) -> u16 {
        match self {
            ProxyError::Loop => 508,
            ProxyError::Timeout { .. } => 504,
            ProxyError::Busy(_) => 503,
            ProxyError::TooLarge { .. }
            | ProxyError::Unreachable { .. }
            | ProxyError::NoClient(_) => 502,
        }
    }
}

/// The operator's credential for the upstream: an `Authorization` value, sent only to `origin`.
#[derive(Clone)]
pub struct UpstreamCredential {
    origin: String,
    authorization: String,
}

impl std::fmt::Debug for UpstreamCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpstreamCredential")
            .field("origin", &self.origin)
            .field("authorization", &"[redacted]")
            .finish()
    }
}

impl UpstreamCredential {
    /// `authorization` (e.g. `Bearer …`, `Basic …`) for the origin of `url`.
    pub fn new(url: &str, authorization: &str) -> Result<Self, String> {
        let origin = origin_of(url)
            .ok_or_else(|| format!("{url:?} is not an absolute http:// or https:// URL"))?;
        let authorization = authorization.trim().to_owned();
        if authorization.is_empty() || HeaderValue::from_str(&authorization).is_err() {
            return Err("the upstream's Authorization value is empty or not a header value".into());
        }
        Ok(Self {
            origin,
            authorization,
        })
    }

    pub fn origin(&self) -> &str {
        &self.origin
    }
}

/// Headers of one hop (RFC 9110 §7.6.1), and the length the server frames itself: never
/// passed on, either way.
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "content-length",
];

/// Headers of a request a proxy never passes on besides [`HOP_BY_HOP`]: those it sets itself.
const NOT_FORWARDED: &[&str] = &[
    "host",
    "expect",
    // Asked for uncompressed: a kept answer is scrubbed of secrets and recorded as text.
    "accept-encoding",
    "via",
    // A method other than the one the token rules judged: a Read Only token's GET must not
    // become a DELETE at an upstream that honours an override.
    "x-http-method-override",
    "x-http-method",
    "x-method-override",
];

/// The HTTP client of proxied requests, the operator's credential and this server's mark.
pub struct Upstream {
    client: std::sync::OnceLock<Result<reqwest::Client, String>>,
    credential: Option<UpstreamCredential>,
    /// `Via: 1.1 <mark>` on every request sent: seen on a request arriving, it is a loop.
    mark: String,
    pub timeout: Duration,
    pub max_body: usize,
    /// Proxied requests in flight at once: each may hold an answer of `max_body` bytes (and
    /// its scrubbed copy), so their number bounds the memory proxying takes.
    in_flight: tokio::sync::Semaphore,
}

/// Proxied requests in flight at once; the others wait, within the request's deadline.
pub const MAX_IN_FLIGHT: usize = 32;

impl std::fmt::Debug for Upstream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Upstream")
            .field("credential", &self.credential)
            .field("timeout", &self.timeout)
            .field("max_body", &self.max_body)
            .finish_non_exhaustive()
    }
}

impl Upstream {
    /// The client is built at the first proxied request, not here: loading the platform's
    /// trust store costs tens of milliseconds a server that never proxies should not pay at
    /// start (SPEC §8: start to first answer under 100 ms).
    pub fn new(credential: Option<UpstreamCredential>, timeout: Duration, max_body: usize) -> Self {
        // Random per process: a mark another server could predict could be planted to refuse
        // its requests here, and one shared by two servers would refuse a legitimate chain.
        let mark = format!(
            "tokenauth-stub-{}",
            wiremock_engine::mapping::random_uuid().replace('-', "")
        );
        Self {
            client: std::sync::OnceLock::new(),
            credential,
            mark,
            timeout,
            max_body,
            in_flight: tokio::sync::Semaphore::new(MAX_IN_FLIGHT),
        }
    }

    /// The HTTP client, built once; why not, if it cannot be.
    fn client(&self) -> Result<&reqwest::Client, ProxyError> {
        let timeout = self.timeout;
        self.client
            .get_or_init(|| {
                let tls = crate::connection::tls_client::platform_client_config()?;
                reqwest::Client::builder()
                    .tls_backend_preconfigured(tls)
                    .connect_timeout(timeout.min(Duration::from_secs(10)))
                    .timeout(timeout)
                    // A redirect goes back to the caller, as WireMock's proxy does: never
                    // followed here, so no redirect can lead the operator's credential
                    // elsewhere or loop.
                    .redirect(reqwest::redirect::Policy::none())
                    // The target is the operator's: no proxy from the environment in between.
                    .no_proxy()
                    .build()
                    .map_err(|e| format!("the HTTP client: {e}"))
            })
            .as_ref()
            .map_err(|e| ProxyError::NoClient(e.clone()))
    }

    /// Whether a request arriving here has already been sent by this server.
    pub fn passed_here(&self, headers: &HeaderMap) -> bool {
        // By the name's constant: a `&str` name is parsed again at every lookup, and every
        // request is looked at here (about 1 % of a request's CPU, issue 21).
        headers
            .get_all(axum::http::header::VIA)
            .iter()
            .any(|v| v.to_str().is_ok_and(|v| v.contains(&self.mark)))
    }

    /// `1.1 <mark>`: what this server's requests, and its refusal of a loop, carry in `Via`.
    pub fn via(&self) -> String {
        format!("1.1 {}", self.mark)
    }

    /// The operator's credential value, to cut from whatever is kept of an exchange.
    pub fn credential_value(&self) -> Option<&str> {
        self.credential.as_ref().map(|c| c.authorization.as_str())
    }

    /// The origin the operator's credential is for, if one was given.
    pub fn credential_origin(&self) -> Option<&str> {
        self.credential.as_ref().map(UpstreamCredential::origin)
    }

    /// Sends the request to where `def` says, and reads the answer within the bounds.
    pub async fn forward(
        &self,
        def: &ProxyDefinition,
        method: &Method,
        path_and_query: &str,
        headers: &HeaderMap,
        body: Bytes,
    ) -> Result<Proxied, ProxyError> {
        if self.passed_here(headers) {
            return Err(ProxyError::Loop);
        }
        let Ok(Ok(_permit)) = tokio::time::timeout(self.timeout, self.in_flight.acquire()).await
        else {
            return Err(ProxyError::Busy(MAX_IN_FLIGHT));
        };
        let url = def.target_url(&without_credential_params(path_and_query));
        // Named in errors without its query, which a caller wrote.
        let shown = url.split('?').next().unwrap_or_default().to_owned();
        let out = self.request_headers(def, headers, &url);
        let sent = self
            .client()?
            .request(method.clone(), &url)
            .headers(out)
            .body(body)
            .send();
        let read = async {
            let mut response = sent.await.map_err(|e| failure(&shown, &e, self.timeout))?;
            if response
                .content_length()
                .is_some_and(|n| n > self.max_body as u64)
            {
                return Err(ProxyError::TooLarge {
                    url: shown.clone(),
                    limit: self.max_body,
                });
            }
            // This server's own refusal of a loop, come back: not the upstream's answer.
            if self.passed_here(response.headers()) {
                return Err(ProxyError::Loop);
            }
            let status = response.status().as_u16();
            let mut kept = Vec::new();
            let mut withheld = Vec::new();
            for (name, value) in response.headers() {
                let Ok(v) = value.to_str() else { continue };
                if matches!(name.as_str(), "set-cookie" | "set-cookie2") {
                    if let Some((_, rest)) = v.split_once('=') {
                        withheld.push(rest.split(';').next().unwrap_or_default().to_owned());
                    }
                } else if !HOP_BY_HOP.contains(&name.as_str()) {
                    kept.push((name.as_str().to_owned(), v.to_owned()));
                }
            }
            let mut body = Vec::new();
            while let Some(chunk) = response
                .chunk()
                .await
                .map_err(|e| failure(&shown, &e, self.timeout))?
            {
                if body.len() + chunk.len() > self.max_body {
                    return Err(ProxyError::TooLarge {
                        url: shown.clone(),
                        limit: self.max_body,
                    });
                }
                body.extend_from_slice(&chunk);
            }
            Ok(Proxied {
                status,
                headers: kept,
                body: Bytes::from(body),
                withheld_cookies: withheld,
            })
        };
        // One deadline for the whole exchange, answer body included.
        match tokio::time::timeout(self.timeout, read).await {
            Ok(r) => r,
            Err(_) => Err(ProxyError::Timeout {
                url: shown,
                after: self.timeout,
            }),
        }
    }

    fn request_headers(&self, def: &ProxyDefinition, headers: &HeaderMap, url: &str) -> HeaderMap {
        // Headers the request's own `Connection` names are hop-by-hop too.
        let listed: Vec<String> = headers
            .get_all("connection")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(|s| s.trim().to_ascii_lowercase())
            .collect();
        let mut out = HeaderMap::new();
        for (name, value) in headers {
            let n = name.as_str();
            if HOP_BY_HOP.contains(&n)
                || NOT_FORWARDED.contains(&n)
                // A client address the caller claims: an upstream that trusts this server as
                // its proxy would take it for the caller's, and apply the operator's IP rules
                // to an address of the caller's choosing.
                || (n != "via" && PROXY_HEADERS.contains(&n))
                || listed.iter().any(|l| l == n)
                || is_credential_header(n)
                || !def.forwards(n)
            {
                continue;
            }
            out.append(name.clone(), value.clone());
        }
        for (name, value) in &def.additional_headers {
            if let (Ok(n), Ok(v)) = (
                HeaderName::from_bytes(name.as_bytes()),
                HeaderValue::from_str(value),
            ) {
                out.insert(n, v);
            }
        }
        if let Some(c) = &self.credential
            && origin_of(url).as_deref() == Some(c.origin.as_str())
            && let Ok(v) = HeaderValue::from_str(&c.authorization)
        {
            out.insert(axum::http::header::AUTHORIZATION, v);
        }
        let mut via: Vec<String> = headers
            .get_all("via")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .map(str::to_owned)
            .collect();
        via.push(self.via());
        if let Ok(v) = HeaderValue::from_str(&via.join(", ")) {
            out.insert("via", v);
        }
        out
    }
}

fn failure(url: &str, e: &reqwest::Error, timeout: Duration) -> ProxyError {
    if e.is_timeout() {
        return ProxyError::Timeout {
            url: url.to_owned(),
            after: timeout,
        };
    }
    // The chain's innermost cause says what happened (refused, reset, a TLS failure).
    let mut why = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        why = s.to_string();
        source = s.source();
    }
    ProxyError::Unreachable {
        url: url.to_owned(),
        why,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_callers_credentials_stay_here_and_the_operators_go_to_its_origin_only() {
        let cred = UpstreamCredential::new("https://jira.example", "Bearer operator").unwrap();
        assert!(!format!("{cred:?}").contains("operator"));
        let up = Upstream::new(Some(cred), Duration::from_secs(5), 1024);
        let mut h = HeaderMap::new();
        for (n, v) in [
            ("authorization", "Basic YWxpY2U6dGth"),
            ("cookie", "JSESSIONID=abcdef123"),
            ("x-api-key", "k123456"),
            ("accept", "application/json"),
            ("connection", "x-hop"),
            ("x-hop", "1"),
            ("x-forwarded-for", "10.0.0.1"),
            ("forwarded", "for=10.0.0.1"),
            ("x-http-method-override", "DELETE"),
        ] {
            h.append(n, HeaderValue::from_static(v));
        }
        let def = |base: &str| ProxyDefinition {
            base_url: base.into(),
            additional_headers: vec![("X-Env".into(), "ci".into())],
            remove_headers: vec![],
            prefix_to_remove: None,
        };
        let to_origin = up.request_headers(
            &def("https://jira.example"),
            &h,
            "https://jira.example/rest/x",
        );
        assert_eq!(to_origin["authorization"], "Bearer operator");
        assert_eq!(to_origin["accept"], "application/json");
        assert_eq!(to_origin["x-env"], "ci");
        for gone in [
            "cookie",
            "x-api-key",
            "x-hop",
            "connection",
            "x-forwarded-for",
            "forwarded",
        ] {
            assert!(!to_origin.contains_key(gone), "{gone}");
        }
        assert!(to_origin["via"].to_str().unwrap().contains(&up.mark));
        let elsewhere = up.request_headers(
            &def("https://other.example"),
            &h,
            "https://other.example/rest/x",
        );
        assert!(!elsewhere.contains_key("authorization"));
        // What this server sent, arriving here again, is a loop.
        assert!(up.passed_here(&to_origin));
        assert!(!up.passed_here(&h));
    }
}
