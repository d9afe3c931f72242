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
use std::ops::{Bound, ControlFlow};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use sled::{Batch, Db, Tree};

use crate::store::error::StoreError;
use crate::audit::{AuditAction, AuditEvent, AuditPage, AuditQuery, MAX_PAGE, SearchText};
use crate::clock::Millis;
use crate::user::user_key;

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

/// The timestamp and id of a [`time_key`]: a block's first (oldest) event.
fn key_event(time: &[u8]) -> Option<(Millis, u64)> {
    let id: [u8; 8] = time.get(8..16)?.try_into().ok()?;
    Some((key_time(time)?, u64::from_be_bytes(id)))
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

/// The index lists a query walks, merged: its user's, else its users', else its action's, else
/// its actions'; none (walk the blocks themselves) without a user or action filter.
fn walk_prefixes(q: &AuditQuery) -> Vec<Vec<u8>> {
    let mut prefixes: Vec<Vec<u8>> = if let Some(u) = &q.user {
        vec![user_prefix(u)]
    } else if !q.users.is_empty() {
        q.users.iter().map(|u| user_prefix(u)).collect()
    } else if let Some(a) = q.action {
        vec![action_prefix(a)]
    } else {
        q.actions.iter().map(|a| action_prefix(*a)).collect()
    };
    // The same user in two spellings, or an action named twice, is one list.
    prefixes.sort();
    prefixes.dedup();
    prefixes
}

/// Why a page query stopped before the end of the log.
enum Stop {
    /// The page is full and another match follows.
    Full,
    /// The scan limit was reached with more events in range.
    ScanLimit,
}

/// The keys the histogram walks: its user's index, else its action's, else the blocks.
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

    /// Calls `visit` with each block that may hold an event of `q` (its time key and encoded
    /// value), newest first, starting with the newest block that begins before `upper` (a time
    /// key bound, exclusive). Walks the narrowest index: the blocks themselves without a user or
    /// action filter, else the index entries of the filter's users (or actions), several lists
    /// merged newest first with each block visited once.
    fn walk_blocks(
        &self,
        q: &AuditQuery,
        upper: &[u8],
        mut visit: impl FnMut(&[u8], &[u8]) -> Result<ControlFlow<()>, StoreError>,
    ) -> Result<(), StoreError> {
        let prefixes = walk_prefixes(q);
        if prefixes.is_empty() {
            for entry in self.tree.range(b"b".to_vec()..key(b"b", upper)).rev() {
                let (k, v) = entry.map_err(io)?;
                if visit(&k[1..], &v)?.is_break() {
                    break;
                }
            }
            return Ok(());
        }
        let mut lists: Vec<_> = prefixes
            .iter()
            .map(|p| {
                let keys = self.tree.range(p.clone()..key(p, upper)).keys().rev();
                (p.len(), keys.peekable())
            })
            .collect();
        loop {
            // The newest block any list names next.
            let mut newest: Option<Vec<u8>> = None;
            for (len, keys) in &mut lists {
                if let Some(Err(_)) = keys.peek()
                    && let Some(Err(e)) = keys.next()
                {
                    return Err(io(e));
                }
                if let Some(Ok(k)) = keys.peek()
                    && let Some(time) = k.get(*len..)
                    && newest.as_deref().is_none_or(|n| time > n)
                {
                    newest = Some(time.to_vec());
                }
            }
            let Some(time) = newest else {
                return Ok(());
            };
            // Each list names a block at most once; step every list that names this one.
            for (len, keys) in &mut lists {
                if matches!(keys.peek(), Some(Ok(k)) if k.get(*len..) == Some(time.as_slice())) {
                    keys.next();
                }
            }
            // An index entry whose block was pruned in between is skipped.
            let Some(block) = self.tree.get(key(b"b", &time)).map_err(io)? else {
                continue;
            };
            if visit(&time, &block)?.is_break() {
                return Ok(());
            }
        }
    }

    /// One page of `q`, newest first. Examines at most `q.scan_limit` events (those in the time
    /// range and past the cursor); the page says where the next one starts.
    pub fn query(&self, q: &AuditQuery) -> Result<AuditPage, StoreError> {
        if q.matches_nothing() {
            return Ok(AuditPage::last(Vec::new(), 0));
        }
        let limit = q.limit.clamp(1, MAX_PAGE);
        // At least one event, so that a stopped query always names where it stopped.
        let budget = q.scan_limit.map(|n| n.max(1));
        let filter = q.filter();
        // A search for text that only stored strings can hold skips, undecoded, every block
        // whose bytes do not contain it.
        let raw_search = q
            .search
            .as_deref()
            .map(SearchText::new)
            .filter(SearchText::only_in_stored_text);
        // Only the first block walked can hold events after `to` or the cursor.
        let bounded_above = q.to.is_some() || q.before.is_some();
        let mut first_block = true;
        // No block that starts after `to` or at/after the cursor can hold a match.
        let mut upper = vec![0xff; 17];
        if let Some(to) = q.to {
            upper = upper.min(time_key(to.saturating_add(1), 0).to_vec());
        }
        if let Some((ts, id)) = q.before {
            upper = upper.min(time_key(ts, id).to_vec());
        }
        let mut events = Vec::with_capacity(limit.min(64));
        let mut skipped = 0usize;
        let mut scanned = 0u64;
        // The scan count when the page's last event was taken.
        let mut scanned_at_last = 0u64;
        let mut last_examined: Option<(Millis, u64)> = None;
        let mut stop: Option<Stop> = None;
        self.walk_blocks(q, &upper, |time, value| {
            let whole_block_in_range = !(first_block && bounded_above)
                && q.from
                    .is_none_or(|from| key_time(time).is_some_and(|t| t >= from));
            first_block = false;
            if let Some(text) = &raw_search
                && whole_block_in_range
                && let Some(oldest) = key_event(time)
            {
                let n = block_len(value)?;
                if budget.is_none_or(|b| scanned + n <= b)
                    && !text.found_in_bytes(value.get(4..).unwrap_or_default())
                {
                    // Every event of the block examined, none a match; the oldest is last.
                    scanned += n;
                    last_examined = Some(oldest);
                    return Ok(ControlFlow::Continue(()));
                }
            }
            for e in decode_block(value)?.into_iter().rev() {
                if !q.in_range(&e) {
                    continue;
                }
                if budget.is_some_and(|b| scanned >= b) {
                    // Another event is in range, unexamined: the scan limit stops the page.
                    stop = Some(Stop::ScanLimit);
                    return Ok(ControlFlow::Break(()));
                }
                scanned += 1;
                last_examined = Some((e.timestamp, e.id));
                if !filter.selects(&e) {
                    continue;
                }
                if skipped < q.offset {
                    skipped += 1;
                    continue;
                }
                if events.len() == limit {
                    // One more match: the page is full and not the last.
                    stop = Some(Stop::Full);
                    return Ok(ControlFlow::Break(()));
                }
                events.push(e);
                scanned_at_last = scanned;
            }
            // Every older block holds only older events.
            Ok(match (q.from, key_time(time)) {
                (Some(from), Some(first)) if first < from => ControlFlow::Break(()),
                _ => ControlFlow::Continue(()),
            })
        })?;
        Ok(match stop {
            None => AuditPage::last(events, scanned),
            Some(Stop::Full) => {
                let next = events.last().map(|e| (e.timestamp, e.id));
                AuditPage {
                    events,
                    is_last_page: false,
                    next,
                    scanned: scanned_at_last,
                    scan_limited: false,
                }
            }
            Some(Stop::ScanLimit) => AuditPage {
                // A full page whose look for one more match ran out of budget is simply not
                // the last; only a short page was cut by the limit.
                scan_limited: events.len() < limit,
                events,
                is_last_page: false,
                // Everything up to the last event examined was looked at; `q.before` only when
                // nothing was (a limit of 0 is raised to 1, so never in practice).
                next: last_examined.or(q.before),
                scanned,
            },
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::ChangedValue;

    fn log() -> AuditLog {
        let db = sled::Config::new().temporary(true).open().unwrap();
        let tree = db.open_tree("audit").unwrap();
        AuditLog::open(db, tree).unwrap()
    }

    fn ev(ts: Millis, action: AuditAction, author: &str, affected: Option<&str>) -> AuditEvent {
        let mut e = AuditEvent::new(ts, action, author);
        e.affected_user = affected.map(str::to_owned);
        e
    }

    /// Appends each batch as its own blocks, so the log spans several blocks.
    fn fill(log: &AuditLog, batches: Vec<Vec<AuditEvent>>) -> Vec<AuditEvent> {
        let mut all = Vec::new();
        for mut b in batches {
            log.append(&mut b).unwrap();
            all.extend(b);
        }
        all.reverse();
        all
    }

    /// Every page of `q`, following `next` until the last page; at most one page per event
    /// (plus one), so a cursor that does not advance fails instead of looping.
    fn walk_all(log: &AuditLog, q: &AuditQuery, pages_max: usize) -> (Vec<u64>, usize) {
        let mut q = q.clone();
        let mut ids = Vec::new();
        for pages in 1..=pages_max {
            let page = log.query(&q).unwrap();
            ids.extend(page.events.iter().map(|e| e.id));
            if page.is_last_page {
                assert_eq!(page.next, None);
                return (ids, pages);
            }
            assert!(
                page.next.is_some(),
                "a page that is not the last names the next"
            );
            q.before = page.next;
            q.offset = 0;
        }
        panic!("the cursor did not reach the last page in {pages_max} pages");
    }

    #[test]
    fn user_ids_actions_and_categories_each_narrow_and_take_any_of_their_values() {
        let log = log();
        let all = fill(
            &log,
            vec![
                vec![
                    ev(1, AuditAction::TokenCreated, "alice", Some("alice")),
                    ev(2, AuditAction::TokenDeleted, "admin", Some("bob")),
                ],
                vec![
                    ev(3, AuditAction::UserCreated, "admin", Some("carol")),
                    ev(4, AuditAction::TokenCreated, "Bob", Some("bob")),
                    ev(5, AuditAction::SettingsChanged, "dave", None),
                ],
            ],
        );
        let ts = |q: AuditQuery| -> Vec<Millis> {
            log.query(&q)
                .unwrap()
                .events
                .iter()
                .map(|e| e.timestamp)
                .collect()
        };
        let users = |u: &[&str]| u.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        // Author or affected user, ignoring case, any of the list.
        assert_eq!(
            ts(AuditQuery {
                users: users(&["ALICE", "bob"]),
                ..AuditQuery::default()
            }),
            vec![4, 2, 1]
        );
        // `user` and `userIds` both hold.
        assert_eq!(
            ts(AuditQuery {
                user: Some("admin".into()),
                users: users(&["bob", "carol"]),
                ..AuditQuery::default()
            }),
            vec![3, 2]
        );
        assert_eq!(
            ts(AuditQuery {
                actions: vec![AuditAction::TokenCreated, AuditAction::TokenDeleted],
                ..AuditQuery::default()
            }),
            vec![4, 2, 1]
        );
        // `action` and `actions` both hold; users and actions together.
        assert_eq!(
            ts(AuditQuery {
                action: Some(AuditAction::TokenCreated),
                actions: vec![AuditAction::TokenCreated, AuditAction::UserCreated],
                users: users(&["bob"]),
                ..AuditQuery::default()
            }),
            vec![4]
        );
        assert_eq!(
            ts(AuditQuery {
                categories: vec!["api TOKENS".into(), "other".into()],
                ..AuditQuery::default()
            })
            .len(),
            all.len()
        );
        let none = log
            .query(&AuditQuery {
                categories: vec!["User management".into()],
                ..AuditQuery::default()
            })
            .unwrap();
        assert!(none.events.is_empty() && none.is_last_page, "{none:?}");
    }

    #[test]
    fn several_users_index_lists_are_merged_newest_first_each_event_once() {
        let log = log();
        // alice and bob both in one event (author and affected), and spread over blocks.
        let mut batches = Vec::new();
        for i in 0..6 {
            batches.push(vec![
                ev(10 * i, AuditAction::TokenCreated, "alice", Some("bob")),
                ev(10 * i + 1, AuditAction::TokenCreated, "bob", None),
                ev(10 * i + 2, AuditAction::TokenCreated, "carol", None),
                ev(10 * i + 3, AuditAction::TokenDeleted, "alice", None),
            ]);
        }
        let all = fill(&log, batches);
        let q = AuditQuery {
            users: vec!["alice".into(), "BOB".into(), "bob".into()],
            limit: 4,
            ..AuditQuery::default()
        };
        let want: Vec<u64> = all
            .iter()
            .filter(|e| e.author != "carol")
            .map(|e| e.id)
            .collect();
        let (got, pages) = walk_all(&log, &q, 20);
        assert_eq!(got, want);
        assert_eq!(pages, want.len().div_ceil(4));
    }

    #[test]
    fn search_matches_any_text_field_ignoring_case() {
        let log = log();
        let mut a = ev(1, AuditAction::TokenCreated, "alice", Some("alice"));
        a.token_description = Some("Nightly Deploy".into());
        let mut b = ev(2, AuditAction::SettingsChanged, "admin", None);
        b.changed_values.push(ChangedValue {
            key: "ipAllowList".into(),
            from: "[]".into(),
            to: "[\"10.0.0.0/8\"]".into(),
        });
        let mut c = ev(3, AuditAction::FailedAuthentication, "Anonymous", None);
        c.client_ip = Some("192.0.2.7".into());
        c.reason = Some("wrong secret".into());
        fill(&log, vec![vec![a, b, c]]);
        let found = |text: &str| -> Vec<Millis> {
            let q = AuditQuery {
                search: Some(text.into()),
                ..AuditQuery::default()
            };
            log.query(&q)
                .unwrap()
                .events
                .iter()
                .map(|e| e.timestamp)
                .collect()
        };
        assert_eq!(found("nightly deploy"), vec![1]);
        assert_eq!(found("10.0.0."), vec![2]);
        assert_eq!(found("192.0.2"), vec![3]);
        assert_eq!(found("WRONG"), vec![3]);
        assert_eq!(found("settings changed"), vec![2], "the action label");
        assert_eq!(found("api tok"), vec![3, 2, 1], "the category: every event");
        assert_eq!(found("nowhere"), Vec::<Millis>::new());
    }

    #[test]
    fn the_scan_limit_stops_a_search_before_the_page_is_full_and_says_where() {
        let log = log();
        // 100 events, newest first ids; every 10th carries the rare word.
        let batch: Vec<AuditEvent> = (0..100)
            .map(|i| {
                let mut e = ev(i, AuditAction::AuthenticatedWithToken, "ci", None);
                if i % 10 == 0 {
                    e.path = Some("/rest/api/2/issue/RARE-1".into());
                }
                e
            })
            .collect();
        let all = fill(&log, vec![batch]);
        let q = AuditQuery {
            search: Some("rare-1".into()),
            scan_limit: Some(25),
            limit: 50,
            ..AuditQuery::default()
        };
        let page = log.query(&q).unwrap();
        // The 25 newest are 99..=75: matches 90 and 80.
        let ts: Vec<Millis> = page.events.iter().map(|e| e.timestamp).collect();
        assert_eq!(ts, vec![90, 80]);
        assert!(page.scan_limited && !page.is_last_page);
        assert_eq!(page.scanned, 25);
        assert_eq!(page.next, Some((all[24].timestamp, all[24].id)));
        // A page filled within the limit is not marked; with one more match found, it counts
        // and continues from its last event.
        let full = log
            .query(&AuditQuery {
                limit: 2,
                scan_limit: Some(35),
                ..q.clone()
            })
            .unwrap();
        assert!(!full.scan_limited && !full.is_last_page);
        assert_eq!(full.scanned, 20, "counted up to the page's last event (80)");
        assert_eq!(full.next, Some((80, all[19].id)));
        // Without one more match within the limit, it continues from the last event examined.
        let full = log
            .query(&AuditQuery {
                limit: 2,
                ..q.clone()
            })
            .unwrap();
        assert!(!full.scan_limited && !full.is_last_page);
        assert_eq!(full.scanned, 25);
        assert_eq!(full.next, Some((all[24].timestamp, all[24].id)));
        // Continuing from each cursor finds every match once, in 4 stopped pages and a last.
        let (ids, pages) = walk_all(&log, &q, 10);
        let want: Vec<u64> = all
            .iter()
            .filter(|e| e.path.is_some())
            .map(|e| e.id)
            .collect();
        assert_eq!(ids, want);
        assert_eq!(pages, 4);
    }

    #[test]
    fn blocks_without_the_text_are_counted_undecoded_and_the_count_stays_exact() {
        let log = log();
        // Five blocks of ten; only the oldest block holds the word.
        let batches = (0..5)
            .map(|b| {
                (0..10)
                    .map(|i| {
                        let mut e = ev(b * 10 + i, AuditAction::TokenCreated, "ci", None);
                        if b == 0 {
                            e.token_description = Some("Deploy key".into());
                        }
                        e
                    })
                    .collect()
            })
            .collect();
        let all = fill(&log, batches);
        let q = AuditQuery {
            search: Some("deploy".into()),
            scan_limit: Some(25),
            ..AuditQuery::default()
        };
        // Two blocks skipped whole (20), the third decoded to stop exactly at 25.
        let p = log.query(&q).unwrap();
        assert!(p.events.is_empty() && p.scan_limited);
        assert_eq!(p.scanned, 25);
        assert_eq!(p.next, Some((all[24].timestamp, all[24].id)));
        // A skipped block's oldest event is where the next page starts.
        let p = log
            .query(&AuditQuery {
                scan_limit: Some(20),
                ..q.clone()
            })
            .unwrap();
        assert_eq!(
            (p.scanned, p.next),
            (20, Some((all[19].timestamp, all[19].id)))
        );
        let (ids, _) = walk_all(&log, &q, 10);
        assert_eq!(ids, all[40..].iter().map(|e| e.id).collect::<Vec<_>>());
    }

    #[test]
    fn cursor_pages_see_every_matching_event_once_whatever_the_page_and_scan_sizes() {
        let log = log();
        // Equal timestamps across block boundaries, several users and actions, text in places.
        let mut batches = Vec::new();
        let mut n = 0;
        for size in [1usize, 7, 3, 12, 1, 9, 5] {
            let batch = (0..size)
                .map(|_| {
                    n += 1;
                    let action = AuditAction::ALL[n % 3];
                    let user = ["alice", "bob", "carol", "dave"][n % 4];
                    let mut e = ev(n as Millis / 4, action, user, None);
                    if n % 5 == 0 {
                        e.reason = Some("needle".into());
                    }
                    e
                })
                .collect();
            batches.push(batch);
        }
        let all = fill(&log, batches);
        let queries = [
            AuditQuery::default(),
            AuditQuery {
                search: Some("NEEDLE".into()),
                ..AuditQuery::default()
            },
            AuditQuery {
                users: vec!["bob".into(), "dave".into()],
                actions: vec![AuditAction::ALL[1], AuditAction::ALL[2]],
                ..AuditQuery::default()
            },
            AuditQuery {
                users: vec!["alice".into(), "carol".into()],
                search: Some("needle".into()),
                from: Some(2),
                to: Some(8),
                ..AuditQuery::default()
            },
        ];
        for base in queries {
            let want: Vec<u64> = all
                .iter()
                .filter(|e| base.matches(e))
                .map(|e| e.id)
                .collect();
            for limit in [1, 2, 5, 100] {
                for scan_limit in [None, Some(1), Some(3), Some(10)] {
                    let q = AuditQuery {
                        limit,
                        scan_limit,
                        ..base.clone()
                    };
                    let (got, _) = walk_all(&log, &q, all.len() + 1);
                    assert_eq!(
                        got, want,
                        "limit {limit}, scan limit {scan_limit:?}, {base:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn a_page_deep_in_the_log_reads_only_from_its_cursor() {
        let log = log();
        let batches = (0..20)
            .map(|b| {
                (0..100)
                    .map(|i| ev(b * 100 + i, AuditAction::TokenCreated, "ci", None))
                    .collect()
            })
            .collect();
        let all = fill(&log, batches);
        let deep = &all[1_950];
        let q = AuditQuery {
            before: Some((deep.timestamp, deep.id)),
            search: Some("ci".into()),
            scan_limit: Some(1_000),
            limit: 10,
            ..AuditQuery::default()
        };
        let page = log.query(&q).unwrap();
        assert_eq!(page.events.first().map(|e| e.id), Some(all[1_951].id));
        assert_eq!(
            page.scanned, 10,
            "examined from the cursor on, not from the newest"
        );
    }
}
