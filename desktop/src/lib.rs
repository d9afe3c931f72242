//! The tokenauth desktop app: users create and keep their API tokens (in the OS keychain);
//! admins manage every user's tokens, the settings and the audit log. It talks to the server's
//! REST API in the background and checks with `tokenauth-core`'s rules before it sends.

pub mod api;
pub mod app;
pub mod cli;
pub mod clipboard;
pub mod failure;
pub mod keychain;
pub mod profiles;
pub mod session;
pub mod task;
pub mod tls;
pub mod views;

pub use app::{DesktopApp, KeychainChoice, Launch, Tab};
