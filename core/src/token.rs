//! Stored tokens, their JSON view, and the rules for a new token's description and expiry.

use serde::{Deserialize, Serialize};

use crate::clock::{MILLIS_PER_DAY, Millis, to_rfc3339};
use crate::scope::Scope;
use crate::secret_hash::SecretHash;
use crate::settings::Settings;
use crate::token_format::TokenId;
use crate::validation::ValidationError;

/// A token as the store keeps it: metadata and the argon2id hash of the secret, never the secret.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TokenRecord {
    pub id: String,
    /// The owner's name as created (compare through `user_key`).
    pub owner: String,
    pub description: String,
    pub scope: Scope,
    pub created_at: Millis,
    pub created_by: String,
    pub expires_at: Option<Millis>,
    pub last_used_at: Option<Millis>,
    pub last_used_ip: Option<String>,
    pub hash: SecretHash,
}

impl TokenRecord {
    pub fn token_id(&self) -> Option<TokenId> {
        TokenId::parse(&self.id)
    }

    /// Expired at `now` when the expiry is now or past.
    pub fn is_expired(&self, now: Millis) -> bool {
        self.expires_at.is_some_and(|e| e <= now)
    }

    /// When the token stops working under `settings`: its own expiry, but never later than the
    /// maximum validity counted from its creation, and never "never" unless the settings allow
    /// tokens that never expire. So lowering `maxTokenValidityDays` or turning off
    /// `allowNonExpiringTokens` shortens the tokens that exist, as an admin expects, instead of
    /// applying only to tokens made afterwards. Raising them lengthens nothing.
    pub fn expiry_under(&self, settings: &Settings) -> Option<Millis> {
        let cap = self
            .created_at
            .saturating_add(i64::from(settings.max_token_validity_days) * MILLIS_PER_DAY);
        match self.expires_at {
            None if settings.allow_non_expiring_tokens => None,
            None => Some(cap),
            Some(e) => Some(e.min(cap)),
        }
    }

    pub fn is_expired_under(&self, now: Millis, settings: &Settings) -> bool {
        self.expiry_under(settings).is_some_and(|e| e <= now)
    }

    /// The JSON view with the expiry that applies under `settings`.
    pub fn view_under(&self, settings: &Settings) -> TokenView {
        let mut v = self.view();
        v.expires_at = self.expiry_under(settings).map(to_rfc3339);
        v
    }

    pub fn view(&self) -> TokenView {
        TokenView {
            id: self.id.clone(),
            user: self.owner.clone(),
            description: self.description.clone(),
            scope: self.scope,
            created_at: to_rfc3339(self.created_at),
            created_by: self.created_by.clone(),
            expires_at: self.expires_at.map(to_rfc3339),
            last_used_at: self.last_used_at.map(to_rfc3339),
            last_used_ip: self.last_used_ip.clone(),
            token: None,
        }
    }
}

/// What stays of a token rotated away: enough to recognise its secret when a script that was
/// not updated presents it again, and to tell the admin which token replaced it. Never the
/// secret; the hash, as the live token had it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RetiredToken {
    pub id: String,
    pub owner: String,
    pub description: String,
    pub scope: Scope,
    /// The token that replaced this one.
    pub successor: String,
    pub retired_at: Millis,
    pub hash: SecretHash,
}

impl RetiredToken {
    /// The retired token as a record, for the verifier (which checks a secret against a
    /// record's hash); it is never stored as one.
    pub fn as_record(&self) -> TokenRecord {
        TokenRecord {
            id: self.id.clone(),
            owner: self.owner.clone(),
            description: self.description.clone(),
            scope: self.scope,
            created_at: self.retired_at,
            created_by: String::new(),
            expires_at: Some(self.retired_at),
            last_used_at: None,
            last_used_ip: None,
            hash: self.hash.clone(),
        }
    }
}

/// A token as JSON: `{"id", "user", "description", "scope", "createdAt", "createdBy", "expiresAt",
/// "lastUsedAt", "lastUsedIp"}` plus `"token"` only in the answer to its creation.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = Token, example = json!({
    "id": "t_3f9c2a", "user": "alice", "description": "CI deploy", "scope": "READ_ONLY",
    "createdAt": "2026-01-05T09:30:00Z", "createdBy": "alice", "expiresAt": "2026-02-04T09:30:00Z",
    "lastUsedAt": null, "lastUsedIp": null})))]
#[serde(rename_all = "camelCase")]
pub struct TokenView {
    pub id: String,
    pub user: String,
    pub description: String,
    pub scope: Scope,
    pub created_at: String,
    pub created_by: String,
    pub expires_at: Option<String>,
    pub last_used_at: Option<String>,
    pub last_used_ip: Option<String>,
    /// The secret, only in the answer to the token's creation (or rotation).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub token: Option<String>,
}

impl std::fmt::Debug for TokenView {
    /// Everything but the secret: a failed `assert_eq!` or a debug log must not print it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenView")
            .field("id", &self.id)
            .field("user", &self.user)
            .field("description", &self.description)
            .field("scope", &self.scope)
            .field("created_at", &self.created_at)
            .field("created_by", &self.created_by)
            .field("expires_at", &self.expires_at)
            .field("last_used_at", &self.last_used_at)
            .field("last_used_ip", &self.last_used_ip)
            .field("token", &self.token.as_ref().map(|_| "<secret>"))
            .finish()
    }
}

/// What the caller may do with tokens, so a client can offer only what the server will accept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct TokenPolicy {
    pub max_token_validity_days: u32,
    pub allow_non_expiring_tokens: bool,
    pub may_create_own_tokens: bool,
    /// Own tokens can only be Read Only.
    pub own_tokens_read_only: bool,
    pub may_create_tokens_for_others: bool,
    pub is_admin: bool,
    /// How many tokens one user may hold.
    #[serde(default)]
    pub max_tokens_per_user: u32,
    /// When the caller authenticated with a token: a token it makes expires no later than this
    /// (RFC 3339). `None`: no such limit.
    #[serde(default)]
    pub expires_no_later_than: Option<String>,
}

/// How long a new token lives, as asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expiry {
    /// Not stated: the maximum validity the settings allow.
    Default,
    Days(u32),
    At(Millis),
    Never,
}

/// Caps a resolved expiry at the expiry of the token the request authenticated with (`cap`,
/// `None` when it never expires): a token never mints one that outlives it. An expiry that was
/// not asked for is lowered to the cap; one that was asked for beyond it is refused.
pub fn cap_expiry(
    expiry: Expiry,
    resolved: Option<Millis>,
    cap: Option<Millis>,
) -> Result<Option<Millis>, ValidationError> {
    let Some(cap) = cap else {
        return Ok(resolved);
    };
    if resolved.is_some_and(|r| r <= cap) {
        return Ok(resolved);
    }
    let field = match expiry {
        Expiry::Default => return Ok(Some(cap)),
        Expiry::Days(_) => "validityDays",
        Expiry::At(_) => "expiresAt",
        Expiry::Never => "neverExpires",
    };
    Err(ValidationError::new(
        field,
        format!(
            "a token made with a token cannot outlive it: the token you authenticated with \
             expires at {}",
            to_rfc3339(cap)
        ),
    ))
}

/// The description rule: 1–255 characters, none of them hidden (controls, line separators,
/// zero-width or bidi characters: it goes into log lines, and into an admin's confirmation
/// dialog, where a reversed run of text could make it read as something else).
pub fn validate_description(field: &str, text: &str) -> Result<String, ValidationError> {
    let trimmed = text.trim();
    let n = trimmed.chars().count();
    if n == 0 || n > 255 {
        return Err(ValidationError::new(field, "must be 1 to 255 characters"));
    }
    if trimmed.chars().any(crate::bounded::is_hidden) {
        return Err(ValidationError::new(
            field,
            "must not contain control, zero-width or text-direction characters",
        ));
    }
    Ok(trimmed.to_owned())
}

/// Turns the requested expiry into a time, within the settings' maximum.
pub fn resolve_expiry(
    expiry: Expiry,
    settings: &Settings,
    now: Millis,
) -> Result<Option<Millis>, ValidationError> {
    let max_days = settings.max_token_validity_days;
    let max_at = now.saturating_add(i64::from(max_days) * MILLIS_PER_DAY);
    match expiry {
        Expiry::Default => Ok(Some(max_at)),
        Expiry::Never if settings.allow_non_expiring_tokens => Ok(None),
        Expiry::Never => Err(ValidationError::new(
            "neverExpires",
            "tokens that never expire are not allowed by the settings",
        )),
        Expiry::Days(0) => Err(ValidationError::new(
            "validityDays",
            "must be at least 1 day",
        )),
        Expiry::Days(d) if d > max_days => Err(ValidationError::new(
            "validityDays",
            format!("exceeds the maximum token validity of {max_days} days"),
        )),
        Expiry::Days(d) => Ok(Some(now.saturating_add(i64::from(d) * MILLIS_PER_DAY))),
        Expiry::At(t) if t <= now => {
            Err(ValidationError::new("expiresAt", "must be in the future"))
        }
        Expiry::At(t) if t > max_at => Err(ValidationError::new(
            "expiresAt",
            format!("exceeds the maximum token validity of {max_days} days"),
        )),
        Expiry::At(t) => Ok(Some(t)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: Millis = 1_700_000_000_000;

    #[test]
    fn descriptions_are_1_to_255_printable_characters() {
        assert_eq!(
            validate_description("d", "  ci deploy ").unwrap(),
            "ci deploy"
        );
        assert!(validate_description("d", "").is_err());
        assert!(validate_description("d", "   ").is_err());
        assert!(validate_description("d", &"é".repeat(255)).is_ok());
        assert!(validate_description("d", &"é".repeat(256)).is_err());
        assert!(validate_description("d", "line\nbreak").is_err());
        assert!(validate_description("d", "deploy \u{202E}gnp.exe").is_err());
        assert!(validate_description("d", "zero\u{200B}width").is_err());
    }

    #[test]
    fn by_default_a_token_lives_the_maximum_validity() {
        let s = Settings::default();
        assert_eq!(
            resolve_expiry(Expiry::Default, &s, NOW).unwrap(),
            Some(NOW + 365 * MILLIS_PER_DAY)
        );
    }

    #[test]
    fn validity_beyond_the_maximum_is_refused() {
        let s = Settings::default();
        assert!(resolve_expiry(Expiry::Days(365), &s, NOW).is_ok());
        assert_eq!(
            resolve_expiry(Expiry::Days(366), &s, NOW)
                .unwrap_err()
                .field,
            "validityDays"
        );
        assert!(resolve_expiry(Expiry::Days(0), &s, NOW).is_err());
        assert!(resolve_expiry(Expiry::At(NOW + 365 * MILLIS_PER_DAY), &s, NOW).is_ok());
        assert!(resolve_expiry(Expiry::At(NOW + 365 * MILLIS_PER_DAY + 1), &s, NOW).is_err());
        assert!(resolve_expiry(Expiry::At(NOW), &s, NOW).is_err());
    }

    #[test]
    fn never_expiring_tokens_only_when_the_settings_allow() {
        let mut s = Settings::default();
        assert!(resolve_expiry(Expiry::Never, &s, NOW).is_err());
        s.allow_non_expiring_tokens = true;
        assert_eq!(resolve_expiry(Expiry::Never, &s, NOW).unwrap(), None);
    }

    #[test]
    fn h1_a_token_made_with_a_token_never_outlives_it() {
        let cap = Some(NOW + 10 * MILLIS_PER_DAY);
        let in_a_year = Some(NOW + 365 * MILLIS_PER_DAY);
        assert_eq!(cap_expiry(Expiry::Default, in_a_year, cap).unwrap(), cap);
        assert_eq!(
            cap_expiry(Expiry::Days(5), Some(NOW + 5 * MILLIS_PER_DAY), cap).unwrap(),
            Some(NOW + 5 * MILLIS_PER_DAY)
        );
        assert_eq!(
            cap_expiry(Expiry::Days(365), in_a_year, cap)
                .unwrap_err()
                .field,
            "validityDays"
        );
        assert_eq!(
            cap_expiry(Expiry::Never, None, cap).unwrap_err().field,
            "neverExpires"
        );
        // A caller whose token never expires, or who used a password: no cap.
        assert_eq!(cap_expiry(Expiry::Never, None, None).unwrap(), None);
    }

    #[test]
    fn l10_lowering_the_maximum_validity_shortens_existing_tokens() {
        let mut t = record(Some(NOW + 300 * MILLIS_PER_DAY));
        let mut s = Settings::default();
        assert_eq!(t.expiry_under(&s), Some(NOW + 300 * MILLIS_PER_DAY));
        s.max_token_validity_days = 30;
        assert_eq!(t.expiry_under(&s), Some(NOW + 30 * MILLIS_PER_DAY));
        assert!(t.is_expired_under(NOW + 30 * MILLIS_PER_DAY, &s));
        assert!(!t.is_expired(NOW + 30 * MILLIS_PER_DAY));
        // A token that never expires lives the maximum validity once such tokens are turned off.
        t.expires_at = None;
        assert_eq!(t.expiry_under(&s), Some(NOW + 30 * MILLIS_PER_DAY));
        s.allow_non_expiring_tokens = true;
        assert_eq!(t.expiry_under(&s), None);
        assert_eq!(
            t.view_under(&Settings::default()).expires_at.as_deref(),
            Some(to_rfc3339(NOW + 365 * MILLIS_PER_DAY).as_str())
        );
    }

    fn record(expires_at: Option<Millis>) -> TokenRecord {
        TokenRecord {
            id: "AAAAAAAAAAAA".into(),
            owner: "alice".into(),
            description: "d".into(),
            scope: Scope::ReadOnly,
            created_at: NOW,
            created_by: "alice".into(),
            expires_at,
            last_used_at: None,
            last_used_ip: None,
            hash: SecretHash {
                params: Default::default(),
                salt: [0; 16],
                hash: [0; 32],
            },
        }
    }

    #[test]
    fn a_token_is_expired_from_its_expiry_on() {
        let t = record(Some(NOW + 10));
        assert!(!t.is_expired(NOW + 9));
        assert!(t.is_expired(NOW + 10));
        let v = serde_json::to_value(t.view()).unwrap();
        assert_eq!(v["createdAt"], "2023-11-14T22:13:20.000Z");
        assert_eq!(v["lastUsedAt"], serde_json::Value::Null);
        assert!(v.get("token").is_none());
        assert!(!v.to_string().contains("hash"));
    }
}
