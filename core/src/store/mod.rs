//! The narrow interface between the rules and persistence. The rules only see [`Store`] (the
//! decision only its [`Directory`](crate::auth::Directory) part); the one implementation is
//! [`SledStore`].
//!
//! Durability: every change of a user, token or the settings is flushed to disk (fsync) before
//! the call returns. Audit events and last-used times are written at once but made durable by
//! sled's background flush, every [`sled_store::FLUSH_EVERY_MS`] ms: a killed process loses at
//! most that window of them, and nothing else.
//!
//! This file only names the parts. What several of them share is a file of its own
//! ([`StoreError`] in `error.rs`, [`Store`] in `interface.rs`), so no part imports this one,
//! which re-exports them.

mod audit_log;
mod error;
mod interface;
mod records;
pub mod sled_store;

pub use audit_log::BLOCK_EVENTS;
pub use error::StoreError;
pub use interface::Store;
pub use sled_store::{SCHEMA_VERSION, SledStore};
