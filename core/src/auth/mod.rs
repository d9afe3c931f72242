//! The authentication decision, in the order of SPEC section 3, in one place.
//!
//! [`decide`] reads through a [`Directory`] and verifies through a [`Verifier`], and writes
//! nothing: it returns the result, the audit events the settings ask for, and the [`Effect`]s
//! (last-used, failed-login counter) for the caller to apply, synchronously or in batches.
//!
//! The seams in `seams.rs`, the request and its answer in `outcome.rs`, the token, password and
//! session paths in `paths.rs`; the order of the checks is here.

mod context;
mod outcome;
mod paths;
mod seams;

pub use outcome::{
    AuthOutcome, AuthRequest, AuthType, Denial, DenialKind, Effect, Principal, TokenUse,
};
pub use seams::{Argon2Verifier, Directory, Verifier};

use self::context::Ctx;
use self::paths::{password_path, session, token_path};
use crate::audit::{ANONYMOUS, AuditAction};
use crate::credentials::Credentials;
use crate::csrf;
use crate::ip::resolve_client;
use crate::settings::Policy;
use crate::token_format;

pub fn decide<E>(
    policy: &Policy,
    dir: &dyn Directory<Error = E>,
    verifier: &dyn Verifier,
    req: &AuthRequest<'_>,
) -> Result<AuthOutcome, E> {
    let client = resolve_client(req.peer, req.forwarded_for, &policy.trusted_proxies);
    let mut ctx = Ctx {
        req,
        client,
        policy,
        events: Vec::new(),
        effects: Vec::new(),
    };

    // 1. The client address against the allow-list (an unknown client never passes a list).
    if !policy.allow_list.is_empty()
        && (client.forwarded_for_malformed || !policy.allow_list.contains(client.client))
    {
        let claimed = match &req.credentials {
            Ok(Credentials::Basic { user, .. }) => Some(user.as_str()),
            Ok(Credentials::Session(p)) => Some(p.user.as_str()),
            _ => None,
        };
        let reason = if client.forwarded_for_malformed {
            "malformed X-Forwarded-For from a trusted proxy"
        } else {
            "client address not in the allow-list"
        };
        ctx.audit_failure(AuditAction::IpNotAllowed, claimed, None, true, reason);
        return Ok(ctx.finish(Err(Denial::new(DenialKind::IpNotAllowed))));
    }

    // A write a browser may have been tricked into: refused before any secret is looked at.
    if let Ok(creds) = &req.credentials
        && !matches!(creds, Credentials::None)
        && let Err(refusal) = csrf::check(
            req.method,
            matches!(creds, Credentials::Session(_)),
            client.proxy.is_some(),
            &req.browser,
        )
    {
        let claimed = match creds {
            Credentials::Basic { user, .. } => Some(user.as_str()),
            Credentials::Session(p) => Some(p.user.as_str()),
            _ => None,
        };
        if policy.settings.audit.permission_denied {
            let mut e = ctx.event(AuditAction::PermissionDenied, ANONYMOUS, claimed);
            e.reason = Some(refusal.reason().to_owned());
            ctx.events.push(e);
        }
        return Ok(ctx.finish(Err(Denial::new(DenialKind::XsrfCheckFailed))));
    }

    // 2. Credentials.
    let creds = match &req.credentials {
        Ok(c) => c,
        Err(e) => {
            let reason = e.to_string();
            ctx.audit_failure(
                AuditAction::FailedAuthentication,
                None,
                None,
                false,
                &reason,
            );
            return Ok(ctx.finish(Err(Denial::new(DenialKind::MalformedCredentials))));
        }
    };
    let result = match creds {
        Credentials::None => Err(Denial::new(DenialKind::MissingCredentials)),
        Credentials::Session(p) => session(&mut ctx, dir, p)?,
        Credentials::Bearer { token } => match token_format::parse(token) {
            Ok(parsed) => token_path(&mut ctx, dir, verifier, None, &parsed, token, true)?,
            Err(_) => {
                ctx.audit_failure(
                    AuditAction::FailedAuthentication,
                    None,
                    None,
                    true,
                    "Bearer value is not a well-formed token",
                );
                Err(Denial::new(DenialKind::Failed))
            }
        },
        Credentials::Basic { user, secret } => match token_format::parse(secret) {
            // 3. A well-formed token.
            Ok(parsed) => {
                let tokens_only = !policy.settings.password_auth_enabled;
                token_path(
                    &mut ctx,
                    dir,
                    verifier,
                    Some(user),
                    &parsed,
                    secret,
                    tokens_only,
                )?
            }
            // 4. Otherwise a password.
            Err(_) => password_path(&mut ctx, dir, verifier, user, secret, None)?,
        },
    };
    Ok(ctx.finish(result))
}
