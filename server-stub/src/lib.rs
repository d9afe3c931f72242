//! tokenauth-stub: an HTTP server (axum) that emulates Jira/Confluence REST authentication with
//! tokenauth's API tokens. Every rule lives in `tokenauth-core`; this crate translates HTTP to
//! core and back, and adds what only a server needs: the cache of verified secrets, the
//! background writer, sessions and the rate limit.

pub mod authentication;
pub mod cli;
pub mod config;
pub mod connection;
pub mod error;
pub mod mocks;
pub mod operations;
pub mod routes;
pub mod server;
pub mod state;
pub mod testing;
pub mod wiremock;
