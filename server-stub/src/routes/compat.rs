//! The original product's REST API (`de.resolution.apitokenauth`), so its users' scripts run
//! unchanged. Times are epoch milliseconds there.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::Deserialize;
use tokenauth_core::clock::{MILLIS_PER_DAY, parse_rfc3339};
use tokenauth_core::service::{NewTokenRequest, ScopeChoice};
use tokenauth_core::token::Expiry;
use utoipa::ToSchema;

use super::answers::{CompatToken, DeletedCount, ErrorBody};
use super::extract::{Authed, forget_tokens};
use super::params::{TokenIdParam, UserKeyParam};
use crate::error::{ApiError, JsonBody};
use crate::state::Shared;

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = CreateCompatToken, example = json!({"tokenDescription": "CI deploy", "tokenValidityTimeInMonths": 6}))]
pub struct CreateBody {
    #[schema(
        min_length = 1,
        max_length = 255,
        pattern = r"^\s*[^\s\u0000-\u001f\u007f-\u009f\u061c\u180e\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]([^\u0000-\u001f\u007f-\u009f\u061c\u180e\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]*[^\s\u0000-\u001f\u007f-\u009f\u061c\u180e\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff])?\s*$"
    )]
    token_description: String,
    /// Mean Gregorian months, within the maximum validity (a day over is clamped).
    #[schema(minimum = 1, maximum = 1200)]
    token_validity_time_in_months: Option<u32>,
    #[schema(format = DateTime)]
    token_expiration_date_time: Option<String>,
}

/// Creates a token. Its tokens predate scopes and acted with the user's full rights, so the
/// scope is as much as the caller may hold (see `ScopeChoice::AsMuchAsAllowed`).
#[utoipa::path(
    post,
    path = "/rest/de.resolution.apitokenauth/latest/user/token",
    operation_id = "createCompatToken",
    summary = "Create a token (the original product's API)",
    responses((status = 201, description = "The token, with plainTextToken this once", body = CompatToken), (status = 400, description = "Invalid", body = ErrorBody)),
    request_body = CreateBody,
    tag = "compat"
)]
pub async fn create(
    State(state): State<Shared>,
    authed: Authed,
    JsonBody(body): JsonBody<CreateBody>,
) -> Result<impl IntoResponse, ApiError> {
    let policy = state.auth.policy();
    let now = state.auth.now();
    let max_days = i64::from(policy.settings.max_token_validity_days);
    let expiry = match (
        body.token_validity_time_in_months,
        body.token_expiration_date_time,
    ) {
        (Some(_), Some(_)) => {
            return Err(ApiError::bad_request(
                "give tokenValidityTimeInMonths or tokenExpirationDateTime, not both",
            ));
        }
        (Some(0), None) => {
            return Err(ApiError::bad_request(
                "tokenValidityTimeInMonths: must be at least 1",
            ));
        }
        (Some(months), None) => {
            // Calendar months are 28–31 days: a year of 12 months may be 366 days, which the
            // default 365-day maximum would refuse, so land on the maximum at most.
            // 30.436875 days is the mean Gregorian month.
            let span = i128::from(months) * i128::from(MILLIS_PER_DAY) * 30_436_875 / 1_000_000;
            let cap = max_days * MILLIS_PER_DAY;
            let span = i64::try_from(span).unwrap_or(i64::MAX);
            // A month count far beyond the maximum is still refused by the validity rule.
            let within = if span <= cap + MILLIS_PER_DAY {
                span.min(cap)
            } else {
                span
            };
            Expiry::At(now.saturating_add(within))
        }
        (None, Some(text)) => Expiry::At(parse_rfc3339(&text).ok_or_else(|| {
            ApiError::bad_request(format!(
                "tokenExpirationDateTime: '{text}' is not an ISO 8601 date-time"
            ))
        })?),
        (None, None) => Expiry::Default,
    };
    // Read & Write, as the original product's tokens had the user's full rights — unless the
    // settings force Read Only, or the caller is a Read Only token (which mints no more than it
    // holds).
    let req = NewTokenRequest {
        description: body.token_description,
        scope: ScopeChoice::AsMuchAsAllowed,
        expiry,
    };
    let owner = authed.actor().user.name.clone();
    let view = state
        .hash_core(move |s| s.auth.create_token(&authed.actor(), &owner, req))
        .await?;
    Ok((StatusCode::CREATED, Json(CompatToken::from(&view))))
}

#[utoipa::path(
    get,
    path = "/rest/de.resolution.apitokenauth/latest/user/token",
    operation_id = "listCompatTokens",
    summary = "Your tokens (the original product's API)",
    responses((status = 200, description = "Tokens", body = Vec<CompatToken>)),
    tag = "compat"
)]
pub async fn list(
    State(state): State<Shared>,
    authed: Authed,
) -> Result<Json<Vec<CompatToken>>, ApiError> {
    Ok(Json(
        state
            .auth
            .own_tokens(&authed.actor())?
            .iter()
            .map(CompatToken::from)
            .collect(),
    ))
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = RenameCompatToken, example = json!({"tokenDescription": "CI deploy (staging)"}))]
pub struct RenameBody {
    #[schema(
        min_length = 1,
        max_length = 255,
        pattern = r"^\s*[^\s\u0000-\u001f\u007f-\u009f\u061c\u180e\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]([^\u0000-\u001f\u007f-\u009f\u061c\u180e\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]*[^\s\u0000-\u001f\u007f-\u009f\u061c\u180e\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff])?\s*$"
    )]
    token_description: String,
}

#[utoipa::path(
    patch,
    path = "/rest/de.resolution.apitokenauth/latest/user/token/{id}",
    operation_id = "renameCompatToken",
    summary = "Change a token's description (the original product's API)",
    params(TokenIdParam),
    responses((status = 200, description = "The token", body = CompatToken), (status = 400, description = "Invalid", body = ErrorBody), (status = 404, description = "No such token", body = ErrorBody)),
    request_body = RenameBody,
    tag = "compat"
)]
pub async fn rename(
    State(state): State<Shared>,
    authed: Authed,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<RenameBody>,
) -> Result<Json<CompatToken>, ApiError> {
    let view = state
        .auth
        .rename_token(&authed.actor(), &id, &body.token_description, false)?;
    Ok(Json(CompatToken::from(&view)))
}

#[utoipa::path(
    delete,
    path = "/rest/de.resolution.apitokenauth/latest/user/token/{id}",
    operation_id = "revokeCompatToken",
    summary = "Revoke a token (the original product's API)",
    params(TokenIdParam),
    responses((status = 204, description = "Revoked"), (status = 404, description = "No such token", body = ErrorBody)),
    tag = "compat"
)]
pub async fn revoke(
    State(state): State<Shared>,
    authed: Authed,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let view = state.auth.revoke_token(&authed.actor(), &id, false)?;
    forget_tokens(&state, [view.id.as_str()]);
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(
    delete,
    path = "/rest/de.resolution.apitokenauth/latest/user/token/deleteAllFor/{userKey}",
    operation_id = "revokeAllCompatTokensOf",
    summary = "Revoke all of a user's tokens (the original product's API; admins)",
    params(UserKeyParam),
    responses((status = 200, description = "How many were revoked", body = DeletedCount), (status = 404, description = "No such user", body = ErrorBody)),
    tag = "compat"
)]
pub async fn delete_all_for(
    State(state): State<Shared>,
    authed: Authed,
    Path(user_key): Path<String>,
) -> Result<Json<DeletedCount>, ApiError> {
    if !state.auth.is_admin(&authed.principal.user) {
        return Err(ApiError::Forbidden(
            "Administrator rights are required".into(),
        ));
    }
    let removed = state.auth.revoke_all(&authed.actor(), &user_key)?;
    forget_tokens(&state, removed.iter().map(|t| t.id.as_str()));
    Ok(Json(DeletedCount {
        deleted: removed.len(),
    }))
}
