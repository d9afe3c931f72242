//! Operations with their rules: who may create, change and revoke tokens, users and settings,
//! and which audit events each writes. The server and CLI translate to and from these calls.

use std::collections::BTreeSet;
use std::sync::{Arc, RwLock};

use crate::audit::{
    AuditAction, AuditEvent, AuditPage, AuditQuery, ChangedValue, Histogram, LOG_TARGET,
    MAX_BUCKETS,
};
use crate::auth::{AuthOutcome, AuthRequest, AuthType, Effect, TokenUse, Verifier, decide};
use crate::clock::{Clock, MILLIS_PER_DAY, Millis};
use crate::error::CoreError;
use crate::ip::{ClientAddr, resolve_client};
use crate::scope::Scope;
use crate::secret_hash::{HashParams, SecretHash};
use crate::settings::{Policy, Settings};
use crate::store::{Store, StoreError};
use crate::token::{
    Expiry, RetiredToken, TokenPolicy, TokenRecord, TokenView, cap_expiry, resolve_expiry,
    validate_description,
};
use crate::token_format::{self, TokenId};
use crate::user::{User, user_key, validate_display_text, validate_groups, validate_name};
use crate::validation::ValidationError;
use std::net::IpAddr;

/// Who performs an operation, and from where (for the audit event and the anti-lockout rule).
#[derive(Debug, Clone)]
pub struct Actor {
    pub user: User,
    /// The command line working on a stopped server's data: every permission, no lockout rule.
    pub system: bool,
    pub auth: Option<AuthType>,
    /// The token the request authenticated with, directly or through a session opened with it:
    /// what it may mint is capped by it (scope and expiry).
    pub token: Option<TokenUse>,
    pub client: Option<ClientAddr>,
    /// The connection and its `X-Forwarded-For`, so the lockout rule can resolve the actor's
    /// address under *new* trusted proxies.
    pub source: Option<Source>,
    pub method: Option<String>,
    pub path: Option<String>,
}

/// Where a request came from, as it arrived.
#[derive(Debug, Clone)]
pub struct Source {
    pub peer: IpAddr,
    pub forwarded_for: Option<Vec<u8>>,
}

impl Actor {
    /// Signed in with a password: Basic auth with one, or a session opened with one.
    pub fn used_password(&self) -> bool {
        matches!(self.auth, Some(AuthType::Password))
            || (matches!(self.auth, Some(AuthType::Session)) && self.token.is_none())
    }
}

/// The scope a new token asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScopeChoice {
    /// Not stated: Read Only (least privilege).
    LeastPrivilege,
    /// Exactly this, or refused.
    Exactly(Scope),
    /// The original product's API, which predates scopes: as much as the caller may hold —
    /// Read & Write, unless the settings force Read Only or the caller is a Read Only token.
    AsMuchAsAllowed,
}

impl Actor {
    pub fn user(user: User) -> Self {
        Self {
            user,
            system: false,
            auth: None,
            token: None,
            client: None,
            source: None,
            method: None,
            path: None,
        }
    }

    /// The command line; its events name it as author.
    pub fn cli() -> Self {
        Self {
            user: User {
                name: "tokenauth-cli".into(),
                display_name: "tokenauth command line".into(),
                email: String::new(),
                active: true,
                groups: Vec::new(),
                password: None,
                failed_logins: 0,
            },
            system: true,
            auth: None,
            token: None,
            client: None,
            source: None,
            method: None,
            path: None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct NewTokenRequest {
    pub description: String,
    pub scope: ScopeChoice,
    pub expiry: Expiry,
}

#[derive(Debug, Clone, Default)]
pub struct NewUser {
    pub name: String,
    pub display_name: Option<String>,
    pub email: Option<String>,
    pub groups: Vec<String>,
    pub password: Option<String>,
    pub active: Option<bool>,
}

/// A token whose secret is fixed in advance, so a test suite can keep it in its fixtures: the
/// whole token text, as [`token_format`] defines it (minted with [`token_format::generate`]).
/// Its id is the one the text embeds.
#[derive(Clone)]
pub struct SeedToken {
    pub owner: String,
    pub description: String,
    pub scope: Scope,
    pub expiry: Expiry,
    pub secret: String,
}

impl std::fmt::Debug for SeedToken {
    /// Everything but the secret: a failed assertion or a debug log must not print it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SeedToken")
            .field("owner", &self.owner)
            .field("description", &self.description)
            .field("scope", &self.scope)
            .field("expiry", &self.expiry)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, Default)]
pub struct UserPatch {
    pub display_name: Option<String>,
    pub email: Option<String>,
    pub groups: Option<Vec<String>>,
    pub password: Option<String>,
    pub active: Option<bool>,
}

/// Admin listing filters for tokens of all users.
#[derive(Debug, Clone, Default)]
pub struct TokenFilter {
    pub user: Option<String>,
    /// Matched, ignoring case, against description, owner and id.
    pub q: Option<String>,
    pub expired: Option<bool>,
    pub scope: Option<Scope>,
    /// Only tokens still valid that expire within this many days.
    pub expiring_within_days: Option<u32>,
    pub offset: usize,
    pub limit: usize,
}

pub struct TokenPage {
    pub tokens: Vec<TokenView>,
    pub total: usize,
}

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

    // ---------------------------------------------------------------- authentication

    /// The decision alone; nothing is written.
    pub fn authenticate(
        &self,
        verifier: &dyn Verifier,
        req: &AuthRequest<'_>,
    ) -> Result<AuthOutcome, CoreError> {
        Ok(decide(&self.policy(), self.store.as_ref(), verifier, req)?)
    }

    /// Applies the decision's effects at once (the server batches them instead).
    pub fn apply_effects(&self, effects: &[Effect]) -> Result<(), CoreError> {
        let mut uses = Vec::new();
        for effect in effects {
            match effect {
                Effect::TokenUsed { id, at, ip } => uses.push((id.clone(), *at, ip.clone())),
                Effect::FailedLogin { user_key } => {
                    self.store.update_failed_logins(user_key, false)?;
                }
                Effect::ResetFailedLogins { user_key } => {
                    self.store.update_failed_logins(user_key, true)?;
                }
            }
        }
        self.store.record_token_uses(&uses)?;
        Ok(())
    }

    /// Writes events to the audit log and each as one line to the `tokenauth` log target.
    /// Writes events to the store and the log, each principal's always-audited ones within its
    /// budget (`audit_budget`); what does not fit is counted in one summary event. `events` is
    /// left holding what was written, with the ids the store gave.
    pub fn record_events(&self, events: &mut Vec<AuditEvent>) -> Result<(), CoreError> {
        let per_hour = self.audit_per_hour();
        *events = self
            .budget
            .admit(std::mem::take(events), self.now(), per_hour);
        self.append_and_log(events)
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

    fn append_and_log(&self, events: &mut [AuditEvent]) -> Result<(), CoreError> {
        if events.is_empty() {
            return Ok(());
        }
        self.store.append_events(events)?;
        for e in events.iter() {
            log_event(e);
        }
        Ok(())
    }

    // ---------------------------------------------------------------- tokens

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
            .ok_or_else(|| CoreError::NotFound(format!("user '{name}'")))
    }

    /// The token rules as they apply to the actor.
    pub fn token_policy(&self, actor: &Actor) -> TokenPolicy {
        let policy = self.policy();
        let s = &policy.settings;
        let p = &s.permissions;
        let caller = actor.token.as_ref();
        TokenPolicy {
            max_token_validity_days: s.max_token_validity_days,
            allow_non_expiring_tokens: s.allow_non_expiring_tokens
                && caller.is_none_or(|t| t.expires_at.is_none()),
            may_create_own_tokens: p.create_own_tokens.allows(&actor.user),
            own_tokens_read_only: p.force_read_only_own_tokens
                || caller.is_some_and(|t| t.scope == Scope::ReadOnly),
            may_create_tokens_for_others: p.create_tokens_for_others.allows(&actor.user),
            is_admin: s.is_admin(&actor.user),
            max_tokens_per_user: s.max_tokens_per_user,
            expires_no_later_than: caller
                .and_then(|t| t.expires_at)
                .map(crate::clock::to_rfc3339),
        }
    }

    /// Creates a token for `owner`; the answer carries the secret, this once.
    pub fn create_token(
        &self,
        actor: &Actor,
        owner: &str,
        req: NewTokenRequest,
    ) -> Result<TokenView, CoreError> {
        let policy = self.policy();
        let settings = &policy.settings;
        let owner = self.existing_user(owner)?;
        let own = owner.key() == actor.user.key();
        let perms = &settings.permissions;
        let forced_read_only = own && !actor.system && perms.force_read_only_own_tokens;
        if !actor.system {
            if own {
                if !perms.create_own_tokens.allows(&actor.user) {
                    return Err(CoreError::Forbidden(
                        "you are not permitted to create API tokens".into(),
                    ));
                }
            } else if !perms.create_tokens_for_others.allows(&actor.user) {
                return Err(CoreError::Forbidden(
                    "you are not permitted to create API tokens for other users".into(),
                ));
            }
        }
        let scope = minted_scope(req.scope, actor.token.as_ref(), forced_read_only)?;
        if !owner.active {
            return Err(ValidationError::new("user", "the user is deactivated").into());
        }
        let description = validate_description("description", &req.description)?;
        let now = self.now();
        let expires_at = resolve_expiry(req.expiry, settings, now)?;
        let expires_at = cap_expiry(
            req.expiry,
            expires_at,
            actor.token.as_ref().and_then(|t| t.expires_at),
        )?;
        // Charged before the secret is hashed: a change over the budget costs no argon2.
        self.charge(&self.event(actor, AuditAction::TokenCreated, Some(&owner.name)))?;
        let (record, text) =
            self.mint(actor, &owner.name, description, scope, (now, expires_at))?;
        let mut event = self.event(actor, AuditAction::TokenCreated, Some(&owner.name));
        token_fields(&mut event, &record);
        if let Some(t) = &actor.token {
            // Which token minted this one: revoking a leaked token, an admin can find its children.
            event.changed_values.push(ChangedValue {
                key: "createdWithToken".into(),
                from: String::new(),
                to: t.id.as_str().to_owned(),
            });
        }
        match self
            .store
            .insert_token(&record, event.clone(), settings.max_tokens_per_user)
        {
            Err(StoreError::TokenLimit { limit }) => {
                return Err(ValidationError::new(
                    "maxTokensPerUser",
                    format!(
                        "{} already holds {limit} tokens, the most this server allows \
                         (maxTokensPerUser); revoke some, expired ones included, first",
                        owner.name
                    ),
                )
                .into());
            }
            other => other?,
        }
        log_event(&event);
        let mut view = record.view_under(settings);
        view.token = Some(text);
        Ok(view)
    }

    /// A new token's record and its text (the secret, shown once): a fresh id and secret,
    /// only the hash kept.
    fn mint(
        &self,
        actor: &Actor,
        owner: &str,
        description: String,
        scope: Scope,
        (now, expires_at): (Millis, Option<Millis>),
    ) -> Result<(TokenRecord, String), CoreError> {
        let new = token_format::generate()?;
        let secret = token_format::parse(&new.text)
            .map_err(|e| CoreError::Hash(format!("generated token does not parse: {e}")))?
            .secret;
        let record = TokenRecord {
            id: new.id.as_str().to_owned(),
            owner: owner.to_owned(),
            description,
            scope,
            created_at: now,
            created_by: actor.user.name.clone(),
            expires_at,
            last_used_at: None,
            last_used_ip: None,
            hash: SecretHash::new(secret.as_bytes(), self.hash_params)?,
        };
        Ok((record, new.text))
    }

    /// A token the actor may see: their own, or any for an admin. Others are "not found", so
    /// ids of other users' tokens cannot be probed.
    fn visible_token(
        &self,
        actor: &Actor,
        id: &str,
        as_admin: bool,
    ) -> Result<TokenRecord, CoreError> {
        let not_found = || CoreError::NotFound(format!("token '{id}'"));
        let id = TokenId::parse(id).ok_or_else(not_found)?;
        let record = self.store.token(&id)?.ok_or_else(not_found)?;
        let allowed = if as_admin {
            self.is_admin_actor(actor)
        } else {
            user_key(&record.owner) == actor.user.key()
        };
        if allowed {
            Ok(record)
        } else {
            Err(not_found())
        }
    }

    pub fn revoke_token(
        &self,
        actor: &Actor,
        id: &str,
        as_admin: bool,
    ) -> Result<TokenView, CoreError> {
        let record = self.visible_token(actor, id, as_admin)?;
        let mut event = self.event(actor, AuditAction::TokenDeleted, Some(&record.owner));
        self.charge(&event)?;
        token_fields(&mut event, &record);
        let token_id = record
            .token_id()
            .ok_or_else(|| CoreError::NotFound(format!("token '{id}'")))?;
        if !self.store.delete_token(&token_id, event.clone())? {
            return Err(CoreError::NotFound(format!("token '{id}'")));
        }
        log_event(&event);
        Ok(record.view_under(&self.policy().settings))
    }

    /// Revokes every token of a user (admins only), with one audit event.
    pub fn revoke_all(&self, actor: &Actor, owner: &str) -> Result<Vec<TokenView>, CoreError> {
        if !self.is_admin_actor(actor) {
            return Err(CoreError::Forbidden("administrators only".into()));
        }
        let owner = self.existing_user(owner)?;
        let mut event = self.event(actor, AuditAction::AllTokensDeleted, Some(&owner.name));
        self.charge(&event)?;
        let count = self.store.tokens_of(&owner.key())?.len();
        event.changed_values.push(ChangedValue {
            key: "tokens".into(),
            from: count.to_string(),
            to: "0".into(),
        });
        let removed = self.store.delete_tokens_of(&owner.key(), event.clone())?;
        log_event(&event);
        let settings = &self.policy().settings;
        Ok(removed.iter().map(|t| t.view_under(settings)).collect())
    }

    /// Changes a token's description, the only thing that changes after creation.
    pub fn rename_token(
        &self,
        actor: &Actor,
        id: &str,
        description: &str,
        as_admin: bool,
    ) -> Result<TokenView, CoreError> {
        let mut record = self.visible_token(actor, id, as_admin)?;
        let description = validate_description("description", description)?;
        let mut event = self.event(actor, AuditAction::TokenChanged, Some(&record.owner));
        self.charge(&event)?;
        event.changed_values.push(ChangedValue {
            key: "description".into(),
            from: record.description.clone(),
            to: description.clone(),
        });
        record.description = description;
        token_fields(&mut event, &record);
        if !self.store.update_token(&record, event.clone())? {
            return Err(CoreError::NotFound(format!("token '{id}'")));
        }
        log_event(&event);
        Ok(record.view_under(&self.policy().settings))
    }

    /// Replaces a token by a new one with the same owner, description and scope and a fresh
    /// expiry; the old secret stops working in the same durable write (no moment in which
    /// neither works, none in which both do). `expiry` `Default` gives the new token the old
    /// one's lifetime (within the maximum validity; "never" stays "never" where allowed).
    /// The owner rotates their own tokens (with the permission to create them); an admin
    /// rotates anyone's (`as_admin`). A token may rotate itself — a script renewing its own
    /// secret — but rotating another token it stays bound by what it holds, as for creation.
    pub fn rotate_token(
        &self,
        actor: &Actor,
        id: &str,
        expiry: Expiry,
        as_admin: bool,
    ) -> Result<TokenView, CoreError> {
        let policy = self.policy();
        let settings = &policy.settings;
        let old = self.visible_token(actor, id, as_admin)?;
        let not_found = || CoreError::NotFound(format!("token '{id}'"));
        let old_id = old.token_id().ok_or_else(not_found)?;
        let owner = self.existing_user(&old.owner)?;
        let own = owner.key() == actor.user.key();
        let perms = &settings.permissions;
        if !actor.system && own && !as_admin && !perms.create_own_tokens.allows(&actor.user) {
            return Err(CoreError::Forbidden(
                "you are not permitted to create API tokens, so not to rotate them".into(),
            ));
        }
        if !owner.active {
            return Err(ValidationError::new("user", "the user is deactivated").into());
        }
        // A Read Only token writes nothing but itself: rotating another token (anyone's, for an
        // admin) gives its holder that token's new secret, a write like creating one for them.
        let itself = actor.token.as_ref().is_some_and(|t| t.id == old_id);
        if let Some(t) = &actor.token
            && !itself
            && t.scope == Scope::ReadOnly
        {
            return Err(CoreError::ReadOnlyToken(
                "a Read Only token can only rotate itself".into(),
            ));
        }
        // A token rotating itself is replaced, not copied: its own expiry does not cap the new
        // one, but its lifetime does (below), so a short-lived token cannot renew itself longer.
        let caller = actor.token.as_ref().filter(|t| t.id != old_id);
        let forced_read_only = own && !actor.system && perms.force_read_only_own_tokens;
        let scope = minted_scope(ScopeChoice::Exactly(old.scope), caller, forced_read_only)?;
        let now = self.now();
        // What was asked for: a default is lowered to a cap, an explicit value is refused.
        let asked = expiry;
        let expiry = match expiry {
            Expiry::Default => match old.expires_at {
                None if settings.allow_non_expiring_tokens => Expiry::Never,
                None => Expiry::Default,
                Some(e) => {
                    let days =
                        (e.saturating_sub(old.created_at) + MILLIS_PER_DAY - 1) / MILLIS_PER_DAY;
                    let days = u32::try_from(days.max(1)).unwrap_or(u32::MAX);
                    Expiry::Days(days.min(settings.max_token_validity_days))
                }
            },
            other => other,
        };
        let expires_at = resolve_expiry(expiry, settings, now)?;
        let expires_at = cap_expiry(asked, expires_at, caller.and_then(|t| t.expires_at))?;
        let expires_at = match old.expires_at {
            Some(e) if itself => {
                let cap = now.saturating_add(e.saturating_sub(old.created_at));
                match expires_at {
                    Some(x) if x <= cap => Some(x),
                    _ if asked == Expiry::Default => Some(cap),
                    _ => {
                        return Err(ValidationError::new(
                            match expiry {
                                Expiry::At(_) => "expiresAt",
                                Expiry::Never => "neverExpires",
                                _ => "validityDays",
                            },
                            format!(
                                "a token rotating itself keeps its lifetime at most ({} days); \
                                 sign in with a password to give it a longer one",
                                (e.saturating_sub(old.created_at) + MILLIS_PER_DAY - 1)
                                    / MILLIS_PER_DAY
                            ),
                        )
                        .into());
                    }
                }
            }
            _ => expires_at,
        };
        self.charge(&self.event(actor, AuditAction::TokenRotated, Some(&owner.name)))?;
        let (record, text) = self.mint(
            actor,
            &old.owner,
            old.description.clone(),
            scope,
            (now, expires_at),
        )?;
        let retired = RetiredToken {
            id: old.id.clone(),
            owner: old.owner.clone(),
            description: old.description.clone(),
            scope: old.scope,
            successor: record.id.clone(),
            retired_at: now,
            hash: old.hash.clone(),
        };
        let mut event = self.event(actor, AuditAction::TokenRotated, Some(&owner.name));
        token_fields(&mut event, &record);
        event.changed_values.push(ChangedValue {
            key: "tokenId".into(),
            from: old.id.clone(),
            to: record.id.clone(),
        });
        if !self
            .store
            .rotate_token(&old_id, &record, &retired, event.clone())?
        {
            return Err(not_found());
        }
        log_event(&event);
        let mut view = record.view_under(settings);
        view.token = Some(text);
        Ok(view)
    }

    /// The number Jira's personal access token API shows for a token.
    pub fn token_number(&self, id: &str) -> Result<u64, CoreError> {
        self.store
            .token_number(id)?
            .ok_or_else(|| CoreError::NotFound(format!("token '{id}'")))
    }

    /// A token by its number, if the actor may see it (theirs; anyone's for an admin).
    pub fn token_by_number(&self, actor: &Actor, number: u64) -> Result<TokenView, CoreError> {
        let not_found = || CoreError::NotFound(format!("token {number}"));
        let record = self.store.token_by_number(number)?.ok_or_else(not_found)?;
        let mine = user_key(&record.owner) == actor.user.key();
        if !mine && !self.is_admin_actor(actor) {
            return Err(not_found());
        }
        Ok(record.view_under(&self.policy().settings))
    }

    /// The actor's tokens that expire within `days` from now (expired ones not included).
    pub fn own_tokens_expiring_within(
        &self,
        actor: &Actor,
        days: u32,
    ) -> Result<Vec<TokenView>, CoreError> {
        let now = self.now();
        let until = now.saturating_add(i64::from(days) * MILLIS_PER_DAY);
        let settings = &self.policy().settings;
        let mut tokens = self.store.tokens_of(&actor.user.key())?;
        tokens.retain(|t| {
            t.expiry_under(settings)
                .is_some_and(|e| e > now && e <= until)
        });
        tokens.sort_by_key(|t| t.expiry_under(settings));
        Ok(tokens.iter().map(|t| t.view_under(settings)).collect())
    }

    pub fn own_tokens(&self, actor: &Actor) -> Result<Vec<TokenView>, CoreError> {
        let mut tokens = self.store.tokens_of(&actor.user.key())?;
        tokens.sort_by_key(|t| std::cmp::Reverse(t.created_at));
        let settings = &self.policy().settings;
        Ok(tokens.iter().map(|t| t.view_under(settings)).collect())
    }

    pub fn list_tokens(&self, actor: &Actor, f: &TokenFilter) -> Result<TokenPage, CoreError> {
        if !self.is_admin_actor(actor) {
            return Err(CoreError::Forbidden("administrators only".into()));
        }
        let now = self.now();
        let policy = self.policy();
        let settings = &policy.settings;
        let mut tokens = match &f.user {
            Some(u) => self.store.tokens_of(u)?,
            None => self.store.all_tokens()?,
        };
        let q = f.q.as_deref().map(str::to_lowercase);
        tokens.retain(|t| {
            f.expired
                .is_none_or(|e| t.is_expired_under(now, settings) == e)
                && f.scope.is_none_or(|s| t.scope == s)
                && f.expiring_within_days.is_none_or(|d| {
                    let until = now.saturating_add(i64::from(d) * MILLIS_PER_DAY);
                    t.expiry_under(settings)
                        .is_some_and(|e| e > now && e <= until)
                })
                && q.as_deref().is_none_or(|q| {
                    t.description.to_lowercase().contains(q)
                        || t.owner.to_lowercase().contains(q)
                        || t.id.to_lowercase().contains(q)
                })
        });
        tokens.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(a.id.cmp(&b.id)));
        let total = tokens.len();
        let limit = if f.limit == 0 { 50 } else { f.limit.min(1000) };
        let tokens = tokens
            .iter()
            .skip(f.offset)
            .take(limit)
            .map(|t| t.view_under(settings))
            .collect();
        Ok(TokenPage { tokens, total })
    }

    // ---------------------------------------------------------------- settings

    pub fn settings(&self) -> Settings {
        self.policy().settings.clone()
    }

    /// Applies a (partial) settings document. Refused with the field named when invalid, and as
    /// a conflict when it would lock out the admin sending it, unless `force`.
    pub fn update_settings(
        &self,
        actor: &Actor,
        patch: &serde_json::Value,
        force: bool,
    ) -> Result<Settings, CoreError> {
        if !self.is_admin_actor(actor) {
            return Err(CoreError::Forbidden("administrators only".into()));
        }
        let current = self.settings();
        let next = current.patched(patch)?;
        let policy = next.validate(&known_groups(&self.store.users()?))?;
        if !force && !actor.system {
            self.check_lockout(actor, &current, &policy)?;
        }
        let mut event = self.event(actor, AuditAction::SettingsChanged, None);
        event.changed_values = diff_settings(&current, &next);
        if event.changed_values.is_empty() {
            return Ok(current);
        }
        self.store.put_settings(&next, Some(event.clone()))?;
        if let Ok(mut slot) = self.policy.write() {
            *slot = Arc::new(policy);
        }
        log_event(&event);
        Ok(next)
    }

    /// Refuses a change that would lock out the admin who sends it (SPEC section 2): their own
    /// address must stay allowed, resolved under the *new* trusted proxies; they must keep a way
    /// to sign in (a password while passwords stay on, or a Read & Write token they may still
    /// use); and they must stay an admin.
    fn check_lockout(
        &self,
        actor: &Actor,
        _current: &Settings,
        next: &Policy,
    ) -> Result<(), CoreError> {
        let client = match &actor.source {
            Some(src) => Some(resolve_client(
                src.peer,
                src.forwarded_for.as_deref(),
                &next.trusted_proxies,
            )),
            None => actor.client,
        };
        if let Some(client) = client
            && !next.allow_list.is_empty()
            && (client.forwarded_for_malformed || !next.allow_list.contains(client.client))
        {
            return Err(CoreError::Conflict(format!(
                "the IP allow-list would exclude your own address {}; send with ?force=true to apply anyway",
                client.client
            )));
        }
        let s = &next.settings;
        if !self.keeps_a_way_in(&actor.user, s)? {
            let why = if actor.used_password() && !s.password_auth_enabled {
                "disabling passwords would lock you out: you signed in with a password and hold \
                 no Read & Write API token you may use; create one first or send with ?force=true"
            } else {
                "this change would lock you out: you would have no password you may use and no \
                 Read & Write API token you may use; send with ?force=true to apply anyway"
            };
            return Err(CoreError::Conflict(why.into()));
        }
        if !s.is_admin(&actor.user) {
            return Err(CoreError::Conflict(format!(
                "you are not in the new admin group '{}' and would lose admin rights; send with ?force=true to apply anyway",
                s.admin_group
            )));
        }
        Ok(())
    }

    /// Whether `user` can still sign in and administer under `settings`: with a password while
    /// passwords are enabled, or with a Read & Write token that has not expired and that the
    /// *use tokens* permission lets them use (a Read Only token cannot change anything).
    fn keeps_a_way_in(&self, user: &User, settings: &Settings) -> Result<bool, CoreError> {
        if settings.password_auth_enabled && user.password.is_some() {
            return Ok(true);
        }
        if !settings.permissions.use_tokens.allows(user) {
            return Ok(false);
        }
        let now = self.now();
        Ok(self
            .store
            .tokens_of(&user.key())?
            .iter()
            .any(|t| t.scope == Scope::ReadWrite && !t.is_expired_under(now, settings)))
    }

    // ---------------------------------------------------------------- users

    pub fn users(&self) -> Result<Vec<User>, CoreError> {
        let mut users = self.store.users()?;
        users.sort_by_key(User::key);
        Ok(users)
    }

    pub fn create_user(&self, actor: &Actor, new: NewUser) -> Result<User, CoreError> {
        self.check_new_user(actor, &new)?;
        let password = new
            .password
            .as_deref()
            .map(|p| self.hash_password(p))
            .transpose()?;
        self.insert_new_user(actor, new, password)
    }

    /// Everything [`TokenAuth::create_user`] refuses, checked before the password is hashed.
    fn check_new_user(&self, actor: &Actor, new: &NewUser) -> Result<(), CoreError> {
        if !self.is_admin_actor(actor) {
            return Err(CoreError::Forbidden("administrators only".into()));
        }
        validate_name("name", &new.name)?;
        validate_groups(&new.groups)?;
        if let Some(d) = &new.display_name {
            validate_display_text("displayName", d)?;
        }
        if let Some(e) = &new.email {
            validate_display_text("emailAddress", e)?;
        }
        if let Some(p) = &new.password {
            check_password(p)?;
        }
        if self.store.user(&user_key(&new.name))?.is_some() {
            return Err(CoreError::Conflict(format!(
                "user '{}' already exists",
                new.name
            )));
        }
        Ok(())
    }

    fn insert_new_user(
        &self,
        actor: &Actor,
        new: NewUser,
        password: Option<SecretHash>,
    ) -> Result<User, CoreError> {
        let user = User {
            display_name: new.display_name.unwrap_or_else(|| new.name.clone()),
            email: new.email.unwrap_or_default(),
            active: new.active.unwrap_or(true),
            groups: new.groups,
            password,
            failed_logins: 0,
            name: new.name,
        };
        let event = self.event(actor, AuditAction::UserCreated, Some(&user.name));
        self.store.put_user(&user, Some(event.clone()))?;
        log_event(&event);
        Ok(user)
    }

    fn hash_password(&self, password: &str) -> Result<SecretHash, CoreError> {
        check_password(password)?;
        Ok(SecretHash::new(password.as_bytes(), self.hash_params)?)
    }

    /// Changes a user. Refused as a conflict, unless `force`: leaving no active admin, and an
    /// admin demoting or deactivating themselves.
    pub fn update_user(
        &self,
        actor: &Actor,
        name: &str,
        patch: UserPatch,
        force: bool,
    ) -> Result<User, CoreError> {
        let own = user_key(name) == actor.user.key();
        let admin = self.is_admin_actor(actor);
        // A user may change their own display name, e-mail and password; the rest is for admins.
        let self_service = own && patch.groups.is_none() && patch.active.is_none();
        if !(admin || self_service) {
            return Err(CoreError::Forbidden("administrators only".into()));
        }
        let mut user = self.existing_user(name)?;
        let mut changes = Vec::new();
        let mut change = |key: &str, from: String, to: String| {
            if from != to {
                changes.push(ChangedValue {
                    key: key.into(),
                    from,
                    to,
                });
            }
        };
        if let Some(d) = patch.display_name {
            validate_display_text("displayName", &d)?;
            change("displayName", user.display_name.clone(), d.clone());
            user.display_name = d;
        }
        if let Some(e) = patch.email {
            validate_display_text("emailAddress", &e)?;
            change("emailAddress", user.email.clone(), e.clone());
            user.email = e;
        }
        if let Some(groups) = patch.groups {
            validate_groups(&groups)?;
            change("groups", user.groups.join(","), groups.join(","));
            user.groups = groups;
        }
        if let Some(a) = patch.active {
            change("active", user.active.to_string(), a.to_string());
            user.active = a;
        }
        if let Some(p) = patch.password {
            user.password = Some(self.hash_password(&p)?);
            // The password itself never goes into the audit log.
            change("password", "(set)".into(), "(changed)".into());
        }
        // An admin demoting or deactivating themselves: the one way a change of users leaves
        // the actor (and, if they were the last, everyone) without admin rights. Deleting
        // oneself is refused outright, and any other admin change leaves the actor an admin.
        let policy = self.policy();
        let is_active_admin = |u: &User| u.active && policy.settings.is_admin(u);
        if user.key() == actor.user.key()
            && !actor.system
            && !force
            && is_active_admin(&actor.user)
            && !is_active_admin(&user)
        {
            return Err(CoreError::Conflict(
                "you would remove your own admin rights (and if you are the last administrator, \
                 everyone's); send with ?force=true to apply anyway"
                    .into(),
            ));
        }
        let mut event = self.event(actor, AuditAction::UserChanged, Some(&user.name));
        event.changed_values = changes;
        self.store.put_user(&user, Some(event.clone()))?;
        log_event(&event);
        Ok(user)
    }

    /// Deletes a user and their tokens. Deleting oneself is refused, so the acting admin always
    /// remains: the last administrator cannot be deleted through the API.
    pub fn delete_user(&self, actor: &Actor, name: &str) -> Result<(), CoreError> {
        if !self.is_admin_actor(actor) {
            return Err(CoreError::Forbidden("administrators only".into()));
        }
        if user_key(name) == actor.user.key() {
            return Err(CoreError::Conflict("you cannot delete yourself".into()));
        }
        let event = self.event(actor, AuditAction::UserDeleted, Some(name));
        match self.store.delete_user(&user_key(name), event.clone())? {
            Some(_) => {
                log_event(&event);
                Ok(())
            }
            None => Err(CoreError::NotFound(format!("user '{name}'"))),
        }
    }

    pub fn reset_failed_logins(&self, actor: &Actor, name: &str) -> Result<User, CoreError> {
        if !self.is_admin_actor(actor) {
            return Err(CoreError::Forbidden("administrators only".into()));
        }
        let mut user = self.existing_user(name)?;
        let mut event = self.event(actor, AuditAction::FailedLoginCountReset, Some(&user.name));
        event.changed_values.push(ChangedValue {
            key: "failedLogins".into(),
            from: user.failed_logins.to_string(),
            to: "0".into(),
        });
        user.failed_logins = 0;
        self.store.put_user(&user, Some(event.clone()))?;
        log_event(&event);
        Ok(user)
    }

    /// Creates the given users when the database has none (a new installation).
    pub fn seed_users(&self, users: Vec<NewUser>) -> Result<bool, CoreError> {
        self.seed(users, Vec::new())
    }

    /// Creates the given users and their fixed-secret tokens when the database has none (a new
    /// installation); returns whether it did. Every token is checked before anything is
    /// written (its owner among `users`, its format, its description and expiry, its id unique),
    /// so a bad fixture leaves no half-seeded database that a later start would take as done.
    pub fn seed(&self, users: Vec<NewUser>, tokens: Vec<SeedToken>) -> Result<bool, CoreError> {
        if !self.store.users()?.is_empty() {
            return Ok(false);
        }
        let names: BTreeSet<String> = users.iter().map(|u| user_key(&u.name)).collect();
        let mut ids = BTreeSet::new();
        for (n, t) in tokens.iter().enumerate() {
            let entry = seed_entry(&tokens[..n], t);
            let invalid = |message: String| ValidationError::new(entry.clone(), message);
            if !names.contains(&user_key(&t.owner)) {
                return Err(invalid("the owner is not among the users".into()).into());
            }
            let id = self.check_seed_token(t).map_err(|e| match e {
                CoreError::Invalid(v) => invalid(v.to_string()).into(),
                other => other,
            })?;
            if !ids.insert(id.clone()) {
                return Err(invalid(format!("another token has the same id {id}")).into());
            }
        }
        let actor = Actor::cli();
        for u in &users {
            self.check_new_user(&actor, u)?;
        }
        // Every password and secret hashed at once, on all cores: seeding is what a new
        // server does before its first answer, and each argon2 hash takes tens of
        // milliseconds (SPEC §8: start to first answer under 100 ms).
        let mut secrets: Vec<&[u8]> = Vec::new();
        for u in &users {
            if let Some(p) = &u.password {
                secrets.push(p.as_bytes());
            }
        }
        for t in &tokens {
            secrets.push(seed_secret(t)?.as_bytes());
        }
        let mut hashes = hash_all(&secrets, self.hash_params)?.into_iter();
        let mut next_hash = || {
            hashes
                .next()
                .ok_or_else(|| CoreError::Hash("a seeded secret was not hashed".into()))
        };
        for u in users {
            let password = match u.password {
                Some(_) => Some(next_hash()?),
                None => None,
            };
            self.insert_new_user(&actor, u, password)?;
        }
        for t in &tokens {
            let id = self.check_seed_token(t)?;
            self.insert_seed_token(t, &id, next_hash()?)?;
        }
        Ok(true)
    }

    /// Stores a token whose secret was fixed in advance (a test suite's fixture), as the
    /// system: created by the command line's author, audited as any token created, only the
    /// argon2 hash of its secret kept. Its id is the one the token text embeds; one that is
    /// already taken is refused. The owner may be deactivated (a fixture for that case).
    pub fn seed_token(&self, token: &SeedToken) -> Result<TokenView, CoreError> {
        let id = self.check_seed_token(token)?;
        let hash = SecretHash::new(seed_secret(token)?.as_bytes(), self.hash_params)?;
        self.insert_seed_token(token, &id, hash)
    }

    fn insert_seed_token(
        &self,
        token: &SeedToken,
        id: &TokenId,
        hash: SecretHash,
    ) -> Result<TokenView, CoreError> {
        let owner = self.existing_user(&token.owner)?;
        let policy = self.policy();
        let settings = &policy.settings;
        let now = self.now();
        let expires_at = resolve_expiry(token.expiry, settings, now)?;
        let actor = Actor::cli();
        let record = TokenRecord {
            id: id.as_str().to_owned(),
            owner: owner.name.clone(),
            description: validate_description("description", &token.description)?,
            scope: token.scope,
            created_at: now,
            created_by: actor.user.name.clone(),
            expires_at,
            last_used_at: None,
            last_used_ip: None,
            hash,
        };
        let mut event = self.event(&actor, AuditAction::TokenCreated, Some(&owner.name));
        token_fields(&mut event, &record);
        self.store
            .insert_token(&record, event.clone(), settings.max_tokens_per_user)?;
        log_event(&event);
        Ok(record.view_under(settings))
    }

    /// What can be known of a fixed-secret token without writing: the format of its text (the
    /// reason only, never the text), its description, its expiry under the settings, and that
    /// its id is free. Returns the id.
    fn check_seed_token(&self, token: &SeedToken) -> Result<TokenId, CoreError> {
        let id = token_format::parse(&token.secret)
            .map_err(|e| ValidationError::new("secret", format!("not a valid token: {e}")))?
            .id;
        validate_description("description", &token.description)?;
        resolve_expiry(token.expiry, &self.policy().settings, self.now())?;
        if self.store.token(&id)?.is_some() {
            return Err(CoreError::Conflict(format!(
                "a token with the id {id} already exists"
            )));
        }
        Ok(id)
    }

    // ---------------------------------------------------------------- audit

    pub fn query_events(&self, actor: &Actor, q: &AuditQuery) -> Result<AuditPage, CoreError> {
        if !self.is_admin_actor(actor) {
            return Err(CoreError::Forbidden("administrators only".into()));
        }
        Ok(self.store.query_events(q)?)
    }

    /// Events over time for the chart: `q`'s time range (by default from the oldest event to
    /// now) cut into at most [`MAX_BUCKETS`] slices, counting what matches its user and action.
    pub fn event_histogram(
        &self,
        actor: &Actor,
        q: &AuditQuery,
        buckets: usize,
    ) -> Result<Histogram, CoreError> {
        if !self.is_admin_actor(actor) {
            return Err(CoreError::Forbidden("administrators only".into()));
        }
        let to = q.to.unwrap_or_else(|| self.now());
        let from = match q.from {
            Some(f) => f,
            None => self.store.oldest_event()?.unwrap_or(to).min(to),
        };
        let buckets = buckets.clamp(1, MAX_BUCKETS);
        let counts = self.store.event_histogram(q, from, to, buckets)?;
        // As the store slices it: the span of two i64 times needs 65 bits.
        let span = (i128::from(to) - i128::from(from)).max(0) + 1;
        let bucket_millis =
            i64::try_from((span + buckets as i128 - 1) / buckets as i128).unwrap_or(i64::MAX);
        Ok(Histogram {
            from,
            to,
            bucket_millis,
            counts,
        })
    }

    // ---------------------------------------------------------------- expiry notices

    /// Whether a signing secret for expiry notices is set (its value is never shown).
    pub fn notice_secret_set(&self) -> Result<bool, CoreError> {
        Ok(self.store.notice_secret()?.is_some())
    }

    /// The signing secret, for the server that delivers notices.
    pub fn notice_secret(&self) -> Result<Option<String>, CoreError> {
        Ok(self.store.notice_secret()?)
    }

    /// Sets the signing secret (admins). Audited as a settings change that says it changed,
    /// never what it is.
    pub fn set_notice_secret(&self, actor: &Actor, secret: &str) -> Result<(), CoreError> {
        if !self.is_admin_actor(actor) {
            return Err(CoreError::Forbidden("administrators only".into()));
        }
        crate::notify::validate_secret(secret)?;
        let before = if self.store.notice_secret()?.is_some() {
            "(set)"
        } else {
            "(not set)"
        };
        let mut event = self.event(actor, AuditAction::SettingsChanged, None);
        event.changed_values.push(ChangedValue {
            key: "notifications.secret".into(),
            from: before.into(),
            to: "(set)".into(),
        });
        self.store.put_notice_secret(secret, event.clone())?;
        log_event(&event);
        Ok(())
    }

    /// The expiry notices due now and not sent before.
    pub fn due_notices(&self) -> Result<Vec<crate::notify::Notice>, CoreError> {
        let policy = self.policy();
        if policy.settings.notifications.webhook_url.is_none() {
            return Ok(Vec::new());
        }
        let tokens = self.store.all_tokens()?;
        let mut failure = None;
        let due = crate::notify::due(&tokens, &policy.settings, self.now(), |id, d| {
            self.store.notice_sent(id, d).unwrap_or_else(|e| {
                // Unknown counts as sent: never twice is the promise.
                failure = Some(e);
                true
            })
        });
        match failure {
            Some(e) => Err(e.into()),
            None => Ok(due),
        }
    }

    /// Marks a notice sent (every threshold it stands for), durably, before delivery.
    pub fn mark_notice_sent(&self, notice: &crate::notify::Notice) -> Result<(), CoreError> {
        let marks: Vec<(String, u32)> = notice
            .marks
            .iter()
            .map(|d| (notice.token_id.clone(), *d))
            .collect();
        Ok(self.store.mark_notices_sent(&marks)?)
    }

    /// Audits a delivery's outcome: sent (with the receiver's status) or finally failed.
    pub fn record_notice_outcome(
        &self,
        notice: &crate::notify::Notice,
        outcome: Result<u16, String>,
        attempts: u32,
    ) -> Result<(), CoreError> {
        let action = if outcome.is_ok() {
            AuditAction::ExpiryNoticeSent
        } else {
            AuditAction::ExpiryNoticeFailed
        };
        let mut e = AuditEvent::new(self.now(), action, "tokenauth");
        e.affected_user = Some(notice.user.clone());
        e.token_id = Some(notice.token_id.clone());
        e.token_description = Some(notice.description.clone());
        e.changed_values.push(ChangedValue {
            key: "daysBefore".into(),
            from: String::new(),
            to: notice.days_before.to_string(),
        });
        e.reason = Some(match &outcome {
            Ok(status) => format!("delivered (HTTP {status}) after {attempts} attempt(s)"),
            Err(why) => format!("not delivered after {attempts} attempt(s): {why}"),
        });
        self.record_events(&mut vec![e])
    }

    /// Applies the retention settings once; returns how many events went. Tokens rotated away
    /// are remembered for the maximum validity after their rotation (a script still sending
    /// one is reported with its successor that long), then forgotten.
    pub fn prune_audit(&self) -> Result<u64, CoreError> {
        let max_days = self.policy().settings.max_token_validity_days;
        self.store.prune_retired_tokens(
            self.now()
                .saturating_sub(i64::from(max_days) * MILLIS_PER_DAY),
        )?;
        let a = self.policy().settings.audit.clone();
        let cutoff = self
            .now()
            .saturating_sub(i64::from(a.retention_days) * MILLIS_PER_DAY);
        // Summaries of principals that went quiet after going over their budget.
        let mut due = self.budget.due(self.now());
        self.append_and_log(&mut due)?;
        Ok(self.store.prune_events(cutoff, a.max_events)?)
    }
}

/// The scope a new token gets: what was asked for, within what the caller holds. A token never
/// mints more than it holds (SPEC section 1): a Read Only token's explicit request for Read &
/// Write is refused, and the original product's API (which names no scope) gets Read Only.
fn minted_scope(
    choice: ScopeChoice,
    caller: Option<&TokenUse>,
    forced_read_only: bool,
) -> Result<Scope, CoreError> {
    let caller_scope = caller.map_or(Scope::ReadWrite, |t| t.scope);
    match choice {
        ScopeChoice::LeastPrivilege => Ok(Scope::ReadOnly),
        ScopeChoice::Exactly(s) if !caller_scope.covers(s) => Err(CoreError::ReadOnlyToken(
            "a Read Only token can only create Read Only tokens".into(),
        )),
        ScopeChoice::Exactly(Scope::ReadWrite) if forced_read_only => Err(CoreError::Forbidden(
            "self-made tokens are always Read Only on this server".into(),
        )),
        ScopeChoice::Exactly(s) => Ok(s),
        ScopeChoice::AsMuchAsAllowed => {
            let settings_cap = if forced_read_only {
                Scope::ReadOnly
            } else {
                Scope::ReadWrite
            };
            Ok(Scope::ReadWrite.at_most(caller_scope).at_most(settings_cap))
        }
    }
}

fn check_password(password: &str) -> Result<(), ValidationError> {
    if password.is_empty() || password.len() > 1024 {
        return Err(ValidationError::new("password", "must be 1 to 1024 bytes"));
    }
    Ok(())
}

/// The part of a seeded token's text that is hashed (as for a minted token).
fn seed_secret(token: &SeedToken) -> Result<&str, CoreError> {
    Ok(token_format::parse(&token.secret)
        .map_err(|e| ValidationError::new("secret", format!("not a valid token: {e}")))?
        .secret)
}

/// argon2 hashes of `secrets`, in order, computed on as many threads as there are cores (at
/// most one per secret).
fn hash_all(secrets: &[&[u8]], params: HashParams) -> Result<Vec<SecretHash>, CoreError> {
    let threads = std::thread::available_parallelism()
        .map_or(1, std::num::NonZero::get)
        .min(secrets.len());
    if threads <= 1 {
        return secrets
            .iter()
            .map(|s| Ok(SecretHash::new(s, params)?))
            .collect();
    }
    let mut slots: Vec<Option<Result<SecretHash, CoreError>>> =
        (0..secrets.len()).map(|_| None).collect();
    std::thread::scope(|scope| {
        // Thread k hashes secrets k, k + threads, …; its results go back to those places.
        let workers: Vec<_> = (0..threads)
            .map(|k| {
                scope.spawn(move || {
                    secrets
                        .iter()
                        .enumerate()
                        .skip(k)
                        .step_by(threads)
                        .map(|(i, s)| (i, SecretHash::new(s, params).map_err(CoreError::from)))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        for w in workers {
            match w.join() {
                Ok(done) => {
                    for (i, h) in done {
                        if let Some(slot) = slots.get_mut(i) {
                            *slot = Some(h);
                        }
                    }
                }
                Err(_) => return,
            }
        }
    });
    slots
        .into_iter()
        .map(|h| h.unwrap_or_else(|| Err(CoreError::Hash("a hashing thread failed".into()))))
        .collect()
}

/// How a seeded token is named in an error: its owner and its place among the owner's tokens
/// (1-based), which is its entry number under that user in a users file.
fn seed_entry(before: &[SeedToken], token: &SeedToken) -> String {
    let key = user_key(&token.owner);
    let n = before.iter().filter(|t| user_key(&t.owner) == key).count() + 1;
    format!("user '{}', token {n}", token.owner)
}

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

/// Field-by-field differences of two settings documents, keyed by JSON path.
fn diff_settings(a: &Settings, b: &Settings) -> Vec<ChangedValue> {
    let (Ok(a), Ok(b)) = (serde_json::to_value(a), serde_json::to_value(b)) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    diff_values("", &a, &b, &mut out);
    // The webhook URL may carry a secret (Slack's do, in the path): scheme and host only.
    for c in &mut out {
        if c.key == "notifications.webhookUrl" {
            for v in [&mut c.from, &mut c.to] {
                if let Ok(serde_json::Value::String(url)) = serde_json::from_str(v) {
                    *v = crate::notify::shown_url(&url);
                }
            }
        }
    }
    out
}

fn diff_values(
    path: &str,
    a: &serde_json::Value,
    b: &serde_json::Value,
    out: &mut Vec<ChangedValue>,
) {
    match (a, b) {
        (serde_json::Value::Object(x), serde_json::Value::Object(y)) => {
            for (k, va) in x {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                match y.get(k) {
                    Some(vb) => diff_values(&p, va, vb, out),
                    None => diff_values(&p, va, &serde_json::Value::Null, out),
                }
            }
        }
        _ if a != b => out.push(ChangedValue {
            key: path.to_owned(),
            from: a.to_string(),
            to: b.to_string(),
        }),
        _ => {}
    }
}
