//! The operations' error (`service`).
//!
//! It sits above both the rules and the store: it wraps the store's [`StoreError`] and the
//! rules' own errors ([`ValidationError`], [`HashError`]). No rule returns it, so the rules never
//! depend on the store's error type; the store depends on the rules' types, and this on both.

use crate::secret_hash::HashError;
use crate::store::StoreError;
use crate::validation::ValidationError;

#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    #[error("hashing failed: {0}")]
    Hash(String),
    #[error("the operating system's random generator failed: {0}")]
    Random(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    Invalid(#[from] ValidationError),
    #[error("not found: {0}")]
    NotFound(String),
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// A token may not mint more than it holds: a Read Only caller asked for Read & Write.
    #[error("forbidden: {0}")]
    ReadOnlyToken(String),
    #[error("conflict: {0}")]
    Conflict(String),
    /// A user changed their own tokens faster than the audit budget allows (`audit_budget`):
    /// the change is not made; it may be tried again after this many seconds.
    #[error("too many changes to your own tokens: try again in {retry_after} s")]
    TooManyTokenChanges { retry_after: u64 },
}

impl From<HashError> for CoreError {
    fn from(e: HashError) -> Self {
        match e {
            HashError::Hash(m) => Self::Hash(m),
            HashError::Random(m) => Self::Random(m),
        }
    }
}
