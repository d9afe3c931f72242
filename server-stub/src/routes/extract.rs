//! What the route files share about the caller: who is asking (`Authed`, `Admin`), what
//! follows a revocation, and this server's base URL as the caller reached it.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::header;
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, Uri};
use tokenauth_core::auth::Principal;
use tokenauth_core::service::{Actor, Source};
use tokenauth_core::user::User;

use super::middleware::forwarded_for;
use crate::error::ApiError;
use crate::state::Shared;

/// The authenticated caller of a handler.
pub struct Authed {
    pub principal: Principal,
    /// Kept as the request had them (a clone shares the bytes) and written out only for
    /// [`Authed::actor`]: most handlers never ask (issue 21).
    method: Method,
    uri: Uri,
    source: Option<Source>,
}

impl Authed {
    /// The caller as core's [`Actor`], for operations that audit who did what from where, cap
    /// what a token may mint, and keep an admin from locking themselves out.
    pub fn actor(&self) -> Actor {
        Actor {
            user: User::clone(&self.principal.user),
            system: false,
            auth: Some(self.principal.auth),
            token: self.principal.token.clone(),
            client: Some(self.principal.client),
            source: self.source.clone(),
            method: Some(self.method.to_string()),
            path: Some(self.uri.path().to_owned()),
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Authed {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        // Taken, not cloned: each request has one handler.
        let principal = parts
            .extensions
            .remove::<Principal>()
            .ok_or_else(|| ApiError::Internal("route reached without authentication".into()))?;
        let source = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(peer)| Source {
                peer: peer.ip(),
                forwarded_for: forwarded_for(&parts.headers),
            });
        Ok(Self {
            principal,
            method: parts.method.clone(),
            uri: parts.uri.clone(),
            source,
        })
    }
}

/// An authenticated admin; others get 403.
pub struct Admin(pub Authed);

impl FromRequestParts<Shared> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Shared,
    ) -> Result<Self, Self::Rejection> {
        let authed = Authed::from_request_parts(parts, state).await?;
        if !state.auth.is_admin(&authed.principal.user) {
            return Err(ApiError::Forbidden(
                "Administrator rights are required for this resource".into(),
            ));
        }
        Ok(Self(authed))
    }
}

/// After tokens were revoked: their sessions end and the cache forgets them.
pub fn forget_tokens<'a>(state: &Shared, ids: impl IntoIterator<Item = &'a str> + Clone) {
    state.sessions.end_token(ids.clone());
    for id in ids {
        state.cache.forget_subject(id);
    }
}

/// `scheme://host` as the caller reached this server (Jira's `baseUrl`, the audit API's links).
/// The base URL a request reached the server by ([`base_url`]), read from the request's headers
/// in place: a handler that needs nothing else of them does not copy them all (issue 21).
pub struct BaseUrl(pub String);

impl FromRequestParts<Shared> for BaseUrl {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Shared,
    ) -> Result<Self, Self::Rejection> {
        Ok(BaseUrl(base_url(state, &parts.headers)))
    }
}

pub fn base_url(state: &Shared, headers: &HeaderMap) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| h.len() <= 255 && h.bytes().all(|b| b.is_ascii_graphic()))
        .unwrap_or("127.0.0.1:2990");
    // Pushed, not `format!`ted: `serverInfo` builds this on every call (issue 21).
    let scheme = state.scheme();
    let mut url = String::with_capacity(scheme.len() + 3 + host.len());
    url.push_str(scheme);
    url.push_str("://");
    url.push_str(host);
    url
}
