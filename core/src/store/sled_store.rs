//! [`Store`] on sled.
//!
//! Trees: `meta` (schema version, settings as JSON), `users` (key: lower-cased name),
//! `tokens` (key: token id), `tokens_by_owner` (key: owner key, 0, token id),
//! `token_numbers` (token id → number) and `tokens_by_number` (number → token id) for the
//! numeric ids of Jira's PAT API, `retired_tokens` (old id → what stays of a token rotated
//! away), `notices` (token id, 0, threshold → (): expiry notices sent) and `audit`, the
//! block-structured audit log of [`super::audit_log`].

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use sled::transaction::{ConflictableTransactionError, TransactionError, Transactional};
use sled::{Db, IVec, Tree};

use super::audit_log::AuditLog;
use super::records::Records;
use super::{SCHEMA_VERSION, Store, StoreError};
use crate::audit::{AuditEvent, AuditPage, AuditQuery};
use crate::auth::Directory;
use crate::clock::Millis;
use crate::settings::Settings;
use crate::token::{RetiredToken, TokenRecord};
use crate::token_format::TokenId;
use crate::user::{User, user_key};

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
const SETTINGS_KEY: &[u8] = b"settings";
/// The next token number to give (big-endian u64); numbers start at 1 and are never reused.
const NEXT_NUMBER_KEY: &[u8] = b"next_token_number";
const NOTICE_SECRET_KEY: &[u8] = b"notice_secret";

fn notice_key(token_id: &str, days_before: u32) -> Vec<u8> {
    let mut k = token_id.as_bytes().to_vec();
    k.push(0);
    k.extend_from_slice(&days_before.to_be_bytes());
    k
}

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

/// Hears of every audit event the store commits — batched (`append_events`) or with a user,
/// token or settings change — once, after it is in the log, with its id, in id order. The one
/// place every event passes with its id (the id is assigned in the store, and a change's event
/// is written inside the change's transaction), so a copy of the log kept elsewhere (the
/// server's `--audit-file`) misses none and repeats none, whichever operation wrote it.
pub trait EventSink: Send + Sync {
    /// Called while the log's order is held: must not block or do I/O (queue the events and
    /// return), or every audit write waits for it.
    fn committed(&self, events: Vec<crate::audit::AuditEvent>);
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

fn io(e: sled::Error) -> StoreError {
    StoreError::Io(e.to_string())
}

fn tx_error(e: TransactionError<StoreError>) -> StoreError {
    match e {
        TransactionError::Abort(e) => e,
        TransactionError::Storage(e) => io(e),
    }
}

fn encode<T: serde::Serialize>(value: &T) -> Result<Vec<u8>, StoreError> {
    postcard::to_allocvec(value).map_err(|e| StoreError::Decode(e.to_string()))
}

fn decode<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, StoreError> {
    postcard::from_bytes(bytes).map_err(|e| StoreError::Decode(e.to_string()))
}

fn owner_key(owner: &str, id: &str) -> Vec<u8> {
    let mut k = user_key(owner).into_bytes();
    k.push(0);
    k.extend_from_slice(id.as_bytes());
    k
}

type TxTree = sled::transaction::TransactionalTree;
type TxResult<T> = Result<T, ConflictableTransactionError<StoreError>>;

/// Gives token `id` the next number, inside a transaction.
fn assign_number(meta: &TxTree, nums: &TxTree, by_num: &TxTree, id: &[u8]) -> TxResult<u64> {
    let next = match meta.get(NEXT_NUMBER_KEY)? {
        Some(v) => u64::from_be_bytes(
            v.as_ref()
                .try_into()
                .map_err(|_| abort(StoreError::Decode("next token number".into())))?,
        ),
        None => 1,
    };
    meta.insert(NEXT_NUMBER_KEY, &next.saturating_add(1).to_be_bytes())?;
    nums.insert(id, &next.to_be_bytes())?;
    by_num.insert(&next.to_be_bytes(), id)?;
    Ok(next)
}

/// Removes a token's number (both directions), inside a transaction.
fn remove_number(nums: &TxTree, by_num: &TxTree, id: &[u8]) -> TxResult<()> {
    if let Some(n) = nums.remove(id)? {
        by_num.remove(n)?;
    }
    Ok(())
}

/// The trees a token lives in, inside one transaction.
struct TokenTrees<'a> {
    toks: &'a TxTree,
    owners: &'a TxTree,
    nums: &'a TxTree,
    by_num: &'a TxTree,
}

impl TokenTrees<'_> {
    /// Removes tokens, their owner-index entries and their numbers.
    fn remove(&self, tokens: &[TokenRecord]) -> TxResult<()> {
        for t in tokens {
            self.toks.remove(t.id.as_bytes())?;
            self.owners.remove(owner_key(&t.owner, &t.id))?;
            remove_number(self.nums, self.by_num, t.id.as_bytes())?;
        }
        Ok(())
    }
}

fn abort(e: StoreError) -> ConflictableTransactionError<StoreError> {
    ConflictableTransactionError::Abort(e)
}

impl Directory for SledStore {
    type Error = StoreError;

    fn retired_token(&self, id: &TokenId) -> Result<Option<RetiredToken>, StoreError> {
        self.retired
            .get(id.as_str().as_bytes())
            .map_err(io)?
            .map(|v| decode(&v))
            .transpose()
    }

    fn user(&self, key: &str) -> Result<Option<User>, StoreError> {
        let key = user_key(key);
        self.user_records.get(&key, || {
            self.users
                .get(&key)
                .map_err(io)?
                .map(|v| decode(&v))
                .transpose()
        })
    }

    fn token(&self, id: &TokenId) -> Result<Option<TokenRecord>, StoreError> {
        self.token_records.get(id.as_str(), || {
            self.tokens
                .get(id.as_str())
                .map_err(io)?
                .map(|v| decode(&v))
                .transpose()
        })
    }
}

impl Store for SledStore {
    fn users(&self) -> Result<Vec<User>, StoreError> {
        self.users
            .iter()
            .values()
            .map(|v| decode(&v.map_err(io)?))
            .collect()
    }

    fn put_user(&self, user: &User, event: Option<AuditEvent>) -> Result<(), StoreError> {
        let mut events: Vec<AuditEvent> = event.into_iter().collect();
        let prepared = self.audit.prepare(&mut events)?;
        let value = encode(user)?;
        (&self.users, self.audit.tree())
            .transaction(|(users, audit)| {
                users.insert(user.key().as_bytes(), value.as_slice())?;
                audit.apply_batch(&prepared.batch)?;
                Ok(())
            })
            .map_err(tx_error)?;
        prepared.commit.done();
        self.user_records.forget([user.key().as_str()]);
        self.durable()
    }

    fn delete_user(
        &self,
        key: &str,
        mut event: AuditEvent,
    ) -> Result<Option<(User, Vec<TokenRecord>)>, StoreError> {
        let _guard = self.lock();
        let Some(user) = self.user(key)? else {
            return Ok(None);
        };
        let tokens = self.tokens_of(key)?;
        let prepared = self.audit.prepare(std::slice::from_mut(&mut event))?;
        (
            &self.users,
            &self.tokens,
            &self.by_owner,
            &self.numbers,
            &self.by_number,
            self.audit.tree(),
        )
            .transaction(|(users, toks, owners, nums, by_num, audit)| {
                users.remove(user.key().as_bytes())?;
                TokenTrees {
                    toks,
                    owners,
                    nums,
                    by_num,
                }
                .remove(&tokens)?;
                audit.apply_batch(&prepared.batch)?;
                Ok(())
            })
            .map_err(tx_error)?;
        prepared.commit.done();
        self.user_records.forget([user.key().as_str()]);
        self.token_records
            .forget(tokens.iter().map(|t| t.id.as_str()));
        self.durable()?;
        Ok(Some((user, tokens)))
    }

    fn update_failed_logins(&self, key: &str, reset: bool) -> Result<(), StoreError> {
        let mut failure = None;
        self.users
            .update_and_fetch(user_key(key), |old| {
                let old = old?;
                let mut u: User = match decode(old) {
                    Ok(u) => u,
                    Err(e) => {
                        failure = Some(e);
                        return Some(old.to_vec());
                    }
                };
                u.failed_logins = if reset {
                    0
                } else {
                    u.failed_logins.saturating_add(1)
                };
                encode(&u).ok().or_else(|| Some(old.to_vec()))
            })
            .map_err(io)?;
        self.user_records.forget([user_key(key).as_str()]);
        failure.map_or(Ok(()), Err)
    }

    fn tokens_of(&self, owner_key_text: &str) -> Result<Vec<TokenRecord>, StoreError> {
        let mut prefix = user_key(owner_key_text).into_bytes();
        prefix.push(0);
        let mut out = Vec::new();
        for key in self.by_owner.scan_prefix(&prefix).keys() {
            let key = key.map_err(io)?;
            let id = &key[prefix.len()..];
            if let Some(v) = self.tokens.get(id).map_err(io)? {
                out.push(decode(&v)?);
            }
        }
        Ok(out)
    }

    fn all_tokens(&self) -> Result<Vec<TokenRecord>, StoreError> {
        self.tokens
            .iter()
            .values()
            .map(|v| decode(&v.map_err(io)?))
            .collect()
    }

    fn insert_token(
        &self,
        token: &TokenRecord,
        mut event: AuditEvent,
        max_per_owner: u32,
    ) -> Result<(), StoreError> {
        let _guard = self.lock();
        // Every token change holds the lock, so the count cannot change before the insert.
        let mut prefix = user_key(&token.owner).into_bytes();
        prefix.push(0);
        let held = self
            .by_owner
            .scan_prefix(&prefix)
            .keys()
            .take(max_per_owner as usize)
            .count();
        if held >= max_per_owner as usize {
            return Err(StoreError::TokenLimit {
                limit: max_per_owner,
            });
        }
        let value = encode(token)?;
        let prepared = self.audit.prepare(std::slice::from_mut(&mut event))?;
        (
            &self.tokens,
            &self.by_owner,
            &self.meta,
            &self.numbers,
            &self.by_number,
            self.audit.tree(),
        )
            .transaction(|(toks, owners, meta, nums, by_num, audit)| {
                if toks.get(token.id.as_bytes())?.is_some() {
                    return Err(abort(StoreError::Io(format!(
                        "token id {} already exists",
                        token.id
                    ))));
                }
                toks.insert(token.id.as_bytes(), value.as_slice())?;
                owners.insert(owner_key(&token.owner, &token.id), IVec::default())?;
                assign_number(meta, nums, by_num, token.id.as_bytes())?;
                audit.apply_batch(&prepared.batch)?;
                Ok(())
            })
            .map_err(tx_error)?;
        prepared.commit.done();
        // A token whose creation was acknowledged survives a kill -9.
        self.durable()
    }

    fn update_token(&self, token: &TokenRecord, mut event: AuditEvent) -> Result<bool, StoreError> {
        let _guard = self.lock();
        let value = encode(token)?;
        let prepared = self.audit.prepare(std::slice::from_mut(&mut event))?;
        let updated = (&self.tokens, self.audit.tree())
            .transaction(|(toks, audit)| {
                if toks.get(token.id.as_bytes())?.is_none() {
                    return Ok(false);
                }
                toks.insert(token.id.as_bytes(), value.as_slice())?;
                audit.apply_batch(&prepared.batch)?;
                Ok(true)
            })
            .map_err(tx_error)?;
        if updated {
            prepared.commit.done();
            self.token_records.forget([token.id.as_str()]);
            self.durable()?;
        }
        Ok(updated)
    }

    fn delete_token(&self, id: &TokenId, mut event: AuditEvent) -> Result<bool, StoreError> {
        let _guard = self.lock();
        let prepared = self.audit.prepare(std::slice::from_mut(&mut event))?;
        let deleted = (
            &self.tokens,
            &self.by_owner,
            &self.numbers,
            &self.by_number,
            self.audit.tree(),
        )
            .transaction(|(toks, owners, nums, by_num, audit)| {
                let Some(old) = toks.remove(id.as_str().as_bytes())? else {
                    return Ok(false);
                };
                let record: TokenRecord = decode(&old).map_err(abort)?;
                owners.remove(owner_key(&record.owner, &record.id))?;
                remove_number(nums, by_num, record.id.as_bytes())?;
                audit.apply_batch(&prepared.batch)?;
                Ok(true)
            })
            .map_err(tx_error)?;
        if deleted {
            prepared.commit.done();
            self.token_records.forget([id.as_str()]);
            self.durable()?;
        }
        Ok(deleted)
    }

    fn delete_tokens_of(
        &self,
        owner: &str,
        mut event: AuditEvent,
    ) -> Result<Vec<TokenRecord>, StoreError> {
        let _guard = self.lock();
        let tokens = self.tokens_of(owner)?;
        let prepared = self.audit.prepare(std::slice::from_mut(&mut event))?;
        (
            &self.tokens,
            &self.by_owner,
            &self.numbers,
            &self.by_number,
            self.audit.tree(),
        )
            .transaction(|(toks, owners, nums, by_num, audit)| {
                TokenTrees {
                    toks,
                    owners,
                    nums,
                    by_num,
                }
                .remove(&tokens)?;
                audit.apply_batch(&prepared.batch)?;
                Ok(())
            })
            .map_err(tx_error)?;
        prepared.commit.done();
        self.token_records
            .forget(tokens.iter().map(|t| t.id.as_str()));
        self.durable()?;
        Ok(tokens)
    }

    fn rotate_token(
        &self,
        old: &TokenId,
        new: &TokenRecord,
        retired: &RetiredToken,
        mut event: AuditEvent,
    ) -> Result<bool, StoreError> {
        let _guard = self.lock();
        let value = encode(new)?;
        let retired_value = encode(retired)?;
        let prepared = self.audit.prepare(std::slice::from_mut(&mut event))?;
        let rotated = (
            &self.tokens,
            &self.by_owner,
            &self.meta,
            &self.numbers,
            &self.by_number,
            &self.retired,
            self.audit.tree(),
        )
            .transaction(|(toks, owners, meta, nums, by_num, retired_tree, audit)| {
                let Some(old_value) = toks.remove(old.as_str().as_bytes())? else {
                    return Ok(false);
                };
                let record: TokenRecord = decode(&old_value).map_err(abort)?;
                owners.remove(owner_key(&record.owner, &record.id))?;
                remove_number(nums, by_num, record.id.as_bytes())?;
                if toks.get(new.id.as_bytes())?.is_some() {
                    return Err(abort(StoreError::Io(format!(
                        "token id {} already exists",
                        new.id
                    ))));
                }
                toks.insert(new.id.as_bytes(), value.as_slice())?;
                owners.insert(owner_key(&new.owner, &new.id), IVec::default())?;
                assign_number(meta, nums, by_num, new.id.as_bytes())?;
                retired_tree.insert(old.as_str().as_bytes(), retired_value.as_slice())?;
                audit.apply_batch(&prepared.batch)?;
                Ok(true)
            })
            .map_err(tx_error)?;
        if rotated {
            prepared.commit.done();
            self.token_records.forget([old.as_str(), new.id.as_str()]);
            // Acknowledged means durable: no moment after a crash where neither secret works.
            self.durable()?;
        }
        Ok(rotated)
    }

    fn prune_retired_tokens(&self, before: Millis) -> Result<u64, StoreError> {
        let mut gone = 0;
        for entry in self.retired.iter() {
            let (key, value) = entry.map_err(io)?;
            let old = decode::<RetiredToken>(&value).map_or(true, |r| r.retired_at < before);
            if old {
                self.retired.remove(key).map_err(io)?;
                gone += 1;
            }
        }
        Ok(gone)
    }

    fn token_number(&self, id: &str) -> Result<Option<u64>, StoreError> {
        self.numbers
            .get(id.as_bytes())
            .map_err(io)?
            .map(|v| {
                v.as_ref()
                    .try_into()
                    .map(u64::from_be_bytes)
                    .map_err(|_| StoreError::Decode(format!("number of token {id}")))
            })
            .transpose()
    }

    fn token_by_number(&self, number: u64) -> Result<Option<TokenRecord>, StoreError> {
        let Some(id) = self.by_number.get(number.to_be_bytes()).map_err(io)? else {
            return Ok(None);
        };
        match std::str::from_utf8(&id).ok().and_then(TokenId::parse) {
            Some(id) => self.token(&id),
            None => Ok(None),
        }
    }

    fn record_token_uses(&self, uses: &[(TokenId, Millis, String)]) -> Result<(), StoreError> {
        for (id, at, ip) in uses {
            self.tokens
                .update_and_fetch(id.as_str(), |old| {
                    let old = old?;
                    let Ok(mut t) = decode::<TokenRecord>(old) else {
                        return Some(old.to_vec());
                    };
                    if t.last_used_at.is_some_and(|prev| prev > *at) {
                        return Some(old.to_vec());
                    }
                    t.last_used_at = Some(*at);
                    t.last_used_ip = Some(ip.clone());
                    encode(&t).ok().or_else(|| Some(old.to_vec()))
                })
                .map_err(io)?;
        }
        self.token_records
            .forget(uses.iter().map(|(id, _, _)| id.as_str()));
        Ok(())
    }

    fn settings(&self) -> Result<Option<Settings>, StoreError> {
        self.meta
            .get(SETTINGS_KEY)
            .map_err(io)?
            .map(|v| serde_json::from_slice(&v).map_err(|e| StoreError::Decode(e.to_string())))
            .transpose()
    }

    fn put_settings(
        &self,
        settings: &Settings,
        event: Option<AuditEvent>,
    ) -> Result<(), StoreError> {
        let value = serde_json::to_vec(settings).map_err(|e| StoreError::Decode(e.to_string()))?;
        self.put_meta(SETTINGS_KEY, &value, event.into_iter().collect())
    }

    fn append_events(&self, events: &mut [AuditEvent]) -> Result<(), StoreError> {
        self.audit.append(events)
    }

    fn query_events(&self, q: &AuditQuery) -> Result<AuditPage, StoreError> {
        self.audit.query(q)
    }

    fn prune_events(&self, older_than: Millis, max_events: u64) -> Result<u64, StoreError> {
        self.audit.prune(older_than, max_events)
    }

    fn event_count(&self) -> u64 {
        self.audit.count()
    }

    fn oldest_event(&self) -> Result<Option<Millis>, StoreError> {
        self.audit.oldest()
    }

    fn event_histogram(
        &self,
        q: &AuditQuery,
        from: Millis,
        to: Millis,
        buckets: usize,
    ) -> Result<Vec<u64>, StoreError> {
        self.audit.histogram(q, from, to, buckets)
    }

    fn notice_secret(&self) -> Result<Option<String>, StoreError> {
        self.meta
            .get(NOTICE_SECRET_KEY)
            .map_err(io)?
            .map(|v| {
                String::from_utf8(v.to_vec())
                    .map_err(|_| StoreError::Decode("the notice secret".into()))
            })
            .transpose()
    }

    fn put_notice_secret(&self, secret: &str, event: AuditEvent) -> Result<(), StoreError> {
        self.put_meta(NOTICE_SECRET_KEY, secret.as_bytes(), vec![event])
    }

    fn notice_sent(&self, token_id: &str, days_before: u32) -> Result<bool, StoreError> {
        self.notices
            .contains_key(notice_key(token_id, days_before))
            .map_err(io)
    }

    fn mark_notices_sent(&self, marks: &[(String, u32)]) -> Result<(), StoreError> {
        let mut batch = sled::Batch::default();
        for (id, d) in marks {
            batch.insert(notice_key(id, *d), IVec::default());
        }
        self.notices.apply_batch(batch).map_err(io)?;
        // Durable before the first delivery attempt: a restart must not send it again.
        self.notices.flush().map_err(io)?;
        Ok(())
    }

    fn flush(&self) -> Result<(), StoreError> {
        self.durable()
    }
}
