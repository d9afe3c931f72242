//! A user's own tokens.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::Deserialize;
use tokenauth_core::token::{TokenPolicy, TokenView};

use super::{Authed, CreateTokenBody, forget_tokens};
use crate::error::{ApiError, JsonBody};
use crate::hashing;
use crate::state::Shared;

pub async fn list_own(
    State(state): State<Shared>,
    authed: Authed,
) -> Result<Json<Vec<TokenView>>, ApiError> {
    Ok(Json(state.auth.own_tokens(&authed.actor())?))
}

pub async fn policy(State(state): State<Shared>, authed: Authed) -> Json<TokenPolicy> {
    Json(state.auth.token_policy(&authed.actor()))
}

pub async fn create_own(
    State(state): State<Shared>,
    authed: Authed,
    JsonBody(body): JsonBody<CreateTokenBody>,
) -> Result<impl IntoResponse, ApiError> {
    let req = body.into_request()?;
    let owner = authed.actor().user.name.clone();
    let view = hashing::core(&state, move |s| {
        s.auth.create_token(&authed.actor(), &owner, req)
    })
    .await?;
    Ok((StatusCode::CREATED, Json(view)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rename {
    pub description: String,
}

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

pub async fn revoke_own(
    State(state): State<Shared>,
    authed: Authed,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let view = state.auth.revoke_token(&authed.actor(), &id, false)?;
    forget_tokens(&state, [view.id.as_str()]);
    Ok(StatusCode::NO_CONTENT)
}
