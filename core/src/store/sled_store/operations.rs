//! [`Store`] and [`Directory`] on [`SledStore`]: each change in one transaction with its audit
//! event, made durable before it returns.

use std::sync::Arc;

use sled::IVec;
use sled::transaction::Transactional;

use super::SledStore;
use super::layout::{
    NOTICE_SECRET_KEY, SETTINGS_KEY, TokenTrees, abort, assign_number, decode, encode, io,
    notice_key, owner_key, remove_number, tx_error,
};
use crate::audit::{AuditEvent, AuditPage, AuditQuery};
use crate::auth::Directory;
use crate::clock::Millis;
use crate::settings::Settings;
use crate::store::error::StoreError;
use crate::store::interface::Store;
use crate::token::{RetiredToken, TokenRecord};
use crate::token_format::TokenId;
use crate::user::{User, user_key};

impl Directory for SledStore {
    type Error = StoreError;

    fn retired_token(&self, id: &TokenId) -> Result<Option<RetiredToken>, StoreError> {
        self.retired
            .get(id.as_str().as_bytes())
            .map_err(io)?
            .map(|v| decode(&v))
            .transpose()
    }

    fn user(&self, key: &str) -> Result<Option<Arc<User>>, StoreError> {
        let key = user_key(key);
        self.user_records.get(&key, || {
            self.users
                .get(&key)
                .map_err(io)?
                .map(|v| decode(&v))
                .transpose()
        })
    }

    fn token(&self, id: &TokenId) -> Result<Option<Arc<TokenRecord>>, StoreError> {
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
        Ok(Some((Arc::unwrap_or_clone(user), tokens)))
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
            Some(id) => Ok(self.token(&id)?.map(Arc::unwrap_or_clone)),
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
