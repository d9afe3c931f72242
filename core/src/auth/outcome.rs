//! What the decision is asked and what it answers: the request, the principal or the denial
//! (as Jira words and signals it), the audit events and the effects to apply.

use std::net::IpAddr;
use std::sync::Arc;

use crate::audit::AuditEvent;
use crate::clock::Millis;
use crate::credentials::{CredentialError, Credentials};
use crate::csrf::BrowserHeaders;
use crate::ip::ClientAddr;
use crate::scope::Scope;
use crate::token_format::TokenId;
use crate::user::User;

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
    /// Shared with the store's record cache: a request reads its user, never changes it.
    pub user: Arc<User>,
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
    pub(super) fn new(kind: DenialKind) -> Self {
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
    /// The address as it is, not as text: written out once per batch of uses, not once per
    /// request (issue 21).
    TokenUsed {
        id: TokenId,
        at: Millis,
        ip: std::net::IpAddr,
    },
    FailedLogin {
        user_key: String,
    },
    ResetFailedLogins {
        user_key: String,
    },
}

#[derive(Debug)]
pub struct AuthOutcome {
    pub result: Result<Principal, Denial>,
    pub events: Vec<AuditEvent>,
    pub effects: Vec<Effect>,
}
