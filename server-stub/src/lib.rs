//! tokenauth-stub: an HTTP server (axum) that emulates Jira/Confluence REST authentication with
//! tokenauth's API tokens. Every rule lives in `tokenauth-core`; this crate translates HTTP to
//! core and back, and adds what only a server needs: the cache of verified secrets, the
//! background writer, sessions and the rate limit.
//!
//! The crate is in layers, listed here bottom to top; each imports only what is listed before
//! it, and no files import each other in a circle. At the bottom, the parts (each over core and
//! the parts before it); then what the server is told, its errors and its shared state; the
//! routes; the server that wires them to the connection; the in-process test server; and the
//! command line. The WireMock engine under `mocks` is a crate of its own, `wiremock-engine`
//! (`server-stub/wiremock/`), which knows nothing of HTTP types, core or this crate.

/// Beneath a request: accept loop, connection cap and deadlines, client shares, TLS, faults.
pub mod connection;

/// Verified-secret cache and flood budget, hashing pool, sessions, rate limit, who is local.
pub mod authentication;

/// The mocked answers: mappings served after the token rules, their guard, the journal.
pub mod mocks;

/// Requests sent on a caller's behalf (`proxyBaseUrl`, `--proxy-all`, recordings), bounded.
pub mod upstream;

/// What operators watch and get: metrics, logs, writer, audit file and entity, expiry notices.
pub mod operations;

/// What the server is told (`ServerConfig`) and the users a new database starts with.
pub mod config;

/// Errors in Jira's shape, and the body extractors that answer in it.
pub mod error;

/// What every handler shares (`AppState`: the parts together) and what needs all of it.
pub mod state;

/// The HTTP surface: router, middleware, each group of routes, the OpenAPI document.
pub mod routes;

/// Starting and stopping: store opened and seeded, state built, routes served, all flushed.
pub mod server;

/// The server inside a Rust test (`TestServer`), like wiremock-rs's `MockServer`.
pub mod testing;

/// The command line of `tokenauth-stub`: arguments, the server by default, the sub-commands.
pub mod cli;
