//! The HTTP surface of SPEC section 5.

pub mod admin;
pub mod audit;
pub mod compat;
pub mod jira;
pub mod notifications;
pub mod ops;
pub mod pat;
pub mod session;
pub mod tokens;
pub mod wiremock_admin;

use std::net::SocketAddr;

use axum::Router;
use axum::extract::{ConnectInfo, DefaultBodyLimit, FromRequestParts};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::routing::{delete, get, patch, post, put};
use serde::Deserialize;
use serde_json::{Value, json};
use tokenauth_core::auth::Principal;
use tokenauth_core::clock::parse_rfc3339;
use tokenauth_core::scope::Scope;
use tokenauth_core::service::{Actor, NewTokenRequest, ScopeChoice, Source};
use tokenauth_core::token::Expiry;
use tokenauth_core::user::User;
use tower_http::timeout::TimeoutLayer;

use crate::config::BODY_LIMIT;
use crate::error::ApiError;
use crate::middleware::forwarded_for;
use crate::state::Shared;

pub fn router(state: Shared) -> Router {
    let timeout = state.config.request_timeout;
    Router::new()
        .route("/status", get(ops::status))
        .route("/metrics", get(ops::metrics))
        .route("/rest/api/2/serverInfo", get(jira::server_info))
        .route("/rest/api/latest/serverInfo", get(jira::server_info))
        .route("/rest/api/2/myself", get(jira::myself))
        .route("/rest/api/latest/myself", get(jira::myself))
        .route("/rest/api/user/current", get(jira::current_user))
        .route(
            "/rest/auth/1/session",
            post(session::login)
                .get(session::current)
                .delete(session::logout),
        )
        .route(
            "/rest/tokenauth/1/openapi.json",
            get(crate::openapi::document),
        )
        .route(
            "/rest/tokenauth/1/tokens",
            get(tokens::list_own).post(tokens::create_own),
        )
        .route("/rest/tokenauth/1/tokens/policy", get(tokens::policy))
        .route(
            "/rest/tokenauth/1/tokens/{id}",
            patch(tokens::rename_own).delete(tokens::revoke_own),
        )
        .route("/rest/tokenauth/1/tokens/{id}/rotate", post(tokens::rotate))
        .route(
            "/rest/pat/latest/tokens",
            get(pat::list_own).post(pat::create),
        )
        .route(
            "/rest/pat/latest/tokens/{id}",
            get(pat::get_one).delete(pat::revoke),
        )
        .route("/rest/pat/latest/admin/tokens", delete(pat::admin_revoke))
        .route("/rest/tokenauth/1/admin/tokens", get(admin::list_tokens))
        .route(
            "/rest/tokenauth/1/admin/tokens/{id}",
            delete(admin::revoke_token),
        )
        .route(
            "/rest/tokenauth/1/admin/users",
            get(admin::list_users).post(admin::create_user),
        )
        .route(
            "/rest/tokenauth/1/admin/users/{user}",
            put(admin::update_user).delete(admin::delete_user),
        )
        .route(
            "/rest/tokenauth/1/admin/users/{user}/tokens",
            post(admin::create_for_user).delete(admin::revoke_all),
        )
        .route(
            "/rest/tokenauth/1/admin/users/{user}/reset-failed-logins",
            post(admin::reset_failed_logins),
        )
        .route(
            "/rest/tokenauth/1/admin/settings",
            get(admin::get_settings).put(admin::put_settings),
        )
        .route(
            "/rest/tokenauth/1/admin/notifications",
            get(notifications::get),
        )
        .route(
            "/rest/tokenauth/1/admin/notifications/secret",
            put(notifications::put_secret),
        )
        .route(
            "/rest/tokenauth/1/admin/notifications/test",
            post(notifications::test),
        )
        .route("/rest/tokenauth/1/admin/audit/export", get(audit::export))
        .route(
            "/rest/tokenauth/1/admin/audit/histogram",
            get(audit::histogram),
        )
        .route("/rest/auditing/1.0/events", get(audit::events))
        .route(
            "/rest/de.resolution.apitokenauth/latest/user/token",
            get(compat::list).post(compat::create),
        )
        .route(
            "/rest/de.resolution.apitokenauth/latest/user/token/deleteAllFor/{user_key}",
            delete(compat::delete_all_for),
        )
        .route(
            "/rest/de.resolution.apitokenauth/latest/user/token/{id}",
            patch(compat::rename).delete(compat::revoke),
        )
        .merge(wiremock_admin_routes())
        .fallback(jira::echo_or_not_found)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::middleware::authenticate,
        ))
        // Outside the token rules: the journal records refusals too, with their reason.
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::middleware::journal,
        ))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            timeout,
        ))
        .with_state(state)
}

/// WireMock's admin API (`wiremock_admin`).
fn wiremock_admin_routes() -> Router<Shared> {
    use wiremock_admin as w;
    Router::new()
        .route(
            "/__admin/mappings",
            get(w::list_mappings)
                .post(w::create_mapping)
                .delete(w::delete_mappings),
        )
        .route("/__admin/mappings/reset", post(w::reset_mappings))
        .route("/__admin/mappings/import", post(w::import_mappings))
        .route(
            "/__admin/mappings/{id}",
            get(w::get_mapping)
                .put(w::put_mapping)
                .delete(w::delete_mapping),
        )
        .route(
            "/__admin/requests",
            get(w::list_requests).delete(w::clear_requests),
        )
        .route("/__admin/requests/reset", post(w::clear_requests))
        .route("/__admin/requests/count", post(w::count_requests))
        .route("/__admin/requests/find", post(w::find_requests))
        .route("/__admin/requests/unmatched", get(w::unmatched_requests))
        .route(
            "/__admin/requests/unmatched/near-misses",
            get(w::unmatched_near_misses),
        )
        .route("/__admin/requests/{id}", get(w::get_request))
        .route("/__admin/scenarios", get(w::list_scenarios))
        .route("/__admin/scenarios/reset", post(w::reset_scenarios))
        .route("/__admin/reset", post(w::reset_all))
}

/// The authenticated caller of a handler.
pub struct Authed {
    pub principal: Principal,
    method: String,
    path: String,
    source: Option<Source>,
}

impl Authed {
    /// The caller as core's [`Actor`], for operations that audit who did what from where, cap
    /// what a token may mint, and keep an admin from locking themselves out.
    pub fn actor(&self) -> Actor {
        Actor {
            user: self.principal.user.clone(),
            system: false,
            auth: Some(self.principal.auth),
            token: self.principal.token.clone(),
            client: Some(self.principal.client),
            source: self.source.clone(),
            method: Some(self.method.clone()),
            path: Some(self.path.clone()),
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
            method: parts.method.to_string(),
            path: parts.uri.path().to_owned(),
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

/// A user as JSON; never the password.
pub fn user_json(u: &User) -> Value {
    json!({
        "name": u.name,
        "key": u.key(),
        "displayName": u.display_name,
        "emailAddress": u.email,
        "active": u.active,
        "groups": u.groups,
        "failedLoginCount": u.failed_logins,
    })
}

/// The body of `POST /tokens` and `POST /admin/users/{user}/tokens`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateTokenBody {
    pub description: String,
    #[serde(default)]
    pub scope: Option<String>,
    #[serde(default)]
    pub validity_days: Option<u32>,
    #[serde(default)]
    pub expires_at: Option<String>,
    #[serde(default)]
    pub never_expires: bool,
}

impl CreateTokenBody {
    pub fn into_request(self) -> Result<NewTokenRequest, ApiError> {
        let scope = match self.scope.as_deref() {
            None => ScopeChoice::LeastPrivilege,
            Some(s) => {
                ScopeChoice::Exactly(Scope::parse(s).ok_or_else(|| ApiError::BadRequest {
                    message: format!(
                        "scope: must be READ_ONLY or READ_WRITE, not '{}'",
                        tokenauth_core::bounded::name(s)
                    ),
                    field: Some("scope".into()),
                })?)
            }
        };
        let expiry = expiry_of(self.validity_days, self.expires_at, self.never_expires)?;
        Ok(NewTokenRequest {
            description: self.description,
            scope,
            expiry,
        })
    }
}

/// The expiry asked for with at most one of `validityDays`, `expiresAt` and `neverExpires`.
pub fn expiry_of(
    validity_days: Option<u32>,
    expires_at: Option<String>,
    never_expires: bool,
) -> Result<Expiry, ApiError> {
    let given = [validity_days.is_some(), expires_at.is_some(), never_expires];
    if given.iter().filter(|g| **g).count() > 1 {
        return Err(ApiError::bad_request(
            "give at most one of validityDays, expiresAt and neverExpires",
        ));
    }
    Ok(match (validity_days, expires_at) {
        (Some(d), _) => Expiry::Days(d),
        (_, Some(at)) => Expiry::At(parse_rfc3339(&at).ok_or_else(|| ApiError::BadRequest {
            message: format!(
                "expiresAt: '{}' is not an RFC 3339 date-time",
                tokenauth_core::bounded::name(&at)
            ),
            field: Some("expiresAt".into()),
        })?),
        _ if never_expires => Expiry::Never,
        _ => Expiry::Default,
    })
}
