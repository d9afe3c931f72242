//! WireMock's `fault`s (SPEC §8): a matched mapping that asks the connection to misbehave
//! instead of answering. hyper owns the connection and only ever writes well-formed responses,
//! so a fault is carried out beneath it:
//!
//! - the listener gives every connection a [`FaultSlot`] and puts a clone of it into each
//!   request's extensions;
//! - the mapped-answer handler, once the token rules passed and a fault mapping matched (after
//!   its delay), sets the slot and returns a response that is never sent;
//! - the connection's stream is wrapped in a [`FaultIo`], which sees the slot set at hyper's next
//!   write (the response it would send), does what WireMock 3 does on the raw stream instead, and
//!   then fails every operation, so hyper drops the connection (and with it the socket).
//!
//! What WireMock 3.13.2 sends (checked on the wire): `CONNECTION_RESET_BY_PEER` sets SO_LINGER 0
//! and closes (the client reads a reset); `EMPTY_RESPONSE` closes with nothing written;
//! `MALFORMED_RESPONSE_CHUNK` writes a bare `200` head with chunked encoding, then [`GARBAGE`],
//! which is no chunk size, then closes; `RANDOM_DATA_THEN_CLOSE` writes [`GARBAGE`] (the same
//! fixed bytes, despite the name) and closes. (Jetty, under WireMock, announces chunks only to a
//! request that keeps the connection alive; see [`malformed_head`].)
//!
//! Over TLS the wrapper sits above the TLS stream: the bytes go through TLS and a graceful close
//! sends close_notify; a reset sets SO_LINGER 0 on the TCP socket under it. On HTTP/2 the slot
//! belongs to the connection, not the stream: a fault ends the whole connection, its other
//! streams included (WireMock's faults are connection-level too).

use std::io;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};

use hyper::Version;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

use wiremock_engine::Fault;

/// What WireMock writes for `RANDOM_DATA_THEN_CLOSE` and after the head of
/// `MALFORMED_RESPONSE_CHUNK` (its `JettyFaultInjector.GARBAGE`).
pub const GARBAGE: &[u8] = b"lskdu018973t09sylgasjkfg1][]'./.sdlv";
/// The head WireMock commits before the garbage of `MALFORMED_RESPONSE_CHUNK`, to a request
/// that keeps the connection alive: a 200 whatever the mapping's status, without its headers,
/// announcing chunks that never come.
pub const MALFORMED_HEAD: &[u8] = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";

/// The head WireMock (Jetty) writes for `MALFORMED_RESPONSE_CHUNK`: a body of unknown length is
/// chunked only for an HTTP/1.1 request that keeps the connection; otherwise it is delimited by
/// the close, so the client reads the garbage as the body of a 200 (as it does from WireMock).
/// `connection` is the request's `Connection` header.
pub fn malformed_head(version: Version, connection: Option<&str>) -> &'static [u8] {
    let has = |token: &str| {
        connection.is_some_and(|c| c.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
    };
    if version == Version::HTTP_10 {
        if has("keep-alive") {
            b"HTTP/1.1 200 OK\r\nConnection: keep-alive\r\n\r\n"
        } else {
            b"HTTP/1.1 200 OK\r\n\r\n"
        }
    } else if has("close") {
        b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n"
    } else {
        MALFORMED_HEAD
    }
}

/// What the connection does in place of the response.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Action {
    /// SO_LINGER 0, then close.
    Reset,
    /// Write these bytes (maybe none), then close.
    WriteThenClose(Vec<u8>),
}

/// The fault a connection's request asked for, shared by the connection's stream and its
/// requests. Set at most once: a fault ends the connection, so there is never a second.
#[derive(Clone, Debug, Default)]
pub struct FaultSlot(Arc<OnceLock<Action>>);

impl FaultSlot {
    pub fn new() -> Self {
        Self::default()
    }

    /// Asks the connection to carry out `fault` instead of sending the response to the request
    /// of this `version` and `Connection` header.
    pub fn set(&self, fault: Fault, version: Version, connection: Option<&str>) {
        let _ = self.0.set(action(fault, version, connection));
    }
}

/// What WireMock does on the connection for `fault`.
fn action(fault: Fault, version: Version, connection: Option<&str>) -> Action {
    match fault {
        Fault::ConnectionResetByPeer => Action::Reset,
        Fault::EmptyResponse => Action::WriteThenClose(Vec::new()),
        Fault::MalformedResponseChunk => {
            Action::WriteThenClose([malformed_head(version, connection), GARBAGE].concat())
        }
        Fault::RandomDataThenClose => Action::WriteThenClose(GARBAGE.to_vec()),
    }
}

/// A stream with a TCP socket at the bottom, which a reset needs.
pub trait TcpBelow {
    fn tcp(&self) -> &TcpStream;
}

impl TcpBelow for TcpStream {
    fn tcp(&self) -> &TcpStream {
        self
    }
}

impl TcpBelow for tokio_rustls::server::TlsStream<TcpStream> {
    fn tcp(&self) -> &TcpStream {
        self.get_ref().0
    }
}

enum State {
    /// No fault asked for: everything passes through.
    Serving,
    /// Writing a fault's bytes (from this offset), then flushing.
    Writing(Vec<u8>, usize),
    /// Closing the write side gracefully (TCP FIN; over TLS, close_notify first).
    Closing,
    /// Done: every operation fails, so hyper drops the connection and the socket closes.
    Failed,
}

/// A connection's stream, which carries out the fault its [`FaultSlot`] names in place of what
/// hyper writes.
pub struct FaultIo<S> {
    inner: S,
    slot: FaultSlot,
    state: State,
}

impl<S> FaultIo<S> {
    pub fn new(inner: S, slot: FaultSlot) -> Self {
        Self {
            inner,
            slot,
            state: State::Serving,
        }
    }
}

fn ended() -> io::Error {
    io::Error::new(
        io::ErrorKind::ConnectionAborted,
        "a mapping's fault ended the connection",
    )
}

impl<S: AsyncWrite + TcpBelow + Unpin> FaultIo<S> {
    /// `None` while no fault is asked for; otherwise drives the fault and, once it is carried
    /// out, the error every operation then gets.
    fn poll_fault(&mut self, cx: &mut Context<'_>) -> Option<Poll<io::Error>> {
        loop {
            match &mut self.state {
                State::Serving => {
                    self.state = match self.slot.0.get()? {
                        Action::WriteThenClose(bytes) => State::Writing(bytes.clone(), 0),
                        Action::Reset => {
                            // SO_LINGER 0: the close that follows (when hyper drops the
                            // connection) sends RST instead of FIN.
                            let _ = self.inner.tcp().set_zero_linger();
                            State::Failed
                        }
                    };
                }
                State::Writing(bytes, at) => {
                    let inner = Pin::new(&mut self.inner);
                    if *at < bytes.len() {
                        match inner.poll_write(cx, &bytes[*at..]) {
                            Poll::Pending => return Some(Poll::Pending),
                            Poll::Ready(Ok(n)) if n > 0 => *at += n,
                            // The client is gone: nothing left to misbehave to.
                            Poll::Ready(_) => self.state = State::Failed,
                        }
                    } else {
                        match inner.poll_flush(cx) {
                            Poll::Pending => return Some(Poll::Pending),
                            Poll::Ready(_) => self.state = State::Closing,
                        }
                    }
                }
                State::Closing => match Pin::new(&mut self.inner).poll_shutdown(cx) {
                    Poll::Pending => return Some(Poll::Pending),
                    Poll::Ready(_) => self.state = State::Failed,
                },
                State::Failed => return Some(Poll::Ready(ended())),
            }
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for FaultIo<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if matches!(self.state, State::Failed) {
            return Poll::Ready(Err(ended()));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + TcpBelow + Unpin> AsyncWrite for FaultIo<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if let Some(p) = self.poll_fault(cx) {
            return p.map(Err);
        }
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        if let Some(p) = self.poll_fault(cx) {
            return p.map(Err);
        }
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if let Some(p) = self.poll_fault(cx) {
            return p.map(Err);
        }
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if let Some(p) = self.poll_fault(cx) {
            return p.map(Err);
        }
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    use super::*;

    /// A loopback pair: the server side wrapped, the client side raw.
    async fn pair() -> (FaultIo<TcpStream>, FaultSlot, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (server, _) = listener.accept().await.unwrap();
        let slot = FaultSlot::new();
        (FaultIo::new(server, slot.clone()), slot, client)
    }

    /// What the client reads until the connection ends, and how it ends.
    async fn read_all(mut client: TcpStream) -> (Vec<u8>, io::Result<()>) {
        let mut got = Vec::new();
        let mut buf = [0u8; 1024];
        loop {
            match client.read(&mut buf).await {
                Ok(0) => return (got, Ok(())),
                Ok(n) => got.extend_from_slice(&buf[..n]),
                Err(e) => return (got, Err(e)),
            }
        }
    }

    /// The server side writes a response as hyper would, then drops the stream as hyper does
    /// after an error.
    async fn respond(mut io: FaultIo<TcpStream>) -> io::Result<()> {
        let r = io
            .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
            .await;
        let r = r.and(io.flush().await);
        drop(io);
        r
    }

    fn set(slot: &FaultSlot, fault: Fault) {
        slot.set(fault, Version::HTTP_11, None);
    }

    #[test]
    fn the_malformed_head_is_jettys_for_how_the_request_left_the_connection() {
        let head = |v, c| String::from_utf8_lossy(malformed_head(v, c)).into_owned();
        let h11 = Version::HTTP_11;
        assert_eq!(
            head(h11, None),
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        );
        assert_eq!(head(h11, Some("keep-alive")), head(h11, None));
        assert_eq!(
            head(h11, Some("Upgrade, CLOSE")),
            "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n"
        );
        assert_eq!(head(Version::HTTP_10, None), "HTTP/1.1 200 OK\r\n\r\n");
        assert_eq!(
            head(Version::HTTP_10, Some("Keep-Alive")),
            "HTTP/1.1 200 OK\r\nConnection: keep-alive\r\n\r\n"
        );
    }

    #[tokio::test]
    async fn without_a_fault_the_stream_passes_through() {
        let (io, _slot, client) = pair().await;
        respond(io).await.unwrap();
        let (got, end) = read_all(client).await;
        assert_eq!(got, b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok");
        end.unwrap();
    }

    #[tokio::test]
    async fn each_fault_replaces_the_response() {
        for (fault, sent) in [
            (Fault::EmptyResponse, Vec::new()),
            (Fault::RandomDataThenClose, GARBAGE.to_vec()),
            (
                Fault::MalformedResponseChunk,
                [MALFORMED_HEAD, GARBAGE].concat(),
            ),
        ] {
            let (io, slot, client) = pair().await;
            set(&slot, fault);
            // hyper sees its write fail, so it stops serving the connection.
            assert!(respond(io).await.is_err(), "{fault:?}");
            let (got, end) = read_all(client).await;
            assert_eq!(got, sent, "{fault:?}");
            // A clean close (FIN), not a reset.
            end.unwrap();
        }
    }

    #[tokio::test]
    async fn a_reset_is_a_reset() {
        let (io, slot, client) = pair().await;
        set(&slot, Fault::ConnectionResetByPeer);
        assert!(respond(io).await.is_err());
        let (got, end) = read_all(client).await;
        assert!(got.is_empty());
        assert_eq!(
            end.expect_err("a reset").kind(),
            io::ErrorKind::ConnectionReset
        );
    }

    #[tokio::test]
    async fn the_first_fault_set_is_the_one_carried_out() {
        let (io, slot, client) = pair().await;
        set(&slot, Fault::RandomDataThenClose);
        set(&slot, Fault::ConnectionResetByPeer);
        assert!(respond(io).await.is_err());
        let (got, end) = read_all(client).await;
        assert_eq!(got, GARBAGE);
        end.unwrap();
    }
}
