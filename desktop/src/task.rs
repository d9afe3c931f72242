//! Work off the UI thread: every request and keychain call runs on a small tokio runtime, and
//! the UI polls a [`Task`] each frame. A finished task wakes the UI with a repaint.

use std::future::Future;
use std::sync::Arc;

use tokio::sync::oneshot;
use tokio::sync::oneshot::error::TryRecvError;

use crate::failure::Failure;

/// How long a keychain call may take: long enough for a person to answer an unlock prompt.
pub const KEYCHAIN_LIMIT: std::time::Duration = std::time::Duration::from_secs(30);

#[derive(Clone)]
pub struct Background {
    runtime: Arc<tokio::runtime::Runtime>,
    ctx: egui::Context,
}

impl Background {
    pub fn new(ctx: egui::Context) -> std::io::Result<Self> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("tokenauth-background")
            .enable_all()
            .build()?;
        Ok(Self {
            runtime: Arc::new(runtime),
            ctx,
        })
    }

    /// Runs a request in the background.
    pub fn spawn<T, F>(&self, fut: F) -> Task<T>
    where
        T: Send + 'static,
        F: Future<Output = Result<T, Failure>> + Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        let ctx = self.ctx.clone();
        self.runtime.spawn(async move {
            let _ = tx.send(fut.await);
            ctx.request_repaint();
        });
        Task { rx }
    }

    /// A keychain call (D-Bus, perhaps an unlock prompt) on the blocking pool, answered within
    /// [`KEYCHAIN_LIMIT`]: a keyring that never answers is a message, not a screen that waits
    /// forever. (The call itself cannot be cancelled; its late answer is dropped.)
    pub fn spawn_keychain<T, F>(&self, work: F) -> Task<T>
    where
        T: Send + 'static,
        F: FnOnce() -> Result<T, Failure> + Send + 'static,
    {
        self.spawn(async move {
            match tokio::time::timeout(KEYCHAIN_LIMIT, tokio::task::spawn_blocking(work)).await {
                Ok(Ok(result)) => result,
                Ok(Err(e)) => Err(Failure::new(format!("the keychain call failed: {e}"))),
                Err(_) => Err(Failure::new(format!(
                    "the keychain did not answer within {} s: is it locked, with an unlock \
                     prompt waiting? Type the secret instead.",
                    KEYCHAIN_LIMIT.as_secs()
                ))),
            }
        })
    }
}

/// The result of background work, once it is there.
pub struct Task<T> {
    rx: oneshot::Receiver<Result<T, Failure>>,
}

impl<T> Task<T> {
    /// `None` while running; a task that died without answering is reported as a failure.
    pub fn poll(&mut self) -> Option<Result<T, Failure>> {
        match self.rx.try_recv() {
            Ok(result) => Some(result),
            Err(TryRecvError::Empty) => None,
            Err(TryRecvError::Closed) => Some(Err(Failure::new(
                "the background work stopped without an answer",
            ))),
        }
    }
}

/// Polls an optional task, clearing the slot when it finished.
pub fn poll<T>(slot: &mut Option<Task<T>>) -> Option<Result<T, Failure>> {
    let result = slot.as_mut()?.poll()?;
    *slot = None;
    Some(result)
}
