//! `/rest/auth/1/session`: a cookie session opened with a password or a token.

use std::net::SocketAddr;

use axum::Json;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use tokenauth_core::credentials::{LoginError, SessionOrigin, SessionPrincipal, parse_login};
use tokenauth_core::scope::SESSION_PATH;

use utoipa::ToSchema;

use super::answers::{CurrentSession, ErrorBody, LoginInfo, NewSession, SessionCookie};
use super::extract::{Authed, base_url};
use super::middleware::{RequestHeaders, apply, decide, error_outcome, rate_limited};
use crate::authentication::sessions::{COOKIE, OpenError, cookie_value};
use crate::error::{ApiError, RawBody, denial_response};
use crate::operations::metrics::Outcome;
use crate::state::Shared;

// What `POST /rest/auth/1/session` reads: core's `parse_login` reads and bounds it, as a Basic
// header's name and secret; this is its shape for the document.
/// A user's name and password (or API token).
#[derive(ToSchema)]
#[allow(dead_code)]
#[schema(example = json!({"username": "alice", "password": "<password or API token>"}))]
pub struct Credentials {
    // core's `validate_name`.
    /// The user's name.
    #[schema(
        min_length = 1,
        max_length = 255,
        pattern = r"^[^\s:/\u0000-\u001f\u007f-\u009f]([^:/\u0000-\u001f\u007f-\u009f]*[^\s:/\u0000-\u001f\u007f-\u009f])?$"
    )]
    username: String,
    /// The password, or an API token: at most 8 KiB, as a Basic header's secret; 2,048
    /// characters are at most 8 KiB in UTF-8.
    #[schema(min_length = 1, max_length = 2048, format = Password)]
    password: String,
}

#[utoipa::path(
    post,
    path = "/rest/auth/1/session",
    operation_id = "createSession",
    request_body = Credentials,
    summary = "Open a cookie session (the password may be a token)",
    responses((status = 200, description = "The session; Set-Cookie: JSESSIONID", body = NewSession), (status = 400, description = "Not JSON, or a field too long or malformed", body = ErrorBody), (status = 401, description = "Wrong credentials", body = ErrorBody), (status = 403, description = "Refused (IP, passwords disabled, not permitted)", body = ErrorBody), (status = 429, description = "Per-user rate limit exceeded (Retry-After)", body = ErrorBody), (status = 503, description = "Too many open sessions", body = ErrorBody)),
    security(()),
    tag = "session"
)]
pub async fn login(
    State(state): State<Shared>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    uri: Uri,
    body: RawBody,
) -> Result<Response, ApiError> {
    // The body is bounded like a Basic header (name rule, secret length) before anything reads it.
    let credentials = parse_login(&body.0).map_err(|e| match e {
        LoginError::Field { field, .. } => ApiError::BadRequest {
            message: e.to_string(),
            field: Some(field.into()),
        },
        LoginError::Json(_) => ApiError::bad_request(e.to_string()),
    })?;
    let mut outcome = decide(
        &state,
        peer,
        RequestHeaders::new(&axum::http::Method::POST, &headers, &uri),
        Ok(credentials),
        "POST",
        SESSION_PATH,
    )
    .await
    .inspect_err(|e| state.metrics.request(error_outcome(e)))?;
    apply(&state, &mut outcome).await?;
    let principal = match outcome.result {
        Ok(p) => p,
        Err(d) => {
            state.metrics.request(Outcome::Denied(d.kind));
            return Ok(denial_response(&d));
        }
    };
    // Logging in is anonymous, so the per-user limit applies here, after we know the user.
    rate_limited(&state, &principal)
        .inspect_err(|_| state.metrics.request(Outcome::RateLimited))?;
    state.metrics.request(Outcome::Allowed);
    let origin = match (&principal.token, &principal.user.password) {
        (Some(t), _) => SessionOrigin::Token(t.id.clone()),
        (None, Some(hash)) => SessionOrigin::Password { stamp: hash.salt },
        (None, None) => {
            return Err(ApiError::Internal(
                "password login without a password".into(),
            ));
        }
    };
    let session = SessionPrincipal {
        user: principal.user.name.clone(),
        origin,
    };
    let id = state.sessions.open(session).map_err(|e| match e {
        OpenError::Full => ApiError::Unavailable("too many open sessions; try again later".into()),
        OpenError::Random => ApiError::Internal("could not create a session id".into()),
    })?;
    // Over HTTPS the cookie is never sent back over plain HTTP.
    let secure = if came_over_https(&state, peer, &headers) {
        "; Secure"
    } else {
        ""
    };
    let cookie = format!("{COOKIE}={id}; Path=/; HttpOnly; SameSite=Lax{secure}");
    let mut resp = (
        StatusCode::OK,
        Json(NewSession {
            session: SessionCookie {
                name: COOKIE,
                value: id,
            },
            login_info: LoginInfo {
                failed_login_count: 0,
                login_count: Some(1),
            },
        }),
    )
        .into_response();
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        resp.headers_mut().insert(header::SET_COOKIE, v);
    }
    Ok(resp)
}

#[utoipa::path(
    get,
    path = "/rest/auth/1/session",
    operation_id = "getSession",
    summary = "The current session's user",
    responses((status = 200, description = "The user and how they authenticated", body = CurrentSession)),
    tag = "session"
)]
pub async fn current(
    State(state): State<Shared>,
    authed: Authed,
    headers: HeaderMap,
) -> Json<CurrentSession> {
    let name = &authed.principal.user.name;
    Json(CurrentSession {
        self_link: format!(
            "{}/rest/api/latest/user?username={name}",
            base_url(&state, &headers)
        ),
        name: name.clone(),
        auth_type: authed.principal.auth.as_str(),
        login_info: LoginInfo {
            failed_login_count: authed.principal.user.failed_logins,
            login_count: None,
        },
    })
}

#[utoipa::path(
    delete,
    path = "/rest/auth/1/session",
    operation_id = "deleteSession",
    summary = "Log out: the JSESSIONID cookie's session ends",
    responses((status = 204, description = "Logged out; the cookie is cleared"), (status = 404, description = "No session to log out of (the request carried no live JSESSIONID)", body = ErrorBody)),
    tag = "session"
)]
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

/// Whether the browser reached us over HTTPS (security review 2, N11): the stub serves TLS
/// itself; or a trusted proxy says so (`X-Forwarded-Proto: https`, its first value — another
/// peer's header counts for nothing); or the stub serves plain HTTP beyond loopback with
/// `--insecure-http`, which says a TLS-terminating proxy is in front.
fn came_over_https(state: &crate::state::AppState, peer: SocketAddr, headers: &HeaderMap) -> bool {
    if state.tls.is_some() || (state.config.insecure_http && !state.config.bind.ip().is_loopback())
    {
        return true;
    }
    let peer = tokenauth_core::ip::canonical(peer.ip());
    state.auth.policy().trusted_proxies.contains(peer)
        && headers
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').next())
            .is_some_and(|p| p.trim().eq_ignore_ascii_case("https"))
}
