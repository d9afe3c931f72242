//! Jira and Confluence Data Center's own personal access token API (`/rest/pat/latest/`), so
//! scripts and provisioning tools written for it run unchanged. Each token is an ordinary
//! token (same rules, cap, audit); Jira's numeric id is the store's token number, stable
//! across restarts.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::Deserialize;
use tokenauth_core::service::{NewTokenRequest, ScopeChoice};
use tokenauth_core::token::Expiry;
use utoipa::ToSchema;

use super::answers::{ErrorBody, Pat};
use super::extract::{Admin, Authed, forget_tokens};
use super::params::PatNumberParam;
use crate::error::{ApiError, JsonBody};
use crate::state::Shared;

/// `{"name", "expirationDuration"?}`: Jira ignores fields it does not know, and so do we.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = CreatePat, example = json!({"name": "CI deploy", "expirationDuration": 90}))]
pub struct CreateBody {
    #[schema(
        min_length = 1,
        max_length = 255,
        pattern = r"^\s*[^\s\u0000-\u001f\u007f-\u009f\u061c\u180e\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]([^\u0000-\u001f\u007f-\u009f\u061c\u180e\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]*[^\s\u0000-\u001f\u007f-\u009f\u061c\u180e\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff])?\s*$"
    )]
    name: String,
    /// Days; absent: the server's maximum validity.
    #[serde(default)]
    #[schema(minimum = 1, maximum = 36500)]
    expiration_duration: Option<u32>,
}

/// Jira's ids are numbers: anything else names no token.
fn number(id: &str) -> Result<u64, ApiError> {
    id.parse().map_err(|_| {
        ApiError::NotFound(format!(
            "Not found: token {}",
            tokenauth_core::bounded::name(id)
        ))
    })
}

#[utoipa::path(
    post,
    path = "/rest/pat/latest/tokens",
    operation_id = "createPersonalAccessToken",
    summary = "Create a personal access token (Jira Data Center's API): Read & Write unless the settings force Read Only",
    responses((status = 201, description = "The token, with rawToken this once", body = Pat), (status = 400, description = "Invalid, or over maxTokensPerUser", body = ErrorBody)),
    request_body = CreateBody,
    tag = "pat"
)]
pub async fn create(
    State(state): State<Shared>,
    authed: Authed,
    JsonBody(body): JsonBody<CreateBody>,
) -> Result<impl IntoResponse, ApiError> {
    // Read & Write unless the settings force Read Only (or the caller is a Read Only token),
    // as a Jira PAT carries its owner's permissions.
    let req = NewTokenRequest {
        description: body.name,
        scope: ScopeChoice::AsMuchAsAllowed,
        expiry: body
            .expiration_duration
            .map_or(Expiry::Default, Expiry::Days),
    };
    let owner = authed.principal.user.name.clone();
    let (number, view) = state
        .hash_core(move |s| {
            let view = s.auth.create_token(&authed.actor(), &owner, req)?;
            Ok((s.auth.token_number(&view.id)?, view))
        })
        .await?;
    Ok((StatusCode::CREATED, Json(Pat::new(number, &view))))
}

#[utoipa::path(
    get,
    path = "/rest/pat/latest/tokens",
    operation_id = "listPersonalAccessTokens",
    summary = "Your tokens as Jira Data Center's personal access token API lists them",
    responses((status = 200, description = "Tokens", body = Vec<Pat>)),
    tag = "pat"
)]
pub async fn list_own(
    State(state): State<Shared>,
    authed: Authed,
) -> Result<Json<Vec<Pat>>, ApiError> {
    let tokens = state.auth.own_tokens(&authed.actor())?;
    let mut out = Vec::with_capacity(tokens.len());
    for t in &tokens {
        out.push(Pat::new(state.auth.token_number(&t.id)?, t));
    }
    Ok(Json(out))
}

#[utoipa::path(
    get,
    path = "/rest/pat/latest/tokens/{id}",
    operation_id = "getPersonalAccessToken",
    summary = "One personal access token (its owner or an admin)",
    params(PatNumberParam),
    responses((status = 200, description = "The token", body = Pat), (status = 404, description = "No such token of yours", body = ErrorBody)),
    tag = "pat"
)]
pub async fn get_one(
    State(state): State<Shared>,
    authed: Authed,
    Path(id): Path<String>,
) -> Result<Json<Pat>, ApiError> {
    let n = number(&id)?;
    let view = state.auth.token_by_number(&authed.actor(), n)?;
    Ok(Json(Pat::new(n, &view)))
}

/// 204; the owner's token, or anyone's for an admin.
#[utoipa::path(
    delete,
    path = "/rest/pat/latest/tokens/{id}",
    operation_id = "revokePersonalAccessToken",
    summary = "Revoke a personal access token (its owner or an admin)",
    params(PatNumberParam),
    responses((status = 204, description = "Revoked"), (status = 404, description = "No such token of yours", body = ErrorBody)),
    tag = "pat"
)]
pub async fn revoke(
    State(state): State<Shared>,
    authed: Authed,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let n = number(&id)?;
    let actor = authed.actor();
    let view = state.auth.token_by_number(&actor, n)?;
    let as_admin = state.auth.is_admin(&actor.user);
    let gone = state.auth.revoke_token(&actor, &view.id, as_admin)?;
    forget_tokens(&state, [gone.id.as_str()]);
    Ok(StatusCode::NO_CONTENT)
}

/// The most ids one bulk delete takes: the body is bounded by size already; this bounds the
/// work (each is one durable write).
const MAX_BULK: usize = 1000;

/// `DELETE /rest/pat/latest/admin/tokens` with a JSON array of ids: admins. 204; ids that name
/// no token are skipped (the call is repeatable), each deletion is audited.
#[utoipa::path(
    delete,
    path = "/rest/pat/latest/admin/tokens",
    operation_id = "revokePersonalAccessTokens",
    request_body(content = inline(Vec<u64>), description = "The numbers of the tokens to revoke, at most 1,000", example = json!([1, 2])),
    summary = "Revoke personal access tokens by number (admins); numbers that name no token are skipped",
    responses((status = 204, description = "Revoked"), (status = 400, description = "Not an array of numbers, or over 1,000", body = ErrorBody)),
    tag = "pat"
)]
pub async fn admin_revoke(
    State(state): State<Shared>,
    Admin(a): Admin,
    JsonBody(ids): JsonBody<Vec<u64>>,
) -> Result<StatusCode, ApiError> {
    if ids.len() > MAX_BULK {
        return Err(ApiError::bad_request(format!(
            "at most {MAX_BULK} ids in one request"
        )));
    }
    let actor = a.actor();
    // Each revocation is a durable write: on the blocking pool, not on a request thread.
    let auth = std::sync::Arc::clone(&state.auth);
    let (gone, failure) = tokio::task::spawn_blocking(move || {
        let mut gone = Vec::new();
        let mut failure = None;
        for n in ids {
            let Ok(view) = auth.token_by_number(&actor, n) else {
                continue;
            };
            match auth.revoke_token(&actor, &view.id, true) {
                Ok(v) => gone.push(v.id),
                Err(tokenauth_core::CoreError::NotFound(_)) => {}
                Err(e) => {
                    failure = Some(e);
                    break;
                }
            }
        }
        (gone, failure)
    })
    .await
    .map_err(|e| ApiError::Internal(e.to_string()))?;
    // Those revoked before a failure are gone: their sessions end either way.
    forget_tokens(&state, gone.iter().map(String::as_str));
    match failure {
        Some(e) => Err(e.into()),
        None => Ok(StatusCode::NO_CONTENT),
    }
}
