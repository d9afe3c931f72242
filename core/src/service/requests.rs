//! What the operations are asked (a new token, user, fixture token, a change of a user, a
//! listing's filters) and what a listing answers.

use crate::scope::Scope;
use crate::token::{Expiry, TokenView};

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
///
/// [`token_format`]: crate::token_format
/// [`token_format::generate`]: crate::token_format::generate
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
