//! A `chunkedDribbleDelay` body, sent in WireMock's chunks (its bounds are `super::bounded`'s).

use std::collections::VecDeque;
use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Bytes;
use hyper::body::Frame;
use wiremock_engine::ChunkedDribbleDelay;

/// A body sent as WireMock dribbles it: cut as [`ChunkedDribbleDelay::chunk_lengths`] says, each
/// chunk written after a wait of [`ChunkedDribbleDelay::interval`]. Its size is not announced, so
/// HTTP/1.1 sends it with chunked encoding, one HTTP chunk per piece, as WireMock does.
pub struct Dribble {
    chunks: VecDeque<Bytes>,
    interval: Duration,
    /// The wait before the next chunk, started when the chunk is first asked for.
    wait: Option<Pin<Box<tokio::time::Sleep>>>,
    /// The first chunk's wait is over (see [`Dribble::first_chunk_due`]).
    first_due: bool,
}

impl Dribble {
    pub fn new(body: Vec<u8>, plan: ChunkedDribbleDelay) -> Self {
        let lengths = plan.chunk_lengths(body.len());
        let interval = plan.interval(lengths.len());
        let mut rest = Bytes::from(body);
        let chunks = lengths.into_iter().map(|n| rest.split_to(n)).collect();
        Self {
            chunks,
            interval,
            wait: None,
            first_due: false,
        }
    }

    /// Waits out the first chunk's interval. WireMock sends nothing, not even the status line,
    /// until its first chunk is due; hyper would write the head at once, so the handler waits
    /// here before returning the response (a client's time to first byte is the same).
    pub async fn first_chunk_due(mut self) -> Self {
        if !self.chunks.is_empty() {
            tokio::time::sleep(self.interval).await;
            self.first_due = true;
        }
        self
    }
}

impl hyper::body::Body for Dribble {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        if self.chunks.is_empty() {
            return Poll::Ready(None);
        }
        if std::mem::take(&mut self.first_due) {
            return Poll::Ready(self.chunks.pop_front().map(|c| Ok(Frame::data(c))));
        }
        let interval = self.interval;
        let wait = self
            .wait
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(interval)));
        if wait.as_mut().poll(cx).is_pending() {
            return Poll::Pending;
        }
        self.wait = None;
        Poll::Ready(self.chunks.pop_front().map(|c| Ok(Frame::data(c))))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use hyper::body::Body as _;

    use super::*;

    #[tokio::test]
    async fn a_dribbled_body_comes_in_its_chunks_after_their_waits() {
        let plan = ChunkedDribbleDelay {
            number_of_chunks: 3,
            total_duration: Duration::from_millis(300),
        };
        let start = std::time::Instant::now();
        let mut body = Dribble::new(b"0123456789".to_vec(), plan)
            .first_chunk_due()
            .await;
        let mut got = Vec::new();
        let mut at = Vec::new();
        while let Some(frame) = std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await
        {
            got.push(frame.unwrap().into_data().unwrap());
            at.push(start.elapsed());
        }
        assert_eq!(got, [&b"012"[..], b"345", b"6789"]);
        // Each chunk waited its 100 ms (never a tight upper bound: the machine may be busy).
        assert!(at[0] >= Duration::from_millis(90), "{at:?}");
        assert!(at[2] >= Duration::from_millis(290), "{at:?}");
    }

    #[tokio::test]
    async fn an_empty_body_dribbles_nothing_and_does_not_wait() {
        let plan = ChunkedDribbleDelay {
            number_of_chunks: 3,
            total_duration: Duration::from_secs(60),
        };
        let mut body = Dribble::new(Vec::new(), plan);
        let frame = std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await;
        assert!(frame.is_none());
    }
}
