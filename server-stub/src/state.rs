//! What every handler shares: `AppState`, the parts together (the rules, the cache, the hashing
//! pool, the writer, sessions, the journal, …) with the configuration, and what needs all of
//! it — hashing with the state at hand, whether a call is local under the settings in force.
//!
//! Above the parts, config and error; the routes and the server build on it. A part never
//! imports it: what a part needs of the state is handed to it, or is a method here.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::http::{HeaderMap, Uri};
use tokenauth_core::service::TokenAuth;

use crate::authentication::cache::VerifiedCache;
use crate::authentication::hashing::HashPool;
use crate::authentication::local;
use crate::authentication::rate_limit::RateLimiter;
use crate::authentication::sessions::Sessions;
use crate::config::ServerConfig;
use crate::error::ApiError;
use crate::operations::writer::Writer;

pub struct AppState {
    pub auth: Arc<TokenAuth>,
    pub cache: VerifiedCache,
    /// What `GET /metrics` shows.
    pub metrics: crate::operations::metrics::Metrics,
    /// Where every argon2 computation runs ([`AppState::hash`]).
    pub hashing: HashPool,
    pub writer: Writer,
    pub sessions: Sessions,
    pub rate_limit: RateLimiter,
    pub config: ServerConfig,
    /// Wakes the pruner at once (after a settings change) instead of at its next round.
    pub prune_now: Arc<tokio::sync::Notify>,
    /// HTTPS, when configured (the session cookie is then `Secure`).
    pub tls: Option<Arc<crate::connection::tls::Tls>>,
    /// What `GET /status` answers.
    pub phase: Phase,
    /// Reports of rotated-away secrets, one per token per minute.
    pub rotated_reports: crate::authentication::throttle::RotatedReports,
    /// The last requests, for WireMock's `/__admin/requests`.
    pub journal: crate::mocks::journal::Journal,
    /// The client of proxied requests (built at the first one) and this server's loop mark.
    pub upstream: crate::upstream::Upstream,
    /// Proxied exchanges kept, and the recording, if one runs.
    pub recorder: crate::mocks::recorder::Recorder,
}

/// Where the server is in its life, as Jira's `/status` reports it.
#[derive(Default)]
pub struct Phase(std::sync::atomic::AtomicU8);

impl Phase {
    const STARTING: u8 = 0;
    const RUNNING: u8 = 1;
    const STOPPING: u8 = 2;

    pub fn running(&self) {
        self.0
            .store(Self::RUNNING, std::sync::atomic::Ordering::Release);
    }

    pub fn stopping(&self) {
        self.0
            .store(Self::STOPPING, std::sync::atomic::Ordering::Release);
    }

    /// `STARTING`, `RUNNING` or `STOPPING`.
    pub fn name(&self) -> &'static str {
        match self.0.load(std::sync::atomic::Ordering::Acquire) {
            Self::STARTING => "STARTING",
            Self::RUNNING => "RUNNING",
            _ => "STOPPING",
        }
    }
}

impl AppState {
    /// `https` or `http`, as clients reach this server.
    pub fn scheme(&self) -> &'static str {
        if self.tls.is_some() { "https" } else { "http" }
    }

    /// Whether this request comes from a local caller (`authentication::local`), with the
    /// settings' trusted proxies and `--insecure-http` in force.
    pub fn is_local(&self, peer: SocketAddr, headers: &HeaderMap, uri: &Uri) -> bool {
        local::is_local(
            &self.auth.policy().trusted_proxies,
            self.config.insecure_http,
            peer,
            headers,
            uri,
        )
    }

    /// Runs `f` (which hashes) with this state on the hashing threads, once a slot is free
    /// (503 after `hashing::HASH_WAIT`).
    pub async fn hash<T: Send + 'static>(
        self: &Arc<Self>,
        f: impl FnOnce(&Shared) -> T + Send + 'static,
    ) -> Result<T, ApiError> {
        let st = Arc::clone(self);
        Ok(self.hashing.run(move || f(&st)).await?)
    }

    /// [`AppState::hash`] for a core operation.
    pub async fn hash_core<T: Send + 'static>(
        self: &Arc<Self>,
        f: impl FnOnce(&Shared) -> Result<T, tokenauth_core::CoreError> + Send + 'static,
    ) -> Result<T, ApiError> {
        self.hash(f).await?.map_err(ApiError::from)
    }
}

pub type Shared = Arc<AppState>;
