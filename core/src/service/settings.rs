//! The settings: reading them, and changing them with the anti-lockout rule (SPEC section 2)
//! and an audit event naming every changed field.

use std::sync::Arc;

use super::{Actor, TokenAuth, known_groups, log_event};
use crate::audit::{AuditAction, ChangedValue};
use crate::error::CoreError;
use crate::ip::resolve_client;
use crate::scope::Scope;
use crate::settings::{Policy, Settings};
use crate::user::User;

impl TokenAuth {
    pub fn settings(&self) -> Settings {
        self.policy().settings.clone()
    }

    /// Applies a (partial) settings document. Refused with the field named when invalid, and as
    /// a conflict when it would lock out the admin sending it, unless `force`.
    pub fn update_settings(
        &self,
        actor: &Actor,
        patch: &serde_json::Value,
        force: bool,
    ) -> Result<Settings, CoreError> {
        if !self.is_admin_actor(actor) {
            return Err(CoreError::Forbidden("administrators only".into()));
        }
        let current = self.settings();
        let next = current.patched(patch)?;
        let policy = next.validate(&known_groups(&self.store.users()?))?;
        if !force && !actor.system {
            self.check_lockout(actor, &current, &policy)?;
        }
        let mut event = self.event(actor, AuditAction::SettingsChanged, None);
        event.changed_values = diff_settings(&current, &next);
        if event.changed_values.is_empty() {
            return Ok(current);
        }
        self.store.put_settings(&next, Some(event.clone()))?;
        if let Ok(mut slot) = self.policy.write() {
            *slot = Arc::new(policy);
        }
        log_event(&event);
        Ok(next)
    }

    /// Refuses a change that would lock out the admin who sends it (SPEC section 2): their own
    /// address must stay allowed, resolved under the *new* trusted proxies; they must keep a way
    /// to sign in (a password while passwords stay on, or a Read & Write token they may still
    /// use); and they must stay an admin.
    fn check_lockout(
        &self,
        actor: &Actor,
        _current: &Settings,
        next: &Policy,
    ) -> Result<(), CoreError> {
        let client = match &actor.source {
            Some(src) => Some(resolve_client(
                src.peer,
                src.forwarded_for.as_deref(),
                &next.trusted_proxies,
            )),
            None => actor.client,
        };
        if let Some(client) = client
            && !next.allow_list.is_empty()
            && (client.forwarded_for_malformed || !next.allow_list.contains(client.client))
        {
            return Err(CoreError::Conflict(format!(
                "the IP allow-list would exclude your own address {}; send with ?force=true to apply anyway",
                client.client
            )));
        }
        let s = &next.settings;
        if !self.keeps_a_way_in(&actor.user, s)? {
            let why = if actor.used_password() && !s.password_auth_enabled {
                "disabling passwords would lock you out: you signed in with a password and hold \
                 no Read & Write API token you may use; create one first or send with ?force=true"
            } else {
                "this change would lock you out: you would have no password you may use and no \
                 Read & Write API token you may use; send with ?force=true to apply anyway"
            };
            return Err(CoreError::Conflict(why.into()));
        }
        if !s.is_admin(&actor.user) {
            return Err(CoreError::Conflict(format!(
                "you are not in the new admin group '{}' and would lose admin rights; send with ?force=true to apply anyway",
                s.admin_group
            )));
        }
        Ok(())
    }

    /// Whether `user` can still sign in and administer under `settings`: with a password while
    /// passwords are enabled, or with a Read & Write token that has not expired and that the
    /// *use tokens* permission lets them use (a Read Only token cannot change anything).
    fn keeps_a_way_in(&self, user: &User, settings: &Settings) -> Result<bool, CoreError> {
        if settings.password_auth_enabled && user.password.is_some() {
            return Ok(true);
        }
        if !settings.permissions.use_tokens.allows(user) {
            return Ok(false);
        }
        let now = self.now();
        Ok(self
            .store
            .tokens_of(&user.key())?
            .iter()
            .any(|t| t.scope == Scope::ReadWrite && !t.is_expired_under(now, settings)))
    }
}

/// Field-by-field differences of two settings documents, keyed by JSON path.
fn diff_settings(a: &Settings, b: &Settings) -> Vec<ChangedValue> {
    let (Ok(a), Ok(b)) = (serde_json::to_value(a), serde_json::to_value(b)) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    diff_values("", &a, &b, &mut out);
    // The webhook URL may carry a secret (Slack's do, in the path): scheme and host only.
    for c in &mut out {
        if c.key == "notifications.webhookUrl" {
            for v in [&mut c.from, &mut c.to] {
                if let Ok(serde_json::Value::String(url)) = serde_json::from_str(v) {
                    *v = crate::notify::shown_url(&url);
                }
            }
        }
    }
    out
}

fn diff_values(
    path: &str,
    a: &serde_json::Value,
    b: &serde_json::Value,
    out: &mut Vec<ChangedValue>,
) {
    match (a, b) {
        (serde_json::Value::Object(x), serde_json::Value::Object(y)) => {
            for (k, va) in x {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                match y.get(k) {
                    Some(vb) => diff_values(&p, va, vb, out),
                    None => diff_values(&p, va, &serde_json::Value::Null, out),
                }
            }
        }
        _ if a != b => out.push(ChangedValue {
            key: path.to_owned(),
            from: a.to_string(),
            to: b.to_string(),
        }),
        _ => {}
    }
}
