//! The accept loop: hyper-util's server builder (HTTP/1.1 and HTTP/2) with a timer, a cap on
//! open connections taken before `accept` (so slow or idle clients can never use up the
//! process's file descriptors), each client's share of that cap (`super::peers`), and the
//! deadlines every connection meets (`super::deadlines`): a first request within the
//! header-read timeout of accept, and a close once no request has been open for the idle
//! timeout, whatever PINGs arrive.
//!
//! `axum::serve` has none of it: without a `Timer`, hyper's header-read timeout is inactive, and
//! connections are accepted without limit (a slowloris holds them all open forever).

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use metrics::Counter;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tower::ServiceExt as _;

use super::deadlines::{self, Activity, Deadlines, Ended, Tracked};
use super::faults::{FaultIo, FaultSlot};
use super::peers::Shares;
use super::tls::Tls;

/// How long open requests may run on after a shutdown signal before the connections are dropped.
const DRAIN: Duration = Duration::from_secs(30);
/// After `accept` fails (out of file descriptors), wait this long instead of spinning.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

pub struct Limits {
    /// For a request head; and from accept to the first request (TLS handshake included).
    pub header_read_timeout: Duration,
    /// With no request open (HTTP/2 PINGs do not count).
    pub idle_timeout: Duration,
    pub max_connections: usize,
    /// Connections one client (an IPv4 address, an IPv6 /64) may hold at once.
    pub max_connections_per_client: usize,
    pub counters: ConnectionCounters,
}

/// What `/metrics` counts of the connections closed by the server.
#[derive(Clone)]
pub struct ConnectionCounters {
    /// Closed at accept: the client held its share.
    pub refused_per_client: Counter,
    /// No first request within the deadline.
    pub closed_no_request: Counter,
    /// Idle past the idle timeout.
    pub closed_idle: Counter,
}

impl ConnectionCounters {
    fn ended(&self, ended: Ended) {
        match ended {
            Ended::Finished => {}
            Ended::NoRequest => self.closed_no_request.increment(1),
            Ended::Idle => self.closed_idle.increment(1),
        }
    }
}

/// Serves `app` on `listener` until `shutdown` resolves, then lets open requests finish. With
/// `tls`, each connection first completes a TLS handshake, within the first-request deadline
/// (a client that starts one and stalls holds its slot no longer than one that stalls in HTTP).
pub async fn serve<S>(
    listener: TcpListener,
    app: S,
    limits: Limits,
    tls: Option<Arc<Tls>>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()>
where
    S: tower::Service<
            hyper::Request<Incoming>,
            Response = axum::response::Response,
            Error = Infallible,
        > + Clone
        + Send
        + Sync
        + 'static,
    S::Future: Send + 'static,
{
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        // hyper's header-read timer costs a timer per request; the watchdog
        // (`super::deadlines`) keeps the same deadline per connection instead.
        .header_read_timeout(None)
        .keep_alive(true);
    builder
        .http2()
        .timer(TokioTimer::new())
        // An HTTP/2 connection that stops answering pings is closed like an idle HTTP/1 one.
        // (One that answers them is closed by the idle deadline.)
        .keep_alive_interval(limits.header_read_timeout)
        .keep_alive_timeout(limits.header_read_timeout)
        .max_concurrent_streams(128);
    let deadlines = Deadlines {
        first_request: limits.header_read_timeout,
        idle: limits.idle_timeout,
        between_requests: limits.header_read_timeout,
    };
    let cap = limits.max_connections.max(1);
    let slots = Arc::new(Semaphore::new(cap));
    let shares = Shares::new(limits.max_connections_per_client);
    // Set once the server stops: each connection then closes gracefully.
    let (stopping, stop) = tokio::sync::watch::channel(false);
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            p = Arc::clone(&slots).acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break,
            },
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        // Past its share, closed at once, unread: the slot goes back to the cap at once.
        let Some(share) = shares.take(peer.ip()) else {
            limits.counters.refused_per_client.increment(1);
            tracing::debug!(%peer, "connection closed: this client holds its share already");
            continue;
        };
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        // The connection's fault slot: a mapping's `fault` is carried out on the stream, beneath
        // hyper (see `super::faults`), so each request carries the handle to set it.
        let faults = FaultSlot::new();
        let request_faults = faults.clone();
        let activity = Activity::new();
        let counted = activity.clone();
        let service = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
            // Open until its response body is finished or dropped (`super::deadlines`).
            let in_flight = counted.enter(req.version());
            req.extensions_mut().insert(ConnectInfo(peer));
            req.extensions_mut().insert(request_faults.clone());
            let app = app.clone();
            async move {
                let res = app.oneshot(req).await.unwrap_or_else(|e| match e {});
                Ok::<_, Infallible>(res.map(|body| Tracked::new(body, in_flight)))
            }
        });
        let builder = builder.clone();
        let acceptor = tls.as_ref().map(|t| t.acceptor());
        let mut stop = stop.clone();
        let counters = limits.counters.clone();
        tokio::spawn(async move {
            let stop = async move {
                let _ = stop.wait_for(|s| *s).await;
            };
            // Errors here are a client's doing (reset, timeout, garbage, a failed handshake):
            // nothing to report.
            let ended = match acceptor {
                None => {
                    let io = TokioIo::new(FaultIo::new(stream, faults));
                    let conn = builder.serve_connection(io, service);
                    deadlines::drive(conn, &activity, deadlines, stop).await
                }
                Some(acceptor) => {
                    let deadline = activity.first_request_deadline(deadlines);
                    match tokio::time::timeout_at(deadline, acceptor.accept(stream)).await {
                        Err(_) => Ended::NoRequest,
                        Ok(Err(_)) => Ended::Finished,
                        Ok(Ok(tls_stream)) => {
                            let io = TokioIo::new(FaultIo::new(tls_stream, faults));
                            let conn = builder.serve_connection(io, service);
                            deadlines::drive(conn, &activity, deadlines, stop).await
                        }
                    }
                }
            };
            counters.ended(ended);
            drop(share);
            drop(permit);
        });
    }
    drop(listener);
    let _ = stopping.send(true);
    // Every connection's task holds a permit until it ends: all back means all closed.
    let all = u32::try_from(cap).unwrap_or(u32::MAX);
    tokio::select! {
        _ = slots.acquire_many(all) => {}
        () = tokio::time::sleep(DRAIN) => {
            tracing::warn!("requests still open {}s after shutdown began; closing them", DRAIN.as_secs());
        }
    }
    Ok(())
}

/// The connection cap that fits this process: `wanted`, but leaving room below the open-files
/// limit for the database, logs and the blocking pool. Returns the cap and the limit it met, if
/// it had to be lowered.
#[cfg(unix)]
pub fn fit_connections(wanted: usize) -> (usize, Option<u64>) {
    use rustix::process::{Resource, getrlimit};
    const RESERVED: u64 = 64;
    match getrlimit(Resource::Nofile).current {
        Some(soft) if soft < wanted as u64 + RESERVED => {
            let fit = soft.saturating_sub(RESERVED).max(1);
            (usize::try_from(fit).unwrap_or(1), Some(soft))
        }
        _ => (wanted, None),
    }
}

#[cfg(not(unix))]
pub fn fit_connections(wanted: usize) -> (usize, Option<u64>) {
    (wanted, None)
}
