//! The request journal (SPEC §8): the last requests the server received, in WireMock's shape,
//! with what the stub decided for each — who was authenticated and how, the refusal, the
//! mapping that answered — for the admin API's `/__admin/requests` family.
//!
//! Bounded twice: by count (`--journal-size`, default 10,000; 0 turns it off) and by bytes
//! ([`MAX_BYTES`]), each body kept up to [`MAX_BODY`]. A full journal forgets its oldest entry.
//!
//! Redacted before anything reads it: the values of `Authorization`, `Proxy-Authorization` and
//! `Cookie` are replaced, and every secret the request presented (the password or token of its
//! `Authorization` header, and that header's encoded form) is cut out of the URL, the other
//! headers, the body and a mapped answer (a template can echo a header).
//!
//! Redacted off the request path (issue 21): the request copies its URL and headers into one
//! buffer ([`Captured`], one allocation) and the redaction runs when the journal is next read,
//! or by [`Journal::redact_older_than`] within [`REDACT_WITHIN`] — whichever comes first. Under
//! load most entries are forgotten (the ring turns over) before either, and are never redacted
//! at all: that is the saving. Every way out of the journal (each reader here) redacts first, so
//! nothing unredacted leaves it; an unredacted request stays in this process's memory at most
//! [`REDACT_WITHIN`] plus one sweep. A request whose body or answer is past [`MAX_BODY`] is
//! redacted at once: its kept form is smaller than what it would hold while waiting.

use std::collections::VecDeque;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, Method, Uri};

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
/// The longest an unredacted request stays in the journal (plus one sweep, run every second).
pub const REDACT_WITHIN: Duration = Duration::from_secs(2);
/// Entries a sweep redacts per hold of the lock: a request being recorded waits for no more.
const SWEEP_CHUNK: usize = 256;
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

/// The request as it arrived, before redaction, opened up into text (the redaction's input).
pub struct Arrived {
    pub method: String,
    pub url: String,
    pub scheme: &'static str,
    /// Only when there is no `Host` header (HTTP/2), which is kept with the headers.
    pub authority: Option<String>,
    pub client_ip: Option<std::net::IpAddr>,
    pub headers: Vec<(String, String)>,
}

/// The request as it arrived, as the request path records it: the method, and the URL and every
/// header copied into one buffer — one allocation and one copy, no text built. Opened into an
/// [`Arrived`] only when it is redacted.
pub struct Captured {
    method: Method,
    /// The URL, then per header: name length (u16, LE), value length (u32, LE), name, value.
    raw: Box<[u8]>,
    url_len: usize,
    scheme: &'static str,
    authority: Option<String>,
    client_ip: Option<IpAddr>,
}

impl Captured {
    pub fn new(
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
        scheme: &'static str,
        client_ip: Option<IpAddr>,
    ) -> Self {
        let url = uri.path_and_query().map_or(uri.path(), |pq| pq.as_str());
        let size = url.len()
            + headers
                .iter()
                .map(|(n, v)| 6 + n.as_str().len() + v.as_bytes().len())
                .sum::<usize>();
        let mut raw = Vec::with_capacity(size);
        raw.extend_from_slice(url.as_bytes());
        for (n, v) in headers {
            // hyper bounds a head far below both widths; a longer one is cut, not wrapped.
            let name = n.as_str().as_bytes();
            let name = &name[..name.len().min(usize::from(u16::MAX))];
            let value = v.as_bytes();
            let value = &value[..value.len().min(u32::MAX as usize)];
            raw.extend_from_slice(&(name.len() as u16).to_le_bytes());
            raw.extend_from_slice(&(value.len() as u32).to_le_bytes());
            raw.extend_from_slice(name);
            raw.extend_from_slice(value);
        }
        // HTTP/2 carries the host in the authority; with a `Host` header it is kept there.
        let authority = if headers.contains_key(axum::http::header::HOST) {
            None
        } else {
            uri.authority().map(|a| a.as_str().to_owned())
        };
        Captured {
            method: method.clone(),
            raw: raw.into_boxed_slice(),
            url_len: url.len(),
            scheme,
            authority,
            client_ip,
        }
    }

    fn bytes(&self) -> usize {
        self.raw.len() + self.authority.as_ref().map_or(0, String::len)
    }

    fn open(self) -> Arrived {
        // Checked, then copied: `from_utf8_lossy` costs twice that on valid text (issue 21).
        let text = |b: &[u8]| match std::str::from_utf8(b) {
            Ok(s) => s.to_owned(),
            Err(_) => String::from_utf8_lossy(b).into_owned(),
        };
        let mut headers = Vec::new();
        let mut rest = &self.raw[self.url_len..];
        while rest.len() >= 6 {
            let n = usize::from(u16::from_le_bytes([rest[0], rest[1]]));
            let v = u32::from_le_bytes([rest[2], rest[3], rest[4], rest[5]]) as usize;
            let Some(pair) = rest.get(6..6 + n + v) else {
                break;
            };
            headers.push((text(&pair[..n]), text(&pair[n..])));
            rest = &rest[6 + n + v..];
        }
        Arrived {
            method: self.method.as_str().to_owned(),
            url: text(&self.raw[..self.url_len]),
            scheme: self.scheme,
            authority: self.authority,
            client_ip: self.client_ip,
            headers,
        }
    }
}

/// A request recorded and not yet redacted.
struct Pending {
    request: Unopened,
    status: u16,
    decided: Option<Decided>,
    /// Boxed: most requests have none, and inline it made every slot 136 bytes larger.
    served: Option<Box<Served>>,
    logged_ms: i64,
    at: Instant,
}

enum Unopened {
    Captured(Captured),
    Arrived(Arrived),
}

// Inline, not boxed: recording a request allocates nothing for its slot; what a slot costs is
// counted against the byte bound (`Pending::bytes`).
#[allow(clippy::large_enum_variant)]
enum Slot {
    Pending(Pending),
    Kept(Arc<Entry>),
    /// Only while a pending entry is being redacted, under the lock: never seen by a reader.
    Settling,
}

pub struct Journal {
    capacity: usize,
    ring: Mutex<Ring>,
    gauge: Option<metrics::Gauge>,
}

#[derive(Default)]
struct Ring {
    entries: VecDeque<(Slot, usize)>,
    bytes: usize,
}

impl Ring {
    /// Redacts, oldest first, at most `limit` pending entries that arrived before `before` (any,
    /// with `None`); returns how many it redacted.
    fn settle(&mut self, before: Option<Instant>, limit: usize) -> usize {
        let mut done = 0;
        for (slot, bytes) in &mut self.entries {
            if done == limit {
                break;
            }
            let Slot::Pending(p) = slot else { continue };
            if before.is_some_and(|t| p.at >= t) {
                // Entries arrive in order: every later one is younger still.
                break;
            }
            let Slot::Pending(p) = std::mem::replace(slot, Slot::Settling) else {
                continue;
            };
            let entry = p.redact();
            self.bytes = self.bytes - *bytes + entry.bytes;
            *bytes = entry.bytes;
            *slot = Slot::Kept(Arc::new(entry));
            done += 1;
        }
        done
    }

    fn kept(&self) -> impl DoubleEndedIterator<Item = &Arc<Entry>> {
        (self.entries.iter())
            .filter_map(|(s, _)| if let Slot::Kept(e) = s { Some(e) } else { None })
    }
}

impl Pending {
    fn redact(self) -> Entry {
        let arrived = match self.request {
            Unopened::Captured(c) => c.open(),
            Unopened::Arrived(a) => a,
        };
        redacted_entry_at(
            arrived,
            self.status,
            self.decided,
            self.served.map(|s| *s),
            self.logged_ms,
        )
    }

    fn bytes(&self) -> usize {
        let request = match &self.request {
            Unopened::Captured(c) => c.bytes(),
            Unopened::Arrived(a) => a.url.len() + headers_bytes(&a.headers),
        };
        std::mem::size_of::<(Slot, usize)>()
            + request
            + self.served.as_ref().map_or(0, |s| {
                s.body.len()
                    + s.answer
                        .as_ref()
                        .map_or(0, |(h, b)| headers_bytes(h) + b.len())
            })
    }

    /// Past the body bound: its kept form is smaller than what it holds while waiting.
    fn large(&self) -> bool {
        self.served.as_ref().is_some_and(|s| {
            s.body.len() > MAX_BODY || s.answer.as_ref().is_some_and(|(_, b)| b.len() > MAX_BODY)
        })
    }
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

    /// The ring with every entry redacted: what each reader sees.
    fn settled(&self) -> std::sync::MutexGuard<'_, Ring> {
        let mut ring = self.lock();
        ring.settle(None, usize::MAX);
        ring
    }

    /// Records a request and what became of it (redacted later; see the module comment).
    pub fn record(
        &self,
        arrived: Arrived,
        status: u16,
        decided: Option<Decided>,
        served: Option<Served>,
    ) {
        self.record_unopened(Unopened::Arrived(arrived), status, decided, served);
    }

    /// [`Journal::record`] for a request as the request path captured it.
    pub fn record_captured(
        &self,
        captured: Captured,
        status: u16,
        decided: Option<Decided>,
        served: Option<Served>,
    ) {
        self.record_unopened(Unopened::Captured(captured), status, decided, served);
    }

    fn record_unopened(
        &self,
        request: Unopened,
        status: u16,
        decided: Option<Decided>,
        served: Option<Served>,
    ) {
        if !self.enabled() {
            return;
        }
        let pending = Pending {
            request,
            status,
            decided,
            served: served.map(Box::new),
            logged_ms: tokenauth_core::clock::Clock::now(&tokenauth_core::clock::SystemClock),
            at: Instant::now(),
        };
        let slot = if pending.large() {
            let entry = pending.redact();
            let bytes = entry.bytes;
            (Slot::Kept(Arc::new(entry)), bytes)
        } else {
            let bytes = pending.bytes();
            (Slot::Pending(pending), bytes)
        };
        // Dropped after the lock is released: freeing an entry is not the ring's work.
        let mut forgotten = None;
        let mut ring = self.lock();
        let before = ring.entries.len();
        ring.bytes += slot.1;
        ring.entries.push_back(slot);
        while ring.entries.len() > self.capacity || ring.bytes > MAX_BYTES {
            match ring.entries.pop_front() {
                Some(old) => {
                    ring.bytes -= old.1;
                    if forgotten.is_none() {
                        forgotten = Some(old);
                    }
                }
                None => break,
            }
        }
        let len = ring.entries.len();
        drop((ring, forgotten));
        // A full ring's length does not change: no gauge write (issue 21).
        let gauge = self.gauge.as_ref().filter(|_| len != before);
        gauge.inspect(|g| g.set(len as f64));
    }

    /// Redacts every entry recorded more than `age` ago, a chunk at a time (the server calls
    /// it every second with [`REDACT_WITHIN`] less a second). Returns how many it redacted.
    pub fn redact_older_than(&self, age: Duration) -> usize {
        let Some(before) = Instant::now().checked_sub(age) else {
            return 0;
        };
        let mut total = 0;
        loop {
            let n = self.lock().settle(Some(before), SWEEP_CHUNK);
            total += n;
            if n < SWEEP_CHUNK {
                return total;
            }
        }
    }

    /// Newest first, at most `limit`.
    pub fn newest(&self, limit: usize) -> (Vec<Arc<Entry>>, usize) {
        let ring = self.settled();
        let total = ring.entries.len();
        (ring.kept().rev().take(limit).cloned().collect(), total)
    }

    pub fn get(&self, id: &str) -> Option<Arc<Entry>> {
        self.settled().kept().find(|e| e.id == id).cloned()
    }

    /// Entries whose (redacted) request the pattern matches, oldest first.
    pub fn matching(&self, pattern: &RequestPattern) -> Vec<Arc<Entry>> {
        self.settled()
            .kept()
            .filter(|e| pattern.matches(&e.request))
            .cloned()
            .collect()
    }

    pub fn count(&self, pattern: &RequestPattern) -> usize {
        self.settled()
            .kept()
            .filter(|e| pattern.matches(&e.request))
            .count()
    }

    pub fn unmatched(&self) -> Vec<Arc<Entry>> {
        self.settled()
            .kept()
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

#[cfg(test)]
fn redacted_entry(
    arrived: Arrived,
    status: u16,
    decided: Option<Decided>,
    served: Option<Served>,
) -> Entry {
    let now = tokenauth_core::clock::Clock::now(&tokenauth_core::clock::SystemClock);
    redacted_entry_at(arrived, status, decided, served, now)
}

fn redacted_entry_at(
    arrived: Arrived,
    status: u16,
    decided: Option<Decided>,
    served: Option<Served>,
    logged_ms: i64,
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
    let mut request = MockRequest::from_owned(arrived.method, arrived.url);
    for (n, v) in arrived.headers {
        request.push_owned_header(n, v);
    }
    let headers_dropped = request.truncate_headers(MAX_HEADERS);
    request.scrub_view(|text| secrets.may_hold(text).then(|| secrets.scrub(text)));
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
                        .map(|(n, v)| (n, secrets.scrub_owned(v)))
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
    let authority = arrived.authority.map(|a| secrets.scrub_owned(a));
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
        logged_ms,
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

#[cfg(test)]
mod tests;
