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

/// A display name or e-mail address: shown in the app, the audit log's changed values and
/// Jira's user JSON, so bounded and free of characters that hide or reorder text.
pub fn validate_display_text(field: &str, text: &str) -> Result<(), ValidationError> {
    if text.chars().count() > 255 {
        return Err(ValidationError::new(
            field,
            "must be at most 255 characters",
        ));
    }
    if text.chars().any(crate::bounded::is_hidden) {
        return Err(ValidationError::new(
            field,
            "must not contain control, invisible or bidirectional characters",
        ));
    }
    Ok(())
}

/// At most this many groups per user: each is checked against every permission list.
pub const MAX_GROUPS: usize = 100;

/// A user's whole list of groups.
pub fn validate_groups(groups: &[String]) -> Result<(), ValidationError> {
    if groups.len() > MAX_GROUPS {
        return Err(ValidationError::new(
            "groups",
            format!("at most {MAX_GROUPS} groups per user"),
        ));
    }
    for (i, g) in groups.iter().enumerate() {
        validate_group(&format!("groups[{i}]"), g)?;
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

    #[test]
    fn display_names_are_bounded_and_plain() {
        assert!(validate_display_text("displayName", "Alice Ångström").is_ok());
        assert!(validate_display_text("displayName", "").is_ok());
        assert!(validate_display_text("displayName", &"x".repeat(256)).is_err());
        assert!(validate_display_text("displayName", "admin\u{202e}nimda").is_err());
        assert!(validate_display_text("displayName", "a\nb").is_err());
        let many: Vec<String> = (0..=MAX_GROUPS).map(|i| format!("g{i}")).collect();
        assert_eq!(validate_groups(&many).unwrap_err().field, "groups");
    }

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
