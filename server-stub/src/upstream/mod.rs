//! Requests this server sends on a caller's behalf: a mapping's `proxyBaseUrl`, `--proxy-all`
//! and a recording's target (`crate::mocks::recorder`). The engine decides where a request goes
//! and which headers change (`wiremock_engine::proxy`); this part sends it and bounds what
//! comes back.
//!
//! What it never does, each a way a proxy turns into someone else's credential:
//! - forward the caller's credentials (`Authorization`, cookies, every header of the engine's
//!   credential list): they are this server's, for this server. The upstream's credential is the
//!   operator's (`TOKENAUTH_UPSTREAM_AUTHORIZATION`), sent only to the one origin it was given
//!   for (`--proxy-all`'s, or `TOKENAUTH_UPSTREAM_ORIGIN`), never to a host a mapping names;
//! - hand the caller the upstream's cookies (`Set-Cookie`): a session opened with the
//!   operator's credential would outlive the caller's token and its scope;
//! - follow a redirect, or wait without bound: each request has [`Upstream::timeout`], each
//!   answer at most [`Upstream::max_body`] bytes, and a request that already passed through this
//!   server (its `Via` carries this server's mark) is refused instead of sent round again.

mod client;

use std::path::PathBuf;
use std::time::Duration;

pub use client::{Proxied, ProxyError, Upstream, UpstreamCredential};

/// How long a proxied request may take, answer included (below the request timeout of 30 s, so
/// the caller hears why).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(20);
/// The largest proxied answer, read whole (it is scrubbed, journaled and may be recorded).
pub const DEFAULT_MAX_BODY: usize = 16 * 1024 * 1024;

/// What the server is told about proxying and recording.
#[derive(Debug, Clone)]
pub struct UpstreamConfig {
    /// `--proxy-all URL`: every request no mapping answers goes there.
    pub proxy_all: Option<String>,
    /// The operator's credential and the one origin it is for.
    pub credential: Option<UpstreamCredential>,
    pub timeout: Duration,
    pub max_body: usize,
    /// Where recordings are written: `--mappings DIR`.
    pub recordings_dir: Option<PathBuf>,
    /// `--record-mappings`: a recording runs from the start, every body in `__files`.
    pub record_from_start: bool,
}

impl Default for UpstreamConfig {
    fn default() -> Self {
        Self {
            proxy_all: None,
            credential: None,
            timeout: DEFAULT_TIMEOUT,
            max_body: DEFAULT_MAX_BODY,
            recordings_dir: None,
            record_from_start: false,
        }
    }
}
