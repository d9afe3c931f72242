//! The HTTP surface of SPEC section 5.

pub mod admin;
pub mod answers;
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
use serde::Deserialize;
use tokenauth_core::auth::Principal;
use tokenauth_core::clock::parse_rfc3339;
use tokenauth_core::scope::Scope;
use tokenauth_core::service::{Actor, NewTokenRequest, ScopeChoice, Source};
use tokenauth_core::token::Expiry;
use tower_http::timeout::TimeoutLayer;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::config::BODY_LIMIT;
use crate::error::ApiError;
use crate::middleware::forwarded_for;
use crate::state::Shared;

pub fn router(state: Shared) -> Router {
    let timeout = state.config.request_timeout;
    let (routes, _) = api_routes().split_for_parts();
    routes
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

/// Every route with its description: `routes!` registers a handler together with the operation
/// its `#[utoipa::path]` describes (method, path, operationId, tag), so a route cannot be added
/// without a description. `openapi::document_value` reads the same routes' document.
pub fn api_routes() -> OpenApiRouter<Shared> {
    use wiremock_admin as w;
    OpenApiRouter::with_openapi(<crate::openapi::Components as utoipa::OpenApi>::openapi())
        .routes(routes!(ops::status))
        .routes(routes!(ops::metrics))
        .routes(routes!(jira::server_info))
        .routes(routes!(jira::server_info_latest))
        .routes(routes!(jira::myself))
        .routes(routes!(jira::myself_latest))
        .routes(routes!(jira::current_user))
        .routes(routes!(session::login, session::current, session::logout))
        .routes(routes!(crate::openapi::document))
        .routes(routes!(tokens::list_own, tokens::create_own))
        .routes(routes!(tokens::policy))
        .routes(routes!(tokens::rename_own, tokens::revoke_own))
        .routes(routes!(tokens::rotate))
        .routes(routes!(pat::list_own, pat::create))
        .routes(routes!(pat::get_one, pat::revoke))
        .routes(routes!(pat::admin_revoke))
        .routes(routes!(admin::list_tokens))
        .routes(routes!(admin::revoke_token))
        .routes(routes!(admin::list_users, admin::create_user))
        .routes(routes!(admin::update_user, admin::delete_user))
        .routes(routes!(admin::create_for_user, admin::revoke_all))
        .routes(routes!(admin::reset_failed_logins))
        .routes(routes!(admin::get_settings, admin::put_settings))
        .routes(routes!(notifications::get))
        .routes(routes!(notifications::put_secret))
        .routes(routes!(notifications::test))
        .routes(routes!(audit::export))
        .routes(routes!(audit::histogram))
        .routes(routes!(audit::events))
        .routes(routes!(compat::list, compat::create))
        .routes(routes!(compat::delete_all_for))
        .routes(routes!(compat::rename, compat::revoke))
        .routes(routes!(
            w::list_mappings,
            w::create_mapping,
            w::delete_mappings
        ))
        .routes(routes!(w::reset_mappings))
        .routes(routes!(w::import_mappings))
        .routes(routes!(w::get_mapping, w::put_mapping, w::delete_mapping))
        .routes(routes!(w::list_requests, w::clear_requests))
        .routes(routes!(w::reset_requests))
        .routes(routes!(w::count_requests))
        .routes(routes!(w::find_requests))
        .routes(routes!(w::unmatched_requests))
        .routes(routes!(w::unmatched_near_misses))
        .routes(routes!(w::get_request))
        .routes(routes!(w::list_scenarios))
        .routes(routes!(w::reset_scenarios))
        .routes(routes!(w::reset_all))
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

/// The path parameters the operations share, described once: what each names and what the
/// server accepts there (anything else names nothing and gets 404).
#[derive(utoipa::IntoParams)]
#[into_params(names("id"), parameter_in = Path)]
pub struct TokenIdParam(
    // core's `TokenId`.
    /// The token's id: 12 letters and digits.
    #[param(pattern = "^[0-9A-Za-z]{12}$", example = "AbCdEf012345")]
    pub String,
);

/// A user named in the path (`{user}`, or the original product's `{userKey}`): core's
/// `validate_name` as `USER_NAME_PATTERN` spells it, in any case.
fn user_param(name: &str) -> utoipa::openapi::path::Parameter {
    use utoipa::openapi::path::{ParameterBuilder, ParameterIn};
    use utoipa::openapi::schema::{ObjectBuilder, Type};
    ParameterBuilder::new()
        .name(name)
        .parameter_in(ParameterIn::Path)
        .required(utoipa::openapi::Required::True)
        .description(Some("The user's name, in any case."))
        .example(Some(serde_json::Value::from("alice")))
        .schema(Some(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .min_length(Some(1))
                .max_length(Some(255))
                .pattern(Some(USER_NAME_PATTERN)),
        ))
        .build()
}

pub struct UserParam;

impl utoipa::IntoParams for UserParam {
    fn into_params(
        _: impl Fn() -> Option<utoipa::openapi::path::ParameterIn>,
    ) -> Vec<utoipa::openapi::path::Parameter> {
        vec![user_param("user")]
    }
}

pub struct UserKeyParam;

impl utoipa::IntoParams for UserKeyParam {
    fn into_params(
        _: impl Fn() -> Option<utoipa::openapi::path::ParameterIn>,
    ) -> Vec<utoipa::openapi::path::Parameter> {
        vec![user_param("userKey")]
    }
}

#[derive(utoipa::IntoParams)]
#[into_params(names("id"), parameter_in = Path)]
pub struct PatNumberParam(
    /// The token's number, as Jira's personal access token API names tokens.
    #[param(minimum = 0, example = 1)]
    pub u64,
);

#[derive(utoipa::IntoParams)]
#[into_params(names("id"), parameter_in = Path)]
pub struct MappingIdParam(
    /// The mapping's id (a UUID, as WireMock gives).
    #[param(
        pattern = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$",
        example = "0f8e2c1a-5d6b-4c3e-9a7f-1b2c3d4e5f60"
    )]
    pub String,
);

#[derive(utoipa::IntoParams)]
#[into_params(names("id"), parameter_in = Path)]
pub struct RequestIdParam(
    /// The journaled request's id (a UUID).
    #[param(
        pattern = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$",
        example = "0f8e2c1a-5d6b-4c3e-9a7f-1b2c3d4e5f60"
    )]
    pub String,
);

/// core's `validate_description` as a regular expression (ECMA-262, as OpenAPI's `pattern`):
/// once trimmed, at least one character and none that `bounded::is_hidden` refuses (controls,
/// zero-width, line separators, bidi marks). The attributes spell it out: utoipa takes only a
/// literal there; `openapi`'s tests check both against core.
pub const DESCRIPTION_PATTERN: &str = r"^\s*[^\s\u0000-\u001f\u007f-\u009f\u061c\u180e\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]([^\u0000-\u001f\u007f-\u009f\u061c\u180e\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]*[^\s\u0000-\u001f\u007f-\u009f\u061c\u180e\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff])?\s*$";

/// core's `user::validate_name` as a regular expression: no whitespace at either end, no ':'
/// (it separates user and secret in Basic auth), no '/', no control characters.
pub const USER_NAME_PATTERN: &str = r"^[^\s:/\u0000-\u001f\u007f-\u009f]([^:/\u0000-\u001f\u007f-\u009f]*[^\s:/\u0000-\u001f\u007f-\u009f])?$";

/// core's `user::validate_display_text`: no control, invisible or bidi characters.
pub const DISPLAY_TEXT_PATTERN: &str =
    r"^[^\u0000-\u001f\u007f-\u009f\u061c\u180e\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]*$";

/// The body of `POST /tokens` and `POST /admin/users/{user}/tokens`. At most one of
/// `validityDays`, `expiresAt` and `neverExpires`; none: the maximum validity.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schema(as = CreateToken, example = json!({"description": "CI deploy", "scope": "READ_ONLY", "validityDays": 30}))]
pub struct CreateTokenBody {
    /// core's `validate_description`: 1–255 characters once trimmed, none hidden.
    #[schema(
        min_length = 1,
        max_length = 255,
        pattern = r"^\s*[^\s\u0000-\u001f\u007f-\u009f\u061c\u180e\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]([^\u0000-\u001f\u007f-\u009f\u061c\u180e\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]*[^\s\u0000-\u001f\u007f-\u009f\u061c\u180e\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff])?\s*$"
    )]
    pub description: String,
    /// Absent: Read Only (least privilege).
    #[serde(default)]
    #[schema(value_type = Option<Scope>)]
    pub scope: Option<String>,
    /// Days from now, at most the settings' `maxTokenValidityDays`.
    #[serde(default)]
    #[schema(minimum = 1, maximum = 36500)]
    pub validity_days: Option<u32>,
    /// An RFC 3339 date-time in the future, within the maximum validity.
    #[serde(default)]
    #[schema(format = DateTime)]
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
