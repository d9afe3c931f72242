//! A new installation's users and fixed-secret tokens, all checked before anything is written
//! and hashed on every core at once.

use std::collections::BTreeSet;

use super::{Actor, NewUser, SeedToken, TokenAuth, log_event, token_fields};
use crate::audit::AuditAction;
use crate::error::CoreError;
use crate::secret_hash::{HashParams, SecretHash};
use crate::token::{TokenRecord, TokenView, resolve_expiry, validate_description};
use crate::token_format::{self, TokenId};
use crate::user::user_key;
use crate::validation::ValidationError;

impl TokenAuth {
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
