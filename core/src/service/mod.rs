//! Operations with their rules: who may create, change and revoke tokens, users and settings,
//! and which audit events each writes. The server and CLI translate to and from these calls.
//!
//! This file is the facade: [`TokenAuth`], its constructor and what every capability shares.
//! Each capability is an `impl TokenAuth` block of its own: `authentication.rs`, `tokens.rs`,
//! `users.rs`, `settings.rs` (with the anti-lockout rule), `audit.rs`, `notices.rs`,
//! `seeding.rs`. The operations' arguments live in `actor.rs` and `requests.rs`, which import
//! nothing from here, since this file re-exports them.

mod actor;
mod audit;
mod authentication;
mod notices;
mod requests;
mod seeding;
mod settings;
mod tokens;
mod users;

pub use actor::{Actor, Source};
pub use requests::{
    NewTokenRequest, NewUser, ScopeChoice, SeedToken, TokenFilter, TokenPage, UserPatch,
};

use std::collections::BTreeSet;
use std::sync::{Arc, RwLock};

use crate::audit::{AuditAction, AuditEvent, LOG_TARGET};
use crate::clock::{Clock, Millis};
use crate::error::CoreError;
use crate::secret_hash::HashParams;
use crate::settings::Policy;
use crate::store::Store;
use crate::token::TokenRecord;
use crate::user::{User, user_key};

pub struct TokenAuth {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    policy: RwLock<Arc<Policy>>,
    hash_params: HashParams,
    /// What one principal may write of the always-audited events (security review 2, N5).
    budget: crate::audit_budget::AuditBudget,
}

impl TokenAuth {
    /// Loads the stored settings (or the defaults on a new database).
    pub fn new(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        hash_params: HashParams,
    ) -> Result<Self, CoreError> {
        let settings = store.settings()?.unwrap_or_default();
        // Stored settings were valid when written; groups may have emptied since, so they are
        // not held against them here.
        let mut groups = known_groups(&store.users()?);
        for rule in [
            &settings.permissions.use_tokens,
            &settings.permissions.create_own_tokens,
            &settings.permissions.create_tokens_for_others,
        ] {
            groups.extend(rule.groups.iter().map(|g| g.to_lowercase()));
        }
        let policy = settings.validate(&groups)?;
        Ok(Self {
            store,
            clock,
            policy: RwLock::new(Arc::new(policy)),
            hash_params,
            budget: crate::audit_budget::AuditBudget::default(),
        })
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    pub fn now(&self) -> Millis {
        self.clock.now()
    }

    pub fn policy(&self) -> Arc<Policy> {
        match self.policy.read() {
            Ok(p) => Arc::clone(&p),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    pub fn hash_params(&self) -> HashParams {
        self.hash_params
    }

    pub fn is_admin(&self, user: &User) -> bool {
        self.policy().settings.is_admin(user)
    }

    fn is_admin_actor(&self, actor: &Actor) -> bool {
        actor.system || self.is_admin(&actor.user)
    }

    /// One user's hourly budget of always-audited events under the settings in force.
    fn audit_per_hour(&self) -> u64 {
        let policy = self.policy();
        let a = &policy.settings.audit;
        crate::audit_budget::per_hour(a.max_events, a.retention_days)
    }

    /// Charges a token change to its principal's audit budget before it is made.
    fn charge(&self, event: &AuditEvent) -> Result<(), CoreError> {
        let per_hour = self.audit_per_hour();
        self.budget
            .charge(event, self.now(), per_hour)
            .map_err(|retry_after| CoreError::TooManyTokenChanges { retry_after })
    }

    fn event(&self, actor: &Actor, action: AuditAction, affected: Option<&str>) -> AuditEvent {
        let mut e = AuditEvent::new(self.now(), action, actor.user.name.clone());
        e.affected_user = affected.map(str::to_owned);
        e.method.clone_from(&actor.method);
        e.path.clone_from(&actor.path);
        if let Some(c) = actor.client {
            e.client_ip = Some(c.client.to_string());
            e.proxy_ip = c.proxy.map(|p| p.to_string());
        }
        e
    }

    fn existing_user(&self, name: &str) -> Result<User, CoreError> {
        self.store
            .user(&user_key(name))?
            .map(Arc::unwrap_or_clone)
            .ok_or_else(|| CoreError::NotFound(format!("user '{name}'")))
    }
}

/// What an event about a token names of it.
fn token_fields(event: &mut AuditEvent, record: &TokenRecord) {
    event.token_id = Some(record.id.clone());
    event.token_description = Some(record.description.clone());
    event.scope = Some(record.scope);
}

/// The one place every audit event is also logged, under target `tokenauth` at INFO.
pub fn log_event(event: &AuditEvent) {
    tracing::info!(target: LOG_TARGET, "{}", event.log_line());
}

fn known_groups(users: &[User]) -> BTreeSet<String> {
    users
        .iter()
        .flat_map(|u| u.groups.iter().map(|g| g.to_lowercase()))
        .collect()
}
