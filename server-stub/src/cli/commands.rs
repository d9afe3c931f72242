//! Sub-commands for scripts and CI, working on the data directory of a stopped server.

use std::io::Write;

use serde_json::Value;
use tokenauth_core::CoreError;
use tokenauth_core::audit::{AuditAction, AuditQuery, MAX_PAGE};
use tokenauth_core::clock::parse_rfc3339;
use tokenauth_core::scope::Scope;
use tokenauth_core::service::{
    Actor, NewTokenRequest, NewUser, ScopeChoice, TokenAuth, TokenFilter, UserPatch,
};
use tokenauth_core::token::{Expiry, TokenView};

use crate::operations::audit_entity::{CSV_HEADER, csv_row, entity_json};

#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    #[error(transparent)]
    Core(#[from] CoreError),
    #[error("{0}")]
    Usage(String),
    #[error("cannot write the output: {0}")]
    Io(#[from] std::io::Error),
}

pub fn create_user(auth: &TokenAuth, user: NewUser) -> Result<(), CommandError> {
    auth.create_user(&Actor::cli(), user)?;
    Ok(())
}

pub fn set_password(auth: &TokenAuth, name: &str, password: String) -> Result<(), CommandError> {
    let patch = UserPatch {
        password: Some(password),
        ..UserPatch::default()
    };
    auth.update_user(&Actor::cli(), name, patch, false)?;
    Ok(())
}

pub fn reset_failed_logins(auth: &TokenAuth, name: &str) -> Result<(), CommandError> {
    auth.reset_failed_logins(&Actor::cli(), name)?;
    Ok(())
}

/// Creates a token and returns it with its secret.
pub fn create_token(
    auth: &TokenAuth,
    owner: &str,
    description: String,
    scope: Scope,
    days: Option<u32>,
    never: bool,
) -> Result<TokenView, CommandError> {
    let expiry = match (days, never) {
        (Some(_), true) => {
            return Err(CommandError::Usage(
                "give --days or --never, not both".into(),
            ));
        }
        (Some(d), false) => Expiry::Days(d),
        (None, true) => Expiry::Never,
        (None, false) => Expiry::Default,
    };
    let req = NewTokenRequest {
        description,
        scope: ScopeChoice::Exactly(scope),
        expiry,
    };
    Ok(auth.create_token(&Actor::cli(), owner, req)?)
}

pub fn list_tokens(auth: &TokenAuth, user: Option<String>) -> Result<Vec<TokenView>, CommandError> {
    let filter = TokenFilter {
        user,
        limit: 1000,
        ..TokenFilter::default()
    };
    let mut all = Vec::new();
    let mut offset = 0;
    loop {
        let page = auth.list_tokens(
            &Actor::cli(),
            &TokenFilter {
                offset,
                ..filter.clone()
            },
        )?;
        let n = page.tokens.len();
        all.extend(page.tokens);
        offset += n;
        if n == 0 || offset >= page.total {
            return Ok(all);
        }
    }
}

pub fn revoke_token(auth: &TokenAuth, id: &str) -> Result<TokenView, CommandError> {
    Ok(auth.revoke_token(&Actor::cli(), id, true)?)
}

pub fn revoke_all(auth: &TokenAuth, user: &str) -> Result<usize, CommandError> {
    Ok(auth.revoke_all(&Actor::cli(), user)?.len())
}

pub fn show_settings(auth: &TokenAuth) -> Result<String, CommandError> {
    serde_json::to_string_pretty(&auth.settings()).map_err(|e| CommandError::Usage(e.to_string()))
}

/// Applies a (partial) settings document; the CLI is the recovery path, so no lockout check.
pub fn set_settings(auth: &TokenAuth, json: &str) -> Result<String, CommandError> {
    let patch: Value = serde_json::from_str(json)
        .map_err(|e| CommandError::Usage(format!("the settings are not valid JSON: {e}")))?;
    auth.update_settings(&Actor::cli(), &patch, true)?;
    show_settings(auth)
}

pub struct ExportFilter {
    pub user: Option<String>,
    pub action: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
}

/// Writes every matching event, newest first, as CSV or a JSON array; returns how many.
pub fn export_audit(
    auth: &TokenAuth,
    csv: bool,
    filter: ExportFilter,
    out: &mut dyn Write,
) -> Result<usize, CommandError> {
    let time = |name: &str, v: Option<String>| {
        v.map(|s| {
            s.parse::<i64>()
                .ok()
                .or_else(|| parse_rfc3339(&s))
                .ok_or_else(|| {
                    CommandError::Usage(format!("--{name}: '{s}' is not an RFC 3339 time"))
                })
        })
        .transpose()
    };
    let action = filter
        .action
        .map(|a| {
            AuditAction::from_label(&a)
                .ok_or_else(|| CommandError::Usage(format!("--action: unknown action '{a}'")))
        })
        .transpose()?;
    let mut q = AuditQuery {
        from: time("from", filter.from)?,
        to: time("to", filter.to)?,
        user: filter.user,
        action,
        before: None,
        offset: 0,
        limit: MAX_PAGE,
        ..AuditQuery::default()
    };
    out.write_all(if csv { CSV_HEADER.as_bytes() } else { b"[" })?;
    let mut n = 0;
    loop {
        let page = auth.query_events(&Actor::cli(), &q)?;
        for e in &page.events {
            if csv {
                out.write_all(csv_row(e).as_bytes())?;
            } else {
                if n > 0 {
                    out.write_all(b",")?;
                }
                out.write_all(entity_json(e).as_bytes())?;
                out.write_all(b"\n")?;
            }
            n += 1;
        }
        match page.events.last() {
            Some(last) if !page.is_last_page => q.before = Some((last.timestamp, last.id)),
            _ => break,
        }
    }
    if !csv {
        out.write_all(b"]\n")?;
    }
    Ok(n)
}
