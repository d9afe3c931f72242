//! The audit log inside the `audit` tree, stored in blocks: each append writes one key per up to
//! [`BLOCK_EVENTS`] events, plus one index entry per user and per action *per block*, so a busy
//! log costs a few keys per batch instead of several per event.
//!
//! Keys (the time part is the block's first event: time with the sign bit flipped, then id, so
//! keys sort by time):
//! - `b` + time → block: event count (4 bytes, big-endian) + postcard of the events;
//! - `u` + user key + 0 + time → (), for the user filter;
//! - `a` + action + time → (), for the action filter.
//!
//! Within the log, timestamps never decrease: an event that reaches the log after a later one
//! (by the few milliseconds a batch takes) is stamped with that later time. That keeps every
//! block's events after the previous block's, so time ranges and keyset cursors are exact.
//!
//! Writing (append, prune) is here, reading (pages, histogram) in `query.rs`, the keys and the
//! block encoding in `layout.rs`.

mod layout;
mod query;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use sled::{Batch, Db, Tree};

use self::layout::{block_len, decode_block, io, put_block, remove_block};
use crate::audit::AuditEvent;
use crate::clock::Millis;
use crate::store::error::StoreError;

pub const BLOCK_EVENTS: usize = 1024;

/// Hears of every audit event the store commits — batched (`append_events`) or with a user,
/// token or settings change — once, after it is in the log, with its id, in id order. The one
/// place every event passes with its id (the id is assigned in the store, and a change's event
/// is written inside the change's transaction), so a copy of the log kept elsewhere (the
/// server's `--audit-file`) misses none and repeats none, whichever operation wrote it.
pub trait EventSink: Send + Sync {
    /// Called while the log's order is held: must not block or do I/O (queue the events and
    /// return), or every audit write waits for it.
    fn committed(&self, events: Vec<AuditEvent>);
}

pub(super) struct AuditLog {
    db: Db,
    tree: Tree,
    /// The newest timestamp in the log; held while a batch is built and written.
    last_ts: Mutex<Millis>,
    count: AtomicU64,
    /// Told of every committed event (see [`EventSink`]).
    sink: Option<Arc<dyn EventSink>>,
}

/// A batch ready to write, and the log's order, held until the batch is [`Commit::done`].
pub(super) struct Prepared<'a> {
    pub batch: Batch,
    pub commit: Commit<'a>,
}

pub(super) struct Commit<'a> {
    _order: MutexGuard<'a, Millis>,
    events: u64,
    count: &'a AtomicU64,
    /// The sink and the events it is told of once they are committed (with their ids).
    sink: Option<(&'a dyn EventSink, Vec<AuditEvent>)>,
}

impl Commit<'_> {
    pub fn done(self) {
        self.count.fetch_add(self.events, Ordering::Relaxed);
        // Still under the order lock: the sink hears of events in id order, each once, and
        // only of events that are in the log.
        if let Some((sink, events)) = self.sink
            && !events.is_empty()
        {
            sink.committed(events);
        }
    }
}

impl AuditLog {
    pub fn open(db: Db, tree: Tree) -> Result<Self, StoreError> {
        let mut count = 0;
        for value in tree.scan_prefix(b"b").values() {
            count += block_len(&value.map_err(io)?)?;
        }
        let last_ts = match tree.scan_prefix(b"b").values().next_back() {
            Some(v) => decode_block(&v.map_err(io)?)?
                .last()
                .map_or(Millis::MIN, |e| e.timestamp),
            None => Millis::MIN,
        };
        Ok(Self {
            db,
            tree,
            last_ts: Mutex::new(last_ts),
            count: AtomicU64::new(count),
            sink: None,
        })
    }

    pub fn set_sink(&mut self, sink: Arc<dyn EventSink>) {
        self.sink = Some(sink);
    }

    pub fn tree(&self) -> &Tree {
        &self.tree
    }

    /// Assigns ids and log-order timestamps and puts the events into a batch of blocks.
    pub fn prepare(&self, events: &mut [AuditEvent]) -> Result<Prepared<'_>, StoreError> {
        let mut last = self
            .last_ts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for e in events.iter_mut() {
            // Whoever built the event, nothing unbounded reaches the log or an index key.
            e.bound();
            e.id = self.db.generate_id().map_err(io)?;
            e.timestamp = e.timestamp.max(*last);
            *last = e.timestamp;
        }
        let mut batch = Batch::default();
        for block in events.chunks(BLOCK_EVENTS) {
            put_block(&mut batch, block)?;
        }
        Ok(Prepared {
            batch,
            commit: Commit {
                _order: last,
                events: events.len() as u64,
                count: &self.count,
                sink: self.sink.as_deref().map(|s| (s, events.to_vec())),
            },
        })
    }

    pub fn append(&self, events: &mut [AuditEvent]) -> Result<(), StoreError> {
        if events.is_empty() {
            return Ok(());
        }
        let Prepared { batch, commit } = self.prepare(events)?;
        self.tree.apply_batch(batch).map_err(io)?;
        commit.done();
        Ok(())
    }

    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    /// Removes the events older than `older_than`, then the oldest beyond `max_events`, a few
    /// blocks per batch so that writers never wait behind one huge change.
    pub fn prune(&self, older_than: Millis, max_events: u64) -> Result<u64, StoreError> {
        const BLOCKS_PER_BATCH: usize = 32;
        let mut removed = 0u64;
        loop {
            let mut excess = self.count().saturating_sub(max_events);
            let mut batch = Batch::default();
            let mut gone = 0u64;
            let mut blocks = 0usize;
            let mut done = false;
            for item in self.tree.scan_prefix(b"b") {
                let (_, value) = item.map_err(io)?;
                let events = decode_block(&value)?;
                let old = events
                    .iter()
                    .take_while(|e| e.timestamp < older_than)
                    .count();
                let drop = old.max(
                    usize::try_from(excess)
                        .unwrap_or(usize::MAX)
                        .min(events.len()),
                );
                if drop == 0 {
                    done = true;
                    break;
                }
                remove_block(&mut batch, &events);
                if drop < events.len() {
                    // The boundary block keeps its newer events under a new key.
                    put_block(&mut batch, &events[drop..])?;
                    done = true;
                }
                gone += drop as u64;
                excess = excess.saturating_sub(drop as u64);
                blocks += 1;
                if done || blocks == BLOCKS_PER_BATCH {
                    break;
                }
            }
            if gone > 0 {
                self.tree.apply_batch(batch).map_err(io)?;
                self.count.fetch_sub(gone, Ordering::Relaxed);
                removed += gone;
            }
            if done || gone == 0 {
                return Ok(removed);
            }
        }
    }
}

#[cfg(test)]
mod tests;
