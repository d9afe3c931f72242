//! The authentication decision, in the order of SPEC section 3, in one place.
//!
//! [`decide`] reads through a [`Directory`] and verifies through a [`Verifier`], and writes
//! nothing: it returns the result, the audit events the settings ask for, and the [`Effect`]s
//! (last-used, failed-login counter) for the caller to apply, synchronously or in batches.

use std::net::IpAddr;

use crate::audit::{ANONYMOUS, AuditAction, AuditEvent, ChangedValue};
use crate::clock::Millis;
use crate::credentials::{CredentialError, Credentials, SessionOrigin, SessionPrincipal};
use crate::csrf::{self, BrowserHeaders};
use crate::ip::{ClientAddr, resolve_client};
use crate::scope::Scope;
use crate::secret_hash::{HashParams, SecretHash, random_bytes};
use crate::settings::Policy;
use crate::token::{RetiredToken, TokenRecord};
use crate::token_format::{self, ParsedToken, TokenId};
use crate::user::{User, user_key};
use subtle::ConstantTimeEq as _;

/// What the decision needs to read.
pub trait Directory {
    /// How a lookup fails. The decision only passes it on, so it is the implementation's own
    /// (the store's error): the rules define this seam and the store fills it in, never the
    /// other way round.
    type Error;
    fn user(&self, key: &str) -> Result<Option<User>, Self::Error>;
    fn token(&self, id: &TokenId) -> Result<Option<TokenRecord>, Self::Error>;
    /// A token rotated away, by its old id (looked up only when no live token has the id).
    fn retired_token(&self, _id: &TokenId) -> Result<Option<RetiredToken>, Self::Error> {
        Ok(None)
    }
}

/// The seam where hashes are checked, so the server can put its cache of verified secrets here.
/// `client` is the resolved client address (behind a trusted proxy, the real client, not the
/// proxy): a verifier that rations failures keeps one ration per client, so one client's flood
/// does not lock out everyone behind the same proxy.
pub trait Verifier {
    fn verify_token(&self, record: &TokenRecord, secret: &str, client: IpAddr) -> bool;
    /// `user` is `None` when no user has the `claimed` name: a real implementation still spends
    /// the time of one verification, and rations failures per claimed name exactly as for a real
    /// user, so neither response times nor refusals tell which user names exist.
    fn verify_password(
        &self,
        claimed: &str,
        user: Option<&User>,
        password: &str,
        client: IpAddr,
    ) -> bool;
}

/// Plain argon2id verification of every presented secret.
#[derive(Debug)]
pub struct Argon2Verifier {
    dummy: Option<SecretHash>,
}

impl Argon2Verifier {
    /// The dummy is random salt and random output under `params`: verifying against it costs
    /// exactly one argon2 run, like a real hash, and never succeeds (2^-256). It is not made by
    /// hashing anything, which would cost a whole argon2 run at every server start — a third of
    /// a test server's budget from start to first answer (SPEC §8).
    pub fn new(params: HashParams) -> Self {
        let dummy = match (random_bytes(), random_bytes()) {
            (Ok(salt), Ok(hash)) => Some(SecretHash { params, salt, hash }),
            _ => None,
        };
        Self { dummy }
    }

    /// Verifies `secret` against `hash`; with no hash (an unknown user, or one without a
    /// password) it still spends one verification, so response times do not tell which user
    /// names exist.
    pub fn verify_hash(&self, hash: Option<&SecretHash>, secret: &str) -> bool {
        match hash {
            Some(h) => h.verify(secret.as_bytes()),
            None => {
                if let Some(d) = &self.dummy {
                    let _ = d.verify(secret.as_bytes());
                }
                false
            }
        }
    }
}

impl Verifier for Argon2Verifier {
    fn verify_token(&self, record: &TokenRecord, secret: &str, _client: IpAddr) -> bool {
        self.verify_hash(Some(&record.hash), secret)
    }
    fn verify_password(
        &self,
        _claimed: &str,
        user: Option<&User>,
        password: &str,
        _client: IpAddr,
    ) -> bool {
        self.verify_hash(user.and_then(|u| u.password.as_ref()), password)
    }
}

pub struct AuthRequest<'a> {
    pub peer: IpAddr,
    /// All `X-Forwarded-For` headers joined with `,`, as the bytes that arrived: a value that is
    /// not text is a malformed chain, never a missing one.
    pub forwarded_for: Option<&'a [u8]>,
    /// The headers of the cross-site request forgery rule (`core::csrf`).
    pub browser: BrowserHeaders<'a>,
    /// The parsed `Authorization` header, or the session the cookie names.
    pub credentials: Result<Credentials, CredentialError>,
    pub method: &'a str,
    pub path: &'a str,
    pub now: Millis,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthType {
    Token,
    Password,
    Session,
}

impl AuthType {
    pub fn as_str(self) -> &'static str {
        match self {
            AuthType::Token => "token",
            AuthType::Password => "password",
            AuthType::Session => "session",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenUse {
    pub id: TokenId,
    pub scope: Scope,
    pub description: String,
    /// When the token stops working under the settings that applied (`None`: never). A token it
    /// makes may not outlive it.
    pub expires_at: Option<Millis>,
}

/// An authenticated request: who, how, from where.
#[derive(Debug, Clone, PartialEq)]
pub struct Principal {
    pub user: User,
    pub auth: AuthType,
    pub token: Option<TokenUse>,
    pub client: ClientAddr,
}

/// Why a request is refused, as `X-Authentication-Denied-Reason` names it on a 403.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DenialKind {
    IpNotAllowed,
    MissingCredentials,
    MalformedCredentials,
    Failed,
    PasswordAuthDisabled,
    CaptchaChallenge,
    ReadOnlyToken,
    TokenUseNotPermitted,
    /// A write a browser may have been tricked into sending (`core::csrf`).
    XsrfCheckFailed,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denial {
    pub kind: DenialKind,
    /// 401 or 403.
    pub status: u16,
    pub message: &'static str,
}

impl Denial {
    fn new(kind: DenialKind) -> Self {
        let (status, message) = match kind {
            DenialKind::IpNotAllowed => (403, "IP address not allowed"),
            DenialKind::MissingCredentials => (401, "Authentication required"),
            DenialKind::MalformedCredentials => (401, "Malformed Authorization header"),
            DenialKind::Failed => (
                401,
                "Authentication failed: the user name or the secret is not valid",
            ),
            DenialKind::PasswordAuthDisabled => (
                403,
                "Authentication failed: Basic authentication with passwords is disabled; \
                 use a valid API token",
            ),
            DenialKind::CaptchaChallenge => (
                403,
                "Too many failed login attempts: an administrator must reset the count",
            ),
            DenialKind::ReadOnlyToken => (
                403,
                "Permission denied: a Read Only token allows only GET, HEAD and OPTIONS",
            ),
            DenialKind::TokenUseNotPermitted => (
                403,
                "Permission denied: you are not permitted to use API tokens",
            ),
            DenialKind::XsrfCheckFailed => (
                403,
                "XSRF check failed: a write from a browser session needs Content-Type: \
                 application/json or X-Atlassian-Token: no-check, and no foreign Origin",
            ),
        };
        Self {
            kind,
            status,
            message,
        }
    }

    /// `X-Seraph-LoginReason`, as Jira sends it.
    pub fn login_reason(&self) -> &'static str {
        if self.status == 401 {
            "AUTHENTICATED_FAILED"
        } else {
            "AUTHENTICATION_DENIED"
        }
    }

    /// `X-Authentication-Denied-Reason` on a 403.
    pub fn denied_reason(&self) -> Option<&'static str> {
        match self.kind {
            DenialKind::IpNotAllowed => Some("IP_NOT_ALLOWED"),
            DenialKind::PasswordAuthDisabled => Some("PASSWORD_AUTH_DISABLED"),
            DenialKind::CaptchaChallenge => Some("CAPTCHA_CHALLENGE"),
            DenialKind::ReadOnlyToken => Some("READ_ONLY_TOKEN"),
            DenialKind::TokenUseNotPermitted => Some("TOKEN_USE_NOT_PERMITTED"),
            DenialKind::XsrfCheckFailed => Some("XSRF_CHECK_FAILED"),
            DenialKind::MissingCredentials
            | DenialKind::MalformedCredentials
            | DenialKind::Failed => None,
        }
    }

    /// Whether the answer carries `WWW-Authenticate: Basic realm="tokenauth"`.
    pub fn challenges(&self) -> bool {
        self.status == 401
    }
}

/// Writes the decision asks for; applying them is the caller's job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    TokenUsed { id: TokenId, at: Millis, ip: String },
    FailedLogin { user_key: String },
    ResetFailedLogins { user_key: String },
}

#[derive(Debug)]
pub struct AuthOutcome {
    pub result: Result<Principal, Denial>,
    pub events: Vec<AuditEvent>,
    pub effects: Vec<Effect>,
}

/// Context shared by the events of one request.
struct Ctx<'a> {
    req: &'a AuthRequest<'a>,
    client: ClientAddr,
    policy: &'a Policy,
    events: Vec<AuditEvent>,
    effects: Vec<Effect>,
}

impl Ctx<'_> {
    fn event(&self, action: AuditAction, author: &str, affected: Option<&str>) -> AuditEvent {
        let mut e = AuditEvent::new(self.req.now, action, author);
        e.affected_user = affected.map(str::to_owned);
        e.method = Some(self.req.method.to_owned());
        e.path = Some(self.req.path.to_owned());
        e.client_ip = Some(self.client.client.to_string());
        e.proxy_ip = self.client.proxy.map(|p| p.to_string());
        e
    }

    fn audit_failure(
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

    fn audit_permission_denied(&mut self, user: &User, record: &TokenRecord, reason: &str) {
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

    fn finish(mut self, result: Result<Principal, Denial>) -> AuthOutcome {
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

/// The outcome of checking a well-formed token.
enum TokenCheck {
    Valid(User, TokenRecord),
    Invalid {
        record: Option<TokenRecord>,
        reason: &'static str,
    },
    NotPermitted(User, TokenRecord),
    /// The right secret of a token that was rotated away.
    Rotated(RetiredToken),
}

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

fn token_path<E>(
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
                    Some((parsed.id.as_str(), record.as_ref())),
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
    user: User,
    record: TokenRecord,
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
        ip: ctx.client.client.to_string(),
    });
    Ok(Principal {
        user,
        auth: AuthType::Token,
        token: Some(TokenUse {
            id,
            scope: record.scope,
            description: record.description,
            expires_at,
        }),
        client: ctx.client,
    })
}

fn password_path<E>(
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
        && verifier.verify_password(claimed_user, user.as_ref(), secret, ctx.client.client);
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

fn session<E>(
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
                Some((id.as_str(), other.as_ref())),
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
