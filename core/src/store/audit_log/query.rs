//! Reading the log: a page of a query (newest first, by keyset cursor, within a scan limit),
//! the oldest event, and the histogram.

use std::ops::{Bound, ControlFlow};

use super::AuditLog;
use super::layout::{
    block_len, decode_block, io, key, key_event, key_time, narrowest_prefix, time_key,
    walk_prefixes,
};
use crate::audit::{AuditEvent, AuditPage, AuditQuery, MAX_PAGE, SearchText};
use crate::clock::Millis;
use crate::store::error::StoreError;

/// Why a page query stopped before the end of the log.
enum Stop {
    /// The page is full and another match follows.
    Full,
    /// The scan limit was reached with more events in range.
    ScanLimit,
}

impl AuditLog {
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
}
