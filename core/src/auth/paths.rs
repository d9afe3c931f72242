//! The ways a request can authenticate, past the address and forgery checks: a token (steps 3,
//! 5 and 6 of SPEC section 3), a password (step 4), or a session.

use std::sync::Arc;

use subtle::ConstantTimeEq as _;

use super::context::Ctx;
use super::outcome::{AuthType, Denial, DenialKind, Effect, Principal, TokenUse};
use super::seams::{Directory, Verifier};
use crate::audit::{ANONYMOUS, AuditAction, ChangedValue};
use crate::credentials::{SessionOrigin, SessionPrincipal};
use crate::token::{RetiredToken, TokenRecord};
use crate::token_format::ParsedToken;
use crate::user::{User, user_key};

/// The outcome of checking a well-formed token.
enum TokenCheck {
    Valid(Arc<User>, Arc<TokenRecord>),
    Invalid {
        record: Option<Arc<TokenRecord>>,
        reason: &'static str,
    },
    NotPermitted(Arc<User>, Arc<TokenRecord>),
    /// The right secret of a token that was rotated away.
    Rotated(RetiredToken),
}

fn check_token<E>(
    ctx: &Ctx<'_>,
    dir: &dyn Directory<Error = E>,
    verifier: &dyn Verifier,
    claimed_user: Option<&str>,
    parsed: &ParsedToken<'_>,
) -> Result<TokenCheck, E> {
    let Some(record) = dir.token(&parsed.id)? else {
        // A rotated-away secret that still proves right: a script that was not updated. Told
        // apart from a wrong guess only after the hash matched, so the old id alone cannot
        // produce these always-written events.
        if let Some(retired) = dir.retired_token(&parsed.id)?
            && claimed_user.is_none_or(|u| user_key(u) == user_key(&retired.owner))
            && verifier.verify_token(&retired.as_record(), parsed.secret, ctx.client.client)
        {
            return Ok(TokenCheck::Rotated(retired));
        }
        return Ok(TokenCheck::Invalid {
            record: None,
            reason: "unknown or revoked token",
        });
    };
    if let Some(u) = claimed_user
        && user_key(u) != user_key(&record.owner)
    {
        // No hash is computed for a token presented under another user's name.
        return Ok(TokenCheck::Invalid {
            record: Some(record),
            reason: "token presented with another user's name",
        });
    }
    if !verifier.verify_token(&record, parsed.secret, ctx.client.client) {
        return Ok(TokenCheck::Invalid {
            record: Some(record),
            reason: "wrong secret for this token id",
        });
    }
    // Only after the secret proved right do we distinguish expired and inactive.
    if record.is_expired_under(ctx.req.now, &ctx.policy.settings) {
        return Ok(TokenCheck::Invalid {
            record: Some(record),
            reason: "token expired",
        });
    }
    let owner = match dir.user(&user_key(&record.owner))? {
        Some(u) if u.active => u,
        Some(_) => {
            return Ok(TokenCheck::Invalid {
                record: Some(record),
                reason: "user deactivated",
            });
        }
        None => {
            return Ok(TokenCheck::Invalid {
                record: Some(record),
                reason: "owner no longer exists",
            });
        }
    };
    if !ctx.policy.settings.permissions.use_tokens.allows(&owner) {
        return Ok(TokenCheck::NotPermitted(owner, record));
    }
    Ok(TokenCheck::Valid(owner, record))
}

pub(super) fn token_path<E>(
    ctx: &mut Ctx<'_>,
    dir: &dyn Directory<Error = E>,
    verifier: &dyn Verifier,
    claimed_user: Option<&str>,
    parsed: &ParsedToken<'_>,
    whole_secret: &str,
    token_expected: bool,
) -> Result<Result<Principal, Denial>, E> {
    match check_token(ctx, dir, verifier, claimed_user, parsed)? {
        TokenCheck::Valid(user, record) => Ok(token_success(ctx, user, record, true)),
        TokenCheck::Rotated(retired) => {
            // Always audited, whatever the settings: the admin must see which script still
            // uses the old secret, and which token replaced it.
            let mut e = ctx.event(
                AuditAction::RotatedTokenPresented,
                ANONYMOUS,
                Some(&retired.owner),
            );
            e.token_id = Some(retired.id.clone());
            e.token_description = Some(retired.description.clone());
            e.scope = Some(retired.scope);
            e.reason = Some(format!(
                "token {} was rotated; its successor is {}",
                retired.id, retired.successor
            ));
            e.changed_values.push(ChangedValue {
                key: "successorTokenId".into(),
                from: retired.id.clone(),
                to: retired.successor.clone(),
            });
            ctx.events.push(e);
            Ok(Err(Denial::new(DenialKind::Failed)))
        }
        TokenCheck::NotPermitted(user, record) => {
            ctx.audit_permission_denied(&user, &record, "not permitted to use API tokens");
            Ok(Err(Denial::new(DenialKind::TokenUseNotPermitted)))
        }
        TokenCheck::Invalid { record, reason } => match claimed_user {
            // With passwords enabled the secret could have been a password: it goes the password
            // way, so it counts against the failed-login limit and is reported as a plain failure.
            Some(user) if !token_expected => {
                password_path(ctx, dir, verifier, user, whole_secret, Some(reason))
            }
            _ => {
                let owner = record.as_ref().map(|r| r.owner.clone());
                let shown_user = claimed_user.map(str::to_owned).or(owner);
                ctx.audit_failure(
                    AuditAction::FailedAuthentication,
                    shown_user.as_deref(),
                    Some((parsed.id.as_str(), record.as_deref())),
                    true,
                    reason,
                );
                let kind = if claimed_user.is_some() {
                    DenialKind::PasswordAuthDisabled
                } else {
                    DenialKind::Failed
                };
                Ok(Err(Denial::new(kind)))
            }
        },
    }
}

fn token_success(
    ctx: &mut Ctx<'_>,
    user: Arc<User>,
    record: Arc<TokenRecord>,
    audit_success: bool,
) -> Result<Principal, Denial> {
    // 5. The scope rule.
    if !record.scope.allows(ctx.req.method, ctx.req.path) {
        ctx.audit_permission_denied(&user, &record, "Read Only token used for a write");
        return Err(Denial::new(DenialKind::ReadOnlyToken));
    }
    // 6. Success.
    let Some(id) = record.token_id() else {
        return Err(Denial::new(DenialKind::Failed));
    };
    let expires_at = record.expiry_under(&ctx.policy.settings);
    if audit_success && ctx.policy.settings.audit.successful_authentication {
        let mut e = ctx.event(
            AuditAction::AuthenticatedWithToken,
            &user.name,
            Some(&user.name),
        );
        e.token_id = Some(record.id.clone());
        e.token_description = Some(record.description.clone());
        e.scope = Some(record.scope);
        ctx.events.push(e);
    }
    ctx.effects.push(Effect::TokenUsed {
        id: id.clone(),
        at: ctx.req.now,
        ip: ctx.client.client,
    });
    Ok(Principal {
        user,
        auth: AuthType::Token,
        token: Some(TokenUse {
            id,
            scope: record.scope,
            description: record.description.clone(),
            expires_at,
        }),
        client: ctx.client,
    })
}

pub(super) fn password_path<E>(
    ctx: &mut Ctx<'_>,
    dir: &dyn Directory<Error = E>,
    verifier: &dyn Verifier,
    claimed_user: &str,
    secret: &str,
    failed_token: Option<&'static str>,
) -> Result<Result<Principal, Denial>, E> {
    let settings = &ctx.policy.settings;
    if !settings.password_auth_enabled {
        ctx.audit_failure(
            AuditAction::FailedAuthentication,
            Some(claimed_user),
            None,
            true,
            "not a valid API token, and passwords are disabled",
        );
        return Ok(Err(Denial::new(DenialKind::PasswordAuthDisabled)));
    }
    let user = dir.user(&user_key(claimed_user))?;
    let max = settings.max_failed_logins;
    if let Some(u) = &user
        && max > 0
        && u.failed_logins >= max
    {
        ctx.audit_failure(
            AuditAction::FailedAuthentication,
            Some(claimed_user),
            None,
            false,
            "failed-login limit reached (CAPTCHA challenge)",
        );
        return Ok(Err(Denial::new(DenialKind::CaptchaChallenge)));
    }
    // A well-formed token that failed is not hashed again as a password.
    let verified = failed_token.is_none()
        && verifier.verify_password(claimed_user, user.as_deref(), secret, ctx.client.client);
    match user {
        Some(u) if verified && u.active => {
            if u.failed_logins > 0 {
                ctx.effects
                    .push(Effect::ResetFailedLogins { user_key: u.key() });
            }
            if settings.audit.successful_authentication {
                let e = ctx.event(
                    AuditAction::AuthenticatedWithPassword,
                    &u.name,
                    Some(&u.name),
                );
                ctx.events.push(e);
            }
            Ok(Ok(Principal {
                user: u,
                auth: AuthType::Password,
                token: None,
                client: ctx.client,
            }))
        }
        user => {
            if let Some(u) = &user {
                ctx.effects.push(Effect::FailedLogin { user_key: u.key() });
            }
            let reason = match (&user, failed_token) {
                (_, Some(r)) => r,
                (None, None) => "unknown user",
                (Some(u), None) if verified && !u.active => "user deactivated",
                (Some(_), None) => "wrong password",
            };
            ctx.audit_failure(
                AuditAction::FailedAuthentication,
                Some(claimed_user),
                None,
                false,
                reason,
            );
            Ok(Err(Denial::new(DenialKind::Failed)))
        }
    }
}

pub(super) fn session<E>(
    ctx: &mut Ctx<'_>,
    dir: &dyn Directory<Error = E>,
    p: &SessionPrincipal,
) -> Result<Result<Principal, Denial>, E> {
    let ended = |ctx: &mut Ctx<'_>, token: Option<(&str, Option<&TokenRecord>)>, why| {
        ctx.audit_failure(
            AuditAction::FailedAuthentication,
            Some(&p.user),
            token,
            token.is_some(),
            why,
        );
        Ok(Err(Denial::new(DenialKind::Failed)))
    };
    let user = match dir.user(&user_key(&p.user))? {
        Some(u) if u.active => u,
        _ => return ended(ctx, None, "session of a missing or deactivated user"),
    };
    let id = match &p.origin {
        // A password session lives only as long as that password, and while passwords are on.
        SessionOrigin::Password { stamp } => {
            if !ctx.policy.settings.password_auth_enabled {
                return ended(ctx, None, "password session ended: passwords are disabled");
            }
            let same_password = user
                .password
                .as_ref()
                .is_some_and(|h| bool::from(h.salt.ct_eq(stamp)));
            if !same_password {
                return ended(ctx, None, "password session ended: the password changed");
            }
            return Ok(Ok(Principal {
                user,
                auth: AuthType::Session,
                token: None,
                client: ctx.client,
            }));
        }
        SessionOrigin::Token(id) => id,
    };
    // A session opened with a token lives only as long as the token and keeps its scope.
    let record = match dir.token(id)? {
        Some(r)
            if !r.is_expired_under(ctx.req.now, &ctx.policy.settings)
                && user_key(&r.owner) == user.key() =>
        {
            r
        }
        other => {
            return ended(
                ctx,
                Some((id.as_str(), other.as_deref())),
                "session of a revoked or expired token",
            );
        }
    };
    if !ctx.policy.settings.permissions.use_tokens.allows(&user) {
        ctx.audit_permission_denied(&user, &record, "not permitted to use API tokens");
        return Ok(Err(Denial::new(DenialKind::TokenUseNotPermitted)));
    }
    // A session request is not a new authentication: no success event per request.
    let result = token_success(ctx, user, record, false).map(|mut principal| {
        principal.auth = AuthType::Session;
        principal
    });
    Ok(result)
}
