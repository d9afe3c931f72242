//! Authentication of every `/rest/` request except the anonymous ones: HTTP in, core's decision,
//! HTTP out. The principal goes to the handlers as a request extension.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, Uri, header};
use axum::response::{IntoResponse, Response};
use tokenauth_core::audit::AuditEvent;
use tokenauth_core::auth::{AuthOutcome, AuthRequest, DenialKind, Effect, Principal};
use tokenauth_core::credentials::{CredentialError, Credentials, parse_authorization};
use tokenauth_core::csrf::BrowserHeaders;
use tokenauth_core::scope::is_read_method;
use tokenauth_core::user::user_key;

use crate::authentication::cache::{CachingVerifier, Mode};
use crate::authentication::sessions::cookie_value;
use crate::error::{ApiError, denial_response};
use crate::mocks::journal::Decided;
use crate::operations::metrics::Outcome;
use crate::state::Shared;

/// All `X-Forwarded-For` headers joined with `,`, as the bytes that arrived: a value that is not
/// text must reach the decision as a malformed chain, not vanish (which would make a trusted
/// proxy itself the client).
pub fn forwarded_for(headers: &HeaderMap) -> Option<Vec<u8>> {
    let mut joined: Option<Vec<u8>> = None;
    for v in headers.get_all(&X_FORWARDED_FOR) {
        let out = joined.get_or_insert_with(Vec::new);
        if !out.is_empty() {
            out.push(b',');
        }
        out.extend_from_slice(v.as_bytes());
    }
    joined
}

/// The headers the decision reads besides the credentials, owned so they can move to the
/// hashing pass (cloning a `HeaderValue` shares its bytes). Those of the forgery rule are
/// boxed and taken for writes only: a read needs none of them, and the request's future stays
/// small.
pub struct RequestHeaders {
    forwarded_for: Option<Vec<u8>>,
    browser: Option<Box<BrowserValues>>,
}

struct BrowserValues {
    origin: Option<HeaderValue>,
    host: Option<HeaderValue>,
    forwarded_host: Option<HeaderValue>,
    content_type: Option<HeaderValue>,
    atlassian_token: Option<HeaderValue>,
    sec_fetch_site: Option<HeaderValue>,
}

// Names as constants: a lookup by `&str` would parse the name on every request.
static X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
static X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
static X_ATLASSIAN_TOKEN: HeaderName = HeaderName::from_static("x-atlassian-token");
static SEC_FETCH_SITE: HeaderName = HeaderName::from_static("sec-fetch-site");

impl RequestHeaders {
    pub fn new(method: &Method, headers: &HeaderMap, uri: &Uri) -> Self {
        let get = |name: &HeaderName| headers.get(name).cloned();
        // The forgery rule reads nothing of a read (GET, HEAD, OPTIONS).
        let browser = (!is_read_method(method.as_str())).then(|| {
            Box::new(BrowserValues {
                origin: get(&header::ORIGIN),
                // HTTP/2 carries the host in the request's authority.
                host: get(&header::HOST).or_else(|| {
                    uri.authority()
                        .and_then(|a| HeaderValue::from_str(a.as_str()).ok())
                }),
                forwarded_host: get(&X_FORWARDED_HOST),
                content_type: get(&header::CONTENT_TYPE),
                atlassian_token: get(&X_ATLASSIAN_TOKEN),
                sec_fetch_site: get(&SEC_FETCH_SITE),
            })
        });
        Self {
            forwarded_for: forwarded_for(headers),
            browser,
        }
    }

    pub fn browser(&self) -> BrowserHeaders<'_> {
        fn b(v: &Option<HeaderValue>) -> Option<&[u8]> {
            v.as_ref().map(HeaderValue::as_bytes)
        }
        match &self.browser {
            None => BrowserHeaders::default(),
            Some(v) => BrowserHeaders {
                origin: b(&v.origin),
                host: b(&v.host),
                forwarded_host: b(&v.forwarded_host),
                content_type: b(&v.content_type),
                atlassian_token: b(&v.atlassian_token),
                sec_fetch_site: b(&v.sec_fetch_site),
            },
        }
    }

    pub fn forwarded_for(&self) -> Option<&[u8]> {
        self.forwarded_for.as_deref()
    }
}

/// How long a refusal waits once its (token or user, client) has spent its failure budget. The
/// budget already stops the hashing; without the wait a flood of wrong secrets still took as much
/// of the server as its connections could ask for, refused at full speed: half of the CPU went
/// to 32 flooding connections beside 32 honest ones (BENCHMARKS.md, scenario 3). With it, each
/// flooding connection is answered ten times a second. A client within its budget, and a secret
/// the cache knows to be right, are answered at once.
pub const OVER_BUDGET_DELAY: std::time::Duration = std::time::Duration::from_millis(100);

/// What the cache alone makes of a request's credentials: most requests need no more.
pub enum Quick {
    /// Decided: a secret the cache knows, or a refusal that needed no hash.
    Decided(AuthOutcome),
    /// A refusal for a spent failure budget, to be answered after [`OVER_BUDGET_DELAY`].
    OverBudget(AuthOutcome),
    /// A secret the cache does not know: the hashing pass decides (boxed: rare, and large).
    Hash(Box<ToHash>),
}

/// What the hashing pass needs of the request, owned so it can move to the blocking pool.
pub struct ToHash {
    headers: RequestHeaders,
    credentials: Result<Credentials, CredentialError>,
    now: tokenauth_core::clock::Millis,
}

/// Core's decision from the cache alone, inline: nothing waits and nothing is written.
pub fn decide_now(
    state: &Shared,
    peer: SocketAddr,
    headers: RequestHeaders,
    credentials: Result<Credentials, CredentialError>,
    method: &str,
    path: &str,
) -> Result<Quick, ApiError> {
    let now = state.auth.now();
    let verifier = CachingVerifier::new(&state.cache, Mode::CacheOnly);
    let req = AuthRequest {
        peer: peer.ip(),
        forwarded_for: headers.forwarded_for(),
        browser: headers.browser(),
        credentials,
        method,
        path,
        now,
    };
    let outcome = state.auth.authenticate(&verifier, &req)?;
    if outcome.result.is_ok() || !verifier.missed() {
        if outcome.result.is_err() && verifier.over_budget() {
            return Ok(Quick::OverBudget(outcome));
        }
        return Ok(Quick::Decided(outcome));
    }
    // Handed on to the hashing pass, not copied: most requests never get here.
    let AuthRequest { credentials, .. } = req;
    Ok(Quick::Hash(Box::new(ToHash {
        headers,
        credentials,
        now,
    })))
}

/// The rest of a [`Quick`] decision: the delay of a spent budget, or the hashing pass on the
/// blocking pool (behind the hashing semaphore, see `hashing`).
async fn decide_later(
    state: &Shared,
    peer: SocketAddr,
    quick: Quick,
    method: &str,
    path: &str,
) -> Result<AuthOutcome, ApiError> {
    let ToHash {
        headers,
        credentials,
        now,
    } = match quick {
        Quick::Decided(outcome) => return Ok(outcome),
        Quick::OverBudget(outcome) => {
            // Boxed: the common request's future does not carry the timer.
            Box::pin(tokio::time::sleep(OVER_BUDGET_DELAY)).await;
            return Ok(outcome);
        }
        Quick::Hash(to_hash) => *to_hash,
    };
    // Owned only here, for the blocking pool: most requests never get here. Boxed for the
    // same reason: the hashing pass's future is large, and every request's future would
    // carry (and move) its room otherwise.
    let (method, path) = (method.to_owned(), path.to_owned());
    Box::pin(state.hash(move |st| {
        let verifier = CachingVerifier::new(&st.cache, Mode::Full);
        let req = AuthRequest {
            peer: peer.ip(),
            forwarded_for: headers.forwarded_for(),
            browser: headers.browser(),
            credentials,
            method: &method,
            path: &path,
            now,
        };
        st.auth.authenticate(&verifier, &req)
    }))
    .await?
    .map_err(ApiError::from)
}

/// Runs core's decision: from the cache inline, and once more on the blocking pool only when a
/// secret has to be hashed. A refusal for a spent failure budget is answered after
/// [`OVER_BUDGET_DELAY`].
pub async fn decide(
    state: &Shared,
    peer: SocketAddr,
    headers: RequestHeaders,
    credentials: Result<Credentials, CredentialError>,
    method: &str,
    path: &str,
) -> Result<AuthOutcome, ApiError> {
    let quick = decide_now(state, peer, headers, credentials, method, path)?;
    decide_later(state, peer, quick, method, path).await
}

/// A write that must be made before the decision is answered: the failed-login counter (the
/// next attempt must see it). Last-used times go through the writer.
fn is_counter(effect: &Effect) -> bool {
    !matches!(effect, Effect::TokenUsed { .. })
}

fn has_counters(outcome: &AuthOutcome) -> bool {
    outcome.effects.iter().any(is_counter)
}

/// Applies a decision's writes: the failed-login counter at once (the next attempt must see
/// it), last-used times and audit events through the background writer.
pub async fn apply(state: &Shared, outcome: &mut AuthOutcome) -> Result<(), ApiError> {
    // The rare waits boxed (a failed login's counter, audited events), so that the common
    // request's future stays small: a future is moved whole at each await that creates it.
    if has_counters(outcome) {
        let counters: Vec<Effect> = outcome
            .effects
            .iter()
            .filter(|e| is_counter(e))
            .cloned()
            .collect();
        let st = Arc::clone(state);
        Box::pin(tokio::task::spawn_blocking(move || {
            st.auth.apply_effects(&counters)
        }))
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))??;
    }
    if let Some(events) = apply_now(state, outcome) {
        Box::pin(state.writer.events(events)).await;
    }
    Ok(())
}

/// The writes of a decision that need no wait, once its counters are written (or it has none):
/// last-used times, and its audit events when the writer's queue takes them at once. The
/// events it could not queue without waiting are handed back, to be queued by
/// `Writer::events`.
fn apply_now(state: &Shared, outcome: &mut AuthOutcome) -> Option<Vec<AuditEvent>> {
    for effect in outcome.effects.drain(..) {
        if let Effect::TokenUsed { id, at, ip } = effect {
            state.writer.token_used(id, at, ip);
        }
    }
    state.rotated_reports.filter(&mut outcome.events);
    if outcome.events.is_empty() {
        return None;
    }
    state
        .writer
        .try_events(std::mem::take(&mut outcome.events))
        .err()
}

/// Whether a request carries credentials of its own (an `Authorization` header or a session
/// cookie), so a path the token rules leave open can still learn who is asking.
pub fn presents_credentials(headers: &HeaderMap) -> bool {
    headers.contains_key(header::AUTHORIZATION)
        || headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .any(|c| cookie_value(c).is_some())
}

/// The token rules' answer for one caller, as far as it can be given without waiting.
pub enum Caller {
    /// The principal and what the journal notes of it, or the refusal to send.
    Decided(Result<(Principal, Option<Decided>), Response>),
    /// A secret to hash, a refusal to delay, or writes to wait for: [`Pending::finish`].
    Pending(Pending),
}

/// A decision that has to wait for something; boxed, so that [`Caller`] stays small.
pub struct Pending(Box<Waiting>);

struct Waiting {
    step: Step,
    peer: SocketAddr,
    method: Method,
    path: String,
    session_id: Option<String>,
}

enum Step {
    /// The decision itself waits (see [`Quick`]); its writes follow.
    Decide(Quick),
    /// Decided; its failed-login counter is to be written first.
    Apply(AuthOutcome),
    /// Decided and written but for its audit events, which wait for room in the queue.
    Queue(AuthOutcome, Vec<AuditEvent>),
}

impl Pending {
    fn new(
        step: Step,
        peer: SocketAddr,
        method: &Method,
        uri: &Uri,
        session: Option<String>,
    ) -> Self {
        Pending(Box::new(Waiting {
            step,
            peer,
            method: method.clone(),
            path: uri.path().to_owned(),
            session_id: session,
        }))
    }

    /// The rest of the decision, and the same answer [`authenticate_caller`] gives.
    pub async fn finish(self, state: &Shared) -> Result<(Principal, Option<Decided>), Response> {
        let Waiting {
            step,
            peer,
            method,
            path,
            session_id,
        } = *self.0;
        let mut outcome = match step {
            Step::Decide(quick) => decide_later(state, peer, quick, method.as_str(), &path)
                .await
                .map_err(|e| refused_for(state, e))?,
            Step::Apply(outcome) => outcome,
            Step::Queue(outcome, events) => {
                Box::pin(state.writer.events(events)).await;
                return conclude(state, outcome, session_id);
            }
        };
        apply(state, &mut outcome)
            .await
            .map_err(IntoResponse::into_response)?;
        conclude(state, outcome, session_id)
    }
}

/// A decision that could not be made: counted, and answered with its error.
fn refused_for(state: &Shared, e: ApiError) -> Response {
    state.metrics.request(error_outcome(&e));
    e.into_response()
}

/// The credentials a request presents: its `Authorization` header, or else the session its
/// cookie names (with the session's id, to close it if what opened it is gone).
fn credentials_of(
    state: &Shared,
    headers: &HeaderMap,
) -> (Result<Credentials, CredentialError>, Option<String>) {
    if let Some(h) = headers.get(header::AUTHORIZATION) {
        return (parse_authorization(Some(h.as_bytes())), None);
    }
    let mut session_id = None;
    let session = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(cookie_value)
        .and_then(|id| {
            let p = state.sessions.get(id)?;
            session_id = Some(id.to_owned());
            Some(p)
        });
    (
        Ok(session.map_or(Credentials::None, Credentials::Session)),
        session_id,
    )
}

/// The token rules for one caller (SPEC §3), from the request's method, URI and headers, as far
/// as they go without waiting (issue 21): a cached secret, a refusal that needed no hash and a
/// decision whose writes the writer takes at once are decided here, in the front service's
/// call, and need no future of their own.
pub fn authenticate_now(
    state: &Shared,
    peer: SocketAddr,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
) -> Caller {
    let (credentials, session_id) = credentials_of(state, headers);
    let request_headers = RequestHeaders::new(method, headers, uri);
    let quick = decide_now(
        state,
        peer,
        request_headers,
        credentials,
        method.as_str(),
        uri.path(),
    );
    let step = match quick {
        Err(e) => return Caller::Decided(Err(refused_for(state, e))),
        Ok(Quick::Decided(outcome)) if has_counters(&outcome) => Step::Apply(outcome),
        Ok(Quick::Decided(mut outcome)) => match apply_now(state, &mut outcome) {
            None => return Caller::Decided(conclude(state, outcome, session_id)),
            Some(events) => Step::Queue(outcome, events),
        },
        Ok(waits) => Step::Decide(waits),
    };
    Caller::Pending(Pending::new(step, peer, method, uri, session_id))
}

/// The token rules for one caller (SPEC §3): the principal and what the journal notes of it, or
/// the refusal to send (denied, rate limited, or a decision that could not be made). The front
/// service runs them for every guarded path; the mappings' handler for a guarded mapping
/// answering a path outside `/rest/`.
pub async fn authenticate_caller(
    state: &Shared,
    peer: SocketAddr,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
) -> Result<(Principal, Option<Decided>), Response> {
    match authenticate_now(state, peer, method, uri, headers) {
        Caller::Decided(answer) => answer,
        Caller::Pending(pending) => Box::pin(pending.finish(state)).await,
    }
}

/// A decision whose writes are made: its principal, or its refusal (a session that what opened
/// it no longer backs is closed), and the per-user rate limit.
// The refusal is the answer itself, moved once into the response: boxing it would allocate for
// every refusal to save a copy.
#[allow(clippy::result_large_err)]
fn conclude(
    state: &Shared,
    outcome: AuthOutcome,
    session_id: Option<String>,
) -> Result<(Principal, Option<Decided>), Response> {
    let principal: Principal = match outcome.result {
        Ok(p) => p,
        Err(denial) => {
            state.metrics.request(Outcome::Denied(denial.kind));
            // A session that what opened it no longer backs is over, not just refused once.
            if denial.kind == DenialKind::Failed
                && let Some(id) = session_id
            {
                state.sessions.close(&id);
            }
            let mut response = denial_response(&denial);
            if state.journal.enabled() {
                response.extensions_mut().insert(Decided::Refused {
                    status: denial.status,
                    kind: crate::operations::metrics::denial_label(denial.kind),
                    reason: denial.message,
                });
            }
            return Err(response);
        }
    };
    if let Err(e) = rate_limited(state, &principal) {
        state.metrics.request(Outcome::RateLimited);
        return Err(e.into_response());
    }
    state.metrics.request(Outcome::Allowed);
    let decided = state.journal.enabled().then(|| Decided::Allowed {
        user: principal.user.name.clone(),
        how: principal.auth.as_str(),
        token_id: principal.token.as_ref().map(|t| t.id.as_str().to_owned()),
    });
    Ok((principal, decided))
}

/// How a decision that could not be made is counted.
pub fn error_outcome(e: &ApiError) -> Outcome {
    match e {
        ApiError::Unavailable(_) => Outcome::Busy,
        _ => Outcome::Error,
    }
}

/// The optional per-user rate limit (settings `rateLimitPerMinute`): 429 with `Retry-After`.
pub fn rate_limited(state: &Shared, principal: &Principal) -> Result<(), ApiError> {
    if let Some(limit) = state.auth.policy().settings.rate_limit_per_minute
        && let Err(retry_after) =
            state
                .rate_limit
                .check(&user_key(&principal.user.name), limit, state.auth.now())
    {
        return Err(ApiError::TooManyRequests { retry_after });
    }
    Ok(())
}
