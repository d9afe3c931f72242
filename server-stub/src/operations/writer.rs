//! The background writer: last-used times and audit events leave the request path and are
//! written in batches; a clean shutdown drains and flushes them.
//!
//! Last-used times are coalesced in memory (one entry per token, the latest use wins) and written
//! once a second: a busy token costs a map update per request, not a queued write.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokenauth_core::audit::AuditEvent;
use tokenauth_core::clock::Millis;
use tokenauth_core::service::TokenAuth;
use tokenauth_core::token_format::TokenId;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, oneshot};

const QUEUE: usize = 65_536;
/// The queue is bounded by bytes too: events are bounded field by field (`core::bounded`), but
/// a count alone would still let 65,536 large ones (up to ~20 KiB each) sit in memory. Each
/// job's first [`FREE_BYTES`] are covered by the count; what a job holds beyond them takes a
/// share of this budget, and past it requests wait. So the queue holds at most
/// 65,536 × 1 KiB + 32 MiB, and an ordinary event (~300 bytes) never touches the budget.
const QUEUE_BYTES: usize = 32 * 1024 * 1024;
const FREE_BYTES: usize = 1024;
const MAX_BATCH: usize = 4_096;
/// After the first queued job, how long to gather more: fewer, larger writes cost the store far
/// less than one write per request (well within the one-second loss window of a kill -9).
const GATHER: Duration = Duration::from_millis(20);
/// The largest batch buffer kept for the next batch; a burst's larger one is given back.
const SPARE_EVENTS: usize = 4 * MAX_BATCH;
const LAST_USED_EVERY: Duration = Duration::from_secs(1);

type Uses = HashMap<TokenId, (Millis, IpAddr)>;

enum Job {
    /// Events and the share of the byte budget they hold until written (none for small ones).
    Events(Vec<AuditEvent>, Option<OwnedSemaphorePermit>),
    Flush(oneshot::Sender<()>),
}

#[derive(Clone)]
pub struct Writer {
    tx: mpsc::Sender<Job>,
    uses: Arc<Mutex<Uses>>,
    room: Arc<Semaphore>,
    metrics: WriterMetrics,
}

/// What the writer reports (`/metrics`): a failing audit sink must not go unnoticed.
#[derive(Clone)]
pub struct WriterMetrics {
    pub queued: metrics::Counter,
    pub written: metrics::Counter,
    pub failed: metrics::Counter,
    pub last_used_failed: metrics::Counter,
}

impl WriterMetrics {
    pub fn none() -> Self {
        Self {
            queued: metrics::Counter::noop(),
            written: metrics::Counter::noop(),
            failed: metrics::Counter::noop(),
            last_used_failed: metrics::Counter::noop(),
        }
    }
}

/// About how many bytes an event holds in memory.
fn size_of(e: &AuditEvent) -> usize {
    e.approx_size()
}

impl Writer {
    pub fn spawn(
        auth: Arc<TokenAuth>,
        metrics: WriterMetrics,
    ) -> (Self, tokio::task::JoinHandle<()>) {
        let (tx, rx) = mpsc::channel(QUEUE);
        let uses = Arc::new(Mutex::new(HashMap::new()));
        let handle = tokio::spawn(run(auth, rx, Arc::clone(&uses), metrics.clone()));
        let room = Arc::new(Semaphore::new(QUEUE_BYTES));
        (
            Self {
                tx,
                uses,
                room,
                metrics,
            },
            handle,
        )
    }

    /// Remembers a token's use; written within a second.
    pub fn token_used(&self, id: TokenId, at: Millis, ip: IpAddr) {
        let mut uses = lock(&self.uses);
        match uses.get_mut(&id) {
            Some(slot) if slot.0 > at => {}
            Some(slot) => *slot = (at, ip),
            None => {
                uses.insert(id, (at, ip));
            }
        }
    }

    /// Queues audit events if that needs no wait: room in the queue, and no share of the byte
    /// budget to take (an ordinary event). Hands them back otherwise, for [`Writer::events`].
    pub fn try_events(&self, events: Vec<AuditEvent>) -> Result<(), Vec<AuditEvent>> {
        let n = events.len() as u64;
        if events.iter().map(size_of).sum::<usize>() > FREE_BYTES {
            return Err(events);
        }
        match self.tx.try_send(Job::Events(events, None)) {
            Ok(()) => {
                self.metrics.queued.increment(n);
                Ok(())
            }
            // Full, or the writer stopped (`events` reports that): handed back either way.
            Err(e) => match e.into_inner() {
                Job::Events(events, _) => Err(events),
                // Never: only events were sent above.
                Job::Flush(_) => Ok(()),
            },
        }
    }

    /// Queues audit events; waits (never drops) while the queue is full, by count or by bytes.
    pub async fn events(&self, events: Vec<AuditEvent>) {
        if events.is_empty() {
            return;
        }
        self.metrics.queued.increment(events.len() as u64);
        let extra = events
            .iter()
            .map(size_of)
            .sum::<usize>()
            .saturating_sub(FREE_BYTES)
            .min(QUEUE_BYTES);
        let room = if extra == 0 {
            None
        } else {
            match Arc::clone(&self.room)
                .acquire_many_owned(u32::try_from(extra).unwrap_or(u32::MAX))
                .await
            {
                Ok(p) => Some(p),
                Err(_) => return,
            }
        };
        if let Err(mpsc::error::SendError(Job::Events(lost, _))) =
            self.tx.send(Job::Events(events, room)).await
        {
            // Only after the writer task ended (a panic in it): say so, never silently.
            tracing::error!(
                lost = lost.len(),
                "the audit writer has stopped; audit events lost"
            );
        }
    }

    /// Resolves when everything queued before it is written and flushed to disk.
    pub async fn flush(&self) {
        let (tx, rx) = oneshot::channel();
        if self.tx.send(Job::Flush(tx)).await.is_ok() {
            let _ = rx.await;
        }
    }
}

/// Reports write failures at ERROR: the first at once, then at most one line per
/// [`ALARM_EVERY`] with how many more there were. A full disk fails every batch (50 a second);
/// the counters in `/metrics` count each, the log says it without flooding itself.
#[derive(Default)]
struct Alarm {
    last: Option<std::time::Instant>,
    suppressed: u64,
}

const ALARM_EVERY: Duration = Duration::from_secs(10);

impl Alarm {
    fn report(&mut self, failure: &str) {
        if self.last.is_some_and(|t| t.elapsed() < ALARM_EVERY) {
            self.suppressed += 1;
            return;
        }
        if self.suppressed > 0 {
            tracing::error!(
                similar_since_last = self.suppressed,
                "{failure} (the server goes on authenticating; see tokenauth_audit_events_failed_total)"
            );
        } else {
            tracing::error!(
                "{failure} (the server goes on authenticating; see tokenauth_audit_events_failed_total)"
            );
        }
        self.last = Some(std::time::Instant::now());
        self.suppressed = 0;
    }
}

fn lock(uses: &Mutex<Uses>) -> std::sync::MutexGuard<'_, Uses> {
    uses.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

async fn run(
    auth: Arc<TokenAuth>,
    mut rx: mpsc::Receiver<Job>,
    pending: Arc<Mutex<Uses>>,
    metrics: WriterMetrics,
) {
    let mut alarm = Alarm::default();
    // The batch's buffer, kept from one batch to the next (issue 21): grown afresh each time,
    // a buffer of a thousand events was new memory every 20 ms, and its page faults cost the
    // audited path more than the store's write.
    let mut spare: Vec<AuditEvent> = Vec::new();
    let mut tick = tokio::time::interval(LAST_USED_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let (first, closing) = tokio::select! {
            job = rx.recv() => {
                let closing = job.is_none();
                (job, closing)
            }
            _ = tick.tick() => (None, false),
        };
        if first.is_some() && !closing {
            tokio::time::sleep(GATHER).await;
        }
        let mut events = std::mem::take(&mut spare);
        let mut flushes = Vec::new();
        // Held until the batch is written: the byte budget counts what is not on disk yet.
        let mut held = Vec::new();
        let mut job = first;
        let mut taken = 0;
        while let Some(j) = job.take() {
            match j {
                Job::Events(mut e, room) => {
                    events.append(&mut e);
                    held.extend(room);
                }
                Job::Flush(done) => flushes.push(done),
            }
            taken += 1;
            if taken < MAX_BATCH {
                job = rx.try_recv().ok();
            }
        }
        // Taken after the queue, so a flush also covers every use recorded before it.
        let uses = std::mem::take(&mut *lock(&pending));
        if uses.is_empty() && events.is_empty() && flushes.is_empty() {
            if closing {
                break;
            }
            continue;
        }
        let auth = Arc::clone(&auth);
        let metrics = metrics.clone();
        let must_flush = !flushes.is_empty();
        let written = tokio::task::spawn_blocking(move || {
            let uses: Vec<_> = uses
                .into_iter()
                .map(|(id, (at, ip))| (id, at, ip.to_string()))
                .collect();
            // A failure is counted and reported, never fatal: authentication goes on, and the
            // next batch tries again.
            let mut failures = Vec::new();
            if let Err(e) = auth.store().record_token_uses(&uses) {
                metrics.last_used_failed.increment(1);
                failures.push(format!(
                    "could not record the last-used times of {} tokens: {e}",
                    uses.len()
                ));
            }
            let n = events.len() as u64;
            match auth.record_events(&mut events) {
                Ok(()) => metrics.written.increment(n),
                Err(e) => {
                    metrics.failed.increment(n);
                    failures.push(format!("could not write {n} audit events: {e}"));
                }
            }
            if must_flush && let Err(e) = auth.store().flush() {
                failures.push(format!("could not flush the database: {e}"));
            }
            events.clear();
            (failures, events)
        })
        .await;
        match written {
            Ok((failures, buffer)) => {
                for f in failures {
                    alarm.report(&f);
                }
                if buffer.capacity() <= SPARE_EVENTS {
                    spare = buffer;
                }
            }
            Err(e) => alarm.report(&format!("the audit writer failed: {e}")),
        }
        drop(held);
        for done in flushes {
            let _ = done.send(());
        }
        if closing {
            break;
        }
    }
}
