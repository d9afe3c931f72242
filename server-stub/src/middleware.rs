//! Authentication of every `/rest/` request except the anonymous ones: HTTP in, core's decision,
//! HTTP out. The principal goes to the handlers as a request extension.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tokenauth_core::auth::{AuthOutcome, AuthRequest, Effect, Principal};
use tokenauth_core::credentials::{CredentialError, Credentials, parse_authorization};
use tokenauth_core::user::user_key;

use crate::cache::{CachingVerifier, Mode};
use crate::config::BODY_LIMIT;
use crate::error::{ApiError, denial_response};
use crate::sessions::cookie_value;
use crate::state::Shared;

/// How long a request waits for a hashing slot before it gets 503.
const HASH_WAIT: Duration = Duration::from_secs(5);

/// Paths that need no authentication.
pub fn is_anonymous(method: &Method, path: &str) -> bool {
    let path = path.strip_suffix('/').unwrap_or(path);
    matches!(
        (method.as_str(), path),
        (
            "GET" | "HEAD",
            "/rest/api/2/serverInfo" | "/rest/api/latest/serverInfo"
        ) | ("GET" | "HEAD", "/rest/tokenauth/1/openapi.json")
            | ("POST", "/rest/auth/1/session")
    ) || !path.starts_with("/rest/")
}

pub fn forwarded_for(headers: &HeaderMap) -> Option<String> {
    let parts: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    (!parts.is_empty()).then(|| parts.join(","))
}

/// Runs core's decision: from the cache inline, and once more on the blocking pool (behind the
/// hashing semaphore) only when a secret has to be hashed.
pub async fn decide(
    state: &Shared,
    peer: SocketAddr,
    forwarded: Option<String>,
    credentials: Result<Credentials, CredentialError>,
    method: String,
    path: String,
) -> Result<AuthOutcome, ApiError> {
    let now = state.auth.now();
    let credentials = {
        let verifier = CachingVerifier::new(&state.cache, Mode::CacheOnly, peer.ip());
        let req = AuthRequest {
            peer: peer.ip(),
            forwarded_for: forwarded.as_deref(),
            credentials,
            method: &method,
            path: &path,
            now,
        };
        let outcome = state.auth.authenticate(&verifier, &req)?;
        // Decided from the cache alone (a hit, or a refusal that needed no hash).
        if outcome.result.is_ok() || !verifier.missed() {
            return Ok(outcome);
        }
        // Handed on to the hashing pass, not copied: most requests never get here.
        req.credentials
    };
    let permit = tokio::time::timeout(HASH_WAIT, state.hashing.acquire())
        .await
        .map_err(|_| ApiError::Unavailable("the server is busy verifying secrets; retry".into()))?
        .map_err(|_| ApiError::Unavailable("shutting down".into()))?;
    let st = Arc::clone(state);
    let outcome = tokio::task::spawn_blocking(move || {
        let verifier = CachingVerifier::new(&st.cache, Mode::Full, peer.ip());
        let req = AuthRequest {
            peer: peer.ip(),
            forwarded_for: forwarded.as_deref(),
            credentials,
            method: &method,
            path: &path,
            now,
        };
        st.auth.authenticate(&verifier, &req)
    })
    .await
    .map_err(|e| ApiError::Internal(e.to_string()))??;
    drop(permit);
    Ok(outcome)
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
    if !counters.is_empty() {
        let st = Arc::clone(state);
        tokio::task::spawn_blocking(move || st.auth.apply_effects(&counters))
            .await
            .map_err(|e| ApiError::Internal(e.to_string()))??;
    }
    for effect in outcome.effects.drain(..) {
        if let Effect::TokenUsed { id, at, ip } = effect {
            state.writer.token_used(id, at, ip);
        }
    }
    state
        .writer
        .events(std::mem::take(&mut outcome.events))
        .await;
    Ok(())
}

pub async fn authenticate(
    State(state): State<Shared>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    mut req: Request,
    next: Next,
) -> Response {
    let declared_len = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared_len.is_some_and(|n| n > BODY_LIMIT) {
        return ApiError::PayloadTooLarge.into_response();
    }
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    if is_anonymous(&method, &path) {
        return next.run(req).await;
    }
    let headers = req.headers();
    let credentials = match headers.get(header::AUTHORIZATION) {
        Some(h) => parse_authorization(Some(h.as_bytes())),
        None => {
            let session = headers
                .get_all(header::COOKIE)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .find_map(cookie_value)
                .and_then(|id| state.sessions.get(id));
            Ok(session.map_or(Credentials::None, Credentials::Session))
        }
    };
    let forwarded = forwarded_for(headers);
    let outcome = decide(
        &state,
        peer,
        forwarded,
        credentials,
        method.to_string(),
        path,
    )
    .await;
    let mut outcome = match outcome {
        Ok(o) => o,
        Err(e) => return e.into_response(),
    };
    if let Err(e) = apply(&state, &mut outcome).await {
        return e.into_response();
    }
    let principal: Principal = match outcome.result {
        Ok(p) => p,
        Err(denial) => return denial_response(&denial),
    };
    if let Some(limit) = state.auth.policy().settings.rate_limit_per_minute
        && let Err(retry_after) =
            state
                .rate_limit
                .check(&user_key(&principal.user.name), limit, state.auth.now())
    {
        return ApiError::TooManyRequests { retry_after }.into_response();
    }
    req.extensions_mut().insert(principal);
    next.run(req).await
}
