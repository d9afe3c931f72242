//! The audit tree's keys (see the log's module doc) and the encoding of a block.

use std::collections::BTreeMap;

use sled::Batch;

use crate::audit::{AuditAction, AuditEvent, AuditQuery};
use crate::clock::Millis;
use crate::store::error::StoreError;
use crate::user::user_key;

pub(super) fn io(e: sled::Error) -> StoreError {
    StoreError::Io(e.to_string())
}

/// Big-endian time with the sign bit flipped (earlier sorts first, even before 1970), then id.
pub(super) fn time_key(ts: Millis, id: u64) -> [u8; 16] {
    let mut k = [0u8; 16];
    k[..8].copy_from_slice(&((ts as u64) ^ (1 << 63)).to_be_bytes());
    k[8..].copy_from_slice(&id.to_be_bytes());
    k
}

/// The timestamp of a [`time_key`].
pub(super) fn key_time(time: &[u8]) -> Option<Millis> {
    let b: [u8; 8] = time.get(..8)?.try_into().ok()?;
    Some((u64::from_be_bytes(b) ^ (1 << 63)) as Millis)
}

/// The timestamp and id of a [`time_key`]: a block's first (oldest) event.
pub(super) fn key_event(time: &[u8]) -> Option<(Millis, u64)> {
    let id: [u8; 8] = time.get(8..16)?.try_into().ok()?;
    Some((key_time(time)?, u64::from_be_bytes(id)))
}

pub(super) fn key(prefix: &[u8], time: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(prefix.len() + time.len());
    k.extend_from_slice(prefix);
    k.extend_from_slice(time);
    k
}

pub(super) fn user_prefix(user: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(user.len() + 2);
    k.push(b'u');
    k.extend_from_slice(user_key(user).as_bytes());
    k.push(0);
    k
}

pub(super) fn action_prefix(a: AuditAction) -> Vec<u8> {
    vec![b'a', action_code(a)]
}

/// The index lists a query walks, merged: its user's, else its users', else its action's, else
/// its actions'; none (walk the blocks themselves) without a user or action filter.
pub(super) fn walk_prefixes(q: &AuditQuery) -> Vec<Vec<u8>> {
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

/// The keys the histogram walks: its user's index, else its action's, else the blocks.
pub(super) fn narrowest_prefix(q: &AuditQuery) -> Vec<u8> {
    match (&q.user, q.action) {
        (Some(u), _) => user_prefix(u),
        (None, Some(a)) => action_prefix(a),
        (None, None) => b"b".to_vec(),
    }
}

pub(super) fn encode_block(events: &[AuditEvent]) -> Result<Vec<u8>, StoreError> {
    // One buffer, sized from the events (issue 21): serialising into a growing vector of its
    // own and copying that behind the header cost the audit writer a page-fault storm at
    // thousands of events a second (each doubling of a block-sized buffer is fresh memory).
    let size = 4 + events.iter().map(AuditEvent::approx_size).sum::<usize>();
    let mut out = Vec::with_capacity(size);
    out.extend_from_slice(&(events.len() as u32).to_be_bytes());
    postcard::to_extend(events, out).map_err(|e| StoreError::Decode(e.to_string()))
}

pub(super) fn block_len(value: &[u8]) -> Result<u64, StoreError> {
    value
        .get(..4)
        .and_then(|b| <[u8; 4]>::try_from(b).ok())
        .map(|b| u64::from(u32::from_be_bytes(b)))
        .ok_or_else(|| StoreError::Decode("audit block without a header".into()))
}

pub(super) fn decode_block(value: &[u8]) -> Result<Vec<AuditEvent>, StoreError> {
    let body = value
        .get(4..)
        .ok_or_else(|| StoreError::Decode("audit block without a header".into()))?;
    postcard::from_bytes(body).map_err(|e| StoreError::Decode(e.to_string()))
}

/// The index entries of one block, each with how many of the block's events it covers (4 bytes,
/// big-endian), so a histogram can count a block without decoding it.
pub(super) fn index_entries(events: &[AuditEvent], time: &[u8; 16]) -> Vec<(Vec<u8>, [u8; 4])> {
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

pub(super) fn action_code(a: AuditAction) -> u8 {
    AuditAction::ALL.iter().position(|x| *x == a).unwrap_or(0) as u8
}

pub(super) fn block_time(events: &[AuditEvent]) -> Option<[u8; 16]> {
    events.first().map(|e| time_key(e.timestamp, e.id))
}

pub(super) fn put_block(batch: &mut Batch, events: &[AuditEvent]) -> Result<(), StoreError> {
    let Some(time) = block_time(events) else {
        return Ok(());
    };
    batch.insert(key(b"b", &time), encode_block(events)?);
    for (k, count) in index_entries(events, &time) {
        batch.insert(k, count.to_vec());
    }
    Ok(())
}

pub(super) fn remove_block(batch: &mut Batch, events: &[AuditEvent]) {
    if let Some(time) = block_time(events) {
        batch.remove(key(b"b", &time));
        for (k, _) in index_entries(events, &time) {
            batch.remove(k);
        }
    }
}
