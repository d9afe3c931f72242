//! An audit event: what it holds (never a secret), its actions, and its one-line log form.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::bounded;
use crate::clock::{Millis, to_rfc3339};
use crate::scope::Scope;
use crate::user::same_user;

pub const CATEGORY: &str = "API tokens";
pub const ANONYMOUS: &str = "Anonymous";
/// The `tracing` target every event's log line is written under.
pub const LOG_TARGET: &str = "tokenauth";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum AuditAction {
    TokenCreated,
    TokenDeleted,
    AllTokensDeleted,
    TokenChanged,
    AuthenticatedWithToken,
    AuthenticatedWithPassword,
    FailedAuthentication,
    IpNotAllowed,
    PermissionDenied,
    SettingsChanged,
    UserCreated,
    UserChanged,
    UserDeleted,
    FailedLoginCountReset,
    // Appended, never inserted: events are stored with the variant's index.
    TokenRotated,
    RotatedTokenPresented,
    ExpiryNoticeSent,
    ExpiryNoticeFailed,
    /// What one principal wrote past its budget (`audit_budget`), counted in one event.
    AuditEventsSuppressed,
    /// A recording of a proxied server began: who started it, and the host it points at.
    RecordingStarted,
    /// A recording's mappings were written (its stop, or a snapshot): who, and how many.
    RecordingSaved,
}

impl AuditAction {
    pub const ALL: [AuditAction; 21] = [
        AuditAction::TokenCreated,
        AuditAction::TokenDeleted,
        AuditAction::AllTokensDeleted,
        AuditAction::TokenChanged,
        AuditAction::AuthenticatedWithToken,
        AuditAction::AuthenticatedWithPassword,
        AuditAction::FailedAuthentication,
        AuditAction::IpNotAllowed,
        AuditAction::PermissionDenied,
        AuditAction::SettingsChanged,
        AuditAction::UserCreated,
        AuditAction::UserChanged,
        AuditAction::UserDeleted,
        AuditAction::FailedLoginCountReset,
        AuditAction::TokenRotated,
        AuditAction::RotatedTokenPresented,
        AuditAction::ExpiryNoticeSent,
        AuditAction::ExpiryNoticeFailed,
        AuditAction::AuditEventsSuppressed,
        AuditAction::RecordingStarted,
        AuditAction::RecordingSaved,
    ];

    /// The action as the audit log shows it.
    pub fn label(self) -> &'static str {
        match self {
            AuditAction::TokenCreated => "API token created",
            AuditAction::TokenDeleted => "API token deleted",
            AuditAction::AllTokensDeleted => "All API tokens of a user deleted",
            AuditAction::TokenChanged => "API token changed",
            AuditAction::AuthenticatedWithToken => "Authenticated with API token",
            AuditAction::AuthenticatedWithPassword => "Authenticated with password",
            AuditAction::FailedAuthentication => "Failed authentication attempt",
            AuditAction::IpNotAllowed => "IP address not allowed",
            AuditAction::PermissionDenied => "Permission denied",
            AuditAction::SettingsChanged => "Settings changed",
            AuditAction::UserCreated => "User created",
            AuditAction::UserChanged => "User changed",
            AuditAction::UserDeleted => "User deleted",
            AuditAction::FailedLoginCountReset => "Failed-login count reset",
            AuditAction::TokenRotated => "API token rotated",
            AuditAction::RotatedTokenPresented => "Rotated-away API token used",
            AuditAction::ExpiryNoticeSent => "Expiry notice sent",
            AuditAction::ExpiryNoticeFailed => "Expiry notice failed",
            AuditAction::AuditEventsSuppressed => "Audit events suppressed",
            AuditAction::RecordingStarted => "Recording started",
            AuditAction::RecordingSaved => "Recording saved",
        }
    }

    /// Accepts the label, case-insensitively (what a filter box or a URL carries).
    pub fn from_label(text: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|a| a.label().eq_ignore_ascii_case(text.trim()))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangedValue {
    pub key: String,
    pub from: String,
    pub to: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEvent {
    /// Assigned by the store when the event is appended; 0 before.
    pub id: u64,
    pub timestamp: Millis,
    pub action: AuditAction,
    /// The acting user; [`ANONYMOUS`] only when nobody is known.
    pub author: String,
    pub affected_user: Option<String>,
    pub token_id: Option<String>,
    pub token_description: Option<String>,
    pub scope: Option<Scope>,
    pub method: Option<String>,
    pub path: Option<String>,
    pub client_ip: Option<String>,
    pub proxy_ip: Option<String>,
    /// Why an attempt failed, in words that never include a secret.
    pub reason: Option<String>,
    pub changed_values: Vec<ChangedValue>,
}

impl AuditEvent {
    /// About how many bytes the event holds in memory: what a queue of events is bounded by.
    pub fn approx_size(&self) -> usize {
        let opt = |o: &Option<String>| o.as_ref().map_or(0, String::len);
        160 + self.author.len()
            + opt(&self.affected_user)
            + opt(&self.token_id)
            + opt(&self.token_description)
            + opt(&self.method)
            + opt(&self.path)
            + opt(&self.client_ip)
            + opt(&self.proxy_ip)
            + opt(&self.reason)
            + self
                .changed_values
                .iter()
                .map(|c| c.key.len() + c.from.len() + c.to.len() + 72)
                .sum::<usize>()
    }

    pub fn new(timestamp: Millis, action: AuditAction, author: impl Into<String>) -> Self {
        Self {
            id: 0,
            timestamp,
            action,
            author: author.into(),
            affected_user: None,
            token_id: None,
            token_description: None,
            scope: None,
            method: None,
            path: None,
            client_ip: None,
            proxy_ip: None,
            reason: None,
            changed_values: Vec::new(),
        }
    }

    /// Bounds every free-text field with [`bounded`]'s rules: what a request claimed (user,
    /// method, path) and what an operation carried (description, changed values, reason). The
    /// store calls this on every event it writes, so nothing longer or stranger reaches the log,
    /// an index key or an export, whoever built the event.
    pub fn bound(&mut self) {
        use bounded::{METHOD_CHARS, NAME_CHARS, PATH_CHARS, TEXT_CHARS, field};
        field(&mut self.author, NAME_CHARS);
        for (value, max) in [
            (&mut self.affected_user, NAME_CHARS),
            (&mut self.token_id, NAME_CHARS),
            (&mut self.token_description, NAME_CHARS),
            (&mut self.method, METHOD_CHARS),
            (&mut self.path, PATH_CHARS),
            (&mut self.client_ip, NAME_CHARS),
            (&mut self.proxy_ip, NAME_CHARS),
            (&mut self.reason, TEXT_CHARS),
        ] {
            if let Some(v) = value {
                field(v, max);
            }
        }
        for c in &mut self.changed_values {
            field(&mut c.key, NAME_CHARS);
            field(&mut c.from, TEXT_CHARS);
            field(&mut c.to, TEXT_CHARS);
        }
    }

    /// The one-line log form, `key=value` pairs (logfmt), values quoted where needed so that a
    /// description can never forge another field or line:
    ///
    /// `event="Authenticated with API token" token_description="ci deploy" scope=READ_ONLY user=alice path=/rest/api/2/myself method=GET client_ip=127.0.0.1 proxy_ip=- author=alice token_id=AbC123dEf456 reason=-`
    pub fn log_line(&self) -> String {
        if self.is_bounded() {
            return self.format_line();
        }
        let mut bounded = self.clone();
        bounded.bound();
        bounded.format_line()
    }

    /// Whether [`AuditEvent::bound`] would change nothing (one check per field, no allocation).
    pub fn is_bounded(&self) -> bool {
        use bounded::{METHOD_CHARS, NAME_CHARS, PATH_CHARS, TEXT_CHARS, is_bounded};
        let opt = |v: &Option<String>, max| v.as_deref().is_none_or(|v| is_bounded(v, max));
        is_bounded(&self.author, NAME_CHARS)
            && opt(&self.affected_user, NAME_CHARS)
            && opt(&self.token_id, NAME_CHARS)
            && opt(&self.token_description, NAME_CHARS)
            && opt(&self.method, METHOD_CHARS)
            && opt(&self.path, PATH_CHARS)
            && opt(&self.client_ip, NAME_CHARS)
            && opt(&self.proxy_ip, NAME_CHARS)
            && opt(&self.reason, TEXT_CHARS)
            && self.changed_values.iter().all(|c| {
                is_bounded(&c.key, NAME_CHARS)
                    && is_bounded(&c.from, TEXT_CHARS)
                    && is_bounded(&c.to, TEXT_CHARS)
            })
    }

    /// The log line of an event known to be bounded (the store bounded it as it wrote it).
    pub fn format_line(&self) -> String {
        let mut out = String::with_capacity(200);
        let user = self.affected_user.as_deref().unwrap_or(&self.author);
        let fields: [(&str, &str); 10] = [
            ("event", self.action.label()),
            (
                "token_description",
                self.token_description.as_deref().unwrap_or("-"),
            ),
            ("scope", self.scope.map_or("-", Scope::as_str)),
            ("user", user),
            ("path", self.path.as_deref().unwrap_or("-")),
            ("method", self.method.as_deref().unwrap_or("-")),
            ("client_ip", self.client_ip.as_deref().unwrap_or("-")),
            ("proxy_ip", self.proxy_ip.as_deref().unwrap_or("-")),
            ("author", &self.author),
            ("token_id", self.token_id.as_deref().unwrap_or("-")),
        ];
        for (i, (k, v)) in fields.iter().enumerate() {
            if i > 0 {
                out.push(' ');
            }
            out.push_str(k);
            out.push('=');
            push_logfmt_value(&mut out, v);
        }
        out.push_str(" reason=");
        push_logfmt_value(&mut out, self.reason.as_deref().unwrap_or("-"));
        out
    }

    /// Users the event concerns, for the user filter: the author and the affected user.
    pub fn users(&self) -> impl Iterator<Item = &str> {
        let affected = self
            .affected_user
            .as_deref()
            .filter(|a| !same_user(a, &self.author));
        std::iter::once(self.author.as_str()).chain(affected)
    }

    pub fn timestamp_rfc3339(&self) -> String {
        to_rfc3339(self.timestamp)
    }
}

fn push_logfmt_value(out: &mut String, v: &str) {
    let plain = !v.is_empty()
        && v.chars()
            .all(|c| c.is_ascii_graphic() && c != '"' && c != '=' && c != '\\');
    if plain {
        out.push_str(v);
        return;
    }
    out.push('"');
    for c in v.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            // Controls, and the separators and bidi characters that would reorder or split what
            // a reader of the log sees.
            c if bounded::is_hidden(c) => {
                let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}
