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

use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use sled::{Batch, Db, Tree};

use super::StoreError;
use super::sled_store::EventSink;
use crate::audit::{AuditAction, AuditEvent, AuditPage, AuditQuery, MAX_PAGE};
use crate::clock::Millis;
use crate::user::user_key;

pub const BLOCK_EVENTS: usize = 1024;

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

fn io(e: sled::Error) -> StoreError {
    StoreError::Io(e.to_string())
}

/// Big-endian time with the sign bit flipped (earlier sorts first, even before 1970), then id.
fn time_key(ts: Millis, id: u64) -> [u8; 16] {
    let mut k = [0u8; 16];
    k[..8].copy_from_slice(&((ts as u64) ^ (1 << 63)).to_be_bytes());
    k[8..].copy_from_slice(&id.to_be_bytes());
    k
}

/// The timestamp of a [`time_key`].
fn key_time(time: &[u8]) -> Option<Millis> {
    let b: [u8; 8] = time.get(..8)?.try_into().ok()?;
    Some((u64::from_be_bytes(b) ^ (1 << 63)) as Millis)
}

fn key(prefix: &[u8], time: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(prefix.len() + time.len());
    k.extend_from_slice(prefix);
    k.extend_from_slice(time);
    k
}

fn user_prefix(user: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(user.len() + 2);
    k.push(b'u');
    k.extend_from_slice(user_key(user).as_bytes());
    k.push(0);
    k
}

fn action_prefix(a: AuditAction) -> Vec<u8> {
    vec![b'a', action_code(a)]
}

/// The keys to walk for a query: its user's index, else its action's, else the blocks.
fn narrowest_prefix(q: &AuditQuery) -> Vec<u8> {
    match (&q.user, q.action) {
        (Some(u), _) => user_prefix(u),
        (None, Some(a)) => action_prefix(a),
        (None, None) => b"b".to_vec(),
    }
}

fn encode_block(events: &[AuditEvent]) -> Result<Vec<u8>, StoreError> {
    let mut out = (events.len() as u32).to_be_bytes().to_vec();
    let body = postcard::to_allocvec(events).map_err(|e| StoreError::Decode(e.to_string()))?;
    out.extend_from_slice(&body);
    Ok(out)
}

fn block_len(value: &[u8]) -> Result<u64, StoreError> {
    value
        .get(..4)
        .and_then(|b| <[u8; 4]>::try_from(b).ok())
        .map(|b| u64::from(u32::from_be_bytes(b)))
        .ok_or_else(|| StoreError::Decode("audit block without a header".into()))
}

fn decode_block(value: &[u8]) -> Result<Vec<AuditEvent>, StoreError> {
    let body = value
        .get(4..)
        .ok_or_else(|| StoreError::Decode("audit block without a header".into()))?;
    postcard::from_bytes(body).map_err(|e| StoreError::Decode(e.to_string()))
}

/// The index entries of one block, each with how many of the block's events it covers (4 bytes,
/// big-endian), so a histogram can count a block without decoding it.
fn index_entries(events: &[AuditEvent], time: &[u8; 16]) -> Vec<(Vec<u8>, [u8; 4])> {
    let mut users: BTreeMap<String, u32> = BTreeMap::new();
    let mut actions: BTreeMap<u8, u32> = BTreeMap::new();
    for e in events {
        // Author and affected user, once each even when their keys coincide.
        let mut keys = e.users().map(user_key);
        let author = keys.next();
        let affected = keys.next().filter(|k| Some(k) != author.as_ref());
        for u in author.into_iter().chain(affected) {
            *users.entry(u).or_default() += 1;
        }
        *actions.entry(action_code(e.action)).or_default() += 1;
    }
    let mut entries: Vec<(Vec<u8>, [u8; 4])> = users
        .iter()
        .map(|(u, n)| (key(&user_prefix(u), time), n.to_be_bytes()))
        .collect();
    entries.extend(
        actions
            .into_iter()
            .map(|(a, n)| (key(&[b'a', a], time), n.to_be_bytes())),
    );
    entries
}

fn action_code(a: AuditAction) -> u8 {
    AuditAction::ALL.iter().position(|x| *x == a).unwrap_or(0) as u8
}

fn block_time(events: &[AuditEvent]) -> Option<[u8; 16]> {
    events.first().map(|e| time_key(e.timestamp, e.id))
}

fn put_block(batch: &mut Batch, events: &[AuditEvent]) -> Result<(), StoreError> {
    let Some(time) = block_time(events) else {
        return Ok(());
    };
    batch.insert(key(b"b", &time), encode_block(events)?);
    for (k, count) in index_entries(events, &time) {
        batch.insert(k, count.to_vec());
    }
    Ok(())
}

fn remove_block(batch: &mut Batch, events: &[AuditEvent]) {
    if let Some(time) = block_time(events) {
        batch.remove(key(b"b", &time));
        for (k, _) in index_entries(events, &time) {
            batch.remove(k);
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

    fn block_at(&self, time: &[u8]) -> Result<Option<Vec<AuditEvent>>, StoreError> {
        self.tree
            .get(key(b"b", time))
            .map_err(io)?
            .map(|v| decode_block(&v))
            .transpose()
    }

    pub fn query(&self, q: &AuditQuery) -> Result<AuditPage, StoreError> {
        let limit = q.limit.clamp(1, MAX_PAGE);
        // Walk the narrowest index (or the blocks), newest block first.
        let prefix = narrowest_prefix(q);
        // No block that starts after `to` or at/after the cursor can hold a match.
        let mut end = key(&prefix, &[0xff; 17]);
        if let Some(to) = q.to {
            end = end.min(key(&prefix, &time_key(to.saturating_add(1), 0)));
        }
        if let Some((ts, id)) = q.before {
            end = end.min(key(&prefix, &time_key(ts, id)));
        }
        let mut events = Vec::with_capacity(limit);
        let mut skipped = 0usize;
        for k in self.tree.range(prefix.clone()..end).keys().rev() {
            let k = k.map_err(io)?;
            let time = &k[prefix.len()..];
            // An index entry whose block was pruned in between is skipped.
            let Some(block) = self.block_at(time)? else {
                continue;
            };
            let first_ts = block.first().map_or(Millis::MIN, |e| e.timestamp);
            for e in block.into_iter().rev() {
                if !q.matches(&e) {
                    continue;
                }
                if skipped < q.offset {
                    skipped += 1;
                    continue;
                }
                if events.len() == limit {
                    return Ok(AuditPage {
                        events,
                        is_last_page: false,
                    });
                }
                events.push(e);
            }
            // Every older block holds only older events.
            if q.from.is_some_and(|from| first_ts < from) {
                break;
            }
        }
        Ok(AuditPage {
            events,
            is_last_page: true,
        })
    }

    /// The time of the oldest event, read from the first block's key.
    pub fn oldest(&self) -> Result<Option<Millis>, StoreError> {
        Ok(self
            .tree
            .scan_prefix(b"b")
            .keys()
            .next()
            .transpose()
            .map_err(io)?
            .and_then(|k| key_time(&k[1..])))
    }

    /// The time of the first block after the block at `time`.
    fn next_block_time(&self, time: &[u8]) -> Result<Option<Millis>, StoreError> {
        let after = (Bound::Excluded(key(b"b", time)), Bound::Unbounded);
        Ok(match self.tree.range::<Vec<u8>, _>(after).keys().next() {
            Some(k) => {
                let k = k.map_err(io)?;
                k.strip_prefix(b"b").and_then(key_time)
            }
            None => None,
        })
    }

    /// How many events match `q`'s user and action filters in each of `buckets` equal slices of
    /// `from..=to`. A block whose whole time span falls in one slice is counted without decoding
    /// it — from its header, or with one filter from its index entry's count; only blocks that
    /// straddle a slice boundary (or older entries without a count) are decoded.
    pub fn histogram(
        &self,
        q: &AuditQuery,
        from: Millis,
        to: Millis,
        buckets: usize,
    ) -> Result<Vec<u64>, StoreError> {
        let mut counts = vec![0u64; buckets.max(1)];
        if to < from {
            return Ok(counts);
        }
        // The span of two i64 times needs more than 64 bits (i64::MIN..=i64::MAX), and the width
        // of a slice is at least 1 ms.
        let span = (i128::from(to) - i128::from(from)) as u128 + 1;
        let width = span.div_ceil(counts.len() as u128).max(1);
        let last = counts.len() - 1;
        let slot = |ts: Millis| -> Option<usize> {
            (from..=to).contains(&ts).then(|| {
                let offset = (i128::from(ts) - i128::from(from)) as u128;
                usize::try_from(offset / width).map_or(last, |i| i.min(last))
            })
        };
        let matching = AuditQuery {
            from: Some(from),
            to: Some(to),
            user: q.user.clone(),
            action: q.action,
            ..AuditQuery::default()
        };
        let prefix = narrowest_prefix(q);
        let filtered = prefix != b"b";
        // With both filters an index entry's count covers only one of them.
        let counted_index = q.user.is_some() != q.action.is_some();
        let start = key(&prefix, &time_key(from, 0));
        let end = key(&prefix, &time_key(to.saturating_add(1), 0));
        // The block that starts just before `from` may still hold events after it.
        let previous = self.tree.range(prefix.clone()..start.clone()).next_back();
        let mut blocks = previous
            .into_iter()
            .chain(self.tree.range(start..end))
            .peekable();
        while let Some(entry) = blocks.next() {
            let (k, v) = entry.map_err(io)?;
            let time = &k[prefix.len()..];
            // The block's end is where the next block starts; its count is in the block's
            // header, or (one filter) in the index entry.
            let shortcut = if !filtered {
                let next = match blocks.peek() {
                    Some(Ok((nk, _))) => key_time(&nk[prefix.len()..]),
                    _ => None,
                };
                Some((next, block_len(&v)?))
            } else if counted_index && v.len() == 4 {
                Some((self.next_block_time(time)?, block_len(&v)?))
            } else {
                None
            };
            if let Some((next, n)) = shortcut
                && let (Some(a), Some(b)) = (key_time(time).and_then(slot), next.and_then(slot))
                && a == b
            {
                counts[a] += n;
                continue;
            }
            let Some(block) = (if filtered {
                self.block_at(time)?
            } else {
                Some(decode_block(&v)?)
            }) else {
                continue;
            };
            for e in block.iter().filter(|e| matching.matches(e)) {
                if let Some(i) = slot(e.timestamp) {
                    counts[i] += 1;
                }
            }
        }
        Ok(counts)
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
