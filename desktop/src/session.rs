//! A signed-in connection: the API client, who the user is and what they may do.

use tokenauth_core::token::TokenPolicy;

use crate::api::{Api, Me};
use crate::failure::Failure;

pub struct Session {
    pub api: Api,
    pub me: Me,
    pub policy: TokenPolicy,
}

impl Session {
    /// Checks the credentials against the server and learns the caller's rights.
    pub async fn sign_in(api: Api) -> Result<Self, Failure> {
        let me = api.myself().await.map_err(|e| match e.status {
            Some(401) => Failure::new(
                "sign-in refused: the user or secret is not right, or the token expired or was revoked",
            )
            .with_status(401),
            Some(403) => Failure::new(format!(
                "sign-in refused: {} (an IP allow-list, a lock after failed logins, or passwords disabled on this server)",
                e.message
            ))
            .with_status(403),
            _ => e,
        })?;
        let policy = api.policy().await?;
        Ok(Self { api, me, policy })
    }

    pub fn is_admin(&self) -> bool {
        self.policy.is_admin
    }
}
