//! Authentication of every `/rest/` request except the anonymous ones: HTTP in, core's decision,
//! HTTP out. The principal goes to the handlers as a request extension.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, Uri, header};
use axum::response::{IntoResponse, Response};
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

/// Runs core's decision: from the cache inline, and once more on the blocking pool (behind the
/// hashing semaphore, see `hashing`) only when a secret has to be hashed. A refusal for a spent
/// failure budget is answered after [`OVER_BUDGET_DELAY`].
pub async fn decide(
    state: &Shared,
    peer: SocketAddr,
    headers: RequestHeaders,
    credentials: Result<Credentials, CredentialError>,
    method: &str,
    path: &str,
) -> Result<AuthOutcome, ApiError> {
    let now = state.auth.now();
    let credentials = {
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
        // Decided from the cache alone (a hit, or a refusal that needed no hash).
        if outcome.result.is_ok() || !verifier.missed() {
            if outcome.result.is_err() && verifier.over_budget() {
                // Boxed: the common request's future does not carry the timer.
                Box::pin(tokio::time::sleep(OVER_BUDGET_DELAY)).await;
            }
            return Ok(outcome);
        }
        // Handed on to the hashing pass, not copied: most requests never get here.
        req.credentials
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

/// Applies a decision's writes: the failed-login counter at once (the next attempt must see
/// it), last-used times and audit events through the background writer.
pub async fn apply(state: &Shared, outcome: &mut AuthOutcome) -> Result<(), ApiError> {
    let counters: Vec<Effect> = outcome
        .effects
        .iter()
        .filter(|e| !matches!(e, Effect::TokenUsed { .. }))
        .cloned()
        .collect();
    // The rare waits boxed (a failed login's counter, audited events), so that the common
    // request's future stays small: a future is moved whole at each await that creates it.
    if !counters.is_empty() {
        let st = Arc::clone(state);
        Box::pin(tokio::task::spawn_blocking(move || {
            st.auth.apply_effects(&counters)
        }))
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))??;
    }
    for effect in outcome.effects.drain(..) {
        if let Effect::TokenUsed { id, at, ip } = effect {
            state.writer.token_used(id, at, ip);
        }
    }
    state.rotated_reports.filter(&mut outcome.events);
    if !outcome.events.is_empty() {
        Box::pin(state.writer.events(std::mem::take(&mut outcome.events))).await;
    }
    Ok(())
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

/// The token rules for one caller (SPEC §3), from the request's method, URI and headers: the
/// principal and what the journal notes of it, or the refusal to send (denied, rate limited,
/// or a decision that could not be made). The middleware runs it for every guarded path; the
/// mappings' handler runs it for a guarded mapping answering a path outside `/rest/`.
pub async fn authenticate_caller(
    state: &Shared,
    peer: SocketAddr,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
) -> Result<(Principal, Option<Decided>), Response> {
    let mut session_id = None;
    let credentials = match headers.get(header::AUTHORIZATION) {
        Some(h) => parse_authorization(Some(h.as_bytes())),
        None => {
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
            Ok(session.map_or(Credentials::None, Credentials::Session))
        }
    };
    let request_headers = RequestHeaders::new(method, headers, uri);
    let outcome = decide(
        state,
        peer,
        request_headers,
        credentials,
        method.as_str(),
        uri.path(),
    )
    .await;
    let mut outcome = match outcome {
        Ok(o) => o,
        Err(e) => {
            state.metrics.request(error_outcome(&e));
            return Err(e.into_response());
        }
    };
    if let Err(e) = apply(state, &mut outcome).await {
        return Err(e.into_response());
    }
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
