//! `--audit-file PATH` (SPEC section 9): every audit event also as one JSON object per line in a
//! file, for log shippers (Fluent Bit, Vector, Filebeat) to carry into a log platform.
//!
//! - **Every event, once, with its id, in id order.** The store tells an [`EventSink`] of each
//!   event it commits — the background writer's batches and the events a token, user or settings
//!   change writes in its own transaction alike — after the id is assigned and while the log's
//!   order is held (`core/src/store/audit_log.rs`, `Commit::done`). Neither the writer (it never
//!   sees the events of token changes) nor the log line (text, and written before the id is
//!   known for token changes) could promise that. The sink only queues; a thread of its own
//!   turns events into lines (the audit REST API's entity, `audit_entity::entity`) and writes
//!   them, so a slow disk never holds up an audit write, let alone a request.
//! - **Rotation by size and count**, as logrotate and Jira Data Center do it: `PATH` is the live
//!   file; when the next line would take it past the size limit, `PATH.(n-1)` becomes `PATH.n`,
//!   …, `PATH` becomes `PATH.1` (the oldest beyond the count is dropped) and a new `PATH` is
//!   opened. A line bigger than the limit gets a file of its own. A shipper that follows `PATH`
//!   by inode reads the renamed file to its end (every line of it is written before the rename)
//!   and then the new one.
//! - **Reopened on SIGHUP** (`reopen`): after logrotate or a shipper moved the file, the next
//!   line goes into a new file at `PATH`. Each batch also checks that `PATH` still names the open
//!   file (one `stat`), so a file moved or deleted without a SIGHUP — or whose directory was
//!   removed — is followed the same way, never written on where no shipper reads it.
//! - **Loud, never fatal.** A file that cannot be opened at start refuses the start (a
//!   configuration error, [`AuditFile::start`]). Later, a line that cannot be written (a full
//!   disk, a file-size limit, `PATH` gone) is counted in `tokenauth_audit_file_failed_total` and
//!   reported at ERROR (the first at once, then one line per 10 s), and the next batch tries
//!   again (reopening `PATH` if it was lost). A rotation that fails (a read-only directory) is
//!   counted in `tokenauth_audit_file_rotation_failures_total`, and the line still goes into the
//!   live file, past the limit: an audit line is worth more than the size limit. Authentication
//!   never waits for the file.
//!
//! Files are created 0600 (an existing file is set to 0600 when opened), and a missing directory
//! 0700. `PATH` is never written through a symbolic link (`O_NOFOLLOW`) or a hard link, and an
//! existing file is refused when it is not the running user's or is writable by its group or
//! others (review N9: a stub run as root must not append to, or chmod, a file another user
//! planted in a shared directory). The same check applies to every open of `PATH` — at start,
//! on SIGHUP, after a rotation and after the file was moved — so a file planted later is
//! refused too (its lines fail, loudly) rather than written. Lines queued when the process is killed (`kill -9`) are lost, as log lines are; a clean
//! shutdown writes them all ([`AuditFile::flush`]).
//!
//! Here: the handle, the sink the store calls and the writer thread; the files themselves
//! (opening, appending, rotating) in `rotating`; what the file is told, and its errors, in
//! `options`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use tokenauth_core::audit::AuditEvent;
use tokenauth_core::store::sled_store::EventSink;

mod options;
mod rotating;

pub use self::options::{
    AuditFileConfig, AuditFileError, DEFAULT_MAX_FILES, DEFAULT_MAX_SIZE, MAX_MAX_FILES,
    MIN_MAX_SIZE, parse_size,
};
use self::rotating::RotatingFile;

/// How much the writer thread may lag behind (estimated bytes of queued events) before events
/// are dropped and counted instead of queued: a hung disk must not grow memory without bound.
const QUEUE_BYTES: usize = 64 * 1024 * 1024;
/// How long a flush (clean shutdown, end of a command) waits for the writer thread.
const FLUSH_WAIT: Duration = Duration::from_secs(10);
const ALARM_EVERY: Duration = Duration::from_secs(10);

/// The counters in `/metrics`.
#[derive(Clone)]
pub struct FileCounters {
    pub written: metrics::Counter,
    pub failed: metrics::Counter,
    pub rotation_failures: metrics::Counter,
}

enum Msg {
    /// Events and their estimated size in the queue.
    Events(Vec<AuditEvent>, usize),
    Reopen,
    Count(FileCounters),
    Flush(mpsc::SyncSender<()>),
}

struct Shared {
    /// Estimated bytes of events queued and not yet written.
    queued: AtomicUsize,
    /// Events dropped because the queue was full (counted as failed by the thread).
    dropped: AtomicU64,
}

/// The audit file of a running process: a handle to its writer thread. Cheap to clone.
#[derive(Clone)]
pub struct AuditFile {
    tx: mpsc::Sender<Msg>,
    shared: Arc<Shared>,
    path: PathBuf,
}

impl AuditFile {
    /// Opens the live file (an error here is a configuration error: say it and do not start)
    /// and starts the thread that writes it.
    pub fn start(config: AuditFileConfig) -> Result<Self, AuditFileError> {
        let file = RotatingFile::open(config)?;
        let path = file.path().to_path_buf();
        let (tx, rx) = mpsc::channel();
        let shared = Arc::new(Shared {
            queued: AtomicUsize::new(0),
            dropped: AtomicU64::new(0),
        });
        let thread_shared = Arc::clone(&shared);
        std::thread::Builder::new()
            .name("audit-file".into())
            .spawn(move || run(file, &rx, &thread_shared))
            .map_err(AuditFileError::Thread)?;
        Ok(Self { tx, shared, path })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// What the store tells of each committed event.
    pub fn sink(&self) -> Arc<dyn EventSink> {
        Arc::new(Sink {
            tx: self.tx.clone(),
            shared: Arc::clone(&self.shared),
        })
    }

    /// Counts into these from now on (and adds what was counted before).
    pub fn count_in(&self, counters: FileCounters) {
        let _ = self.tx.send(Msg::Count(counters));
    }

    /// Closes the live file and opens `PATH` anew, after the events queued before.
    pub fn reopen(&self) {
        let _ = self.tx.send(Msg::Reopen);
    }

    /// Blocks until every event queued before is written and on disk (at most 10 s).
    pub fn flush(&self) {
        let (done, wait) = mpsc::sync_channel(1);
        if self.tx.send(Msg::Flush(done)).is_ok() {
            let _ = wait.recv_timeout(FLUSH_WAIT);
        }
    }
}

struct Sink {
    tx: mpsc::Sender<Msg>,
    shared: Arc<Shared>,
}

/// About how many bytes an event holds in memory (its line is about as long).
fn size_of(e: &AuditEvent) -> usize {
    e.approx_size() + 40
}

impl EventSink for Sink {
    /// Under the store's order lock: an atomic add and a channel send, nothing more.
    fn committed(&self, events: Vec<AuditEvent>) {
        let bytes = events.iter().map(size_of).sum::<usize>();
        let before = self.shared.queued.fetch_add(bytes, Ordering::Relaxed);
        if before.saturating_add(bytes) > QUEUE_BYTES {
            self.shared.queued.fetch_sub(bytes, Ordering::Relaxed);
            self.shared
                .dropped
                .fetch_add(events.len() as u64, Ordering::Relaxed);
            return;
        }
        let n = events.len() as u64;
        if self.tx.send(Msg::Events(events, bytes)).is_err() {
            self.shared.dropped.fetch_add(n, Ordering::Relaxed);
        }
    }
}

/// Reports failures at ERROR: the first at once, then at most one line per [`ALARM_EVERY`]
/// saying how many more there were (a full disk fails every batch).
#[derive(Default)]
struct Alarm {
    last: Option<Instant>,
    suppressed: u64,
    /// Something failed since the last write that worked: say when it works again.
    failing: bool,
}

impl Alarm {
    fn report(&mut self, failure: &str) {
        self.failing = true;
        if self.last.is_some_and(|t| t.elapsed() < ALARM_EVERY) {
            self.suppressed += 1;
            return;
        }
        let hint = "authentication goes on; see tokenauth_audit_file_failed_total and \
                    tokenauth_audit_file_rotation_failures_total";
        if self.suppressed > 0 {
            tracing::error!(similar_since_last = self.suppressed, "{failure} ({hint})");
        } else {
            tracing::error!("{failure} ({hint})");
        }
        self.last = Some(Instant::now());
        self.suppressed = 0;
    }

    fn recovered(&mut self, path: &Path) {
        if self.failing {
            self.failing = false;
            tracing::info!("the audit file {} is written again", path.display());
        }
    }
}

/// Counts kept until the counters arrive (events written while the database was opened and
/// users were seeded, before the server's metrics exist).
#[derive(Default)]
struct Counts {
    written: u64,
    failed: u64,
    rotation_failures: u64,
}

struct Writer {
    file: RotatingFile,
    counters: Option<FileCounters>,
    early: Counts,
    alarm: Alarm,
    buf: Vec<u8>,
    ends: Vec<usize>,
    /// Estimated queue bytes of the events in `buf`.
    held: usize,
}

impl Writer {
    fn count(&mut self, written: u64, failed: u64, rotation_failures: u64) {
        match &self.counters {
            Some(c) => {
                c.written.increment(written);
                c.failed.increment(failed);
                c.rotation_failures.increment(rotation_failures);
            }
            None => {
                self.early.written += written;
                self.early.failed += failed;
                self.early.rotation_failures += rotation_failures;
            }
        }
    }

    fn add(&mut self, events: &[AuditEvent], bytes: usize) {
        self.held += bytes;
        for e in events {
            let before = self.buf.len();
            match serde_json::to_writer(&mut self.buf, &super::audit_entity::entity(e)) {
                Ok(()) => {
                    self.buf.push(b'\n');
                    self.ends.push(self.buf.len());
                }
                Err(err) => {
                    self.buf.truncate(before);
                    self.count(0, 1, 0);
                    self.alarm.report(&format!(
                        "cannot write audit event {} to the audit file: {err}",
                        e.id
                    ));
                }
            }
        }
    }

    /// Writes what is gathered.
    fn write(&mut self, shared: &Shared) {
        let dropped = shared.dropped.swap(0, Ordering::Relaxed);
        if dropped > 0 {
            self.count(0, dropped, 0);
            self.alarm.report(&format!(
                "{dropped} audit events were not written to the audit file {}: its writer is \
                 more than {} MiB behind",
                self.file.path().display(),
                QUEUE_BYTES >> 20
            ));
        }
        if !self.ends.is_empty() {
            let report = self.file.write_lines(&self.buf, &self.ends);
            if report.moved {
                tracing::info!(
                    "the audit file {} was moved or removed; writing to a new file there",
                    self.file.path().display()
                );
            }
            self.count(report.written, report.failed, report.rotation_failures);
            for e in &report.errors {
                let lost = if report.failed > 0 {
                    format!(" ({} events not written)", report.failed)
                } else {
                    String::new()
                };
                self.alarm.report(&format!("{e}{lost}"));
            }
            if report.errors.is_empty() {
                self.alarm.recovered(self.file.path());
            }
        }
        shared.queued.fetch_sub(self.held, Ordering::Relaxed);
        self.held = 0;
        self.buf.clear();
        self.ends.clear();
    }
}

/// The writer thread: gathers what is queued, writes it, and handles reopen and flush in
/// queue order (events queued before a SIGHUP go into the old file).
fn run(file: RotatingFile, rx: &mpsc::Receiver<Msg>, shared: &Shared) {
    let mut w = Writer {
        file,
        counters: None,
        early: Counts::default(),
        alarm: Alarm::default(),
        buf: Vec::with_capacity(64 * 1024),
        ends: Vec::new(),
        held: 0,
    };
    while let Ok(first) = rx.recv() {
        let mut msg = Some(first);
        while let Some(m) = msg.take() {
            match m {
                Msg::Events(events, bytes) => w.add(&events, bytes),
                Msg::Reopen => {
                    w.write(shared);
                    match w.file.reopen() {
                        Ok(()) => tracing::info!(
                            "audit file {} reopened (SIGHUP)",
                            w.file.path().display()
                        ),
                        Err(e) => {
                            w.alarm.report(&format!("{e}; retried with the next event"));
                        }
                    }
                }
                Msg::Count(counters) => {
                    let early = std::mem::take(&mut w.early);
                    w.counters = Some(counters);
                    w.count(early.written, early.failed, early.rotation_failures);
                }
                Msg::Flush(done) => {
                    w.write(shared);
                    if let Err(e) = w.file.sync() {
                        w.alarm.report(&format!(
                            "cannot sync the audit file {}: {e}",
                            w.file.path().display()
                        ));
                    }
                    let _ = done.send(());
                }
            }
            // Gather what else is queued (up to ~1 MiB of lines) into one write.
            if w.buf.len() < 1024 * 1024 {
                msg = rx.try_recv().ok();
            }
        }
        w.write(shared);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests;
