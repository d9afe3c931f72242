//! Tokens: what the actor may create, creating, rotating, renaming and revoking them (each
//! charged to the actor's audit budget before it is made), and listing them.

use std::sync::Arc;

use super::{
    Actor, NewTokenRequest, ScopeChoice, TokenAuth, TokenFilter, TokenPage, log_event, token_fields,
};
use crate::audit::{AuditAction, ChangedValue};
use crate::auth::TokenUse;
use crate::clock::{MILLIS_PER_DAY, Millis};
use crate::error::CoreError;
use crate::scope::Scope;
use crate::secret_hash::SecretHash;
use crate::store::StoreError;
use crate::token::{
    Expiry, RetiredToken, TokenPolicy, TokenRecord, TokenView, cap_expiry, resolve_expiry,
    validate_description,
};
use crate::token_format::{self, TokenId};
use crate::user::user_key;
use crate::validation::ValidationError;

impl TokenAuth {
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
            Ok(Arc::unwrap_or_clone(record))
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
