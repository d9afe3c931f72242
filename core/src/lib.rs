//! tokenauth-core: every rule of tokenauth — token format and hashing, scopes, IP allow-list and
//! proxies, settings, permissions, the authentication decision and the audit log — and the
//! sled persistence behind the [`store::Store`] interface. No HTTP, no GUI.

pub mod audit;
pub mod audit_budget;
pub mod auth;
pub mod bounded;
pub mod clock;
pub mod credentials;
pub mod csrf;
pub mod error;
pub mod ip;
pub mod notify;
pub mod permission;
pub mod private_fs;
pub mod scope;
pub mod secret_hash;
pub mod service;
pub mod settings;
pub mod store;
pub mod token;
pub mod token_format;
pub mod user;
pub mod validation;
pub mod webhook_target;

pub use error::CoreError;
