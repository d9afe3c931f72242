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

/// A token as JSON: `{"id", "user", "description", "scope", "createdAt", "createdBy", "expiresAt",
/// "lastUsedAt", "lastUsedIp"}` plus `"token"` only in the answer to its creation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub token: Option<String>,
}

/// What the caller may do with tokens, so a client can offer only what the server will accept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenPolicy {
    pub max_token_validity_days: u32,
    pub allow_non_expiring_tokens: bool,
    pub may_create_own_tokens: bool,
    /// Own tokens can only be Read Only.
    pub own_tokens_read_only: bool,
    pub may_create_tokens_for_others: bool,
    pub is_admin: bool,
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

/// The description rule: 1–255 characters, no control characters (it goes into log lines).
pub fn validate_description(field: &str, text: &str) -> Result<String, ValidationError> {
    let trimmed = text.trim();
    let n = trimmed.chars().count();
    if n == 0 || n > 255 {
        return Err(ValidationError::new(field, "must be 1 to 255 characters"));
    }
    if trimmed.chars().any(char::is_control) {
        return Err(ValidationError::new(
            field,
            "must not contain control characters",
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
    fn a_token_is_expired_from_its_expiry_on() {
        let t = TokenRecord {
            id: "AAAAAAAAAAAA".into(),
            owner: "alice".into(),
            description: "d".into(),
            scope: Scope::ReadOnly,
            created_at: NOW,
            created_by: "alice".into(),
            expires_at: Some(NOW + 10),
            last_used_at: None,
            last_used_ip: None,
            hash: SecretHash {
                params: Default::default(),
                salt: [0; 16],
                hash: [0; 32],
            },
        };
        assert!(!t.is_expired(NOW + 9));
        assert!(t.is_expired(NOW + 10));
        let v = serde_json::to_value(t.view()).unwrap();
        assert_eq!(v["createdAt"], "2023-11-14T22:13:20.000Z");
        assert_eq!(v["lastUsedAt"], serde_json::Value::Null);
        assert!(v.get("token").is_none());
        assert!(!v.to_string().contains("hash"));
    }
}
