//! The one service in front of the router (issue 21): the request timeout, the body limit,
//! the journal and the token rules; answered in the call itself when nothing has to wait, in
//! one future per request otherwise.
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
use std::pin::{Pin, pin};
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
use super::middleware::{Caller, Pending, authenticate_now};
use crate::config::BODY_LIMIT;
use crate::error::ApiError;
use crate::mocks::guard::{is_admin_api, is_anonymous};
use crate::mocks::journal::{Captured, Decided, Served};
use crate::operations::metrics::Outcome;
use crate::state::Shared;
use tokenauth_core::auth::Principal;
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
    type Future = FrontFuture;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    /// Most requests (the anonymous `serverInfo`, a cached token's `myself`, a refusal) are
    /// answered here, in the call: no future is built, allocated or moved for them (issue 21).
    /// The others continue in [`later`], the one future that waits.
    fn call(&mut self, req: axum::http::Request<B>) -> Self::Future {
        let state = &self.state;
        let mut req = req.map(Body::new);
        let captured = capture(state, &req);
        let then = match gate(state, &req) {
            Gate::Answered(response) => return answered(state, captured, response, None),
            Gate::Open => Then::Run(None),
            Gate::Guarded { peer, hot } => {
                match authenticate_now(state, peer, req.method(), req.uri(), req.headers()) {
                    Caller::Decided(decision) => match admit(&mut req, hot, decision) {
                        Admitted::Routes(decided) => Then::Run(decided),
                        Admitted::Answered(response, decided) => {
                            return answered(state, captured, response, decided);
                        }
                    },
                    Caller::Pending(pending) => Then::Wait(pending, hot),
                }
            }
        };
        let limit = state.config.request_timeout;
        let later = later(state.clone(), self.routes.clone(), req, captured, then);
        FrontFuture::Waiting(Box::pin(Answer {
            timed: within(limit, later),
        }))
    }
}

/// The answer of [`Front`]: given in the call, or still to come.
pub enum FrontFuture {
    Ready(Option<Response>),
    Waiting(Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>),
}

impl Future for FrontFuture {
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.get_mut() {
            FrontFuture::Ready(answer) => match answer.take() {
                Some(response) => Poll::Ready(Ok(response)),
                // Polled after it was ready: a bug of the caller, answered, not a panic.
                None => Poll::Ready(Ok(
                    ApiError::Internal("answer polled twice".into()).into_response()
                )),
            },
            FrontFuture::Waiting(future) => future.as_mut().poll(cx),
        }
    }
}

/// An answer given in the call, journaled like any other.
fn answered(
    state: &Shared,
    captured: Option<Captured>,
    response: Response,
    decided: Option<Decided>,
) -> FrontFuture {
    FrontFuture::Ready(Some(journal(state, captured, response, decided)))
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
    /// timer is started only when `fut` first has to wait: most requests that get this far (a
    /// mapped answer without a delay, a route of the server's own API) are answered in their
    /// first poll, and they no longer put an entry into the runtime's timer wheel and take it
    /// out again (issue 21). The
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

/// What the journal keeps of a request, taken before anything of it runs; none when the
/// journal is off, and for the admin API's own calls (WireMock does not journal them).
fn capture(state: &Shared, req: &Request) -> Option<Captured> {
    (state.journal.enabled() && !is_admin_api(req.uri().path())).then(|| {
        Captured::new(
            req.method(),
            req.uri(),
            req.headers(),
            state.scheme(),
            req.extensions()
                .get::<ConnectInfo<SocketAddr>>()
                .map(|ConnectInfo(p)| p.ip().to_canonical()),
        )
    })
}

/// Records a request in the journal with what became of it: the decision of the token rules,
/// and what the mappings did (`journal::Served`).
fn journal(
    state: &Shared,
    captured: Option<Captured>,
    mut response: Response,
    decided: Option<Decided>,
) -> Response {
    if let Some(captured) = captured {
        // A refusal, or a guarded mapping's decision outside `/rest/`, travels on the response.
        let decided = decided.or_else(|| response.extensions_mut().remove::<Decided>());
        let served = response.extensions_mut().remove::<Served>();
        state
            .journal
            .record_captured(captured, response.status().as_u16(), decided, served);
    }
    response
}

/// What a request still waits for, past the call.
enum Then {
    /// The routes, with what the journal notes of the decision (the principal, if any, is in
    /// the request's extensions).
    Run(Option<Decided>),
    /// The token rules (a secret to hash, a delay, writes), then the routes or `myself`.
    Wait(Pending, Option<Hot>),
}

/// The request's future, for what waits: the rest of the token rules, then the routes; the
/// journal last. Awaited futures are pinned in place (`pin!`), not moved into a local: each
/// local an `async fn` holds across an await takes room of its own in its future.
async fn later(
    state: Shared,
    routes: Limited,
    mut req: Request,
    captured: Option<Captured>,
    then: Then,
) -> Response {
    let state = &state;
    let decided = match then {
        Then::Run(decided) => decided,
        Then::Wait(pending, hot) => {
            let decision = pin!(pending.finish(state)).await;
            match admit(&mut req, hot, decision) {
                Admitted::Routes(decided) => decided,
                Admitted::Answered(response, decided) => {
                    return journal(state, captured, response, decided);
                }
            }
        }
    };
    let response = match pin!(routes.oneshot(req)).await {
        Ok(response) => response,
        Err(e) => match e {},
    };
    journal(state, captured, response, decided)
}

/// What the token rules' decision leaves a request, with what the journal notes of it.
enum Admitted {
    /// The routes, with the principal in the request's extensions.
    Routes(Option<Decided>),
    /// An answer already: `myself`'s (`hot.rs`), or the refusal.
    Answered(Response, Option<Decided>),
}

/// The same for a decision given in the call and for one given after a wait.
fn admit(
    req: &mut Request,
    hot: Option<Hot>,
    decision: Result<(Principal, Option<Decided>), Response>,
) -> Admitted {
    match decision {
        Ok((principal, decided)) if hot == Some(Hot::Myself) => {
            Admitted::Answered(myself_answer(&principal), decided)
        }
        Ok((principal, decided)) => {
            req.extensions_mut().insert(principal);
            Admitted::Routes(decided)
        }
        Err(refusal) => Admitted::Answered(refusal, None),
    }
}

/// What the token rules make of a request before anything of it runs.
enum Gate {
    /// Answered already: refused, or the anonymous `serverInfo` (`hot.rs`).
    Answered(Response),
    /// Anonymous (SPEC §3): the routes, without a principal.
    Open,
    /// The token rules decide, for the caller at `peer`.
    Guarded { peer: SocketAddr, hot: Option<Hot> },
}

fn gate(state: &Shared, req: &Request) -> Gate {
    let declared_len = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared_len.is_some_and(|n| n > BODY_LIMIT) {
        return Gate::Answered(ApiError::PayloadTooLarge.into_response());
    }
    // A request this server itself sent on (a proxy aimed back here, directly or through
    // another host): refused before anything else, whatever credentials it carries.
    if state.upstream.passed_here(req.headers()) {
        return Gate::Answered(super::proxied::loop_refused(&state.upstream));
    }
    let Some(ConnectInfo(peer)) = req.extensions().get::<ConnectInfo<SocketAddr>>().copied() else {
        return Gate::Answered(ApiError::Internal("no peer address".into()).into_response());
    };
    let path = req.uri().path();
    let hot = Hot::of(req.method(), path);
    // The WireMock admin API is open to this machine only; from elsewhere it takes an
    // administrator's credentials, decided like any `/rest/` request.
    let remote_admin = is_admin_api(path) && !state.is_local(peer, req.headers(), req.uri());
    if !is_anonymous(req.method(), path) || remote_admin {
        return Gate::Guarded { peer, hot };
    }
    // The session login decides (and is counted) in its handler.
    if !(req.method() == Method::POST && path == SESSION_PATH) {
        state.metrics.request(Outcome::Anonymous);
    }
    if hot == Some(Hot::ServerInfo) {
        return Gate::Answered(server_info_answer(state, &base_url(state, req.headers())));
    }
    Gate::Open
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
