//! Expiry notices (SPEC section 9): the signing secret, which notices are due, marking them
//! sent before delivery, and auditing the outcome.

use super::{Actor, TokenAuth, log_event};
use crate::audit::{AuditAction, AuditEvent, ChangedValue};
use crate::error::CoreError;
use crate::notify::{self, Notice};

impl TokenAuth {
    /// Whether a signing secret for expiry notices is set (its value is never shown).
    pub fn notice_secret_set(&self) -> Result<bool, CoreError> {
        Ok(self.store.notice_secret()?.is_some())
    }

    /// The signing secret, for the server that delivers notices.
    pub fn notice_secret(&self) -> Result<Option<String>, CoreError> {
        Ok(self.store.notice_secret()?)
    }

    /// Sets the signing secret (admins). Audited as a settings change that says it changed,
    /// never what it is.
    pub fn set_notice_secret(&self, actor: &Actor, secret: &str) -> Result<(), CoreError> {
        if !self.is_admin_actor(actor) {
            return Err(CoreError::Forbidden("administrators only".into()));
        }
        notify::validate_secret(secret)?;
        let before = if self.store.notice_secret()?.is_some() {
            "(set)"
        } else {
            "(not set)"
        };
        let mut event = self.event(actor, AuditAction::SettingsChanged, None);
        event.changed_values.push(ChangedValue {
            key: "notifications.secret".into(),
            from: before.into(),
            to: "(set)".into(),
        });
        self.store.put_notice_secret(secret, event.clone())?;
        log_event(&event);
        Ok(())
    }

    /// The expiry notices due now and not sent before.
    pub fn due_notices(&self) -> Result<Vec<Notice>, CoreError> {
        let policy = self.policy();
        if policy.settings.notifications.webhook_url.is_none() {
            return Ok(Vec::new());
        }
        let tokens = self.store.all_tokens()?;
        let mut failure = None;
        let due = notify::due(&tokens, &policy.settings, self.now(), |id, d| {
            self.store.notice_sent(id, d).unwrap_or_else(|e| {
                // Unknown counts as sent: never twice is the promise.
                failure = Some(e);
                true
            })
        });
        match failure {
            Some(e) => Err(e.into()),
            None => Ok(due),
        }
    }

    /// Marks a notice sent (every threshold it stands for), durably, before delivery.
    pub fn mark_notice_sent(&self, notice: &Notice) -> Result<(), CoreError> {
        let marks: Vec<(String, u32)> = notice
            .marks
            .iter()
            .map(|d| (notice.token_id.clone(), *d))
            .collect();
        Ok(self.store.mark_notices_sent(&marks)?)
    }

    /// Audits a delivery's outcome: sent (with the receiver's status) or finally failed.
    pub fn record_notice_outcome(
        &self,
        notice: &Notice,
        outcome: Result<u16, String>,
        attempts: u32,
    ) -> Result<(), CoreError> {
        let action = if outcome.is_ok() {
            AuditAction::ExpiryNoticeSent
        } else {
            AuditAction::ExpiryNoticeFailed
        };
        let mut e = AuditEvent::new(self.now(), action, "tokenauth");
        e.affected_user = Some(notice.user.clone());
        e.token_id = Some(notice.token_id.clone());
        e.token_description = Some(notice.description.clone());
        e.changed_values.push(ChangedValue {
            key: "daysBefore".into(),
            from: String::new(),
            to: notice.days_before.to_string(),
        });
        e.reason = Some(match &outcome {
            Ok(status) => format!("delivered (HTTP {status}) after {attempts} attempt(s)"),
            Err(why) => format!("not delivered after {attempts} attempt(s): {why}"),
        });
        self.record_events(&mut vec![e])
    }
}
