//! [`Store`](crate::store::Store) on sled: the struct, its opening, schema check and
//! durability here; the operations in `operations.rs`, how keys and values are laid out in
//! `layout.rs`.
//!
//! Trees: `meta` (schema version, settings as JSON), `users` (key: lower-cased name),
//! `tokens` (key: token id), `tokens_by_owner` (key: owner key, 0, token id),
//! `token_numbers` (token id → number) and `tokens_by_number` (number → token id) for the
//! numeric ids of Jira's PAT API, `retired_tokens` (old id → what stays of a token rotated
//! away), `notices` (token id, 0, threshold → (): expiry notices sent) and `audit`, the
//! block-structured audit log of [`super::audit_log`].

mod layout;
mod operations;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use sled::transaction::Transactional;
use sled::{Db, Tree};

use self::layout::{assign_number, io, tx_error};
use super::audit_log::AuditLog;
use super::records::Records;
use crate::audit::AuditEvent;
use crate::store::error::StoreError;
use crate::token::TokenRecord;
use crate::user::User;

/// Told of every audit event the store commits; the audit log it goes through holds it.
pub use super::audit_log::EventSink;

/// The version of the layout of the trees (above) that this build reads and writes.
pub const SCHEMA_VERSION: u32 = 1;
/// How often sled makes writes durable in the background (audit events, last-used times).
pub const FLUSH_EVERY_MS: u64 = 500;
/// sled's page cache (its default is 1 GiB): the largest part of the server's memory, so bounded.
pub const CACHE_BYTES: u64 = 64 * 1024 * 1024;

const SCHEMA_KEY: &[u8] = b"schema_version";
const COMMIT_KEY: &[u8] = b"commit";
/// Written beside sled's files: the number of the last durable change (user, token, settings).
/// sled opens a damaged or truncated log as whatever prefix of it still reads, even empty; a
/// database behind its marker has lost acknowledged changes and is refused, instead of silently
/// carrying on without them (or starting over with no users and no tokens).
pub const MARKER_FILE: &str = "tokenauth-store";

pub struct SledStore {
    path: PathBuf,
    db: Db,
    meta: Tree,
    users: Tree,
    tokens: Tree,
    by_owner: Tree,
    numbers: Tree,
    by_number: Tree,
    retired: Tree,
    notices: Tree,
    audit: AuditLog,
    /// Serialises multi-key token changes (read the owner's index, then delete in a transaction).
    token_writes: Mutex<()>,
    /// The number of the last durable change, mirrored in the marker file after each flush.
    commit: Mutex<u64>,
    /// Whether each acknowledged change is flushed to disk before it returns (see
    /// [`SledStore::without_fsync`]).
    fsync: bool,
    user_records: Records<User>,
    token_records: Records<TokenRecord>,
}

impl std::fmt::Debug for SledStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SledStore")
            .field("path", &self.path)
            .finish()
    }
}

impl SledStore {
    /// Opens (or creates) the database in `dir`. A new directory is created 0700; the files in
    /// it are set to 0600 at every open (sled makes new ones under the process umask), as they
    /// hold password and token hashes and the audit log.
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        crate::private_fs::create_dir(dir)
            .map_err(|e| StoreError::Io(format!("{}: {e}", dir.display())))?;
        let config = sled::Config::new()
            .path(dir)
            .flush_every_ms(Some(FLUSH_EVERY_MS))
            .cache_capacity(CACHE_BYTES);
        // sled 0.34 panics on some damaged files instead of returning an error; a damaged
        // database must be a clear message, never a crash.
        let opened = catch_unwind(AssertUnwindSafe(|| config.open()));
        let db = match opened {
            Ok(Ok(db)) => db,
            Ok(Err(e)) => return Err(open_error(dir, e)),
            Err(panic) => {
                let detail = panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                    .unwrap_or_else(|| "sled panicked while reading it".to_owned());
                return Err(StoreError::Corrupt {
                    path: dir.to_owned(),
                    detail,
                });
            }
        };
        let tree = |name: &str| db.open_tree(name).map_err(io);
        let store = Self {
            path: dir.to_owned(),
            meta: tree("meta")?,
            users: tree("users")?,
            tokens: tree("tokens")?,
            by_owner: tree("tokens_by_owner")?,
            numbers: tree("token_numbers")?,
            by_number: tree("tokens_by_number")?,
            retired: tree("retired_tokens")?,
            notices: tree("notices")?,
            audit: AuditLog::open(db.clone(), tree("audit")?)?,
            db,
            token_writes: Mutex::new(()),
            commit: Mutex::new(0),
            fsync: true,
            user_records: Records::new(),
            token_records: Records::new(),
        };
        store.check_schema()?;
        store.number_unnumbered_tokens()?;
        crate::private_fs::restrict_contents(dir)
            .map_err(|e| StoreError::Io(format!("{}: {e}", dir.display())))?;
        Ok(store)
    }

    /// Gives a number to every token made before tokens were numbered (once; a no-op after).
    fn number_unnumbered_tokens(&self) -> Result<(), StoreError> {
        let _guard = self.lock();
        let mut ids = Vec::new();
        for key in self.tokens.iter().keys() {
            let key = key.map_err(io)?;
            if self.numbers.get(&key).map_err(io)?.is_none() {
                ids.push(key);
            }
        }
        if ids.is_empty() {
            return Ok(());
        }
        (&self.meta, &self.numbers, &self.by_number)
            .transaction(|(meta, nums, by_num)| {
                for id in &ids {
                    assign_number(meta, nums, by_num, id)?;
                }
                Ok(())
            })
            .map_err(tx_error)?;
        self.durable()
    }

    /// Writes one `meta` value with its events in one transaction, durably.
    fn put_meta(
        &self,
        key: &[u8],
        value: &[u8],
        mut events: Vec<AuditEvent>,
    ) -> Result<(), StoreError> {
        let prepared = self.audit.prepare(&mut events)?;
        (&self.meta, self.audit.tree())
            .transaction(|(meta, audit)| {
                meta.insert(key, value)?;
                audit.apply_batch(&prepared.batch)?;
                Ok(())
            })
            .map_err(tx_error)?;
        prepared.commit.done();
        self.durable()
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Tells `sink` of every audit event this store commits from now on (see [`EventSink`]).
    /// For data that is removed when the process exits (`--ephemeral`, the in-process test
    /// server): changes are not flushed to disk one by one (sled still writes them in the
    /// background). Surviving a crash means nothing for such data, and each flush is an fsync
    /// that costs milliseconds (tens on a busy disk) at every seeded user and token.
    pub fn without_fsync(mut self) -> Self {
        self.fsync = false;
        self
    }

    pub fn with_event_sink(mut self, sink: std::sync::Arc<dyn EventSink>) -> Self {
        self.audit.set_sink(sink);
        self
    }

    fn check_schema(&self) -> Result<(), StoreError> {
        let marker = self.path.join(MARKER_FILE);
        let marked = read_marker(&marker)?;
        let schema = self.meta.get(SCHEMA_KEY).map_err(io)?;
        let commit = match self.meta.get(COMMIT_KEY).map_err(io)? {
            Some(v) => <[u8; 8]>::try_from(v.as_ref())
                .map(u64::from_be_bytes)
                .map_err(|_| self.corrupt("unreadable commit number"))?,
            None => 0,
        };
        if let Some(marked) = marked
            && (schema.is_none() || commit < marked)
        {
            return Err(self.corrupt(&format!(
                "it held a tokenauth database with {marked} acknowledged changes, but only {commit} \
                 can still be read (damaged or truncated files); restore it from a backup, or move \
                 the directory away to start anew"
            )));
        }
        match schema {
            None => {
                self.meta
                    .insert(SCHEMA_KEY, &SCHEMA_VERSION.to_be_bytes())
                    .map_err(io)?;
            }
            Some(v) => {
                let found = <[u8; 4]>::try_from(v.as_ref())
                    .map(u32::from_be_bytes)
                    .map_err(|_| self.corrupt("unreadable schema version"))?;
                if found != SCHEMA_VERSION {
                    return Err(StoreError::SchemaVersion {
                        path: self.path.clone(),
                        found,
                        expected: SCHEMA_VERSION,
                    });
                }
            }
        }
        *self
            .commit
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = commit;
        self.durable()
    }

    fn corrupt(&self, detail: &str) -> StoreError {
        StoreError::Corrupt {
            path: self.path.clone(),
            detail: detail.to_owned(),
        }
    }

    /// Makes every write so far durable, then records it in the marker file.
    fn durable(&self) -> Result<(), StoreError> {
        if !self.fsync {
            return Ok(());
        }
        let mut commit = self
            .commit
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let next = *commit + 1;
        self.meta
            .insert(COMMIT_KEY, &next.to_be_bytes())
            .map_err(io)?;
        self.db.flush().map_err(io)?;
        *commit = next;
        // Only after sled has it on disk: a crash leaves sled at or ahead of the marker.
        write_marker(&self.path.join(MARKER_FILE), next)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ()> {
        self.token_writes
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Writes the marker durably: a temporary file, fsync, then rename over the final name.
fn write_marker(path: &Path, commit: u64) -> Result<(), StoreError> {
    use std::io::Write as _;
    let tmp = path.with_extension("tmp");
    let fail = |e: std::io::Error| StoreError::Io(format!("{}: {e}", path.display()));
    let mut f = crate::private_fs::create_file(&tmp).map_err(fail)?;
    f.write_all(format!("tokenauth store\nschema {SCHEMA_VERSION}\ncommit {commit}\n").as_bytes())
        .and_then(|()| f.sync_all())
        .map_err(fail)?;
    std::fs::rename(&tmp, path).map_err(fail)
}

/// The commit number in the marker file; `None` when there is no marker (a new directory).
fn read_marker(path: &Path) -> Result<Option<u64>, StoreError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(StoreError::Io(format!("{}: {e}", path.display()))),
    };
    text.lines()
        .find_map(|l| l.strip_prefix("commit "))
        .and_then(|n| n.trim().parse().ok())
        .map(Some)
        .ok_or_else(|| StoreError::Corrupt {
            path: path.to_path_buf(),
            detail: "the marker file is unreadable".into(),
        })
}

fn open_error(dir: &Path, e: sled::Error) -> StoreError {
    match e {
        sled::Error::Io(ref ioe)
            if ioe.kind() == std::io::ErrorKind::WouldBlock || ioe.to_string().contains("lock") =>
        {
            StoreError::Locked {
                path: dir.to_owned(),
            }
        }
        sled::Error::Corruption { .. } | sled::Error::Unsupported(_) => StoreError::Corrupt {
            path: dir.to_owned(),
            detail: e.to_string(),
        },
        other => StoreError::Io(format!("{}: {other}", dir.display())),
    }
}
