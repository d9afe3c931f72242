//! The one service in front of the router (issue 21): the request timeout, the body limit,
//! the journal and the token rules, in one future per request.
//!
//! They were four `Router::layer`s, and axum applies a layer to each route: every request paid
//! for four boxed services cloned and four boxed futures. Around the whole router they cost
//! one boxed future, and the journal and the token rules share what they read of the request.
//!
//! The order is the one the layers had, outermost first: the timeout (a request past it gets
//! 408 and is not journaled), the body limit, the journal (it records refusals too, with their
//! reason), the token rules.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, DefaultBodyLimit, Request};
use axum::http::{Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tower::{Layer as _, Service, ServiceExt as _};

use super::extract::base_url;
use super::hot::Hot;
use super::jira::{myself_answer, server_info_answer};
use super::middleware::authenticate_caller;
use crate::config::BODY_LIMIT;
use crate::error::ApiError;
use crate::mocks::guard::{is_admin_api, is_anonymous};
use crate::mocks::journal::{Captured, Decided, Served};
use crate::operations::metrics::Outcome;
use crate::state::Shared;
use tokenauth_core::scope::SESSION_PATH;

type Limited = <DefaultBodyLimit as tower::Layer<Router>>::Service;

/// The server's service: [`super::router`] behind the rules of this file.
#[derive(Clone)]
pub struct Front {
    state: Shared,
    routes: Limited,
}

impl Front {
    pub fn new(state: Shared, routes: Router) -> Self {
        Front {
            state,
            routes: DefaultBodyLimit::max(BODY_LIMIT).layer(routes),
        }
    }
}

impl<B> Service<axum::http::Request<B>> for Front
where
    B: axum::body::HttpBody<Data = axum::body::Bytes> + Send + 'static,
    B::Error: Into<axum::BoxError>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: axum::http::Request<B>) -> Self::Future {
        let limit = self.state.config.request_timeout;
        let journaled = journaled(self.state.clone(), self.routes.clone(), req.map(Body::new));
        Box::pin(Answer {
            timed: within(limit, journaled),
        })
    }
}

pin_project_lite::pin_project! {
    /// The request's answer, or 408 once it has waited the request timeout.
    ///
    /// Structs, not `async` blocks (issue 21): an `async fn within` kept its argument and the
    /// pinned copy of it both, and the block around it a third, so each request's future was
    /// 5.9 KiB, copied from one frame to the next as it was built.
    struct Answer<F> {
        #[pin]
        timed: Within<F>,
    }
}

impl<F: Future<Output = Response>> Future for Answer<F> {
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        (self.project().timed.poll(cx))
            .map(|answer| Ok(answer.unwrap_or_else(|| StatusCode::REQUEST_TIMEOUT.into_response())))
    }
}

pin_project_lite::pin_project! {
    /// `fut`'s output, or `None` once it has waited `limit`. Unlike `tokio::time::timeout`, the
    /// timer is started only when `fut` first has to wait: most requests (anonymous, a cached
    /// token, a mapped answer without a delay) are answered in their first poll, and they no
    /// longer put an entry into the runtime's timer wheel and take it out again (issue 21). The
    /// limit so runs from the first wait, not from the call: later by the CPU time of one poll.
    struct Within<F> {
        #[pin]
        fut: F,
        #[pin]
        timer: Option<tokio::time::Sleep>,
        limit: std::time::Duration,
    }
}

fn within<F: Future>(limit: std::time::Duration, fut: F) -> Within<F> {
    Within {
        fut,
        timer: None,
        limit,
    }
}

impl<F: Future> Future for Within<F> {
    type Output = Option<F::Output>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        if let Poll::Ready(out) = this.fut.poll(cx) {
            return Poll::Ready(Some(out));
        }
        if this.timer.is_none() {
            this.timer.set(Some(tokio::time::sleep(*this.limit)));
        }
        match this.timer.as_pin_mut().map(|t| t.poll(cx)) {
            Some(Poll::Ready(())) => Poll::Ready(None),
            _ => Poll::Pending,
        }
    }
}

/// Records each request in the journal with what became of it: the decision of the token
/// rules, and what the mappings did (`journal::Served`). The admin API's own calls are not
/// journaled, as WireMock does not journal them.
async fn journaled(state: Shared, routes: Limited, req: Request) -> Response {
    let state = &state;
    if !state.journal.enabled() || is_admin_api(req.uri().path()) {
        return guarded(state, routes, req).await.0;
    }
    let captured = Captured::new(
        req.method(),
        req.uri(),
        req.headers(),
        state.scheme(),
        req.extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(p)| p.ip().to_canonical()),
    );
    let (mut response, decided) = guarded(state, routes, req).await;
    // A refusal, or a guarded mapping's decision outside `/rest/`, travels on the response.
    let decided = decided.or_else(|| response.extensions_mut().remove::<Decided>());
    let served = response.extensions_mut().remove::<Served>();
    state
        .journal
        .record_captured(captured, response.status().as_u16(), decided, served);
    response
}

/// Authentication of every `/rest/` request except the anonymous ones (SPEC §3), then the
/// routes with the principal as a request extension; with what the journal notes of the
/// decision.
async fn guarded(state: &Shared, routes: Limited, mut req: Request) -> (Response, Option<Decided>) {
    let declared_len = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared_len.is_some_and(|n| n > BODY_LIMIT) {
        return (ApiError::PayloadTooLarge.into_response(), None);
    }
    // A request this server itself sent on (a proxy aimed back here, directly or through
    // another host): refused before anything else, whatever credentials it carries.
    if state.upstream.passed_here(req.headers()) {
        return (super::proxied::loop_refused(&state.upstream), None);
    }
    let Some(ConnectInfo(peer)) = req.extensions().get::<ConnectInfo<SocketAddr>>().copied() else {
        return (
            ApiError::Internal("no peer address".into()).into_response(),
            None,
        );
    };
    let path = req.uri().path();
    let hot = Hot::of(req.method(), path);
    // The WireMock admin API is open to this machine only; from elsewhere it takes an
    // administrator's credentials, decided like any `/rest/` request.
    let remote_admin = is_admin_api(path) && !state.is_local(peer, req.headers(), req.uri());
    if is_anonymous(req.method(), path) && !remote_admin {
        // The session login decides (and is counted) in its handler.
        if !(req.method() == Method::POST && path == SESSION_PATH) {
            state.metrics.request(Outcome::Anonymous);
        }
        if hot == Some(Hot::ServerInfo) {
            return (
                server_info_answer(state, &base_url(state, req.headers())),
                None,
            );
        }
        return (run(routes, req).await, None);
    }
    match authenticate_caller(state, peer, req.method(), req.uri(), req.headers()).await {
        Ok((principal, decided)) if hot == Some(Hot::Myself) => {
            (myself_answer(&principal), decided)
        }
        Ok((principal, decided)) => {
            req.extensions_mut().insert(principal);
            (run(routes, req).await, decided)
        }
        Err(refusal) => (refusal, None),
    }
}

async fn run(routes: Limited, req: Request) -> Response {
    match routes.oneshot(req).await {
        Ok(response) => response,
        Err(e) => match e {},
    }
}

#[cfg(test)]
mod tests {
    use super::within;
    use std::time::Duration;

    const LIMIT: Duration = Duration::from_secs(30);

    #[tokio::test(start_paused = true)]
    async fn an_answer_ready_at_once_is_answered() {
        assert_eq!(within(LIMIT, async { 7 }).await, Some(7));
    }

    #[tokio::test(start_paused = true)]
    async fn an_answer_that_waits_less_than_the_limit_is_answered() {
        let slow = async {
            tokio::time::sleep(LIMIT - Duration::from_millis(1)).await;
            7
        };
        assert_eq!(within(LIMIT, slow).await, Some(7));
    }

    #[tokio::test(start_paused = true)]
    async fn a_request_that_waits_past_the_limit_is_cut_at_the_limit() {
        let started = tokio::time::Instant::now();
        let never = std::future::pending::<()>();
        assert_eq!(within(LIMIT, never).await, None);
        assert_eq!(started.elapsed(), LIMIT);
    }
}
