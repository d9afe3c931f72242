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

    /// Group names compare like user names: regardless of case, in every script.
    pub fn in_group(&self, group: &str) -> bool {
        self.groups.iter().any(|g| same_user(g, group))
    }
}

/// Names are unique regardless of case: `Alice` and `alice` are the same user.
pub fn user_key(name: &str) -> String {
    name.to_lowercase()
}

/// Whether two names are the same user: `user_key(a) == user_key(b)`, the comparison every
/// index and lookup uses, without allocating for the common ASCII case.
pub fn same_user(a: &str, b: &str) -> bool {
    if a.is_ascii() && b.is_ascii() {
        a.eq_ignore_ascii_case(b)
    } else {
        a.to_lowercase() == b.to_lowercase()
    }
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
    fn l9_non_ascii_names_and_groups_match_in_any_case_as_the_index_does() {
        assert!(same_user("ÉMILIE", "émilie"));
        assert_eq!(user_key("ÉMILIE"), user_key("émilie"));
        assert!(!same_user("émilie", "emilie"));
        let mut u = alice();
        u.groups = vec!["Équipe".into()];
        assert!(u.in_group("ÉQUIPE"));
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
