//! The accept loop: hyper-util's server builder (HTTP/1.1 and HTTP/2) with a timer, so a
//! connection that sends no complete request head within the header-read timeout — or sits
//! idle on keep-alive that long — is closed; and a cap on open connections, taken before
//! `accept`, so slow or idle clients can never use up the process's file descriptors.
//!
//! `axum::serve` has neither: without a `Timer`, hyper's header-read timeout is inactive, and
//! connections are accepted without limit (a slowloris holds them all open forever).

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tower::ServiceExt as _;

use crate::faults::{FaultIo, FaultSlot};
use crate::tls::Tls;

/// How long open requests may run on after a shutdown signal before the connections are dropped.
const DRAIN: Duration = Duration::from_secs(30);
/// After `accept` fails (out of file descriptors), wait this long instead of spinning.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

pub struct Limits {
    pub header_read_timeout: Duration,
    pub max_connections: usize,
}

/// Serves `app` on `listener` until `shutdown` resolves, then lets open requests finish. With
/// `tls`, each connection first completes a TLS handshake, within the header-read timeout (a
/// client that starts one and stalls holds its slot no longer than one that stalls in HTTP).
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: Limits,
    tls: Option<Arc<Tls>>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .keep_alive(true);
    builder
        .http2()
        .timer(TokioTimer::new())
        // An HTTP/2 connection that stops answering pings is closed like an idle HTTP/1 one.
        .keep_alive_interval(limits.header_read_timeout)
        .keep_alive_timeout(limits.header_read_timeout)
        .max_concurrent_streams(128);
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let graceful = GracefulShutdown::new();
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
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        // The connection's fault slot: a mapping's `fault` is carried out on the stream, beneath
        // hyper (see `crate::faults`), so each request carries the handle to set it.
        let faults = FaultSlot::new();
        let request_faults = faults.clone();
        let service = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
            req.extensions_mut().insert(ConnectInfo(peer));
            req.extensions_mut().insert(request_faults.clone());
            let app = app.clone();
            async move { Ok::<_, Infallible>(app.oneshot(req).await.unwrap_or_else(|e| match e {})) }
        });
        let watcher = graceful.watcher();
        let builder = builder.clone();
        let acceptor = tls.as_ref().map(|t| t.acceptor());
        let handshake_limit = limits.header_read_timeout;
        tokio::spawn(async move {
            // Errors here are a client's doing (reset, timeout, garbage, a failed handshake):
            // nothing to report.
            match acceptor {
                None => {
                    let io = FaultIo::new(stream, faults);
                    let conn = builder.serve_connection(TokioIo::new(io), service);
                    let _ = watcher.watch(conn.into_owned()).await;
                }
                Some(acceptor) => {
                    let Ok(Ok(tls_stream)) =
                        tokio::time::timeout(handshake_limit, acceptor.accept(stream)).await
                    else {
                        return;
                    };
                    let io = FaultIo::new(tls_stream, faults);
                    let conn = builder.serve_connection(TokioIo::new(io), service);
                    let _ = watcher.watch(conn.into_owned()).await;
                }
            }
            drop(permit);
        });
    }
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => {}
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
