//! Who performs an operation, and from where.

use std::net::IpAddr;

use crate::auth::{AuthType, TokenUse};
use crate::ip::ClientAddr;
use crate::user::User;

/// Who performs an operation, and from where (for the audit event and the anti-lockout rule).
#[derive(Debug, Clone)]
pub struct Actor {
    pub user: User,
    /// The command line working on a stopped server's data: every permission, no lockout rule.
    pub system: bool,
    pub auth: Option<AuthType>,
    /// The token the request authenticated with, directly or through a session opened with it:
    /// what it may mint is capped by it (scope and expiry).
    pub token: Option<TokenUse>,
    pub client: Option<ClientAddr>,
    /// The connection and its `X-Forwarded-For`, so the lockout rule can resolve the actor's
    /// address under *new* trusted proxies.
    pub source: Option<Source>,
    pub method: Option<String>,
    pub path: Option<String>,
}

/// Where a request came from, as it arrived.
#[derive(Debug, Clone)]
pub struct Source {
    pub peer: IpAddr,
    pub forwarded_for: Option<Vec<u8>>,
}

impl Actor {
    /// Signed in with a password: Basic auth with one, or a session opened with one.
    pub fn used_password(&self) -> bool {
        matches!(self.auth, Some(AuthType::Password))
            || (matches!(self.auth, Some(AuthType::Session)) && self.token.is_none())
    }
}

impl Actor {
    pub fn user(user: User) -> Self {
        Self {
            user,
            system: false,
            auth: None,
            token: None,
            client: None,
            source: None,
            method: None,
            path: None,
        }
    }

    /// The command line; its events name it as author.
    pub fn cli() -> Self {
        Self {
            user: User {
                name: "tokenauth-cli".into(),
                display_name: "tokenauth command line".into(),
                email: String::new(),
                active: true,
                groups: Vec::new(),
                password: None,
                failed_logins: 0,
            },
            system: true,
            auth: None,
            token: None,
            client: None,
            source: None,
            method: None,
            path: None,
        }
    }
}
