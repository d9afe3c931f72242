//! The request journal (SPEC §8): the last requests the server received, in WireMock's shape,
//! with what the stub decided for each — who was authenticated and how, the refusal, the
//! mapping that answered — for the admin API's `/__admin/requests` family.
//!
//! Bounded twice: by count (`--journal-size`, default 10,000; 0 turns it off) and by bytes
//! ([`MAX_BYTES`]), each body kept up to [`MAX_BODY`]. A full journal forgets its oldest entry.
//!
//! Redacted before it is stored, never at read time: the values of `Authorization`,
//! `Proxy-Authorization` and `Cookie` are replaced, and every secret the request presented (the
//! password or token of its `Authorization` header, and that header's encoded form) is cut out
//! of the URL, the other headers, the body and a mapped answer (a template can echo a header).
//! What is not stored cannot leak through the admin API, a heap dump or a later change.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use serde_json::{Map, Value, json};

use super::redaction::Secrets;
use wiremock_engine::{MockRequest, RequestPattern};

/// Default number of requests kept.
pub const DEFAULT_SIZE: usize = 10_000;
/// Bytes kept in all (URLs, headers, bodies): with 1 MiB bodies allowed, the count alone would
/// let 10,000 requests hold 10 GiB.
pub const MAX_BYTES: usize = 64 * 1024 * 1024;
/// Longest body kept per request; the rest is cut and the entry says so.
pub const MAX_BODY: usize = 64 * 1024;
/// What replaces a credential header's value and every presented secret.
pub use wiremock_engine::credentials::REDACTED;
/// Headers kept per request (HTTP/2 allows hundreds of small ones).
pub const MAX_HEADERS: usize = 64;
/// What a kept header costs besides its text (two `String`s and the vector's slot), so the
/// byte bound holds for many tiny headers too.
const HEADER_OVERHEAD: usize = 64;

/// What the token rules decided for a request (a response extension the authentication
/// middleware sets; absent: the path needs no authentication).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decided {
    Allowed {
        user: String,
        /// `token`, `password` or `session`.
        how: &'static str,
        token_id: Option<String>,
    },
    Refused {
        status: u16,
        /// The denial's kind as the metrics' `reason` label names it.
        kind: &'static str,
        reason: &'static str,
    },
}

/// What the mappings did with a request that reached them (a response extension the fallback
/// handler sets): its body, and the mapping that answered, if one did.
#[derive(Debug, Clone, Default)]
pub struct Served {
    pub body: axum::body::Bytes,
    /// Whether the body may be kept: not for a request the token rules did not pass on a
    /// `/rest/` path (a login body sent to a look-alike of the session path holds a password).
    pub record_body: bool,
    pub stub: Option<StubRef>,
    /// A mapped answer's headers and body, as sent.
    pub answer: Option<Answered>,
    /// The answer was rendered from the request (`response-template`).
    pub answer_templated: bool,
}

/// A mapped answer's headers and body, as sent.
pub type Answered = (Vec<(String, String)>, Vec<u8>);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StubRef {
    pub id: String,
    pub name: Option<String>,
}

/// One journaled request.
#[derive(Debug, Clone)]
pub struct Entry {
    pub id: String,
    pub logged_ms: i64,
    pub client_ip: Option<std::net::IpAddr>,
    /// `http` or `https`; with the `Host` header (or `authority`) and the URL, the absolute URL.
    pub scheme: &'static str,
    /// The request's authority when it sent no `Host` header (HTTP/2's `:authority`).
    pub authority: Option<String>,
    /// Redacted: see the module comment.
    pub request: MockRequest,
    pub body_truncated: bool,
    /// Whether the body reached the journal at all: only requests the mappings saw (or the
    /// echo) carry theirs; the server's own API is never recorded with its body (it holds
    /// passwords and new tokens' descriptions).
    pub body_recorded: bool,
    pub decided: Option<Decided>,
    /// `Some(None)`: the mappings saw it and none matched; `None`: the server's own routes (or
    /// the token rules) answered it.
    pub mappings: Option<Option<StubRef>>,
    pub status: u16,
    pub answer: Option<Answered>,
    /// A templated answer to a request that presented a secret is not kept: a template can
    /// transform what it echoes (escape it, encode it) past any search for the secret.
    pub answer_omitted: bool,
    /// Headers past [`MAX_HEADERS`] that were not kept.
    pub headers_dropped: usize,
    bytes: usize,
}

impl Entry {
    /// A request the mappings saw and none answered (WireMock's "unmatched").
    pub fn unmatched(&self) -> bool {
        matches!(self.mappings, Some(None))
    }
}

/// The request as it arrived, before redaction (the journal's input).
pub struct Arrived {
    pub method: String,
    pub url: String,
    pub scheme: &'static str,
    /// Only when there is no `Host` header (HTTP/2), which is kept with the headers.
    pub authority: Option<String>,
    pub client_ip: Option<std::net::IpAddr>,
    pub headers: Vec<(String, String)>,
}

pub struct Journal {
    capacity: usize,
    ring: Mutex<Ring>,
    gauge: Option<metrics::Gauge>,
}

#[derive(Default)]
struct Ring {
    entries: VecDeque<Arc<Entry>>,
    bytes: usize,
}

impl Journal {
    pub fn new(capacity: usize, gauge: Option<metrics::Gauge>) -> Self {
        Journal {
            capacity,
            ring: Mutex::new(Ring::default()),
            gauge,
        }
    }

    pub fn enabled(&self) -> bool {
        self.capacity > 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Ring> {
        self.ring
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Records a request and what became of it, redacted.
    pub fn record(
        &self,
        arrived: Arrived,
        status: u16,
        decided: Option<Decided>,
        served: Option<Served>,
    ) {
        if !self.enabled() {
            return;
        }
        let entry = redacted_entry(arrived, status, decided, served);
        let mut ring = self.lock();
        ring.bytes += entry.bytes;
        ring.entries.push_back(Arc::new(entry));
        while ring.entries.len() > self.capacity || ring.bytes > MAX_BYTES {
            match ring.entries.pop_front() {
                Some(old) => ring.bytes -= old.bytes,
                None => break,
            }
        }
        if let Some(g) = &self.gauge {
            g.set(ring.entries.len() as f64);
        }
    }

    /// Newest first, at most `limit`.
    pub fn newest(&self, limit: usize) -> (Vec<Arc<Entry>>, usize) {
        let ring = self.lock();
        let total = ring.entries.len();
        (
            ring.entries.iter().rev().take(limit).cloned().collect(),
            total,
        )
    }

    pub fn get(&self, id: &str) -> Option<Arc<Entry>> {
        self.lock().entries.iter().find(|e| e.id == id).cloned()
    }

    /// Entries whose (redacted) request the pattern matches, oldest first.
    pub fn matching(&self, pattern: &RequestPattern) -> Vec<Arc<Entry>> {
        self.lock()
            .entries
            .iter()
            .filter(|e| pattern.matches(&e.request))
            .cloned()
            .collect()
    }

    pub fn count(&self, pattern: &RequestPattern) -> usize {
        self.lock()
            .entries
            .iter()
            .filter(|e| pattern.matches(&e.request))
            .count()
    }

    pub fn unmatched(&self) -> Vec<Arc<Entry>> {
        self.lock()
            .entries
            .iter()
            .filter(|e| e.unmatched())
            .cloned()
            .collect()
    }

    pub fn clear(&self) {
        let mut ring = self.lock();
        ring.entries.clear();
        ring.bytes = 0;
        if let Some(g) = &self.gauge {
            g.set(0.0);
        }
    }

    pub fn len(&self) -> usize {
        self.lock().entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn headers_bytes(headers: &[(String, String)]) -> usize {
    headers
        .iter()
        .map(|(n, v)| n.len() + v.len() + HEADER_OVERHEAD)
        .sum()
}

fn redacted_entry(
    arrived: Arrived,
    status: u16,
    decided: Option<Decided>,
    served: Option<Served>,
) -> Entry {
    let mut secrets = Secrets::presented(
        arrived
            .headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str())),
        &arrived.url,
    );
    let encoding = |headers: &[(String, String)]| {
        headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case("content-encoding"))
            .map(|(_, v)| v.clone())
    };
    let request_encoding = encoding(&arrived.headers);
    if let Some(s) = served.as_ref().filter(|s| s.record_body) {
        secrets.add_body_fields(&s.body);
    }
    // The engine's view first (credential headers and parameters redacted), then every secret
    // cut from what is left.
    let mut request = MockRequest::new(&arrived.method, &arrived.url);
    for (n, v) in &arrived.headers {
        request.push_header(n, v);
    }
    let headers_dropped = request.truncate_headers(MAX_HEADERS);
    request.scrub_view(|text| Some(secrets.scrub(text)));
    let mut answer_omitted = false;
    let (body, body_truncated, body_recorded, mappings, answer) = match served {
        Some(s) => {
            // Scrubbed whole, then cut: a secret that straddles the cut is gone, not halved.
            let (body, cut) = if s.record_body {
                let mut b = secrets.scrub_body(&s.body, request_encoding.as_deref());
                let cut = b.len() > MAX_BODY || s.body.len() > MAX_BODY;
                b.truncate(MAX_BODY);
                (b, cut)
            } else {
                (Vec::new(), false)
            };
            let answer = match s.answer {
                Some(_) if s.answer_templated && !secrets.is_empty() => {
                    answer_omitted = true;
                    None
                }
                Some((h, b)) => {
                    let answer_encoding = encoding(&h);
                    let h: Vec<(String, String)> = h
                        .into_iter()
                        .take(MAX_HEADERS)
                        .map(|(n, v)| {
                            let v = secrets.scrub(&v);
                            (n, v)
                        })
                        .collect();
                    let mut b = secrets.scrub_body(&b, answer_encoding.as_deref());
                    b.truncate(MAX_BODY);
                    Some((h, b))
                }
                None => None,
            };
            (body, cut, s.record_body, Some(s.stub), answer)
        }
        None => (Vec::new(), false, false, None, None),
    };
    // What the journal keeps holds no secret, sealed or not.
    let request = request.body(body).without_secrets();
    let authority = arrived.authority.map(|a| secrets.scrub(&a));
    let bytes = std::mem::size_of::<Entry>()
        + request.url().len()
        + authority.as_ref().map_or(0, String::len)
        + headers_bytes(request.headers())
        + request.body.len()
        + answer
            .as_ref()
            .map_or(0, |(h, b)| headers_bytes(h) + b.len());
    Entry {
        id: wiremock_engine::mapping::random_uuid(),
        logged_ms: tokenauth_core::clock::Clock::now(&tokenauth_core::clock::SystemClock),
        client_ip: arrived.client_ip,
        scheme: arrived.scheme,
        authority,
        request,
        body_truncated,
        body_recorded,
        decided,
        mappings,
        status,
        answer,
        answer_omitted,
        headers_dropped,
        bytes,
    }
}

/// Headers as WireMock's journal writes them: a name with one value maps to the value, with
/// several to the list.
fn headers_json(headers: &[(String, String)]) -> Value {
    let mut m = Map::new();
    for (n, v) in headers {
        match m.get_mut(n) {
            None => {
                m.insert(n.clone(), Value::String(v.clone()));
            }
            Some(Value::Array(list)) => list.push(Value::String(v.clone())),
            Some(old) => {
                let first = old.take();
                *old = Value::Array(vec![first, Value::String(v.clone())]);
            }
        }
    }
    Value::Object(m)
}

fn body_fields(m: &mut Map<String, Value>, body: &[u8]) {
    m.insert(
        "body".into(),
        Value::String(String::from_utf8_lossy(body).into_owned()),
    );
    m.insert(
        "bodyAsBase64".into(),
        Value::String(base64::engine::general_purpose::STANDARD.encode(body)),
    );
}

/// The `request` part of an entry (also what `/requests/find` and `/requests/unmatched` list).
pub fn request_json(e: &Entry) -> Value {
    let r = &e.request;
    let mut query = Map::new();
    for (k, v) in r.query_params() {
        let slot = query
            .entry(k.clone())
            .or_insert_with(|| json!({"key": k, "values": []}));
        if let Some(values) = slot.get_mut("values").and_then(Value::as_array_mut) {
            values.push(Value::String(v));
        }
    }
    let mut cookies = Map::new();
    // Cookie values are credentials: named, never shown.
    for name in r.cookie_names() {
        cookies.insert(name, Value::String(REDACTED.into()));
    }
    let mut m = Map::new();
    m.insert("url".into(), Value::String(r.url().to_owned()));
    let host = r
        .header_values("host")
        .next()
        .or(e.authority.as_deref())
        .unwrap_or("localhost");
    m.insert(
        "absoluteUrl".into(),
        Value::String(format!("{}://{host}{}", e.scheme, r.url())),
    );
    m.insert("method".into(), Value::String(r.method.clone()));
    m.insert(
        "clientIp".into(),
        Value::String(e.client_ip.map(|ip| ip.to_string()).unwrap_or_default()),
    );
    m.insert("headers".into(), headers_json(r.headers()));
    m.insert("cookies".into(), Value::Object(cookies));
    m.insert("queryParams".into(), Value::Object(query));
    m.insert("browserProxyRequest".into(), Value::Bool(false));
    m.insert("loggedDate".into(), json!(e.logged_ms));
    m.insert(
        "loggedDateString".into(),
        Value::String(tokenauth_core::clock::to_rfc3339(e.logged_ms)),
    );
    body_fields(&mut m, &r.body);
    Value::Object(m)
}

/// What the stub decided, in the entry's `tokenauth` member.
fn decision_json(e: &Entry) -> Value {
    let mut m = Map::new();
    match &e.decided {
        None => {
            m.insert("decision".into(), json!("anonymous"));
        }
        Some(Decided::Allowed {
            user,
            how,
            token_id,
        }) => {
            m.insert("decision".into(), json!("allowed"));
            m.insert("user".into(), json!(user));
            m.insert("authType".into(), json!(how));
            if let Some(t) = token_id {
                m.insert("tokenId".into(), json!(t));
            }
        }
        Some(Decided::Refused {
            status,
            kind,
            reason,
        }) => {
            m.insert("decision".into(), json!("refused"));
            m.insert(
                "refusal".into(),
                json!({"status": status, "kind": kind, "reason": reason}),
            );
        }
    }
    m.insert(
        "answeredBy".into(),
        json!(match &e.mappings {
            Some(Some(_)) => "mapping",
            Some(None) => "unmatched",
            None if matches!(e.decided, Some(Decided::Refused { .. })) => "token rules",
            None => "server",
        }),
    );
    if let Some(Some(s)) = &e.mappings {
        m.insert("matchedMapping".into(), json!({"id": s.id, "name": s.name}));
    }
    m.insert("bodyRecorded".into(), json!(e.body_recorded));
    m.insert("bodyTruncated".into(), json!(e.body_truncated));
    if e.answer_omitted {
        m.insert(
            "responseBodyOmitted".into(),
            json!("a templated answer to a request with credentials"),
        );
    }
    if e.headers_dropped > 0 {
        m.insert("headersDropped".into(), json!(e.headers_dropped));
    }
    Value::Object(m)
}

/// A whole entry, as `GET /__admin/requests` lists it: WireMock's members plus `tokenauth`.
pub fn entry_json(e: &Entry, stub_mapping: Option<Value>) -> Value {
    let mut response = Map::new();
    response.insert("status".into(), json!(e.status));
    if let Some((h, b)) = &e.answer {
        response.insert("headers".into(), headers_json(h));
        body_fields(&mut response, b);
    }
    let mut m = Map::new();
    m.insert("id".into(), json!(e.id));
    m.insert("request".into(), request_json(e));
    m.insert(
        "responseDefinition".into(),
        json!({"status": e.status, "fromConfiguredStub": matches!(e.mappings, Some(Some(_)))}),
    );
    m.insert("response".into(), Value::Object(response));
    m.insert("wasMatched".into(), json!(!e.unmatched()));
    if let Some(s) = stub_mapping {
        m.insert("stubMapping".into(), s);
    }
    m.insert("tokenauth".into(), decision_json(e));
    Value::Object(m)
}

#[cfg(test)]
mod tests;
