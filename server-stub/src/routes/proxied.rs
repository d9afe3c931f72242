//! A mapping that answers by proxy (`proxyBaseUrl`, `--proxy-all`, a recording's target): the
//! request sent on through `crate::upstream`, the answer scrubbed of every secret, kept for the
//! recorder, and sent back.
//!
//! The caller has passed the token rules by now (a proxy mapping is always guarded), within its
//! token's scope. What comes back is scrubbed *before* the caller sees it, with the same
//! redaction as the journal (`crate::mocks::redaction`): the secrets the request presented, the
//! operator's upstream credential, the cookies the upstream set, and every field named for a
//! secret (Jira's `rawToken`, …). So a token never gets more than it holds through the proxy —
//! no upstream session, no upstream token — and what a recording writes is exactly what the
//! caller saw, which is what the replay answers.

use axum::body::{Body, Bytes};
use axum::http::request::Parts;
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::Response;

use crate::mocks::journal::Answered;
use crate::mocks::mappings::Answer;
use crate::mocks::redaction::Secrets;
use crate::state::Shared;
use crate::upstream::without_credential_params;
use wiremock_engine::credentials::is_credential_header;
use wiremock_engine::recording::Exchange;

/// The answer to a request a proxy mapping matched, and what the journal keeps of it.
pub async fn answer(
    state: &Shared,
    answer: Answer,
    parts: &Parts,
    url: &str,
    body: Bytes,
    engine_body: &[u8],
) -> (Response, Option<Answered>) {
    let Some(def) = answer.proxy else {
        return (text(StatusCode::INTERNAL_SERVER_ERROR, "no proxy"), None);
    };
    let Some(upstream) = state.upstream.as_ref() else {
        let why = state.upstream_error.as_deref().unwrap_or("not configured");
        return (
            text(
                StatusCode::BAD_GATEWAY,
                &format!("this server cannot send proxied requests: {why}"),
            ),
            None,
        );
    };
    if !answer.delay.is_zero() {
        tokio::time::sleep(answer.delay).await;
    }
    let proxied = match upstream
        .forward(&def, &parts.method, url, &parts.headers, body.clone())
        .await
    {
        Ok(p) => p,
        Err(e) => {
            tracing::warn!(target: "tokenauth", "proxy: {e}");
            let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::BAD_GATEWAY);
            return (text(status, &e.to_string()), None);
        }
    };
    // Every secret this exchange holds, wherever it was learnt.
    let headers = || {
        parts
            .headers
            .iter()
            .filter_map(|(n, v)| Some((n.as_str(), v.to_str().ok()?)))
    };
    let mut secrets = Secrets::presented(headers(), url);
    secrets.add_body_fields(&body);
    if let Some(c) = upstream.credential_value() {
        secrets.add_authorization(c);
    }
    secrets.add_values(proxied.withheld_cookies.iter().map(String::as_str));
    let encoding = |h: &[(String, String)]| {
        h.iter()
            .find(|(n, _)| n.eq_ignore_ascii_case("content-encoding"))
            .map(|(_, v)| v.clone())
    };
    let response_headers: Vec<(String, String)> = proxied
        .headers
        .iter()
        .map(|(n, v)| (n.clone(), secrets.scrub(v)))
        .collect();
    let response_body = secrets
        .body_for_mappings(&proxied.body, encoding(&response_headers).as_deref())
        .unwrap_or_else(|| proxied.body.to_vec());
    state.recorder.capture(Exchange {
        id: wiremock_engine::mapping::random_uuid(),
        method: parts.method.as_str().to_owned(),
        url: secrets.scrub(&without_credential_params(url)),
        request_headers: headers()
            .filter(|(n, _)| !is_credential_header(n))
            .map(|(n, v)| (n.to_owned(), secrets.scrub(v)))
            .collect(),
        // The engine's view: secret fields and presented secrets already cut.
        request_body: engine_body.to_vec(),
        status: proxied.status,
        response_headers: response_headers.clone(),
        response_body: response_body.clone(),
        proxied: true,
    });
    let mut response = Response::new(Body::from(response_body.clone()));
    *response.status_mut() =
        StatusCode::from_u16(proxied.status).unwrap_or(StatusCode::BAD_GATEWAY);
    for (name, value) in &response_headers {
        if let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            response.headers_mut().append(n, v);
        }
    }
    // The mapping's own headers come last, as WireMock adds them to a proxied answer.
    for (name, value) in &answer.headers {
        if let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            response.headers_mut().append(n, v);
        }
    }
    (response, Some((response_headers, response_body)))
}

/// 508 Loop Detected, for a request that already passed through this server; marked, so the
/// proxy that sent it knows the answer for its own and does not record it as the upstream's.
pub fn loop_refused(up: &crate::upstream::Upstream) -> Response {
    let e = crate::upstream::ProxyError::Loop;
    let mut r = text(StatusCode::LOOP_DETECTED, &e.to_string());
    if let Ok(v) = HeaderValue::from_str(&up.via()) {
        r.headers_mut().insert(header::VIA, v);
    }
    r
}

fn text(status: StatusCode, message: &str) -> Response {
    let mut r = Response::new(Body::from(message.to_owned()));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}
