//! What every handler shares.

use std::sync::Arc;

use tokenauth_core::service::TokenAuth;
use tokio::sync::Semaphore;

use crate::cache::VerifiedCache;
use crate::config::ServerConfig;
use crate::rate_limit::RateLimiter;
use crate::sessions::Sessions;
use crate::writer::Writer;

pub struct AppState {
    pub auth: Arc<TokenAuth>,
    pub cache: VerifiedCache,
    /// Bounds concurrent argon2 verifications.
    pub hashing: Semaphore,
    pub writer: Writer,
    pub sessions: Sessions,
    pub rate_limit: RateLimiter,
    pub config: ServerConfig,
    /// Wakes the pruner at once (after a settings change) instead of at its next round.
    pub prune_now: Arc<tokio::sync::Notify>,
}

pub type Shared = Arc<AppState>;
