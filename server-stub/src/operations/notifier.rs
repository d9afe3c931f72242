//! Expiry notices delivered: a background job that asks core which (token, threshold)
//! notices are due, marks each sent (durably, first: never twice, even across restarts),
//! POSTs it to the admin's webhook signed with HMAC-SHA256, retries with back-off, and audits
//! the outcome. The rules (what is due, the message, the signature) are in `core::notify`.

use std::sync::Arc;
use std::time::Duration;

use metrics::Counter;
use tokenauth_core::notify::{self, Notice};
use tokenauth_core::service::TokenAuth;

use super::webhook::{Delivery, Undelivered, Webhooks};

/// What the job works with: the rules and the store, the webhook client (`--webhook-allow`'s
/// policy in it), and its counters in `/metrics`.
pub struct Notifier {
    pub auth: Arc<TokenAuth>,
    pub webhooks: Arc<Webhooks>,
    /// `tokenauth_expiry_notices_total{outcome="sent"}`.
    pub sent: Counter,
    /// `tokenauth_expiry_notices_total{outcome="failed"}`.
    pub failed: Counter,
}

/// How the job runs; tests make it quick.
#[derive(Debug, Clone)]
pub struct NotifierConfig {
    /// How often due notices are looked for.
    pub every: Duration,
    /// Attempts per notice (the first and the retries).
    pub attempts: u32,
    /// The wait before the first retry; doubled before each next one.
    pub retry_base: Duration,
}

impl Default for NotifierConfig {
    fn default() -> Self {
        Self {
            every: Duration::from_secs(300),
            attempts: 5,
            retry_base: Duration::from_secs(2),
        }
    }
}

/// Delivers with retries: on no answer, 408, 429 and 5xx; another refusal is final.
async fn deliver(
    webhooks: &Webhooks,
    cfg: &NotifierConfig,
    url: &str,
    secret: &str,
    body: &[u8],
) -> (Delivery, u32) {
    let mut wait = cfg.retry_base;
    let mut attempt = 1;
    loop {
        let outcome = webhooks.post(url, secret, body.to_vec()).await;
        let retry = outcome.as_ref().err().is_some_and(Undelivered::retryable);
        if !retry || attempt >= cfg.attempts.max(1) {
            return (outcome, attempt);
        }
        tokio::time::sleep(wait).await;
        wait = wait.saturating_mul(2);
        attempt += 1;
    }
}

/// Runs for the life of the server.
pub async fn run(notifier: Notifier, cfg: NotifierConfig) {
    let mut warned_no_secret = false;
    loop {
        round(&notifier, &cfg, &mut warned_no_secret).await;
        tokio::time::sleep(cfg.every).await;
    }
}

async fn round(notifier: &Notifier, cfg: &NotifierConfig, warned_no_secret: &mut bool) {
    let a = Arc::clone(&notifier.auth);
    let due = match tokio::task::spawn_blocking(move || a.due_notices()).await {
        Ok(Ok(due)) => due,
        Ok(Err(e)) => {
            tracing::error!("expiry notices: cannot read what is due: {e}");
            return;
        }
        Err(_) => return,
    };
    if due.is_empty() {
        return;
    }
    let Some(url) = notifier.auth.settings().notifications.webhook_url else {
        return;
    };
    let secret = match notifier.auth.notice_secret() {
        Ok(Some(s)) => s,
        Ok(None) => {
            if !*warned_no_secret {
                tracing::warn!(
                    "expiry notices are due but no signing secret is set \
                     (PUT /rest/tokenauth/1/admin/notifications/secret): none sent"
                );
                *warned_no_secret = true;
            }
            return;
        }
        Err(e) => {
            tracing::error!("expiry notices: cannot read the signing secret: {e}");
            return;
        }
    };
    *warned_no_secret = false;
    // Made when a notice is first due, not at start: loading the platform's trust store takes
    // tens of milliseconds of CPU, which a server that sends no notices (a test run's) should
    // not spend while it answers its first requests.
    let webhooks = Arc::clone(&notifier.webhooks);
    let ready = Arc::clone(&webhooks);
    match tokio::task::spawn_blocking(move || ready.ready()).await {
        Ok(Ok(())) => {}
        Ok(Err(why)) => {
            tracing::error!("expiry notices cannot be sent: {why}");
            return;
        }
        Err(_) => return,
    };
    for notice in due {
        send(notifier, cfg, &webhooks, &url, &secret, notice).await;
    }
}

async fn send(
    notifier: &Notifier,
    cfg: &NotifierConfig,
    webhooks: &Webhooks,
    url: &str,
    secret: &str,
    notice: Notice,
) {
    // Marked before the first attempt: a crash now loses this notice rather than repeat it.
    // (An fsync: on the blocking pool, not on a thread that serves requests.)
    let (a, n) = (Arc::clone(&notifier.auth), notice.clone());
    match tokio::task::spawn_blocking(move || a.mark_notice_sent(&n)).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            tracing::error!(token = %notice.token_id, "expiry notice not sent: cannot mark it sent: {e}");
            return;
        }
        Err(_) => return,
    }
    let delivery = delivery_id();
    let body = notify::message(&notice, notifier.auth.now(), &delivery);
    let (outcome, attempts) = deliver(webhooks, cfg, url, secret, &body).await;
    match &outcome {
        Ok(_) => notifier.sent.increment(1),
        Err(why) => {
            notifier.failed.increment(1);
            tracing::error!(token = %notice.token_id, days_before = notice.days_before, "expiry notice not delivered after {attempts} attempt(s): {why}");
        }
    }
    let a = Arc::clone(&notifier.auth);
    let outcome = outcome.map_err(|why| why.to_string());
    let recorded =
        tokio::task::spawn_blocking(move || a.record_notice_outcome(&notice, outcome, attempts))
            .await;
    if let Ok(Err(e)) = recorded {
        tracing::error!("expiry notice outcome not audited: {e}");
    }
}

/// A random id per message, so a receiver can tell a retry (same id) from a new notice.
pub fn delivery_id() -> String {
    tokenauth_core::secret_hash::random_bytes::<12>()
        .map(|bytes| bytes.iter().map(|b| format!("{b:02x}")).collect())
        .unwrap_or_else(|_| format!("{:x}", std::process::id()))
}
