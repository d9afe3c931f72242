//! The two seams of the decision: the [`Directory`] it reads through and the [`Verifier`] that
//! checks hashes (the server puts its cache of verified secrets there), with the plain argon2id
//! verifier.

use std::net::IpAddr;
use std::sync::Arc;

use crate::secret_hash::{HashParams, SecretHash, random_bytes};
use crate::token::{RetiredToken, TokenRecord};
use crate::token_format::TokenId;
use crate::user::User;

/// What the decision needs to read.
pub trait Directory {
    /// How a lookup fails. The decision only passes it on, so it is the implementation's own
    /// (the store's error): the rules define this seam and the store fills it in, never the
    /// other way round.
    type Error;
    /// Shared records: the store keeps them decoded, and a request only reads them.
    fn user(&self, key: &str) -> Result<Option<Arc<User>>, Self::Error>;
    fn token(&self, id: &TokenId) -> Result<Option<Arc<TokenRecord>>, Self::Error>;
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
