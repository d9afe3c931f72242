//! Jira/Confluence emulation: serverInfo, myself, user/current and the authenticated echo.

use axum::body::Body;
use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tokenauth_core::auth::Principal;
use tokenauth_core::clock::to_rfc3339;

use super::answers::{CurrentUser, Echo, Json, ServerInfo, UserView, json_response};
use super::extract::{Authed, BaseUrl};
use super::middleware::authenticate_caller;
use crate::config::BODY_LIMIT;
use crate::connection::faults::FaultSlot;
use crate::error::ApiError;
use crate::mocks::journal::Served;
use crate::mocks::mappings::{Answer, Dribble, Lookup};
use crate::state::Shared;
use wiremock_engine::MockRequest;

#[utoipa::path(
    get,
    path = "/rest/api/2/serverInfo",
    operation_id = "getServerInfo",
    summary = "Server information (anonymous)",
    responses((status = 200, description = "Server information", body = ServerInfo)),
    security(()),
    tag = "jira"
)]
pub async fn server_info(State(state): State<Shared>, BaseUrl(base): BaseUrl) -> Response {
    server_info_answer(&state, &base)
}

/// `serverInfo`'s answer, for its handlers and for `front::guarded`'s hot path (`hot.rs`).
pub fn server_info_answer(state: &Shared, base: &str) -> Response {
    json_response(ServerInfo::json(base, &to_rfc3339(state.auth.now())))
}

#[utoipa::path(
    get,
    path = "/rest/api/2/myself",
    operation_id = "getMyself",
    summary = "The authenticated user",
    responses((status = 200, description = "The user", body = UserView)),
    tag = "jira"
)]
pub async fn myself(authed: Authed) -> Response {
    myself_answer(&authed.principal)
}

/// `myself`'s answer, for its handlers and for `front::guarded`'s hot path (`hot.rs`).
pub fn myself_answer(principal: &Principal) -> Response {
    Json(UserView::from(&*principal.user)).into_response()
}

/// Jira's `latest` alias of `serverInfo`: its own function so that each documented operation has
/// one path and one operationId.
#[utoipa::path(
    get,
    path = "/rest/api/latest/serverInfo",
    operation_id = "getServerInfoLatest",
    summary = "Server information (anonymous; Jira's latest alias)",
    responses((status = 200, description = "Server information", body = ServerInfo)),
    security(()),
    tag = "jira"
)]
pub async fn server_info_latest(state: State<Shared>, base: BaseUrl) -> Response {
    server_info(state, base).await
}

/// Jira's `latest` alias of `myself` (see `server_info_latest`).
#[utoipa::path(
    get,
    path = "/rest/api/latest/myself",
    operation_id = "getMyselfLatest",
    summary = "The authenticated user (Jira's latest alias)",
    responses((status = 200, description = "The user", body = UserView)),
    tag = "jira"
)]
pub async fn myself_latest(authed: Authed) -> Response {
    myself(authed).await
}

/// Confluence's shape, with Jira's fields too so either kind of client finds what it reads.
#[utoipa::path(
    get,
    path = "/rest/api/user/current",
    operation_id = "getCurrentUser",
    summary = "The authenticated user (Confluence)",
    responses((status = 200, description = "The user", body = CurrentUser)),
    tag = "jira"
)]
pub async fn current_user(authed: Authed) -> Response {
    let u: &tokenauth_core::user::User = &authed.principal.user;
    Json(CurrentUser {
        user: UserView::from(u),
        kind: "known",
        username: u.name.clone(),
        user_key: u.key(),
    })
    .into_response()
}

/// Any other path. With `--mappings`, the mapping that matches answers (a `/rest/` request has
/// passed the token rules by now; outside `/rest/`, a mapping that could have answered a
/// `/rest/` path — `crate::mocks::guard` — takes the token rules here first, and the others answer
/// without authentication, as a real server's static pages do). Otherwise a `/rest/` path gets
/// the echo — who the request authenticated as, so a developer can check that a script's writes
/// are refused with a Read Only token — and any other path 404.
pub async fn echo_or_not_found(State(state): State<Shared>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let path = parts.uri.path().to_owned();
    let url = parts
        .uri
        .path_and_query()
        .map_or_else(|| path.clone(), |pq| pq.as_str().to_owned());
    let mut principal = parts.extensions.get::<Principal>().cloned();
    let faults = parts.extensions.get::<FaultSlot>().cloned();
    // How the request leaves the connection decides the head of a malformed-chunk fault.
    let version = parts.version;
    let connection = parts
        .headers
        .get(header::CONNECTION)
        .and_then(|c| c.to_str().ok())
        .map(str::to_owned);
    // Read (and bound) the body, so an oversized chunked upload gets its 413.
    let Ok(body) = axum::body::to_bytes(body, BODY_LIMIT).await else {
        return ApiError::PayloadTooLarge.into_response();
    };
    // The engine's view: credentials sealed, and its body without a secret — the fields named
    // for one, and every secret the request presented — so no mapping matches, renders or
    // steps a scenario on a password in a body (the journal keeps the same view).
    let mapped_body = if body.is_empty() {
        None
    } else {
        let headers = parts
            .headers
            .iter()
            .filter_map(|(n, v)| Some((n.as_str(), v.to_str().ok()?)));
        let mut secrets = crate::mocks::redaction::Secrets::presented(headers, &url);
        secrets.add_body_fields(&body);
        let encoding = parts
            .headers
            .get(header::CONTENT_ENCODING)
            .and_then(|v| v.to_str().ok());
        secrets.body_for_mappings(&body, encoding)
    };
    let mut mock_request = MockRequest::new(parts.method.as_str(), &url)
        .body(mapped_body.unwrap_or_else(|| body.to_vec()));
    for (n, v) in &parts.headers {
        if let Ok(v) = v.to_str() {
            mock_request.push_header(n.as_str(), v);
        }
    }
    // A `/rest/` path the token rules did not guard (an anonymous endpoint written with a
    // trailing slash): no mapping answers it, whatever its pattern would match.
    let unguarded = principal.is_none() && crate::mocks::guard::under_rest(&path);
    // What the journal keeps of a request the mappings saw (its body is shared, not copied).
    let mut served = state.journal.enabled().then(|| Served {
        body: body.clone(),
        record_body: !unguarded,
        ..Served::default()
    });
    let mut decided = None;
    let mut lookup = if unguarded {
        Lookup::Unmatched
    } else {
        look_up(&state, &mock_request, principal.is_some()).await
    };
    // A guarded mapping answers only what the token rules pass, as on `/rest/`; and a caller
    // who presents credentials on an open path hears of the guarded mappings in a near-miss
    // report only once they are checked (N12).
    let wants_report = state.config.unmatched_404 && !unguarded;
    let check_caller = matches!(lookup, Lookup::NeedsCredentials)
        || (wants_report
            && principal.is_none()
            && matches!(lookup, Lookup::Unmatched)
            && super::middleware::presents_credentials(&parts.headers));
    if check_caller {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map_or_else(|| SocketAddr::from(([0, 0, 0, 0], 0)), |c| c.0);
        match authenticate_caller(&state, peer, &parts.method, &parts.uri, &parts.headers).await {
            Ok((p, d)) => {
                principal = Some(p);
                decided = d;
                lookup = look_up(&state, &mock_request, true).await;
            }
            Err(refusal) => return refusal,
        }
    }
    let mut response = match lookup {
        Lookup::Answer(answer) if answer.proxy.is_some() => {
            let stub = answer.stub.clone();
            let (response, kept) =
                super::proxied::answer(&state, *answer, &parts, &url, body).await;
            if let Some(s) = &mut served {
                s.stub = Some(stub);
                s.answer = kept;
            }
            response
        }
        Lookup::Answer(answer) => {
            if let Some(s) = &mut served {
                s.stub = Some(answer.stub.clone());
                s.answer = Some((answer.headers.clone(), answer.body.clone()));
                s.answer_templated = answer.templated;
            }
            let faults = faults
                .as_ref()
                .map(|slot| (slot, version, connection.as_deref()));
            let gzip = state.config.gzip && crate::mocks::encoding::accepts(&parts);
            mapped(*answer, faults, gzip).await
        }
        _ if wants_report => not_matched(&state, mock_request, principal.is_some()).await,
        _ => echo(principal, &parts.method, &path),
    };
    if let Some(s) = served {
        response.extensions_mut().insert(s);
    }
    if let Some(d) = decided {
        response.extensions_mut().insert(d);
    }
    response
}

/// Bodies larger than this are matched on the blocking pool: a hundred `equalToJson` or
/// `matchesJsonPath` patterns over a 1 MiB body take long enough to stall the async threads
/// that answer everyone else.
const INLINE_BODY: usize = 64 * 1024;

async fn look_up(state: &Shared, req: &MockRequest, authenticated: bool) -> Lookup {
    if req.body.len() <= INLINE_BODY {
        return state.config.mocks.answer(req, authenticated);
    }
    let mocks = std::sync::Arc::clone(&state.config.mocks);
    let req = req.clone();
    tokio::task::spawn_blocking(move || mocks.answer(&req, authenticated))
        .await
        .unwrap_or(Lookup::Unmatched)
}

/// WireMock's answer to a request no mapping matched (`--unmatched 404`): 404 with the
/// closest mappings, so a developer sees which mapping they meant and how far it is. Scored
/// on the blocking pool: it runs every matcher of up to `NEAR_MISS_SCOPE` mappings.
async fn not_matched(state: &Shared, req: MockRequest, authenticated: bool) -> Response {
    let mocks = std::sync::Arc::clone(&state.config.mocks);
    let (req, misses) = tokio::task::spawn_blocking(move || {
        let misses = mocks.near_misses(&req, 3, authenticated);
        (req, misses)
    })
    .await
    .unwrap_or_else(|_| (MockRequest::default(), Vec::new()));
    let mut report = format!(
        "Request was not matched\n=======================\n\n{} {}\n\n",
        req.method,
        req.url()
    );
    if misses.is_empty() {
        report.push_str("No stub mappings are loaded.\n");
    } else {
        report.push_str("Closest stub mappings:\n");
        for (i, n) in misses.iter().enumerate() {
            let name = n
                .name
                .as_deref()
                .map(|s| format!("\"{s}\" "))
                .unwrap_or_default();
            report.push_str(&format!(
                "  {}. {name}(id {}): {} of {} parts match\n",
                i + 1,
                n.id,
                n.matched,
                n.total
            ));
        }
    }
    let mut response = Response::new(Body::from(report));
    *response.status_mut() = StatusCode::NOT_FOUND;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("text/plain"),
    );
    response
}

/// The echo of a `/rest/` request (who it authenticated as), or 404 for any other path.
fn echo(principal: Option<Principal>, method: &Method, path: &str) -> Response {
    let Some(principal) = principal else {
        return ApiError::NotFound(format!("No resource at {path}")).into_response();
    };
    let body = Echo {
        user: principal.user.name.clone(),
        method: method.as_str().to_owned(),
        path: path.to_owned(),
        auth_type: principal.auth.as_str(),
        token_id: principal.token.as_ref().map(|t| t.id.as_str().to_owned()),
        scope: principal.token.as_ref().map(|t| t.scope),
    };
    let status = if method == Method::POST {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    (status, Json(body)).into_response()
}

/// A matched mapping's answer, after its delay: or its fault, as WireMock does it after the delay.
async fn mapped(
    answer: Answer,
    faults: Option<(&FaultSlot, axum::http::Version, Option<&str>)>,
    gzip: bool,
) -> Response {
    if !answer.delay.is_zero() {
        tokio::time::sleep(answer.delay).await;
    }
    if let Some(fault) = answer.fault {
        let Some((slot, version, connection)) = faults else {
            // Only a router served by something other than `crate::connection::listener` has no slot.
            return ApiError::Internal(format!(
                "the mapping's fault {fault:?} needs the stub's own listener"
            ))
            .into_response();
        };
        // The connection carries the fault out instead of sending this response.
        slot.set(fault, version, connection);
        return StatusCode::OK.into_response();
    }
    // gzip, and the framing headers the server owns (`crate::mocks::encoding`).
    let (answer, framing) = crate::mocks::encoding::prepare(answer, gzip).await;
    let mut response = match answer.dribble {
        Some(plan) => Response::new(Body::new(
            Dribble::new(answer.body, plan).first_chunk_due().await,
        )),
        None if framing.chunked => Response::new(crate::mocks::encoding::chunked(answer.body)),
        None => Response::new(Body::from(answer.body)),
    };
    *response.status_mut() =
        StatusCode::from_u16(answer.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    // WireMock sends `statusMessage` as the reason phrase (HTTP/1.1 only: HTTP/2 has none). One
    // that HTTP cannot carry (a control character) leaves the standard phrase.
    if let Some(reason) = answer
        .status_message
        .and_then(|m| hyper::ext::ReasonPhrase::try_from(m).ok())
    {
        response.extensions_mut().insert(reason);
    }
    super::proxied::append_headers(&mut response, &answer.headers);
    response
}
