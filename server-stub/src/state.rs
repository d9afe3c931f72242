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
    /// Where every argon2 computation runs (`hashing::run`).
    pub hashing: HashPool,
    pub writer: Writer,
    pub sessions: Sessions,
    pub rate_limit: RateLimiter,
    pub config: ServerConfig,
    /// Wakes the pruner at once (after a settings change) instead of at its next round.
    pub prune_now: Arc<tokio::sync::Notify>,
}

pub type Shared = Arc<AppState>;
