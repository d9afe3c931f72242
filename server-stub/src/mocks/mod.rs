//! The mocked answers: the server's edge of the WireMock engine (`wiremock_engine`, which holds
//! no HTTP types) — the mappings it serves and the admin API's operations on them, which
//! mappings only an authenticated caller reaches, the journal of requests, and what the
//! journal must never keep (the secrets a request presented).
//!
//! A part at the bottom: it imports the engine and nothing else of the crate — never config,
//! state or the routes.

pub mod encoding;
pub mod guard;
pub mod journal;
pub mod journal_json;
pub mod loading;
pub mod mappings;
pub mod proxied_exchange;
pub mod recorder;
pub mod redaction;
