//! A user's own tokens.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::Deserialize;
use tokenauth_core::token::{TokenPolicy, TokenView};
use utoipa::{IntoParams, ToSchema};

use super::answers::{ErrorBody, RotatedToken};
use super::extract::{Authed, forget_tokens};
use super::params::{CreateTokenBody, TokenIdParam, expiry_of};
use crate::error::{ApiError, JsonBody, QueryParams, RawBody};
use crate::state::Shared;

#[derive(Deserialize, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query, rename_all = "camelCase")]
pub struct OwnQuery {
    /// Only tokens still valid that expire within this many days.
    expiring_within_days: Option<u32>,
}

#[utoipa::path(
    get,
    path = "/rest/tokenauth/1/tokens",
    operation_id = "listTokens",
    summary = "Your own tokens",
    params(OwnQuery),
    responses((status = 200, description = "Tokens (with expiringWithinDays: only those still valid that expire within that many days, soonest first)", body = Vec<TokenView>), (status = 400, description = "Bad parameter", body = ErrorBody)),
    tag = "tokens"
)]
pub async fn list_own(
    State(state): State<Shared>,
    authed: Authed,
    QueryParams(q): QueryParams<OwnQuery>,
) -> Result<Json<Vec<TokenView>>, ApiError> {
    let actor = authed.actor();
    Ok(Json(match q.expiring_within_days {
        Some(days) => state.auth.own_tokens_expiring_within(&actor, days)?,
        None => state.auth.own_tokens(&actor)?,
    }))
}

/// The optional body of a rotation: the new token's expiry (default: the old one's lifetime).
#[derive(Deserialize, Default, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
// At most one of the three (the handler refuses more): maxProperties says so to generators.
#[schema(as = RotateToken, max_properties = 1, example = json!({"validityDays": 90}))]
pub struct RotateBody {
    /// Days from now, at most the settings' `maxTokenValidityDays` (365 unless changed).
    #[serde(default)]
    #[schema(minimum = 1, maximum = 36500)]
    validity_days: Option<u32>,
    /// An RFC 3339 date-time in the future, within the maximum validity.
    #[serde(default)]
    #[schema(format = DateTime)]
    expires_at: Option<String>,
    #[serde(default)]
    never_expires: bool,
}

/// `POST /rest/tokenauth/1/tokens/{id}/rotate`: the owner's own token, or anyone's for an
/// admin. 201 with the new token (its secret this once) and `replaces`, the old id.
#[utoipa::path(
    post,
    path = "/rest/tokenauth/1/tokens/{id}/rotate",
    operation_id = "rotateToken",
    summary = "Rotate a token (yours; admins: anyone's): a new secret, the same owner, description and scope, a fresh expiry; the old secret is refused from now on",
    params(TokenIdParam),
    responses((status = 201, description = "The new token, with its secret this once, and the id it replaces", body = RotatedToken), (status = 400, description = "Invalid expiry or body", body = ErrorBody), (status = 404, description = "No such token of yours (or already rotated away)", body = ErrorBody)),
    request_body = Option<RotateBody>,
    tag = "tokens"
)]
pub async fn rotate(
    State(state): State<Shared>,
    authed: Authed,
    Path(id): Path<String>,
    RawBody(bytes): RawBody,
) -> Result<impl IntoResponse, ApiError> {
    let body: RotateBody = if bytes.iter().all(u8::is_ascii_whitespace) {
        RotateBody::default()
    } else {
        serde_json::from_slice(&bytes)
            .map_err(|e| ApiError::bad_request(format!("invalid JSON body: {e}")))?
    };
    let expiry = expiry_of(body.validity_days, body.expires_at, body.never_expires)?;
    let as_admin = state.auth.is_admin(&authed.principal.user);
    let old = id.clone();
    let view = state
        .hash_core(move |s| s.auth.rotate_token(&authed.actor(), &id, expiry, as_admin))
        .await?;
    // The old secret's sessions end and the cache forgets it: refused from this moment.
    forget_tokens(&state, [old.as_str()]);
    Ok((
        StatusCode::CREATED,
        Json(RotatedToken {
            token: view,
            replaces: old,
        }),
    ))
}

#[utoipa::path(
    get,
    path = "/rest/tokenauth/1/tokens/policy",
    operation_id = "getTokenPolicy",
    summary = "The token rules as they apply to you",
    responses((status = 200, description = "What you may do", body = TokenPolicy)),
    tag = "tokens"
)]
pub async fn policy(State(state): State<Shared>, authed: Authed) -> Json<TokenPolicy> {
    Json(state.auth.token_policy(&authed.actor()))
}

#[utoipa::path(
    post,
    path = "/rest/tokenauth/1/tokens",
    operation_id = "createToken",
    summary = "Create a token of your own (allowed for a Read Only token, which mints no more than it holds)",
    responses((status = 201, description = "The token, with its secret this once", body = TokenView), (status = 400, description = "Invalid, over maxTokensPerUser, or outliving the token you authenticated with", body = ErrorBody)),
    request_body = CreateTokenBody,
    tag = "tokens"
)]
pub async fn create_own(
    State(state): State<Shared>,
    authed: Authed,
    JsonBody(body): JsonBody<CreateTokenBody>,
) -> Result<impl IntoResponse, ApiError> {
    let req = body.into_request()?;
    let owner = authed.actor().user.name.clone();
    let view = state
        .hash_core(move |s| s.auth.create_token(&authed.actor(), &owner, req))
        .await?;
    Ok((StatusCode::CREATED, Json(view)))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = RenameToken, example = json!({"description": "CI deploy (staging)"}))]
pub struct Rename {
    /// 1–255 characters once trimmed, none hidden (core's `validate_description`).
    #[schema(
        min_length = 1,
        max_length = 255,
        pattern = r"^\s*[^\s\u0000-\u001f\u007f-\u009f\u061c\u180e\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]([^\u0000-\u001f\u007f-\u009f\u061c\u180e\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]*[^\s\u0000-\u001f\u007f-\u009f\u061c\u180e\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff])?\s*$"
    )]
    pub description: String,
}

#[utoipa::path(
    patch,
    path = "/rest/tokenauth/1/tokens/{id}",
    operation_id = "renameToken",
    summary = "Change your token's description",
    params(TokenIdParam),
    responses((status = 200, description = "The token", body = TokenView), (status = 400, description = "Invalid description", body = ErrorBody), (status = 404, description = "No such token of yours", body = ErrorBody)),
    request_body = Rename,
    tag = "tokens"
)]
pub async fn rename_own(
    State(state): State<Shared>,
    authed: Authed,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<Rename>,
) -> Result<Json<TokenView>, ApiError> {
    let view = state
        .auth
        .rename_token(&authed.actor(), &id, &body.description, false)?;
    Ok(Json(view))
}

#[utoipa::path(
    delete,
    path = "/rest/tokenauth/1/tokens/{id}",
    operation_id = "revokeToken",
    summary = "Revoke your token",
    params(TokenIdParam),
    responses((status = 204, description = "Revoked"), (status = 404, description = "No such token of yours", body = ErrorBody)),
    tag = "tokens"
)]
pub async fn revoke_own(
    State(state): State<Shared>,
    authed: Authed,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let view = state.auth.revoke_token(&authed.actor(), &id, false)?;
    forget_tokens(&state, [view.id.as_str()]);
    Ok(StatusCode::NO_CONTENT)
}
