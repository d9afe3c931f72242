//! Who may use and create tokens: each permission is "everyone" or a set of groups.

use serde::{Deserialize, Serialize};

use crate::user::User;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GroupRule {
    #[serde(default)]
    pub everyone: bool,
    #[serde(default)]
    pub groups: Vec<String>,
}

impl GroupRule {
    pub fn everyone() -> Self {
        Self {
            everyone: true,
            groups: Vec::new(),
        }
    }
    pub fn groups(groups: &[&str]) -> Self {
        Self {
            everyone: false,
            groups: groups.iter().map(|g| (*g).to_owned()).collect(),
        }
    }
    pub fn allows(&self, user: &User) -> bool {
        self.everyone || self.groups.iter().any(|g| user.in_group(g))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Permissions {
    pub use_tokens: GroupRule,
    pub create_own_tokens: GroupRule,
    pub create_tokens_for_others: GroupRule,
    pub force_read_only_own_tokens: bool,
}

impl Default for Permissions {
    fn default() -> Self {
        Self {
            use_tokens: GroupRule::everyone(),
            create_own_tokens: GroupRule::everyone(),
            create_tokens_for_others: GroupRule::groups(&[crate::user::DEFAULT_ADMIN_GROUP]),
            force_read_only_own_tokens: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(groups: &[&str]) -> User {
        User {
            name: "u".into(),
            display_name: String::new(),
            email: String::new(),
            active: true,
            groups: groups.iter().map(|g| (*g).to_owned()).collect(),
            password: None,
            failed_logins: 0,
        }
    }

    #[test]
    fn everyone_allows_a_user_in_no_group() {
        assert!(GroupRule::everyone().allows(&user(&[])));
    }

    #[test]
    fn a_group_rule_allows_members_only_ignoring_case() {
        let rule = GroupRule::groups(&["Developers"]);
        assert!(rule.allows(&user(&["developers"])));
        assert!(!rule.allows(&user(&["jira-users"])));
        assert!(!GroupRule::groups(&[]).allows(&user(&["x"])));
    }

    #[test]
    fn defaults_let_everyone_use_and_create_and_admins_create_for_others() {
        let p = Permissions::default();
        let plain = user(&["jira-users"]);
        let admin = user(&["jira-administrators"]);
        assert!(p.use_tokens.allows(&plain));
        assert!(p.create_own_tokens.allows(&plain));
        assert!(!p.create_tokens_for_others.allows(&plain));
        assert!(p.create_tokens_for_others.allows(&admin));
        assert!(!p.force_read_only_own_tokens);
    }
}
