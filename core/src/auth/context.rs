//! What one decision carries along: the request, the resolved client, the policy, and the
//! events and effects gathered so far.

use super::outcome::{AuthOutcome, AuthRequest, Denial, Effect, Principal};
use crate::audit::{ANONYMOUS, AuditAction, AuditEvent};
use crate::ip::ClientAddr;
use crate::settings::Policy;
use crate::token::TokenRecord;
use crate::user::User;

/// Context shared by the events of one request.
pub(super) struct Ctx<'a> {
    pub req: &'a AuthRequest<'a>,
    pub client: ClientAddr,
    pub policy: &'a Policy,
    pub events: Vec<AuditEvent>,
    pub effects: Vec<Effect>,
}

impl Ctx<'_> {
    pub fn event(&self, action: AuditAction, author: &str, affected: Option<&str>) -> AuditEvent {
        let mut e = AuditEvent::new(self.req.now, action, author);
        e.affected_user = affected.map(str::to_owned);
        e.method = Some(self.req.method.to_owned());
        e.path = Some(self.req.path.to_owned());
        e.client_ip = Some(self.client.client.to_string());
        e.proxy_ip = self.client.proxy.map(|p| p.to_string());
        e
    }

    pub fn audit_failure(
        &mut self,
        action: AuditAction,
        claimed_user: Option<&str>,
        token: Option<(&str, Option<&TokenRecord>)>,
        token_expected: bool,
        reason: &str,
    ) {
        let a = &self.policy.settings.audit;
        let wanted = a.all_failed_attempts || (token_expected && a.failed_token_attempts);
        if !wanted {
            return;
        }
        let mut e = self.event(action, ANONYMOUS, claimed_user);
        if let Some((id, record)) = token {
            e.token_id = Some(id.to_owned());
            if let Some(r) = record {
                e.token_description = Some(r.description.clone());
                e.scope = Some(r.scope);
            }
        }
        e.reason = Some(reason.to_owned());
        self.events.push(e);
    }

    pub fn audit_permission_denied(&mut self, user: &User, record: &TokenRecord, reason: &str) {
        if !self.policy.settings.audit.permission_denied {
            return;
        }
        let mut e = self.event(AuditAction::PermissionDenied, &user.name, Some(&user.name));
        e.token_id = Some(record.id.clone());
        e.token_description = Some(record.description.clone());
        e.scope = Some(record.scope);
        e.reason = Some(reason.to_owned());
        self.events.push(e);
    }

    pub fn finish(mut self, result: Result<Principal, Denial>) -> AuthOutcome {
        // What the request claimed is bounded here already, so the server's queue of events
        // holds nothing larger than the store will keep.
        for e in &mut self.events {
            e.bound();
        }
        AuthOutcome {
            result,
            events: self.events,
            effects: self.effects,
        }
    }
}
