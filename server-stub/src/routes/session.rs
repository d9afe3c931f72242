//! `/rest/auth/1/session`: a cookie session opened with a password or a token.

use std::net::SocketAddr;

use axum::Json;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;
use tokenauth_core::credentials::{Credentials, SessionPrincipal};

use super::Authed;
use super::jira::base_url;
use crate::error::{ApiError, JsonBody, denial_response};
use crate::middleware::{apply, decide, forwarded_for};
use crate::sessions::{COOKIE, cookie_value};
use crate::state::Shared;

#[derive(Deserialize)]
pub struct Login {
    username: String,
    password: String,
}

pub async fn login(
    State(state): State<Shared>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    JsonBody(body): JsonBody<Login>,
) -> Result<Response, ApiError> {
    if body.username.is_empty() {
        return Err(ApiError::BadRequest {
            message: "username: must not be empty".into(),
            field: Some("username".into()),
        });
    }
    let credentials = Ok(Credentials::Basic {
        user: body.username,
        secret: body.password,
    });
    let mut outcome = decide(
        &state,
        peer,
        forwarded_for(&headers),
        credentials,
        "POST".into(),
        "/rest/auth/1/session".into(),
    )
    .await?;
    apply(&state, &mut outcome).await?;
    let principal = match outcome.result {
        Ok(p) => p,
        Err(d) => return Ok(denial_response(&d)),
    };
    let session = SessionPrincipal {
        user: principal.user.name.clone(),
        token: principal.token.as_ref().map(|t| (t.id.clone(), t.scope)),
    };
    let id = state
        .sessions
        .open(session)
        .ok_or_else(|| ApiError::Internal("could not create a session id".into()))?;
    let cookie = format!("{COOKIE}={id}; Path=/; HttpOnly; SameSite=Lax");
    let mut resp = (
        StatusCode::OK,
        Json(json!({
            "session": {"name": COOKIE, "value": id},
            "loginInfo": {"failedLoginCount": 0, "loginCount": 1},
        })),
    )
        .into_response();
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        resp.headers_mut().insert(header::SET_COOKIE, v);
    }
    Ok(resp)
}

pub async fn current(authed: Authed, headers: HeaderMap) -> Json<serde_json::Value> {
    let name = &authed.principal.user.name;
    Json(json!({
        "self": format!("{}/rest/api/latest/user?username={name}", base_url(&headers)),
        "name": name,
        "authType": authed.principal.auth.as_str(),
        "loginInfo": {"failedLoginCount": authed.principal.user.failed_logins},
    }))
}

pub async fn logout(State(state): State<Shared>, _authed: Authed, headers: HeaderMap) -> Response {
    let ended = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(cookie_value)
        .is_some_and(|id| state.sessions.close(id));
    if ended {
        let mut resp = StatusCode::NO_CONTENT.into_response();
        resp.headers_mut().insert(
            header::SET_COOKIE,
            HeaderValue::from_static("JSESSIONID=; Path=/; Max-Age=0"),
        );
        resp
    } else {
        ApiError::NotFound("no session to log out of".into()).into_response()
    }
}
