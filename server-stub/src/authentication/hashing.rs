//! Every argon2 computation of the server — verifying a presented secret, hashing a new token or
//! password — runs here: on a pool of its own threads, as many as hashing slots, each job
//! holding a slot's permit until its hash is done.
//!
//! Why the job owns the permit: hyper drops a request's future when its client disconnects. A
//! permit held by that future would be released while the hash it guarded still runs, so
//! clients that connect, send a password and close could start any number of hashes (each
//! 19 MiB and a core) and blocking threads. Owned by the job, the permit is released only when
//! the hash is done; a dropped request that had not got one yet simply stops waiting.
//!
//! Why threads of its own rather than tokio's blocking pool: each argon2 run allocates its
//! 19 MiB on the thread that runs it, and the allocator keeps freed memory per thread. On the
//! blocking pool, a flood spreads hashes over dozens of threads and the process keeps ~19 MiB
//! for each (measured: 77 → 276 MiB RSS after 2,000 vanishing clients). On `n` threads of our
//! own, which keep their block between hashes (`secret_hash::reuse_memory_on_this_thread`), it
//! keeps exactly `n`.

use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{Semaphore, oneshot};

/// How long a request waits for a hashing slot before it gets 503.
pub const HASH_WAIT: Duration = Duration::from_secs(5);

type Job = Box<dyn FnOnce() + Send>;

/// `n` hashing threads and `n` slots: a job is only queued once it holds a slot, so it starts
/// at once on a free thread.
pub struct HashPool {
    slots: Arc<Semaphore>,
    jobs: Mutex<mpsc::Sender<Job>>,
}

impl HashPool {
    pub fn new(n: usize) -> std::io::Result<Self> {
        let n = n.max(1);
        let (tx, rx) = mpsc::channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        for i in 0..n {
            let rx = Arc::clone(&rx);
            std::thread::Builder::new()
                .name(format!("argon2-{i}"))
                .spawn(move || {
                    tokenauth_core::secret_hash::reuse_memory_on_this_thread();
                    loop {
                        let job = match rx.lock() {
                            Ok(r) => r.recv(),
                            Err(poisoned) => poisoned.into_inner().recv(),
                        };
                        match job {
                            // A panic in one job must not take a hashing thread with it.
                            Ok(job) => {
                                let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
                            }
                            // The pool was dropped: the server is stopping.
                            Err(_) => return,
                        }
                    }
                })?;
        }
        Ok(Self {
            slots: Arc::new(Semaphore::new(n)),
            jobs: Mutex::new(tx),
        })
    }

    /// Slots free now (for tests and metrics).
    pub fn available(&self) -> usize {
        self.slots.available_permits()
    }

    /// Runs `f` (which hashes) on the hashing threads, once a slot is free ([`HashError::Busy`]
    /// after [`HASH_WAIT`]). `AppState::hash` runs it with the server's state.
    pub async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, HashError> {
        let permit = tokio::time::timeout(HASH_WAIT, Arc::clone(&self.slots).acquire_owned())
            .await
            .map_err(|_| HashError::Busy)?
            .map_err(|_| HashError::ShuttingDown)?;
        let (tx, rx) = oneshot::channel();
        let job: Job = Box::new(move || {
            let _permit = permit;
            let _ = tx.send(f());
        });
        self.jobs
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .send(job)
            .map_err(|_| HashError::ShuttingDown)?;
        rx.await.map_err(|_| HashError::NoAnswer)
    }
}

/// Why a hash did not run: the request gets 503 (busy, shutting down) or 500 (`ApiError`'s
/// `From` says which).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum HashError {
    #[error("the server is busy verifying secrets; retry")]
    Busy,
    #[error("shutting down")]
    ShuttingDown,
    #[error("a hashing job ended without an answer")]
    NoAnswer,
}
