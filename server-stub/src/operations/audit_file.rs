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

use std::fs::File;
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use tokenauth_core::audit::AuditEvent;
use tokenauth_core::store::sled_store::EventSink;

/// 100 MB and 100 files, as Jira Data Center keeps its audit log files.
pub const DEFAULT_MAX_SIZE: u64 = 100 * 1024 * 1024;
pub const DEFAULT_MAX_FILES: u32 = 100;
/// Smaller limits are refused: at under a kilobyte each event would rotate the file.
pub const MIN_MAX_SIZE: u64 = 1024;
pub const MAX_MAX_FILES: u32 = 100_000;
/// How much the writer thread may lag behind (estimated bytes of queued events) before events
/// are dropped and counted instead of queued: a hung disk must not grow memory without bound.
const QUEUE_BYTES: usize = 64 * 1024 * 1024;
/// How long a flush (clean shutdown, end of a command) waits for the writer thread.
const FLUSH_WAIT: Duration = Duration::from_secs(10);
const ALARM_EVERY: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditFileConfig {
    pub path: PathBuf,
    /// Rotate before the live file passes this many bytes.
    pub max_size: u64,
    /// Files kept in all, the live one included: `PATH`, `PATH.1` … `PATH.(max_files - 1)`.
    pub max_files: u32,
}

impl AuditFileConfig {
    pub fn new(path: PathBuf) -> Self {
        Self {
            path,
            max_size: DEFAULT_MAX_SIZE,
            max_files: DEFAULT_MAX_FILES,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AuditFileError {
    #[error("cannot open the audit file {path} (--audit-file): {source}")]
    Open { path: PathBuf, source: io::Error },
    /// `PATH` is there but is not a file only this process's user controls: someone else could
    /// have planted it to have audit lines (and our 0600) land where they chose, or read them.
    #[error("refusing the audit file {path} (--audit-file): {why}")]
    Unsafe { path: PathBuf, why: String },
    #[error("cannot write to the audit file {path}: {source}")]
    Write { path: PathBuf, source: io::Error },
    #[error("cannot rotate the audit file {path}: {source}")]
    Rotate { path: PathBuf, source: io::Error },
    #[error("cannot start the audit file writer: {0}")]
    Thread(io::Error),
}

/// `--audit-file-max-size`: bytes, or a number with `KB`, `MB` or `GB` (also `K`, `M`, `G`,
/// `KiB`, `MiB`, `GiB`; any case), each 1024 of the one before, as logback — which Jira's audit
/// file settings go through — reads them. At least [`MIN_MAX_SIZE`].
pub fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let digits = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (number, unit) = t.split_at(digits);
    let number: u64 = number
        .parse()
        .map_err(|_| format!("'{text}' is not a size: a number of bytes, or e.g. 100MB"))?;
    let shift = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        other => return Err(format!("unknown size unit '{other}': use KB, MB or GB")),
    };
    let bytes = number
        .checked_mul(1 << shift)
        .ok_or_else(|| format!("'{text}' is too large"))?;
    if bytes < MIN_MAX_SIZE {
        return Err(format!(
            "'{text}' is too small: at least {MIN_MAX_SIZE} bytes"
        ));
    }
    Ok(bytes)
}

/// `PATH.n`.
fn numbered(path: &Path, n: u32) -> PathBuf {
    let mut name = path.as_os_str().to_os_string();
    name.push(format!(".{n}"));
    PathBuf::from(name)
}

/// What one [`RotatingFile::write_lines`] did.
#[derive(Debug, Default)]
struct WriteReport {
    written: u64,
    failed: u64,
    rotations: u64,
    rotation_failures: u64,
    /// The live file was no longer at `PATH`; a new one was (or was to be) opened there.
    moved: bool,
    errors: Vec<AuditFileError>,
}

/// The files themselves, written from one thread (the writer thread, or a test).
struct RotatingFile {
    config: AuditFileConfig,
    /// `None` after the live file was lost (a failed reopen or rotation): the next write opens
    /// `PATH` again.
    file: Option<File>,
    /// Bytes in the live file.
    size: u64,
    /// The live file ends in the middle of a line (a write failed part-way): the next write
    /// ends that fragment first, so every later line stays a line of its own.
    dangling: bool,
}

impl RotatingFile {
    /// Opens (or creates) the live file for appending; its directory is created 0700 when
    /// missing.
    fn open(config: AuditFileConfig) -> Result<Self, AuditFileError> {
        let mut me = Self {
            config,
            file: None,
            size: 0,
            dangling: false,
        };
        me.open_live()?;
        Ok(me)
    }

    fn path(&self) -> &Path {
        &self.config.path
    }

    fn open_error(&self, source: io::Error) -> AuditFileError {
        AuditFileError::Open {
            path: self.config.path.clone(),
            source,
        }
    }

    fn unsafe_file(&self, why: String) -> AuditFileError {
        AuditFileError::Unsafe {
            path: self.config.path.clone(),
            why,
        }
    }

    fn open_live(&mut self) -> Result<(), AuditFileError> {
        let path = &self.config.path;
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
            && !dir.exists()
        {
            tokenauth_core::private_fs::create_dir(dir).map_err(|e| self.open_error(e))?;
        }
        let mut options = std::fs::OpenOptions::new();
        // Read too, to see whether an existing file ends in the middle of a line.
        options.read(true).append(true).create(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
            // Never through a symbolic link: someone who can write the directory could point
            // PATH at another file, which would then get audit lines and our 0600.
            options.custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32);
        }
        let file = match options.open(path) {
            Ok(file) => file,
            // O_NOFOLLOW's answer when the last component is a symbolic link: say that, not
            // "too many levels of symbolic links".
            #[cfg(unix)]
            Err(e) if e.raw_os_error() == Some(rustix::io::Errno::LOOP.raw_os_error()) => {
                return Err(self.unsafe_file(
                    "it is a symbolic link, which is never followed (remove it, or name the \
                     file it points to)"
                        .into(),
                ));
            }
            Err(e) => return Err(self.open_error(e)),
        };
        let meta = file.metadata().map_err(|e| self.open_error(e))?;
        if !meta.is_file() {
            return Err(self.open_error(io::Error::other("not a regular file")));
        }
        // Checked on the open file (fstat), so what is checked is what is written to, and
        // before anything is changed on it: a file of another user's must not get our 0600.
        // Every open goes through here: the first, a SIGHUP's reopen, the new file after a
        // rotation, and the reopen after PATH was moved.
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            let me = rustix::process::geteuid().as_raw();
            if meta.uid() != me {
                return Err(self.unsafe_file(format!(
                    "it belongs to user id {}, not to this process's user (id {me}); the \
                     audit file must be this user's own",
                    meta.uid()
                )));
            }
            let mode = meta.mode() & 0o7777;
            if mode & 0o022 != 0 {
                return Err(self.unsafe_file(format!(
                    "it is writable by {} (mode {mode:04o}); others could change or plant \
                     audit lines: make it 0600, or remove it",
                    if mode & 0o002 != 0 {
                        "others"
                    } else {
                        "its group"
                    }
                )));
            }
            // A second name for the file (a hard link made beforehand) is refused like a link.
            if meta.nlink() > 1 {
                return Err(self.unsafe_file(
                    "the file has other names (hard links); refusing to write through them".into(),
                ));
            }
        }
        // A file that was there (an earlier run, one made by hand) is the owner's only too; set
        // on the open file, never on whatever the name points to by then.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            if meta.permissions().mode() & 0o777 != 0o600 {
                file.set_permissions(std::fs::Permissions::from_mode(0o600))
                    .map_err(|e| self.open_error(e))?;
            }
        }
        self.size = meta.len();
        self.dangling = ends_mid_line(&file, self.size);
        self.file = Some(file);
        Ok(())
    }

    /// Closes the live file and opens `PATH` again (SIGHUP: the file may have been moved).
    fn reopen(&mut self) -> Result<(), AuditFileError> {
        self.file = None;
        self.open_live()
    }

    /// Whether `PATH` still names the open live file (a rotation that failed may have left it
    /// elsewhere, or the directory may be gone).
    fn still_at_path(&self) -> bool {
        let Some(file) = &self.file else {
            return false;
        };
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            match (file.metadata(), std::fs::metadata(&self.config.path)) {
                (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
                _ => false,
            }
        }
        #[cfg(not(unix))]
        {
            let _ = file;
            self.config.path.exists()
        }
    }

    /// `PATH.(n-2)` → `PATH.(n-1)`, …, `PATH` → `PATH.1`, then a new `PATH`. Files beyond the
    /// count (left by an earlier, larger `--audit-file-max-files`) are removed.
    fn rotate(&mut self) -> Result<(), AuditFileError> {
        let path = self.config.path.clone();
        let n = self.config.max_files.max(1);
        let fail = |source| AuditFileError::Rotate {
            path: path.clone(),
            source,
        };
        // `PATH.1` … `PATH.last` are there (counted, rather than a rename tried for every
        // number up to the count: with a large count and few files that is most of the work).
        let mut last = 0;
        while last + 1 < n && std::fs::symlink_metadata(numbered(&path, last + 1)).is_ok() {
            last += 1;
        }
        // Oldest first, so a failure part-way loses nothing: each rename goes to a free number,
        // or replaces the oldest file, the one past the count.
        for i in (1..=last.min(n.saturating_sub(2))).rev() {
            std::fs::rename(numbered(&path, i), numbered(&path, i + 1)).map_err(fail)?;
        }
        if n >= 2 {
            std::fs::rename(&path, numbered(&path, 1)).map_err(fail)?;
        } else {
            std::fs::remove_file(&path).map_err(fail)?;
        }
        // The old file is complete and in place under its new name; nothing more goes into it.
        self.file = None;
        self.open_live()?;
        let mut stale = n;
        while stale < MAX_MAX_FILES && std::fs::remove_file(numbered(&path, stale)).is_ok() {
            stale += 1;
        }
        Ok(())
    }

    /// Appends whole lines: `buf` holds them back to back and `ends[i]` is where line `i` ends
    /// (each ends in `\n`). Rotates before a line that would take the live file past the limit.
    /// Never fails as a whole: what happened, line by line, is in the report.
    fn write_lines(&mut self, buf: &[u8], ends: &[usize]) -> WriteReport {
        let mut report = WriteReport::default();
        // Moved or removed since the last batch (rotated by hand or by logrotate, no SIGHUP
        // yet; deleted; its directory removed): a removed file's lines would vanish with it,
        // and shippers look for new lines at PATH. They go into a new file there, as after a
        // SIGHUP.
        if self.file.is_some() && !self.still_at_path() {
            self.file = None;
            report.moved = true;
        }
        let start_of = |i: usize| if i == 0 { 0 } else { ends[i - 1] };
        let mut next = 0;
        // After a rotation failed, the rest of this batch goes past the limit; the next batch
        // tries again.
        let mut past_limit = false;
        while next < ends.len() {
            if self.file.is_none()
                && let Err(e) = self.open_live()
            {
                report.failed += (ends.len() - next) as u64;
                report.errors.push(e);
                break;
            }
            // As many lines as fit; the first line of an empty file always does.
            let mut end = next;
            while end < ends.len() {
                let len = (ends[end] - start_of(next)) as u64;
                let fits = self.size + len <= self.config.max_size;
                if !(fits || past_limit || (end == next && self.size == 0)) {
                    break;
                }
                end += 1;
            }
            if end == next {
                match self.rotate() {
                    Ok(()) => report.rotations += 1,
                    Err(e) => {
                        report.rotation_failures += 1;
                        report.errors.push(e);
                        past_limit = true;
                        if !self.still_at_path() {
                            // Moved or gone with its directory: lines written to it now would
                            // reach no shipper. Open PATH anew (or count the lines as failed).
                            self.file = None;
                        }
                    }
                }
                continue;
            }
            let chunk = &buf[start_of(next)..ends[end - 1]];
            match self.append(chunk) {
                Ok(()) => {
                    report.written += (end - next) as u64;
                    next = end;
                }
                Err((done, e)) => {
                    let whole = ends[next..end]
                        .iter()
                        .take_while(|&&line_end| line_end - start_of(next) <= done)
                        .count();
                    report.written += whole as u64;
                    report.failed += (ends.len() - next - whole) as u64;
                    report.errors.push(AuditFileError::Write {
                        path: self.config.path.clone(),
                        source: e,
                    });
                    break;
                }
            }
        }
        report
    }

    /// Writes `chunk` (whole lines), first ending a fragment a failed write left. On failure,
    /// how much of `chunk` got into the file.
    fn append(&mut self, chunk: &[u8]) -> Result<(), (usize, io::Error)> {
        let Some(file) = self.file.as_mut() else {
            return Err((0, io::Error::other("the audit file is not open")));
        };
        if self.dangling {
            write_counted(file, b"\n").map_err(|(_, e)| (0, e))?;
            self.size += 1;
            self.dangling = false;
        }
        let result = write_counted(file, chunk);
        let done = match &result {
            Ok(()) => chunk.len(),
            Err((done, _)) => *done,
        };
        self.size += done as u64;
        if done > 0 && chunk.get(done - 1) != Some(&b'\n') {
            self.dangling = true;
        }
        result
    }

    fn sync(&self) -> io::Result<()> {
        match &self.file {
            Some(f) => f.sync_data(),
            None => Ok(()),
        }
    }
}

/// `write_all`, but says how much was written when it fails.
fn write_counted(file: &mut File, data: &[u8]) -> Result<(), (usize, io::Error)> {
    let mut done = 0;
    while done < data.len() {
        match file.write(&data[done..]) {
            Ok(0) => return Err((done, io::ErrorKind::WriteZero.into())),
            Ok(n) => done += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err((done, e)),
        }
    }
    Ok(())
}

/// Whether a file of `len` bytes ends without a newline (a line cut short by a failed write).
fn ends_mid_line(file: &File, len: u64) -> bool {
    if len == 0 {
        return false;
    }
    #[cfg(unix)]
    {
        let mut last = [0u8; 1];
        std::os::unix::fs::FileExt::read_at(file, &mut last, len - 1).is_ok_and(|n| n == 1)
            && last[0] != b'\n'
    }
    #[cfg(not(unix))]
    {
        let _ = file;
        false
    }
}

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
mod tests {
    use super::*;
    use tokenauth_core::audit::AuditAction;

    #[cfg(unix)]
    #[test]
    fn review_l1_a_symlink_or_hard_link_at_path_is_refused_and_its_target_untouched() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        std::fs::write(&victim, "precious\n").unwrap();
        std::fs::set_permissions(&victim, std::fs::Permissions::from_mode(0o644)).unwrap();
        let sym = dir.path().join("sym.log");
        std::os::unix::fs::symlink(&victim, &sym).unwrap();
        let hard = dir.path().join("hard.log");
        std::fs::hard_link(&victim, &hard).unwrap();
        for path in [sym, hard] {
            let config = AuditFileConfig {
                path: path.clone(),
                max_size: 1024 * 1024,
                max_files: 3,
            };
            assert!(AuditFile::start(config).is_err(), "{}", path.display());
        }
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious\n");
        let mode = std::fs::metadata(&victim).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o644);
    }

    /// Review N9: a file at PATH that another user could have planted or can change is
    /// refused, at start and at every later open, and never changed.
    #[cfg(unix)]
    #[test]
    fn n9_a_file_of_another_user_or_writable_by_others_is_refused_at_every_open() {
        use std::os::unix::fs::{MetadataExt, PermissionsExt};
        let dir = tempfile::tempdir().unwrap();
        let config = config(dir.path(), 1 << 20, 3);
        let path = config.path.clone();
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let set_mode = |p: &Path, m| {
            std::fs::set_permissions(p, std::fs::Permissions::from_mode(m)).unwrap();
        };
        for m in [0o666, 0o620, 0o602] {
            std::fs::write(&path, "planted\n").unwrap();
            set_mode(&path, m);
            let err = AuditFile::start(config.clone()).err().unwrap();
            let text = err.to_string();
            assert!(matches!(err, AuditFileError::Unsafe { .. }), "{text}");
            assert!(text.contains(&path.display().to_string()), "{text}");
            assert!(text.contains("writable by"), "{text}");
            assert_eq!(std::fs::metadata(&path).unwrap().mode() & 0o777, m);
        }
        // Root can make a file that is another user's: that is refused, and keeps its mode.
        if rustix::process::geteuid().is_root() {
            set_mode(&path, 0o644);
            std::os::unix::fs::chown(&path, Some(65534), Some(65534)).unwrap();
            let err = AuditFile::start(config.clone()).err().unwrap();
            assert!(
                err.to_string().contains("belongs to user id 65534"),
                "{err}"
            );
            assert_eq!(std::fs::metadata(&path).unwrap().mode() & 0o777, 0o644);
        }
        std::fs::remove_file(&path).unwrap();

        // Opened fine; then the file is moved away and something planted at PATH: the
        // reopen refuses it, the lines fail, and the planted file is untouched.
        let mut f = RotatingFile::open(config.clone()).unwrap();
        std::fs::rename(&path, dir.path().join("moved")).unwrap();
        std::fs::write(&path, "planted\n").unwrap();
        set_mode(&path, 0o666);
        let (buf, ends) = lines(&[event(1, "a")]);
        let r = f.write_lines(&buf, &ends);
        assert_eq!((r.written, r.failed), (0, 1));
        assert!(matches!(r.errors[..], [AuditFileError::Unsafe { .. }]));
        assert!(f.reopen().is_err(), "a SIGHUP refuses it too");
        std::fs::remove_file(&path).unwrap();
        std::os::unix::fs::symlink(dir.path().join("moved"), &path).unwrap();
        let r = f.write_lines(&buf, &ends);
        assert_eq!((r.written, r.failed), (0, 1));
        assert!(
            r.errors[0].to_string().contains("symbolic link"),
            "{}",
            r.errors[0]
        );
        assert_eq!(
            std::fs::read_to_string(dir.path().join("moved")).unwrap(),
            ""
        );
    }

    fn event(id: u64, description: &str) -> AuditEvent {
        let mut e = AuditEvent::new(
            1_800_000_000_000 + id as i64,
            AuditAction::TokenCreated,
            "alice",
        );
        e.id = id;
        e.affected_user = Some("alice".into());
        e.token_id = Some("AbC123dEf456".into());
        e.token_description = Some(description.into());
        e
    }

    /// Lines as the writer thread makes them.
    fn lines(events: &[AuditEvent]) -> (Vec<u8>, Vec<usize>) {
        let mut buf = Vec::new();
        let mut ends = Vec::new();
        for e in events {
            serde_json::to_writer(&mut buf, &crate::operations::audit_entity::entity(e)).unwrap();
            buf.push(b'\n');
            ends.push(buf.len());
        }
        (buf, ends)
    }

    fn config(dir: &Path, max_size: u64, max_files: u32) -> AuditFileConfig {
        AuditFileConfig {
            path: dir.join("logs/audit.jsonl"),
            max_size,
            max_files,
        }
    }

    /// The files oldest first: `PATH.(n-1)` … `PATH.1`, `PATH`.
    fn files_oldest_first(path: &Path) -> Vec<PathBuf> {
        let mut numbered: Vec<(u32, PathBuf)> = std::fs::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter_map(|p| {
                let name = p.file_name()?.to_str()?.to_owned();
                let base = path.file_name()?.to_str()?;
                let n = name.strip_prefix(base)?.strip_prefix('.')?.parse().ok()?;
                Some((n, p))
            })
            .collect();
        numbered.sort_by_key(|b| std::cmp::Reverse(b.0));
        let mut out: Vec<PathBuf> = numbered.into_iter().map(|(_, p)| p).collect();
        if path.exists() {
            out.push(path.to_path_buf());
        }
        out
    }

    fn ids_in(file: &Path) -> Vec<u64> {
        std::fs::read_to_string(file)
            .unwrap()
            .lines()
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l)
                    .unwrap_or_else(|e| panic!("not a JSON line: {l:?}: {e}"));
                v["id"].as_u64().unwrap()
            })
            .collect()
    }

    #[cfg(unix)]
    fn mode(p: &Path) -> u32 {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn sizes_are_bytes_or_kb_mb_gb_counted_in_1024s() {
        assert_eq!(parse_size("100MB"), Ok(100 * 1024 * 1024));
        assert_eq!(parse_size("100 mb"), Ok(100 * 1024 * 1024));
        assert_eq!(parse_size("4k"), Ok(4096));
        assert_eq!(parse_size("2GiB"), Ok(2 << 30));
        assert_eq!(parse_size("5000"), Ok(5000));
        assert!(parse_size("100").is_err(), "under a kilobyte");
        assert!(parse_size("ten MB").is_err());
        assert!(parse_size("10TB").is_err());
        assert!(parse_size("99999999999999GB").is_err());
        assert_eq!(DEFAULT_MAX_SIZE, parse_size("100MB").unwrap());
    }

    #[test]
    fn rotation_keeps_at_most_n_files_each_within_the_size_and_every_line_json() {
        let dir = tempfile::tempdir().unwrap();
        let config = config(dir.path(), 2048, 4);
        let path = config.path.clone();
        let mut f = RotatingFile::open(config).unwrap();
        let events: Vec<_> = (1..=200).map(|i| event(i, "ci deploy")).collect();
        // In batches of varying size, as the writer thread gets them.
        let mut total = WriteReport::default();
        for chunk in events.chunks(7) {
            let (buf, ends) = lines(chunk);
            let r = f.write_lines(&buf, &ends);
            assert!(r.errors.is_empty(), "{:?}", r.errors);
            total.written += r.written;
            total.rotations += r.rotations;
        }
        assert_eq!(total.written, 200);
        assert!(total.rotations > 10, "{} rotations", total.rotations);
        let files = files_oldest_first(&path);
        assert_eq!(
            files,
            vec![
                numbered(&path, 3),
                numbered(&path, 2),
                numbered(&path, 1),
                path.clone()
            ],
            "the live file and three rotated ones"
        );
        let mut ids = Vec::new();
        for file in &files {
            let len = std::fs::metadata(file).unwrap().len();
            assert!(len <= 2048, "{} has {len} bytes", file.display());
            #[cfg(unix)]
            assert_eq!(mode(file), 0o600, "{}", file.display());
            ids.extend(ids_in(file));
        }
        // The newest events, in order, with none missing in between: the oldest files went.
        assert_eq!(ids.last(), Some(&200));
        assert!(
            ids.windows(2).all(|w| w[1] == w[0] + 1),
            "consecutive: {ids:?}"
        );
        #[cfg(unix)]
        assert_eq!(mode(path.parent().unwrap()), 0o700, "a new directory");
    }

    #[test]
    fn files_beyond_a_lowered_count_go_at_the_next_rotation() {
        let dir = tempfile::tempdir().unwrap();
        let config = config(dir.path(), 1024, 3);
        let path = config.path.clone();
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        // Left by a run with --audit-file-max-files 6.
        for n in 1..=5 {
            std::fs::write(numbered(&path, n), format!("{{\"id\":{}}}\n", 100 - n)).unwrap();
        }
        let mut f = RotatingFile::open(config).unwrap();
        let events: Vec<_> = (1..=4).map(|i| event(i, "f")).collect();
        let (buf, ends) = lines(&events);
        let r = f.write_lines(&buf, &ends);
        assert_eq!((r.rotations, r.written), (1, 4), "{:?}", r.errors);
        assert_eq!(
            files_oldest_first(&path),
            vec![numbered(&path, 2), numbered(&path, 1), path.clone()]
        );
        assert_eq!(
            ids_in(&numbered(&path, 2)),
            vec![99],
            "the newest of the old ones"
        );
    }

    #[test]
    fn a_line_bigger_than_the_limit_gets_a_file_of_its_own() {
        let dir = tempfile::tempdir().unwrap();
        let config = config(dir.path(), 1024, 10);
        let path = config.path.clone();
        let mut f = RotatingFile::open(config).unwrap();
        let (buf, ends) = lines(&[event(1, "a"), event(2, &"x".repeat(2000)), event(3, "b")]);
        let r = f.write_lines(&buf, &ends);
        assert_eq!((r.written, r.failed), (3, 0));
        assert_eq!(ids_in(&numbered(&path, 2)), vec![1]);
        assert_eq!(ids_in(&numbered(&path, 1)), vec![2]);
        assert_eq!(ids_in(&path), vec![3]);
    }

    #[test]
    fn an_existing_file_is_appended_to_and_made_private_and_a_cut_line_is_ended() {
        let dir = tempfile::tempdir().unwrap();
        let config = config(dir.path(), 1 << 20, 3);
        std::fs::create_dir_all(config.path.parent().unwrap()).unwrap();
        // A run that ended in the middle of a line (a full disk).
        std::fs::write(&config.path, "{\"id\":1}\n{\"id\":2, \"timest").unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&config.path, std::fs::Permissions::from_mode(0o644)).unwrap();
        }
        let mut f = RotatingFile::open(config.clone()).unwrap();
        #[cfg(unix)]
        assert_eq!(mode(&config.path), 0o600);
        let (buf, ends) = lines(&[event(3, "a")]);
        assert_eq!(f.write_lines(&buf, &ends).written, 1);
        let text = std::fs::read_to_string(&config.path).unwrap();
        let all: Vec<_> = text.lines().collect();
        assert_eq!(all.len(), 3, "{text}");
        assert_eq!(all[0], "{\"id\":1}");
        assert!(all[2].starts_with("{\"id\":3,"), "{text}");
    }

    #[test]
    fn a_file_that_cannot_be_opened_is_refused_naming_its_path() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a-directory");
        std::fs::create_dir(&path).unwrap();
        let err = AuditFile::start(AuditFileConfig::new(path.clone()))
            .err()
            .unwrap();
        let text = err.to_string();
        assert!(text.contains(&path.display().to_string()), "{text}");
        assert!(text.contains("--audit-file"), "{text}");
    }

    /// Root ignores permissions, so the failures are ones root meets too: the file's name
    /// taken by a directory, its directory's name by a file.
    #[test]
    fn a_lost_file_fails_its_lines_and_is_opened_again_once_it_can_be() {
        let dir = tempfile::tempdir().unwrap();
        let config = config(dir.path(), 1024, 3);
        let path = config.path.clone();
        let mut f = RotatingFile::open(config).unwrap();
        std::fs::rename(&path, dir.path().join("moved")).unwrap();
        std::fs::create_dir(&path).unwrap();
        assert!(f.reopen().is_err(), "a SIGHUP that cannot open PATH");
        let (buf, ends) = lines(&[event(1, "a"), event(2, "b")]);
        let r = f.write_lines(&buf, &ends);
        assert_eq!((r.written, r.failed), (0, 2));
        assert!(matches!(r.errors[..], [AuditFileError::Open { .. }]));
        std::fs::remove_dir(&path).unwrap();
        let r = f.write_lines(&buf, &ends);
        assert_eq!((r.written, r.failed), (2, 0), "{:?}", r.errors);
        assert_eq!(ids_in(&path), vec![1, 2]);

        // The directory replaced by a file: neither the old file nor a new one can be had.
        let logs = path.parent().unwrap();
        std::fs::remove_dir_all(logs).unwrap();
        std::fs::write(logs, "not a directory").unwrap();
        let (buf, ends) = lines(&[event(3, "c")]);
        let r = f.write_lines(&buf, &ends);
        assert!(r.moved);
        assert_eq!((r.written, r.failed), (0, 1), "{:?}", r.errors);
        std::fs::remove_file(logs).unwrap();
        let r = f.write_lines(&buf, &ends);
        assert_eq!((r.written, r.failed), (1, 0), "{:?}", r.errors);
        assert_eq!(ids_in(&path), vec![3]);
    }

    #[test]
    fn a_file_moved_or_deleted_without_a_sighup_is_followed_to_a_new_one_at_path() {
        let dir = tempfile::tempdir().unwrap();
        let config = config(dir.path(), 1 << 20, 3);
        let path = config.path.clone();
        let mut f = RotatingFile::open(config).unwrap();
        let write = |f: &mut RotatingFile, id| {
            let (buf, ends) = lines(&[event(id, "e")]);
            let r = f.write_lines(&buf, &ends);
            assert_eq!((r.written, r.failed), (1, 0), "{:?}", r.errors);
            r.moved
        };
        assert!(!write(&mut f, 1));
        std::fs::rename(&path, dir.path().join("rotated-by-hand")).unwrap();
        assert!(write(&mut f, 2));
        std::fs::remove_file(&path).unwrap();
        assert!(write(&mut f, 3));
        std::fs::remove_dir_all(path.parent().unwrap()).unwrap();
        assert!(write(&mut f, 4), "the directory made again");
        assert_eq!(ids_in(&dir.path().join("rotated-by-hand")), vec![1]);
        assert_eq!(ids_in(&path), vec![4]);
    }

    #[test]
    fn a_rotation_that_fails_with_the_file_in_place_writes_on_past_the_limit() {
        let dir = tempfile::tempdir().unwrap();
        let config = config(dir.path(), 1024, 2);
        let path = config.path.clone();
        let mut f = RotatingFile::open(config).unwrap();
        // `PATH.1` a directory with something in it: renaming the live file onto it fails,
        // for root too.
        std::fs::create_dir_all(numbered(&path, 1).join("x")).unwrap();
        let events: Vec<_> = (1..=8).map(|i| event(i, "d")).collect();
        let (buf, ends) = lines(&events);
        let r = f.write_lines(&buf, &ends);
        assert_eq!(r.rotation_failures, 1, "{:?}", r.errors);
        assert!(matches!(r.errors[..], [AuditFileError::Rotate { .. }]));
        assert_eq!((r.written, r.failed), (8, 0));
        assert_eq!(ids_in(&path), (1..=8).collect::<Vec<_>>());
        // Tried again with the next batch, and done once it can be.
        std::fs::remove_dir_all(numbered(&path, 1)).unwrap();
        let (buf, ends) = lines(&[event(9, "d")]);
        let r = f.write_lines(&buf, &ends);
        assert_eq!((r.rotations, r.rotation_failures, r.written), (1, 0, 1));
        assert_eq!(ids_in(&numbered(&path, 1)), (1..=8).collect::<Vec<_>>());
        assert_eq!(ids_in(&path), vec![9]);
    }

    #[test]
    fn the_writer_thread_writes_every_event_in_order_and_flushes() {
        let dir = tempfile::tempdir().unwrap();
        let config = config(dir.path(), 4096, 1000);
        let path = config.path.clone();
        let file = AuditFile::start(config).unwrap();
        let sink = file.sink();
        let mut id = 0;
        for n in 1..=50 {
            let batch: Vec<_> = (0..n)
                .map(|_| {
                    id += 1;
                    event(id, "t")
                })
                .collect();
            sink.committed(batch);
        }
        file.flush();
        let mut ids = Vec::new();
        for f in files_oldest_first(&path) {
            ids.extend(ids_in(&f));
        }
        assert_eq!(ids, (1..=id).collect::<Vec<_>>());
        // SIGHUP after the file was moved away: the next line is in a new file at PATH.
        std::fs::rename(&path, dir.path().join("shipped")).unwrap();
        file.reopen();
        sink.committed(vec![event(id + 1, "after")]);
        file.flush();
        assert_eq!(ids_in(&path), vec![id + 1]);
    }
}
