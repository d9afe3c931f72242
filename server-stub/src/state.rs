//! What every handler shares.

use std::sync::Arc;

use tokenauth_core::service::TokenAuth;

use crate::cache::VerifiedCache;
use crate::config::ServerConfig;
use crate::hashing::HashPool;
use crate::rate_limit::RateLimiter;
use crate::sessions::Sessions;
use crate::writer::Writer;

pub struct AppState {
    pub auth: Arc<TokenAuth>,
    pub cache: VerifiedCache,
    /// What `GET /metrics` shows.
    pub metrics: crate::metrics::Metrics,
    /// Where every argon2 computation runs (`hashing::run`).
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
    pub rotated_reports: crate::throttle::RotatedReports,
    /// The last requests, for WireMock's `/__admin/requests`.
    pub journal: crate::journal::Journal,
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
}

pub type Shared = Arc<AppState>;
