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
use crate::mocks::proxied_exchange::{Answered as Upstreamed, Sent, scrubbed};
use crate::state::Shared;

/// The answer to a request a proxy mapping matched, and what the journal keeps of it.
pub async fn answer(
    state: &Shared,
    answer: Answer,
    parts: &Parts,
    url: &str,
    body: Bytes,
) -> (Response, Option<Answered>) {
    let Some(def) = answer.proxy else {
        return (text(StatusCode::INTERNAL_SERVER_ERROR, "no proxy"), None);
    };
    let upstream = &state.upstream;
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
    let sent = Sent {
        method: parts.method.as_str(),
        url,
        headers: parts
            .headers
            .iter()
            .filter_map(|(n, v)| Some((n.as_str(), v.to_str().ok()?)))
            .collect(),
        body: &body,
    };
    let answered = Upstreamed {
        status: proxied.status,
        headers: proxied.headers,
        body: proxied.body.to_vec(),
        withheld_cookies: proxied.withheld_cookies,
    };
    let (exchange, response_headers, response_body) = match scrubbed(
        &sent,
        answered,
        upstream.credential_value(),
        upstream.max_body,
    ) {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(target: "tokenauth", "proxy: {e}");
            return (text(StatusCode::BAD_GATEWAY, &e.to_string()), None);
        }
    };
    // The write (and its fsync) off the async threads; the answer waits for it, so what was
    // answered is on disk even if the process is killed the next moment.
    let st = std::sync::Arc::clone(state);
    let _ = tokio::task::spawn_blocking(move || st.recorder.capture(exchange)).await;
    let mut response = Response::new(Body::from(response_body.clone()));
    *response.status_mut() =
        StatusCode::from_u16(proxied.status).unwrap_or(StatusCode::BAD_GATEWAY);
    append_headers(&mut response, &response_headers);
    // The mapping's own headers come last, as WireMock adds them to a proxied answer.
    append_headers(&mut response, &answer.headers);
    (response, Some((response_headers, response_body)))
}

/// Adds each header to `response`; one that HTTP cannot carry is left out, not a failure.
pub fn append_headers(response: &mut Response, headers: &[(String, String)]) {
    for (name, value) in headers {
        if let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            response.headers_mut().append(n, v);
        }
    }
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
