//! Audit events: what they hold (never a secret), their one-line log form (`event.rs`), and how
//! they are queried (`query.rs`). The store keeps and prunes them (`store::audit_log`).

mod event;
mod query;

pub use event::{ANONYMOUS, AuditAction, AuditEvent, CATEGORY, ChangedValue, LOG_TARGET};
pub use query::{
    AuditPage, AuditQuery, EventFilter, Histogram, MAX_BUCKETS, MAX_LIMIT, MAX_LIST_VALUES,
    MAX_PAGE, MAX_SEARCH_CHARS, SEARCH_SCAN_LIMIT, SearchText,
};

#[cfg(test)]
mod tests;
