#![allow(dead_code)]
//! A real sled database in a temp dir, a manual clock and the demo users.

use std::net::IpAddr;
use std::sync::Arc;

use tokenauth_core::auth::{Argon2Verifier, AuthOutcome, AuthRequest};
use tokenauth_core::clock::ManualClock;
use tokenauth_core::credentials::{Credentials, basic_header, parse_authorization};
use tokenauth_core::csrf::BrowserHeaders;
use tokenauth_core::scope::Scope;
use tokenauth_core::secret_hash::HashParams;
use tokenauth_core::service::{Actor, NewTokenRequest, NewUser, ScopeChoice, TokenAuth};
use tokenauth_core::store::SledStore;
use tokenauth_core::token::Expiry;

/// Real argon2id, with costs small enough for a test suite.
pub const TEST_PARAMS: HashParams = HashParams {
    memory_kib: 256,
    iterations: 1,
    lanes: 1,
};
pub const T0: i64 = 1_800_000_000_000;

pub struct World {
    pub dir: tempfile::TempDir,
    pub clock: ManualClock,
    pub auth: TokenAuth,
    pub verifier: Argon2Verifier,
}

pub fn user(name: &str, groups: &[&str]) -> NewUser {
    NewUser {
        name: name.into(),
        display_name: Some(name.to_uppercase()),
        email: Some(format!("{name}@example.com")),
        groups: groups.iter().map(|g| (*g).to_owned()).collect(),
        password: Some(name.into()),
        active: Some(true),
    }
}

impl World {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        Self::open_in(dir)
    }

    pub fn open_in(dir: tempfile::TempDir) -> Self {
        let clock = ManualClock::new(T0);
        let store = Arc::new(open_when_released(dir.path()));
        let auth = TokenAuth::new(store, Arc::new(clock.clone()), TEST_PARAMS).unwrap();
        auth.seed_users(vec![
            user("admin", &["jira-administrators", "jira-users"]),
            user("alice", &["jira-users"]),
            user("bob", &["jira-users"]),
        ])
        .unwrap();
        Self {
            dir,
            clock,
            auth,
            verifier: Argon2Verifier::new(TEST_PARAMS),
        }
    }

    /// Closes the database and opens it again from disk.
    pub fn reopen(self) -> Self {
        let World { dir, auth, .. } = self;
        drop(auth);
        Self::open_in(dir)
    }

    pub fn actor(&self, name: &str) -> Actor {
        Actor::user(tokenauth_core::user::User::clone(
            &self.auth.store().user(name).unwrap().unwrap(),
        ))
    }

    pub fn token(&self, owner: &str, scope: Scope) -> String {
        self.auth
            .create_token(
                &self.actor(owner),
                owner,
                NewTokenRequest {
                    description: format!("{owner}'s script"),
                    scope: ScopeChoice::Exactly(scope),
                    expiry: Expiry::Default,
                },
            )
            .unwrap()
            .token
            .unwrap()
    }

    pub fn settings(&self, patch: serde_json::Value) {
        self.auth
            .update_settings(&Actor::cli(), &patch, true)
            .unwrap();
    }

    pub fn request(&self, header: Option<&str>, method: &str, path: &str) -> AuthOutcome {
        self.request_from("127.0.0.1", None, header, method, path)
    }

    pub fn request_from(
        &self,
        peer: &str,
        xff: Option<&str>,
        header: Option<&str>,
        method: &str,
        path: &str,
    ) -> AuthOutcome {
        let req = AuthRequest {
            peer: peer.parse::<IpAddr>().unwrap(),
            forwarded_for: xff.map(str::as_bytes),
            browser: Default::default(),
            credentials: parse_authorization(header.map(str::as_bytes)),
            method,
            path,
            now: self.clock_now(),
        };
        let outcome = self.auth.authenticate(&self.verifier, &req).unwrap();
        self.auth.apply_effects(&outcome.effects).unwrap();
        let mut events = outcome.events.clone();
        self.auth.record_events(&mut events).unwrap();
        outcome
    }

    /// A request with a session, sent as a well-behaved client does (`Content-Type:
    /// application/json`, no `Origin`).
    pub fn session(&self, creds: Credentials, method: &str, path: &str) -> AuthOutcome {
        self.session_with(creds, method, path, Default::default())
    }

    pub fn session_with(
        &self,
        creds: Credentials,
        method: &str,
        path: &str,
        mut browser: BrowserHeaders<'_>,
    ) -> AuthOutcome {
        browser.content_type = browser.content_type.or(Some(b"application/json"));
        let req = AuthRequest {
            peer: "127.0.0.1".parse().unwrap(),
            forwarded_for: None,
            browser,
            credentials: Ok(creds),
            method,
            path,
            now: self.clock_now(),
        };
        self.auth.authenticate(&self.verifier, &req).unwrap()
    }

    pub fn clock_now(&self) -> i64 {
        self.auth.now()
    }
}

/// Opens the store, waiting while a handle dropped a moment ago still finishes: sled completes its
/// last segment writes on its own threads, which hold the file lock until done.
pub fn open_when_released(path: &std::path::Path) -> SledStore {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        match SledStore::open(path) {
            Err(tokenauth_core::store::StoreError::Locked { .. })
                if std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            other => return other.unwrap(),
        }
    }
}

pub fn basic(user: &str, secret: &str) -> String {
    basic_header(user, secret)
}

pub fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}
