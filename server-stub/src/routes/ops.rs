//! For the people who run the server: `GET /status` (health) and `GET /metrics` (Prometheus).

use std::net::SocketAddr;

use axum::Json;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use tokenauth_core::credentials::parse_authorization;

use super::answers::ServerState;
use super::middleware::{RequestHeaders, apply, decide};
use crate::error::{ApiError, denial_response};
use crate::state::Shared;

/// `GET /status`, as Jira answers it for load balancers and health checks: anonymous,
/// `{"state": "RUNNING"}` with 200, and 503 with `STARTING` or `STOPPING` otherwise.
#[utoipa::path(
    get,
    path = "/status",
    operation_id = "getStatus",
    summary = "Health, as Jira answers load balancers (anonymous)",
    responses((status = 200, description = "Running", body = ServerState), (status = 503, description = "Starting or stopping", body = ServerState)),
    security(()),
    tag = "operations"
)]
pub async fn status(State(state): State<Shared>) -> Response {
    let name = state.phase.name();
    let code = if name == "RUNNING" {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, Json(ServerState { state: name })).into_response()
}

/// `GET /metrics` in the Prometheus text format: to clients on this machine (a local Prometheus
/// or agent) without credentials, to anyone else with an admin's. "This machine" is what the
/// admin API means by it (`crate::authentication::local`): a loopback peer naming this machine, with no sign
/// of a proxy or of a web page.
#[utoipa::path(
    get,
    path = "/metrics",
    operation_id = "getMetrics",
    summary = "Prometheus metrics: to clients on this machine without credentials, to others with an admin's",
    responses((status = 200, description = "The Prometheus text format", body = String, content_type = "text/plain")),
    security((), ("basic" = []), ("bearer" = []), ("session" = [])),
    tag = "operations"
)]
pub async fn metrics(
    State(state): State<Shared>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    uri: Uri,
) -> Result<Response, ApiError> {
    // The one definition of a local caller the admin API uses too (`crate::authentication::local`).
    if !state.is_local(peer, &headers, &uri) {
        let credentials = parse_authorization(
            headers
                .get(header::AUTHORIZATION)
                .map(HeaderValue::as_bytes),
        );
        let mut outcome = decide(
            &state,
            peer,
            RequestHeaders::new(&Method::GET, &headers, &uri),
            credentials,
            "GET",
            "/metrics",
        )
        .await?;
        apply(&state, &mut outcome).await?;
        match outcome.result {
            Ok(p) if state.auth.is_admin(&p.user) => {}
            Ok(_) => {
                return Err(ApiError::Forbidden(
                    "metrics are for administrators, or for clients on this machine".into(),
                ));
            }
            Err(denial) => return Ok(denial_response(&denial)),
        }
    }
    state.metrics.sessions.set(state.sessions.len() as f64);
    Ok((
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
        )],
        state.metrics.render(),
    )
        .into_response())
}
