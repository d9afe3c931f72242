#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic on broken expectations
//! SPEC §8, test runs: a new database may start with users that hold tokens whose secrets were
//! fixed in advance (a test suite's fixtures), stored and audited like any other token.

mod common;

use std::sync::Arc;

use common::{T0, TEST_PARAMS, World, basic, bearer, open_when_released, user};
use tokenauth_core::CoreError;
use tokenauth_core::audit::{AuditAction, AuditQuery};
use tokenauth_core::auth::{Argon2Verifier, AuthType};
use tokenauth_core::clock::{MILLIS_PER_DAY, ManualClock};
use tokenauth_core::scope::Scope;
use tokenauth_core::service::{Actor, NewUser, SeedToken, TokenAuth};
use tokenauth_core::token::Expiry;
use tokenauth_core::token_format::{self, TokenId};

fn fixture(owner: &str, secret: &str) -> SeedToken {
    SeedToken {
        owner: owner.into(),
        description: "CI fixture".into(),
        scope: Scope::ReadWrite,
        expiry: Expiry::Days(30),
        secret: secret.into(),
    }
}

/// A new, empty database (nothing seeded yet).
fn empty_world() -> World {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    let store = Arc::new(open_when_released(dir.path()));
    let auth = TokenAuth::new(store, Arc::new(clock.clone()), TEST_PARAMS).unwrap();
    World {
        dir,
        clock,
        auth,
        verifier: Argon2Verifier::new(TEST_PARAMS),
    }
}

fn users() -> Vec<NewUser> {
    vec![
        user("admin", &["jira-administrators"]),
        user("ci-bot", &["jira-users"]),
    ]
}

#[test]
fn a_seeded_token_authenticates_with_its_fixed_secret_as_basic_and_bearer() {
    let w = empty_world();
    let secret = token_format::generate().unwrap().text;
    assert!(
        w.auth
            .seed(users(), vec![fixture("ci-bot", &secret)])
            .unwrap()
    );
    for header in [basic("ci-bot", &secret), bearer(&secret)] {
        let outcome = w.request(Some(&header), "POST", "/rest/api/2/issue");
        let principal = outcome.result.expect("the fixture token authenticates");
        assert_eq!(principal.user.name, "ci-bot");
        assert_eq!(principal.auth, AuthType::Token);
        assert_eq!(principal.token.unwrap().scope, Scope::ReadWrite);
    }
    // Hashed together on all cores, each hash still lands with its own user.
    for name in ["admin", "ci-bot"] {
        let outcome = w.request(Some(&basic(name, name)), "GET", "/rest/api/2/myself");
        assert_eq!(outcome.result.unwrap().user.name, name);
    }
}

#[test]
fn its_id_is_the_one_the_secret_embeds_and_only_a_hash_is_stored() {
    let w = empty_world();
    let new = token_format::generate().unwrap();
    w.auth
        .seed(users(), vec![fixture("ci-bot", &new.text)])
        .unwrap();
    let record = w.auth.store().token(&new.id).unwrap().unwrap();
    assert_eq!(record.id, new.id.as_str());
    assert_eq!(record.expires_at, Some(T0 + 30 * MILLIS_PER_DAY));
    let secret_part = token_format::parse(&new.text).unwrap().secret;
    assert!(record.hash.verify(secret_part.as_bytes()));
    assert!(!format!("{record:?}").contains(secret_part));
}

#[test]
fn a_seeded_token_is_audited_as_created_by_the_system_without_its_secret() {
    let w = empty_world();
    let secret = token_format::generate().unwrap().text;
    w.auth
        .seed(users(), vec![fixture("ci-bot", &secret)])
        .unwrap();
    let events = w
        .auth
        .query_events(
            &Actor::cli(),
            &AuditQuery {
                action: Some(AuditAction::TokenCreated),
                ..AuditQuery::default()
            },
        )
        .unwrap()
        .events;
    assert_eq!(events.len(), 1);
    let e = &events[0];
    assert_eq!(e.author, Actor::cli().user.name);
    assert_eq!(e.affected_user.as_deref(), Some("ci-bot"));
    assert_eq!(e.token_description.as_deref(), Some("CI fixture"));
    assert_eq!(e.scope, Some(Scope::ReadWrite));
    assert!(!format!("{e:?}").contains(&secret));
    assert!(!e.log_line().contains(&secret));
}

#[test]
fn a_malformed_secret_refuses_the_whole_seed_naming_user_and_entry_but_not_the_secret() {
    let w = empty_world();
    let good = token_format::generate().unwrap().text;
    let mut typo = good.clone().into_bytes();
    typo[25] = if typo[25] == b'a' { b'b' } else { b'a' };
    let typo = String::from_utf8(typo).unwrap();
    let e = w
        .auth
        .seed(
            users(),
            vec![fixture("ci-bot", &good), fixture("ci-bot", &typo)],
        )
        .unwrap_err()
        .to_string();
    assert!(e.contains("user 'ci-bot', token 2"), "{e}");
    assert!(e.contains("checksum"), "{e}");
    assert!(!e.contains(&typo) && !e.contains(&typo[4..16]), "{e}");
    // Nothing was written: a later start seeds again instead of taking a half-seed as done.
    assert!(w.auth.users().unwrap().is_empty());
}

#[test]
fn two_entries_with_the_same_id_are_refused() {
    let w = empty_world();
    let a = token_format::generate().unwrap();
    // The same id with another secret: the id is what the store keys tokens by.
    let b = token_format::compose(&a.id, &"x".repeat(token_format::SECRET_LEN)).unwrap();
    for tokens in [
        vec![fixture("ci-bot", &a.text), fixture("admin", &a.text)],
        vec![fixture("ci-bot", &a.text), fixture("ci-bot", &b)],
    ] {
        let e = w.auth.seed(users(), tokens).unwrap_err().to_string();
        assert!(e.contains("same id"), "{e}");
        assert!(w.auth.users().unwrap().is_empty());
    }
}

#[test]
fn seed_token_refuses_an_id_already_taken() {
    let w = empty_world();
    let secret = token_format::generate().unwrap().text;
    w.auth
        .seed(users(), vec![fixture("ci-bot", &secret)])
        .unwrap();
    let again = w.auth.seed_token(&fixture("admin", &secret)).unwrap_err();
    assert!(matches!(again, CoreError::Conflict(_)), "{again}");
}

#[test]
fn the_settings_bound_a_seeded_tokens_expiry_and_its_owner_must_be_seeded() {
    let w = empty_world();
    let secret = token_format::generate().unwrap().text;
    let mut never = fixture("ci-bot", &secret);
    never.expiry = Expiry::Never;
    let e = w.auth.seed(users(), vec![never]).unwrap_err().to_string();
    assert!(e.contains("never expire"), "{e}");
    let mut too_long = fixture("ci-bot", &secret);
    too_long.expiry = Expiry::Days(366);
    assert!(w.auth.seed(users(), vec![too_long]).is_err());
    let e = w
        .auth
        .seed(users(), vec![fixture("nobody", &secret)])
        .unwrap_err()
        .to_string();
    assert!(e.contains("user 'nobody', token 1"), "{e}");
    // The default: the settings' maximum validity (365 days).
    let mut default = fixture("ci-bot", &secret);
    default.expiry = Expiry::Default;
    w.auth.seed(users(), vec![default]).unwrap();
    let id = TokenId::parse(&secret[4..16]).unwrap();
    let record = w.auth.store().token(&id).unwrap().unwrap();
    assert_eq!(record.expires_at, Some(T0 + 365 * MILLIS_PER_DAY));
}

#[test]
fn an_existing_database_is_not_seeded_again() {
    let w = World::new();
    let secret = token_format::generate().unwrap().text;
    assert!(
        !w.auth
            .seed(users(), vec![fixture("alice", &secret)])
            .unwrap()
    );
    assert!(w.auth.store().all_tokens().unwrap().is_empty());
}

#[test]
fn a_seed_tokens_debug_output_hides_the_secret() {
    let secret = token_format::generate().unwrap().text;
    assert!(!format!("{:?}", fixture("ci-bot", &secret)).contains(&secret[17..49]));
}
