//! The background writer: last-used times and audit events leave the request path and are
//! written in batches; a clean shutdown drains and flushes them.

use std::collections::HashMap;
use std::sync::Arc;

use tokenauth_core::audit::AuditEvent;
use tokenauth_core::clock::Millis;
use tokenauth_core::service::TokenAuth;
use tokenauth_core::token_format::TokenId;
use tokio::sync::{mpsc, oneshot};

const QUEUE: usize = 65_536;
const MAX_BATCH: usize = 4_096;

enum Job {
    TokenUsed(TokenId, Millis, String),
    Events(Vec<AuditEvent>),
    Flush(oneshot::Sender<()>),
}

#[derive(Clone)]
pub struct Writer {
    tx: mpsc::Sender<Job>,
}

impl Writer {
    pub fn spawn(auth: Arc<TokenAuth>) -> (Self, tokio::task::JoinHandle<()>) {
        let (tx, rx) = mpsc::channel(QUEUE);
        let handle = tokio::spawn(run(auth, rx));
        (Self { tx }, handle)
    }

    /// Queues work; waits (never drops) when the queue is full.
    pub async fn token_used(&self, id: TokenId, at: Millis, ip: String) {
        let _ = self.tx.send(Job::TokenUsed(id, at, ip)).await;
    }

    pub async fn events(&self, events: Vec<AuditEvent>) {
        if !events.is_empty() {
            let _ = self.tx.send(Job::Events(events)).await;
        }
    }

    /// Resolves when everything queued before it is written and flushed to disk.
    pub async fn flush(&self) {
        let (tx, rx) = oneshot::channel();
        if self.tx.send(Job::Flush(tx)).await.is_ok() {
            let _ = rx.await;
        }
    }
}

async fn run(auth: Arc<TokenAuth>, mut rx: mpsc::Receiver<Job>) {
    while let Some(first) = rx.recv().await {
        let mut uses: HashMap<TokenId, (Millis, String)> = HashMap::new();
        let mut events = Vec::new();
        let mut flushes = Vec::new();
        let mut job = Some(first);
        let mut taken = 0;
        while let Some(j) = job.take() {
            match j {
                Job::TokenUsed(id, at, ip) => {
                    let slot = uses.entry(id).or_insert((at, ip.clone()));
                    if at >= slot.0 {
                        *slot = (at, ip);
                    }
                }
                Job::Events(mut e) => events.append(&mut e),
                Job::Flush(done) => flushes.push(done),
            }
            taken += 1;
            if taken < MAX_BATCH {
                job = rx.try_recv().ok();
            }
        }
        let auth = Arc::clone(&auth);
        let must_flush = !flushes.is_empty();
        let written = tokio::task::spawn_blocking(move || {
            let uses: Vec<_> = uses
                .into_iter()
                .map(|(id, (at, ip))| (id, at, ip))
                .collect();
            if let Err(e) = auth.store().record_token_uses(&uses) {
                tracing::error!(error = %e, "could not record token last-used times");
            }
            if let Err(e) = auth.record_events(&mut events) {
                tracing::error!(error = %e, lost = events.len(), "could not write audit events");
            }
            if must_flush && let Err(e) = auth.store().flush() {
                tracing::error!(error = %e, "could not flush the database");
            }
        })
        .await;
        if let Err(e) = written {
            tracing::error!(error = %e, "the audit writer failed");
        }
        for done in flushes {
            let _ = done.send(());
        }
    }
}
