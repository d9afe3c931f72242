//! The deadlines every connection meets whatever its peer does (second review, N4): a first
//! request within `first_request` of accept, and never more than `idle` without a request open
//! — for HTTP/1, never more than `between_requests` (the header-read timeout) from the end of
//! one request to the next head, complete.
//!
//! hyper alone misses both. Its HTTP/1 header-read timer starts only once a byte has arrived
//! (hyper-util's auto builder first waits, without a timer, for the bytes that tell HTTP/1 from
//! an HTTP/2 preface), HTTP/2 has no deadline for its preface, SETTINGS or first HEADERS, and an
//! HTTP/2 connection's keep-alive PING is answered by any live client, so an idle HTTP/2
//! connection lived for ever. Each of them held one of the `--max-connections` slots.
//!
//! So each connection has an [`Activity`]: the service counts requests in ([`Activity::enter`])
//! and out (the [`InFlight`] guard, which travels inside the response body and drops when the
//! body is finished or abandoned), and notes when the last one ended. [`drive`] polls the
//! connection and, beside it, sleeps until the connection would be idle past its deadline:
//! - no request yet, `first_request` after accept (TLS handshake, preface and first head
//!   included): dropped at once — nothing was asked, so nothing is owed;
//! - requests, none open for `idle` (HTTP/2) or `between_requests` (HTTP/1): asked to close
//!   gracefully (HTTP/2 GOAWAY; an idle HTTP/1 connection closes at once, a half-sent head
//!   with it), and dropped if still idle [`GRACE`] later.
//!
//! The HTTP/1 deadline is hyper's header-read timeout done here instead (issue 21): hyper's
//! allocates a timer, reads the clock and enters it in tokio's timer wheel and takes it out
//! again for every request on a keep-alive connection, 1,500 instructions of an anonymous
//! request's 22,000; this watchdog wakes once per deadline, not once per request.
//!
//! PINGs, SETTINGS and WINDOW_UPDATEs never reach the service, so they reset nothing. A request
//! that runs long (a mapped delay, a dribbled body) is open, so it is never cut here.
//!
//! The cost on the request path: an `Arc` clone, an increment, and at the end a clock read, a
//! store and a decrement; no allocation.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use hyper::body::{Body, Frame, SizeHint};
use hyper_util::server::graceful::GracefulConnection;
use tokio::time::Instant;

/// How long a connection asked to close (idle, or the server stopping) may stay idle before it
/// is dropped: a polite client has let go by then; a peer that ignores GOAWAY has not.
pub const GRACE: Duration = Duration::from_secs(1);

#[derive(Clone, Copy, Debug)]
pub struct Deadlines {
    /// From accept to the first request head, complete.
    pub first_request: Duration,
    /// With no request open, once there has been one.
    pub idle: Duration,
    /// HTTP/1: from the end of a request to the next head, complete (at most `idle`).
    pub between_requests: Duration,
}

/// How a connection ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ended {
    /// On its own: the peer closed, an error, or a graceful close that finished.
    Finished,
    /// No request within the first-request deadline: dropped.
    NoRequest,
    /// Idle past the idle deadline: closed, gracefully if the peer let it.
    Idle,
}

/// A connection's requests, as its watchdog sees them. Cloned into the service.
#[derive(Clone, Debug)]
pub struct Activity(Arc<Counts>);

#[derive(Debug)]
struct Counts {
    accepted: Instant,
    /// Requests open: in the service, or their response body not yet finished.
    open: AtomicUsize,
    /// When a request last ended, as nanoseconds after `accepted` plus one; 0: none yet.
    /// Written before `open` goes down, so a watchdog that sees `open` at 0 sees this too.
    last_end: AtomicU64,
    /// An HTTP/2 request arrived: the connection is multiplexed, and idle only by `idle`.
    http2: AtomicBool,
}

/// One open request; the connection is not idle while it lives.
#[derive(Debug)]
pub struct InFlight(Activity);

/// What the watchdog learns from one look at the counts.
#[derive(Debug, PartialEq, Eq)]
enum Idle {
    Busy,
    Since { at: Instant, any_request: bool },
}

impl Deadlines {
    /// How long the connection may go without a request open, once it has had one.
    fn after_requests(&self, activity: &Activity) -> Duration {
        if activity.0.http2.load(Ordering::Relaxed) {
            self.idle
        } else {
            self.between_requests.min(self.idle)
        }
    }
}

impl Activity {
    /// For a connection accepted now.
    pub fn new() -> Self {
        Self(Arc::new(Counts {
            accepted: Instant::now(),
            open: AtomicUsize::new(0),
            last_end: AtomicU64::new(0),
            http2: AtomicBool::new(false),
        }))
    }

    /// The deadline for the first request (and so for the TLS handshake before it).
    pub fn first_request_deadline(&self, d: Deadlines) -> Instant {
        self.0.accepted + d.first_request
    }

    /// A request reached the service; it is open until the guard drops.
    pub fn enter(&self, version: hyper::Version) -> InFlight {
        if version == hyper::Version::HTTP_2 {
            self.0.http2.store(true, Ordering::Relaxed);
        }
        self.0.open.fetch_add(1, Ordering::AcqRel);
        InFlight(self.clone())
    }

    fn idle(&self) -> Idle {
        if self.0.open.load(Ordering::Acquire) > 0 {
            return Idle::Busy;
        }
        match self.0.last_end.load(Ordering::Acquire) {
            0 => Idle::Since {
                at: self.0.accepted,
                any_request: false,
            },
            n => Idle::Since {
                at: self.0.accepted + Duration::from_nanos(n - 1),
                any_request: true,
            },
        }
    }
}

impl Default for Activity {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let c = &self.0.0;
        // Concurrent ends may store out of order by a few nanoseconds; the idle deadline does
        // not care. (A connection older than 584 years saturates.)
        let since = u64::try_from(c.accepted.elapsed().as_nanos()).unwrap_or(u64::MAX - 1);
        c.last_end.store(since + 1, Ordering::Release);
        c.open.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A response body that keeps its request open until it is finished or dropped.
pub struct Tracked<B> {
    body: B,
    _in_flight: InFlight,
}

impl<B> Tracked<B> {
    pub fn new(body: B, in_flight: InFlight) -> Self {
        Self {
            body,
            _in_flight: in_flight,
        }
    }
}

impl<B: Body + Unpin> Body for Tracked<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// Serves `conn` until it ends, misses a deadline, or — once `stop` resolves — has closed
/// gracefully (or stayed idle [`GRACE`] after being asked to).
pub async fn drive<C: GracefulConnection>(
    conn: C,
    activity: &Activity,
    d: Deadlines,
    stop: impl Future<Output = ()>,
) -> Ended {
    tokio::pin!(conn);
    tokio::pin!(stop);
    // Since when, and why, the connection has been asked to close.
    let mut closing: Option<(Instant, Ended)> = None;
    loop {
        let now = Instant::now();
        let wake = match (activity.idle(), closing) {
            // Any request ending later makes the next deadline later than this.
            (Idle::Busy, None) => now + d.after_requests(activity),
            (Idle::Busy, Some(_)) => now + GRACE,
            (Idle::Since { at, any_request }, None) => {
                let limit = if any_request {
                    d.after_requests(activity)
                } else {
                    d.first_request
                };
                if at + limit <= now {
                    if !any_request {
                        return Ended::NoRequest;
                    }
                    conn.as_mut().graceful_shutdown();
                    closing = Some((now, Ended::Idle));
                    continue;
                }
                at + limit
            }
            (Idle::Since { at, .. }, Some((asked, why))) => {
                if at.max(asked) + GRACE <= now {
                    return why;
                }
                at.max(asked) + GRACE
            }
        };
        tokio::select! {
            _ = conn.as_mut() => return closing.map_or(Ended::Finished, |(_, why)| why),
            () = tokio::time::sleep_until(wake) => {}
            () = &mut stop, if closing.is_none() => {
                conn.as_mut().graceful_shutdown();
                closing = Some((Instant::now(), Ended::Finished));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use std::convert::Infallible;

    use axum::body::{Body as AxumBody, Bytes};
    use hyper_util::rt::{TokioExecutor, TokioIo};
    use hyper_util::server::conn::auto;
    use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};

    const D: Deadlines = Deadlines {
        first_request: Duration::from_secs(10),
        idle: Duration::from_secs(60),
        between_requests: Duration::from_secs(10),
    };
    const GET: &[u8] = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n";

    /// A connection served by `answer` (the way the listener serves one) on one end of a
    /// pipe; the other end, and the task that answers how the connection ended.
    fn serve<F, Fut>(
        answer: F,
        stop: tokio::sync::oneshot::Receiver<()>,
    ) -> (DuplexStream, tokio::task::JoinHandle<Ended>)
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = AxumBody> + Send + 'static,
    {
        let (client, server) = tokio::io::duplex(64 * 1024);
        let activity = Activity::new();
        let counted = activity.clone();
        let answer = Arc::new(answer);
        let service = hyper::service::service_fn(move |req: hyper::Request<_>| {
            let in_flight = counted.enter(req.version());
            let answer = Arc::clone(&answer);
            async move {
                let body = answer().await;
                Ok::<_, Infallible>(hyper::Response::new(Tracked::new(body, in_flight)))
            }
        });
        let task = tokio::spawn(async move {
            let builder = auto::Builder::new(TokioExecutor::new());
            let conn = builder.serve_connection(TokioIo::new(server), service);
            drive(conn, &activity, D, async {
                let _ = stop.await;
            })
            .await
        });
        (client, task)
    }

    fn never() -> tokio::sync::oneshot::Receiver<()> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        std::mem::forget(tx);
        rx
    }

    async fn hello() -> AxumBody {
        AxumBody::from("hello")
    }

    /// Reads until `needle` has arrived; answers the time it took.
    async fn read_until(client: &mut DuplexStream, needle: &str) -> Duration {
        let started = Instant::now();
        let mut seen = Vec::new();
        let mut buf = [0u8; 1024];
        while !String::from_utf8_lossy(&seen).contains(needle) {
            let n = client.read(&mut buf).await.unwrap();
            assert!(
                n > 0,
                "closed before {needle:?}: {:?}",
                String::from_utf8_lossy(&seen)
            );
            seen.extend_from_slice(&buf[..n]);
        }
        started.elapsed()
    }

    /// A connection that has had one request answered; and when it was.
    async fn answered_once() -> (DuplexStream, tokio::task::JoinHandle<Ended>, Instant) {
        let (mut client, task) = serve(hello, never());
        client.write_all(GET).await.unwrap();
        read_until(&mut client, "hello").await;
        (client, task, Instant::now())
    }

    #[tokio::test(start_paused = true)]
    async fn a_silent_peer_is_dropped_at_the_first_request_deadline() {
        let (_client, task) = serve(hello, never());
        tokio::time::sleep(D.first_request - Duration::from_millis(1)).await;
        assert!(!task.is_finished());
        tokio::time::sleep(Duration::from_millis(2)).await;
        assert_eq!(task.await.unwrap(), Ended::NoRequest);
    }

    #[tokio::test(start_paused = true)]
    async fn half_a_request_head_is_dropped_at_the_first_request_deadline() {
        let (mut client, task) = serve(hello, never());
        client.write_all(b"GET / HTTP/1.1\r\nHo").await.unwrap();
        tokio::time::sleep(D.first_request + Duration::from_millis(1)).await;
        assert_eq!(task.await.unwrap(), Ended::NoRequest);
    }

    #[tokio::test(start_paused = true)]
    async fn an_answered_http1_connection_is_closed_at_the_header_deadline_and_not_before() {
        let (mut client, task, answered) = answered_once().await;
        tokio::time::sleep(D.between_requests - Duration::from_millis(1)).await;
        assert!(!task.is_finished());
        tokio::time::sleep(Duration::from_millis(2)).await;
        // An idle HTTP/1 connection closes at once when asked to. (Paused time runs on to
        // whatever deadline the task waits for: the clock says which one it was.)
        assert_eq!(task.await.unwrap(), Ended::Idle);
        assert!(answered.elapsed() <= D.between_requests + Duration::from_millis(2));
        assert_eq!(client.read(&mut [0u8; 16]).await.unwrap(), 0);
    }

    /// A slowloris on a kept-alive connection: the first request answered, the second head
    /// sent a few bytes at a time, never finished.
    #[tokio::test(start_paused = true)]
    async fn a_second_head_dribbled_past_the_header_deadline_is_closed() {
        let (mut client, task, answered) = answered_once().await;
        for part in [
            &b"GET / HT"[..],
            b"TP/1.1\r\n",
            b"Host: x\r\n",
            b"X-A: 1\r\n",
        ] {
            tokio::time::sleep(D.between_requests / 4 - Duration::from_millis(10)).await;
            client.write_all(part).await.unwrap();
        }
        assert!(!task.is_finished(), "within the deadline");
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(task.await.unwrap(), Ended::Idle);
        assert!(answered.elapsed() <= D.between_requests + Duration::from_millis(50));
        assert_eq!(
            client.read(&mut [0u8; 16]).await.unwrap(),
            0,
            "closed, unanswered"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_second_request_in_time_is_answered_and_moves_the_deadline() {
        let (mut client, task) = serve(hello, never());
        for _ in 0..3 {
            client.write_all(GET).await.unwrap();
            read_until(&mut client, "hello").await;
            tokio::time::sleep(D.between_requests - Duration::from_secs(1)).await;
        }
        assert!(!task.is_finished());
        let last = Instant::now() - (D.between_requests - Duration::from_secs(1));
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert_eq!(task.await.unwrap(), Ended::Idle);
        assert!(last.elapsed() <= D.between_requests + Duration::from_secs(1));
    }

    #[tokio::test(start_paused = true)]
    async fn a_request_slower_than_both_deadlines_is_answered() {
        let slow = || async {
            tokio::time::sleep(Duration::from_secs(200)).await;
            AxumBody::from("late")
        };
        let (mut client, task) = serve(slow, never());
        client.write_all(GET).await.unwrap();
        let took = read_until(&mut client, "late").await;
        assert!(took >= Duration::from_secs(200), "{took:?}");
        assert!(!task.is_finished());
    }

    #[tokio::test(start_paused = true)]
    async fn a_body_dribbled_for_longer_than_the_idle_deadline_is_sent_whole() {
        let dribble = || async {
            let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, Infallible>>(1);
            tokio::spawn(async move {
                for part in ["one ", "two ", "three"] {
                    tokio::time::sleep(Duration::from_secs(50)).await;
                    let _ = tx.send(Ok(Bytes::from(part))).await;
                }
            });
            AxumBody::from_stream(tokio_stream::wrappers::ReceiverStream::new(rx))
        };
        let (mut client, task) = serve(dribble, never());
        client.write_all(GET).await.unwrap();
        // The three chunks, and the last (empty) one.
        let took = read_until(&mut client, "three\r\n0\r\n\r\n").await;
        assert!(took >= Duration::from_secs(150), "{took:?}");
        // Idle only from the end of the body.
        let ended = Instant::now();
        tokio::time::sleep(D.between_requests - Duration::from_secs(1)).await;
        assert!(!task.is_finished());
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert_eq!(task.await.unwrap(), Ended::Idle);
        assert!(ended.elapsed() <= D.between_requests + Duration::from_secs(1));
    }

    #[tokio::test(start_paused = true)]
    async fn on_stop_a_silent_peer_is_gone_within_the_grace() {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let (_client, task) = serve(hello, rx);
        tokio::time::sleep(Duration::from_secs(1)).await;
        tx.send(()).unwrap();
        tokio::time::sleep(GRACE + Duration::from_millis(1)).await;
        assert!(task.is_finished());
    }

    #[tokio::test(start_paused = true)]
    async fn on_stop_an_open_request_finishes() {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let slow = || async {
            tokio::time::sleep(Duration::from_secs(20)).await;
            AxumBody::from("finished")
        };
        let (mut client, task) = serve(slow, rx);
        client.write_all(GET).await.unwrap();
        tokio::time::sleep(Duration::from_secs(1)).await;
        tx.send(()).unwrap();
        read_until(&mut client, "finished").await;
        assert_eq!(task.await.unwrap(), Ended::Finished);
    }
}
