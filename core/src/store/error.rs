//! How persistence fails. The store's own error: the rules never see it (their [`Directory`]
//! seam leaves its error to the implementation), only the operations' `CoreError` wraps it.
//!
//! [`Directory`]: crate::auth::Directory

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(
        "the database at {path} is in use by another process (is a tokenauth-stub server running on it?)"
    )]
    Locked { path: PathBuf },
    #[error("the database at {path} is damaged and cannot be opened: {detail}")]
    Corrupt { path: PathBuf, detail: String },
    #[error(
        "the database at {path} has schema version {found}, this build reads version {expected}"
    )]
    SchemaVersion {
        path: PathBuf,
        found: u32,
        expected: u32,
    },
    #[error("storage I/O failed: {0}")]
    Io(String),
    #[error("a stored record could not be decoded: {0}")]
    Decode(String),
    /// The owner already holds `limit` tokens; nothing was written.
    #[error("the user already holds {limit} tokens, the most allowed")]
    TokenLimit { limit: u32 },
}
