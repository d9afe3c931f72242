//! Users: the login name (unique, case-insensitive like Jira's), groups, the active flag and an
//! argon2id password hash.

use serde::{Deserialize, Serialize};

use crate::secret_hash::SecretHash;
use crate::validation::ValidationError;

pub const DEFAULT_ADMIN_GROUP: &str = "jira-administrators";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct User {
    /// The login as it was created; compare through [`user_key`].
    pub name: String,
    pub display_name: String,
    pub email: String,
    pub active: bool,
    pub groups: Vec<String>,
    pub password: Option<SecretHash>,
    /// Failed attempts since the last successful password login or admin reset.
    pub failed_logins: u32,
}

impl User {
    /// The stable key Jira reports as `key`: the lower-cased name.
    pub fn key(&self) -> String {
        user_key(&self.name)
    }

    pub fn in_group(&self, group: &str) -> bool {
        self.groups.iter().any(|g| g.eq_ignore_ascii_case(group))
    }
}

/// Names are unique regardless of case: `Alice` and `alice` are the same user.
pub fn user_key(name: &str) -> String {
    name.to_lowercase()
}

/// A login usable in HTTP Basic auth and as a store key.
pub fn validate_name(field: &str, name: &str) -> Result<(), ValidationError> {
    if name.is_empty() || name.chars().count() > 255 {
        return Err(ValidationError::new(field, "must be 1 to 255 characters"));
    }
    if name.trim() != name {
        return Err(ValidationError::new(
            field,
            "must not start or end with whitespace",
        ));
    }
    if name.contains(':') {
        return Err(ValidationError::new(
            field,
            "must not contain ':' (it separates user and secret in Basic auth)",
        ));
    }
    if name.chars().any(char::is_control) || name.contains('/') {
        return Err(ValidationError::new(
            field,
            "must not contain control characters or '/'",
        ));
    }
    Ok(())
}

pub fn validate_group(field: &str, group: &str) -> Result<(), ValidationError> {
    if group.trim().is_empty() || group.chars().count() > 255 || group.chars().any(char::is_control)
    {
        return Err(ValidationError::new(
            field,
            "a group name must be 1 to 255 printable characters",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alice() -> User {
        User {
            name: "Alice".into(),
            display_name: "Alice A".into(),
            email: "alice@example.com".into(),
            active: true,
            groups: vec!["jira-users".into()],
            password: None,
            failed_logins: 0,
        }
    }

    #[test]
    fn names_are_case_insensitive() {
        assert_eq!(alice().key(), "alice");
        assert_eq!(user_key("ALICE"), user_key("alice"));
    }

    #[test]
    fn group_membership_ignores_case() {
        assert!(alice().in_group("JIRA-USERS"));
        assert!(!alice().in_group("jira-administrators"));
    }

    #[test]
    fn names_that_would_break_basic_auth_or_keys_are_refused() {
        assert!(validate_name("name", "alice").is_ok());
        assert!(validate_name("name", "").is_err());
        assert!(validate_name("name", "a:b").is_err());
        assert!(validate_name("name", " a").is_err());
        assert!(validate_name("name", "a\nb").is_err());
        assert!(validate_name("name", "a/b").is_err());
        assert_eq!(
            validate_name("users[0].name", "a:b").unwrap_err().field,
            "users[0].name"
        );
    }
}
