//! The admin's settings: the document of `GET/PUT /rest/tokenauth/1/admin/settings`, its
//! defaults, and its validation as a whole.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::ip::{IpSet, parse_entries};
use crate::permission::{GroupRule, Permissions};
use crate::user::{DEFAULT_ADMIN_GROUP, validate_group};
use crate::validation::ValidationError;

pub const MAX_VALIDITY_DAYS_LIMIT: u32 = 36_500;
/// The highest `maxTokensPerUser` an admin may set.
pub const MAX_TOKENS_PER_USER_LIMIT: u32 = 10_000;
pub const DEFAULT_MAX_TOKENS_PER_USER: u32 = 100;

fn default_max_tokens_per_user() -> u32 {
    DEFAULT_MAX_TOKENS_PER_USER
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Settings {
    pub ip_allow_list: Vec<String>,
    pub trusted_proxies: Vec<String>,
    pub password_auth_enabled: bool,
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 36500))]
    pub max_token_validity_days: u32,
    pub allow_non_expiring_tokens: bool,
    pub permissions: Permissions,
    pub audit: AuditSettings,
    pub max_failed_logins: u32,
    /// Requests per user per minute; `null`: no limit.
    #[cfg_attr(feature = "openapi", schema(minimum = 1))]
    pub rate_limit_per_minute: Option<u32>,
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 255))]
    pub admin_group: String,
    /// How many tokens one user may hold (expired ones count until deleted): each token is a
    /// stored hash and an fsync'd write, so an unbounded number is a way to fill the disk.
    /// Settings stored before this field existed get the default.
    #[serde(default = "default_max_tokens_per_user")]
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 10000))]
    pub max_tokens_per_user: u32,
    /// Expiry notices to a webhook (SPEC §9). Settings stored before it existed get none.
    #[serde(default)]
    pub notifications: NotificationSettings,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AuditSettings {
    /// (1) successful authentication.
    pub successful_authentication: bool,
    /// (2a) failed API-token attempts; only while passwords are disabled.
    pub failed_token_attempts: bool,
    /// (2b) all failed authentication attempts.
    pub all_failed_attempts: bool,
    /// (3) permission denied.
    pub permission_denied: bool,
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 36500))]
    pub retention_days: u32,
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 1000000000))]
    pub max_events: u64,
}

impl Default for AuditSettings {
    fn default() -> Self {
        Self {
            successful_authentication: false,
            failed_token_attempts: false,
            all_failed_attempts: false,
            permission_denied: false,
            retention_days: 90,
            max_events: 1_000_000,
        }
    }
}

pub const MAX_URL_LEN: usize = 2048;
pub const MAX_THRESHOLDS: usize = 10;

/// `notifications` in the settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NotificationSettings {
    /// Where notices are POSTed; `None`: no notices.
    #[cfg_attr(
        feature = "openapi",
        schema(max_length = 2048, pattern = "^https?://[^/\\s]")
    )]
    pub webhook_url: Option<String>,
    /// How many days before expiry a notice goes out, one per threshold (1–365 days, none twice).
    #[cfg_attr(feature = "openapi", schema(min_items = 1, max_items = 10, inline))]
    pub days_before: Vec<u32>,
}

impl Default for NotificationSettings {
    fn default() -> Self {
        Self {
            webhook_url: None,
            days_before: vec![7, 1],
        }
    }
}

impl NotificationSettings {
    pub fn validate(&self) -> Result<(), ValidationError> {
        if let Some(url) = &self.webhook_url {
            validate_url(url)?;
        }
        if self.days_before.is_empty() || self.days_before.len() > MAX_THRESHOLDS {
            return Err(ValidationError::new(
                "notifications.daysBefore",
                format!("must hold 1 to {MAX_THRESHOLDS} thresholds"),
            ));
        }
        let mut seen = std::collections::BTreeSet::new();
        for d in &self.days_before {
            if !(1..=365).contains(d) || !seen.insert(*d) {
                return Err(ValidationError::new(
                    "notifications.daysBefore",
                    "each threshold is 1 to 365 days, none twice",
                ));
            }
        }
        Ok(())
    }
}

fn validate_url(url: &str) -> Result<(), ValidationError> {
    let field = "notifications.webhookUrl";
    if url.len() > MAX_URL_LEN {
        return Err(ValidationError::new(
            field,
            format!("at most {MAX_URL_LEN} characters"),
        ));
    }
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .ok_or_else(|| ValidationError::new(field, "must start with https:// or http://"))?;
    if rest.is_empty()
        || rest.starts_with('/')
        || url.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(ValidationError::new(field, "is not a URL"));
    }
    Ok(())
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            ip_allow_list: Vec::new(),
            trusted_proxies: Vec::new(),
            password_auth_enabled: true,
            max_token_validity_days: 365,
            allow_non_expiring_tokens: false,
            permissions: Permissions::default(),
            audit: AuditSettings::default(),
            max_failed_logins: 3,
            rate_limit_per_minute: None,
            admin_group: DEFAULT_ADMIN_GROUP.to_owned(),
            max_tokens_per_user: DEFAULT_MAX_TOKENS_PER_USER,
            notifications: NotificationSettings::default(),
        }
    }
}

/// Settings that passed validation, with the address sets compiled for lookups.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Policy {
    pub settings: Settings,
    pub allow_list: IpSet,
    pub trusted_proxies: IpSet,
}

impl Settings {
    /// Checks the whole document. `known_groups` are the groups some user belongs to (lower
    /// case); a group in a permission that nobody has is refused, as a typo is likelier than intent.
    pub fn validate(&self, known_groups: &BTreeSet<String>) -> Result<Policy, ValidationError> {
        let allow = parse_entries("ipAllowList", &self.ip_allow_list)?;
        let trusted = parse_entries("trustedProxies", &self.trusted_proxies)?;
        if !(1..=MAX_VALIDITY_DAYS_LIMIT).contains(&self.max_token_validity_days) {
            return Err(ValidationError::new(
                "maxTokenValidityDays",
                format!("must be between 1 and {MAX_VALIDITY_DAYS_LIMIT} days"),
            ));
        }
        if self.audit.failed_token_attempts && self.password_auth_enabled {
            return Err(ValidationError::new(
                "audit.failedTokenAttempts",
                "is only available while Basic auth with passwords is disabled \
                 (passwordAuthEnabled: false); use audit.allFailedAttempts instead",
            ));
        }
        if !(1..=MAX_VALIDITY_DAYS_LIMIT).contains(&self.audit.retention_days) {
            return Err(ValidationError::new(
                "audit.retentionDays",
                format!("must be between 1 and {MAX_VALIDITY_DAYS_LIMIT} days"),
            ));
        }
        if !(1..=1_000_000_000).contains(&self.audit.max_events) {
            return Err(ValidationError::new(
                "audit.maxEvents",
                "must be between 1 and 1000000000",
            ));
        }
        if !(1..=MAX_TOKENS_PER_USER_LIMIT).contains(&self.max_tokens_per_user) {
            return Err(ValidationError::new(
                "maxTokensPerUser",
                format!("must be between 1 and {MAX_TOKENS_PER_USER_LIMIT}"),
            ));
        }
        if self.rate_limit_per_minute == Some(0) {
            return Err(ValidationError::new(
                "rateLimitPerMinute",
                "must be at least 1, or null for no limit",
            ));
        }
        validate_group("adminGroup", &self.admin_group)?;
        self.notifications.validate()?;
        let p = &self.permissions;
        for (field, rule) in [
            ("permissions.useTokens", &p.use_tokens),
            ("permissions.createOwnTokens", &p.create_own_tokens),
            (
                "permissions.createTokensForOthers",
                &p.create_tokens_for_others,
            ),
        ] {
            validate_rule(field, rule, known_groups, &self.admin_group)?;
        }
        Ok(Policy {
            allow_list: IpSet::new(&allow),
            trusted_proxies: IpSet::new(&trusted),
            settings: self.clone(),
        })
    }

    /// Overlays a (possibly partial) JSON document on these settings: objects merge key by key,
    /// anything else replaces. A `PUT` of `{"passwordAuthEnabled": false}` therefore changes that
    /// one field and keeps the allow-list, instead of silently resetting it.
    pub fn patched(&self, patch: &serde_json::Value) -> Result<Settings, ValidationError> {
        if !patch.is_object() {
            return Err(ValidationError::new(
                "",
                "the settings must be a JSON object",
            ));
        }
        let mut doc = serde_json::to_value(self)
            .map_err(|e| ValidationError::new("", format!("cannot encode settings: {e}")))?;
        merge(&mut doc, patch);
        serde_json::from_value(doc).map_err(|e| ValidationError::new(field_of(&e), e.to_string()))
    }

    /// The smallest partial document that turns `base` into these settings (what a client
    /// sends in a `PUT`): objects hold only the keys that changed, anything else is replaced
    /// whole. Sending only what changed keeps a concurrent change of another field by another
    /// admin, instead of silently reverting it.
    pub fn patch_from(&self, base: &Settings) -> serde_json::Value {
        match (serde_json::to_value(base), serde_json::to_value(self)) {
            (Ok(a), Ok(b)) => changed(&a, &b).unwrap_or_else(|| serde_json::json!({})),
            _ => serde_json::json!({}),
        }
    }

    pub fn is_admin(&self, user: &crate::user::User) -> bool {
        user.in_group(&self.admin_group)
    }
}

fn validate_rule(
    field: &str,
    rule: &GroupRule,
    known: &BTreeSet<String>,
    admin_group: &str,
) -> Result<(), ValidationError> {
    for (i, g) in rule.groups.iter().enumerate() {
        let f = format!("{field}.groups[{i}]");
        validate_group(&f, g)?;
        let lower = g.to_lowercase();
        if !known.contains(&lower) && !lower.eq_ignore_ascii_case(admin_group) {
            return Err(ValidationError::new(f, format!("unknown group '{g}'")));
        }
    }
    Ok(())
}

/// What of `b` differs from `a`, as a merge patch; `None` when nothing does.
fn changed(a: &serde_json::Value, b: &serde_json::Value) -> Option<serde_json::Value> {
    match (a, b) {
        (serde_json::Value::Object(x), serde_json::Value::Object(y)) => {
            let diff: serde_json::Map<String, serde_json::Value> = y
                .iter()
                .filter_map(|(k, vb)| match x.get(k) {
                    Some(va) => changed(va, vb).map(|d| (k.clone(), d)),
                    None => Some((k.clone(), vb.clone())),
                })
                .collect();
            (!diff.is_empty()).then_some(serde_json::Value::Object(diff))
        }
        _ if a == b => None,
        _ => Some(b.clone()),
    }
}

fn merge(doc: &mut serde_json::Value, patch: &serde_json::Value) {
    match (doc, patch) {
        (serde_json::Value::Object(d), serde_json::Value::Object(p)) => {
            for (k, v) in p {
                match d.get_mut(k) {
                    Some(existing) if existing.is_object() && v.is_object() => merge(existing, v),
                    _ => {
                        d.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (d, p) => *d = p.clone(),
    }
}

/// serde names unknown fields and type errors in its message only; pull the field name out so
/// the client can show the error next to it.
fn field_of(e: &serde_json::Error) -> String {
    let msg = e.to_string();
    for marker in ["unknown field `", "missing field `"] {
        if let Some(rest) = msg.split(marker).nth(1)
            && let Some(name) = rest.split('`').next()
        {
            return name.to_owned();
        }
    }
    String::new()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn groups(g: &[&str]) -> BTreeSet<String> {
        g.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn the_defaults_are_the_specs() {
        let s = Settings::default();
        let doc = serde_json::to_value(&s).unwrap();
        assert_eq!(
            doc,
            json!({
                "ipAllowList": [], "trustedProxies": [], "passwordAuthEnabled": true,
                "maxTokenValidityDays": 365, "allowNonExpiringTokens": false,
                "permissions": {
                    "useTokens": {"everyone": true, "groups": []},
                    "createOwnTokens": {"everyone": true, "groups": []},
                    "createTokensForOthers": {"everyone": false, "groups": ["jira-administrators"]},
                    "forceReadOnlyOwnTokens": false
                },
                "audit": {"successfulAuthentication": false, "failedTokenAttempts": false,
                    "allFailedAttempts": false, "permissionDenied": false,
                    "retentionDays": 90, "maxEvents": 1000000},
                "maxFailedLogins": 3, "rateLimitPerMinute": null,
                "adminGroup": "jira-administrators", "maxTokensPerUser": 100,
                "notifications": {"webhookUrl": null, "daysBefore": [7, 1]}
            })
        );
        assert!(s.validate(&groups(&[])).is_ok());
    }

    #[test]
    fn an_invalid_cidr_is_refused_naming_its_position() {
        let s = Settings {
            ip_allow_list: vec!["10.0.0.0/8".into(), "10.0.0.0/40".into()],
            ..Settings::default()
        };
        assert_eq!(
            s.validate(&groups(&[])).unwrap_err().field,
            "ipAllowList[1]"
        );
        let s = Settings {
            trusted_proxies: vec!["proxy.local".into()],
            ..Settings::default()
        };
        assert_eq!(
            s.validate(&groups(&[])).unwrap_err().field,
            "trustedProxies[0]"
        );
    }

    #[test]
    fn option_2a_is_only_available_while_passwords_are_disabled() {
        let mut s = Settings::default();
        s.audit.failed_token_attempts = true;
        assert_eq!(
            s.validate(&groups(&[])).unwrap_err().field,
            "audit.failedTokenAttempts"
        );
        s.password_auth_enabled = false;
        assert!(s.validate(&groups(&[])).is_ok());
    }

    #[test]
    fn an_unknown_group_is_refused() {
        let mut s = Settings::default();
        s.permissions.use_tokens = GroupRule::groups(&["developers"]);
        assert_eq!(
            s.validate(&groups(&["jira-users"])).unwrap_err().field,
            "permissions.useTokens.groups[0]"
        );
        assert!(s.validate(&groups(&["developers"])).is_ok());
    }

    #[test]
    fn numeric_bounds_are_enforced() {
        for (patch, field) in [
            (json!({"maxTokenValidityDays": 0}), "maxTokenValidityDays"),
            (
                json!({"maxTokenValidityDays": 36501}),
                "maxTokenValidityDays",
            ),
            (
                json!({"audit": {"retentionDays": 0}}),
                "audit.retentionDays",
            ),
            (json!({"audit": {"maxEvents": 0}}), "audit.maxEvents"),
            (json!({"rateLimitPerMinute": 0}), "rateLimitPerMinute"),
            (json!({"maxTokensPerUser": 0}), "maxTokensPerUser"),
            (json!({"maxTokensPerUser": 10001}), "maxTokensPerUser"),
            (json!({"adminGroup": " "}), "adminGroup"),
        ] {
            let s = Settings::default().patched(&patch).unwrap();
            assert_eq!(
                s.validate(&groups(&[])).unwrap_err().field,
                field,
                "{patch}"
            );
        }
    }

    #[test]
    fn settings_stored_before_the_token_cap_existed_get_the_default_cap() {
        let mut doc = serde_json::to_value(Settings::default()).unwrap();
        doc.as_object_mut().unwrap().remove("maxTokensPerUser");
        let s: Settings = serde_json::from_value(doc).unwrap();
        assert_eq!(s.max_tokens_per_user, 100);
    }

    #[test]
    fn a_patch_holds_only_what_changed_and_turns_the_base_into_the_settings() {
        let base = Settings::default();
        let mut next = base.clone();
        next.audit.permission_denied = true;
        next.ip_allow_list = vec!["10.0.0.0/8".into()];
        let patch = next.patch_from(&base);
        assert_eq!(
            patch,
            json!({"ipAllowList": ["10.0.0.0/8"], "audit": {"permissionDenied": true}})
        );
        assert_eq!(base.patched(&patch).unwrap(), next);
        assert_eq!(base.patch_from(&base), json!({}));
    }

    #[test]
    fn a_partial_document_changes_only_what_it_names() {
        let base = Settings {
            ip_allow_list: vec!["10.0.0.0/8".into()],
            ..Settings::default()
        };
        let s = base
            .patched(&json!({"passwordAuthEnabled": false, "audit": {"permissionDenied": true}}))
            .unwrap();
        assert!(!s.password_auth_enabled);
        assert!(s.audit.permission_denied);
        assert_eq!(s.audit.retention_days, 90);
        assert_eq!(s.ip_allow_list, vec!["10.0.0.0/8".to_string()]);
    }

    #[test]
    fn unknown_fields_and_wrong_types_are_refused_with_their_name() {
        let e = Settings::default()
            .patched(&json!({"ipAllowlist": []}))
            .unwrap_err();
        assert_eq!(e.field, "ipAllowlist");
        assert!(
            Settings::default()
                .patched(&json!({"passwordAuthEnabled": "yes"}))
                .is_err()
        );
        assert!(Settings::default().patched(&json!([1, 2])).is_err());
    }
}
