//! The [`Store`] trait: everything the operations read and write, in the rules' types.

use super::error::StoreError;
use crate::audit::{AuditEvent, AuditPage, AuditQuery};
use crate::auth::Directory;
use crate::clock::Millis;
use crate::settings::Settings;
use crate::token::{RetiredToken, TokenRecord};
use crate::token_format::TokenId;
use crate::user::User;

pub trait Store: Directory<Error = StoreError> + Send + Sync {
    fn users(&self) -> Result<Vec<User>, StoreError>;
    /// Inserts or replaces a user, with its audit event in the same transaction.
    fn put_user(&self, user: &User, event: Option<AuditEvent>) -> Result<(), StoreError>;
    /// Removes a user and all their tokens atomically; `None` when there was no such user.
    fn delete_user(
        &self,
        key: &str,
        event: AuditEvent,
    ) -> Result<Option<(User, Vec<TokenRecord>)>, StoreError>;
    /// Adds one (saturating) to the user's failed-login count, or sets it to 0 when `reset`.
    fn update_failed_logins(&self, key: &str, reset: bool) -> Result<(), StoreError>;

    fn tokens_of(&self, owner_key: &str) -> Result<Vec<TokenRecord>, StoreError>;
    fn all_tokens(&self) -> Result<Vec<TokenRecord>, StoreError>;
    /// Inserts a new token with its event, unless its owner already holds `max_per_owner`
    /// tokens ([`StoreError::TokenLimit`]); counted and written under one lock, so concurrent
    /// creations cannot pass the cap together.
    fn insert_token(
        &self,
        token: &TokenRecord,
        event: AuditEvent,
        max_per_owner: u32,
    ) -> Result<(), StoreError>;
    /// Replaces an existing token; false (and no event) when it is gone.
    fn update_token(&self, token: &TokenRecord, event: AuditEvent) -> Result<bool, StoreError>;
    /// Deletes one token with its event; false (and no event) when it was already gone.
    fn delete_token(&self, id: &TokenId, event: AuditEvent) -> Result<bool, StoreError>;
    /// Deletes every token of a user and writes the event, atomically.
    fn delete_tokens_of(
        &self,
        owner_key: &str,
        event: AuditEvent,
    ) -> Result<Vec<TokenRecord>, StoreError>;
    /// Replaces `old` by `new` in one transaction with its event: `new` is inserted with a
    /// new number, `old` removed and kept as `retired` (so its secret is recognised later).
    /// False (nothing written) when `old` is already gone.
    fn rotate_token(
        &self,
        old: &TokenId,
        new: &TokenRecord,
        retired: &RetiredToken,
        event: AuditEvent,
    ) -> Result<bool, StoreError>;
    /// Forgets tokens rotated away before `before` (their secrets are then unknown ids, an
    /// ordinary failure); answers how many.
    fn prune_retired_tokens(&self, before: Millis) -> Result<u64, StoreError>;
    /// The number Jira's personal access token API shows for a token: assigned when the token
    /// is made (or, for tokens older than numbering, when the store is first opened), never
    /// reused, the same across restarts.
    fn token_number(&self, id: &str) -> Result<Option<u64>, StoreError>;
    fn token_by_number(&self, number: u64) -> Result<Option<TokenRecord>, StoreError>;
    /// Records last-used times; never brings back a deleted token or moves a time backwards.
    fn record_token_uses(&self, uses: &[(TokenId, Millis, String)]) -> Result<(), StoreError>;

    fn settings(&self) -> Result<Option<Settings>, StoreError>;
    fn put_settings(
        &self,
        settings: &Settings,
        event: Option<AuditEvent>,
    ) -> Result<(), StoreError>;

    /// Appends events, assigning their ids (and log-order timestamps); one atomic batch.
    fn append_events(&self, events: &mut [AuditEvent]) -> Result<(), StoreError>;
    fn query_events(&self, query: &AuditQuery) -> Result<AuditPage, StoreError>;
    /// Removes events older than `older_than` and then the oldest beyond `max_events`.
    fn prune_events(&self, older_than: Millis, max_events: u64) -> Result<u64, StoreError>;
    fn event_count(&self) -> u64;
    /// The time of the oldest event, if any.
    fn oldest_event(&self) -> Result<Option<Millis>, StoreError>;
    /// Counts of the events matching the query's user and action in `buckets` equal slices
    /// of `from..=to`.
    fn event_histogram(
        &self,
        query: &AuditQuery,
        from: Millis,
        to: Millis,
        buckets: usize,
    ) -> Result<Vec<u64>, StoreError>;

    /// The secret expiry notices are signed with (kept apart from the settings document, which
    /// admins read and whose changes are audited with their values).
    fn notice_secret(&self) -> Result<Option<String>, StoreError>;
    /// Sets it with its event (which must not carry the value), durably.
    fn put_notice_secret(&self, secret: &str, event: AuditEvent) -> Result<(), StoreError>;
    /// Whether the notice for (token, threshold) was sent.
    fn notice_sent(&self, token_id: &str, days_before: u32) -> Result<bool, StoreError>;
    /// Marks notices sent, durably, before they are delivered: never the same one twice.
    fn mark_notices_sent(&self, marks: &[(String, u32)]) -> Result<(), StoreError>;

    fn flush(&self) -> Result<(), StoreError>;
}
