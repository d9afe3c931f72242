#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic on broken expectations
//! The store's event sink (what `--audit-file` hangs on): every event the log holds reaches it
//! once, with its id, in id order — batched events and those written with a user, token or
//! settings change alike — and an event the log does not hold never does.

mod common;

use std::sync::{Arc, Mutex};

use serde_json::json;
use tokenauth_core::audit::{AuditAction, AuditEvent, AuditQuery};
use tokenauth_core::clock::ManualClock;
use tokenauth_core::scope::Scope;
use tokenauth_core::service::{Actor, NewTokenRequest, NewUser, ScopeChoice, TokenAuth, UserPatch};
use tokenauth_core::store::sled_store::EventSink;
use tokenauth_core::token::Expiry;

#[derive(Default)]
struct Heard(Mutex<Vec<AuditEvent>>);

impl EventSink for Heard {
    fn committed(&self, events: Vec<AuditEvent>) {
        self.0.lock().unwrap().extend(events);
    }
}

fn new_token(auth: &TokenAuth, owner: &str) -> Result<String, tokenauth_core::CoreError> {
    let actor = Actor::user(tokenauth_core::user::User::clone(
        &auth.store().user(owner).unwrap().unwrap(),
    ));
    Ok(auth
        .create_token(
            &actor,
            owner,
            NewTokenRequest {
                description: format!("{owner}'s script"),
                scope: ScopeChoice::Exactly(Scope::ReadOnly),
                expiry: Expiry::Default,
            },
        )?
        .id)
}

#[test]
fn every_event_in_the_log_reaches_the_sink_once_with_its_id_in_id_order() {
    let dir = tempfile::tempdir().unwrap();
    let heard = Arc::new(Heard::default());
    let store = common::open_when_released(dir.path()).with_event_sink(heard.clone());
    let auth = TokenAuth::new(
        Arc::new(store),
        Arc::new(ManualClock::new(common::T0)),
        common::TEST_PARAMS,
    )
    .unwrap();
    // Users (seeded and changed), settings, tokens (created, renamed, revoked, all of a
    // user's), and a batch of authentication events: every way an event is written.
    auth.seed_users(vec![
        common::user("admin", &["jira-administrators"]),
        common::user("alice", &["jira-users"]),
    ])
    .unwrap();
    let cli = Actor::cli();
    auth.update_settings(&cli, &json!({"maxTokensPerUser": 2}), true)
        .unwrap();
    let first = new_token(&auth, "alice").unwrap();
    new_token(&auth, "alice").unwrap();
    auth.rename_token(&cli, &first, "renamed", true).unwrap();
    auth.revoke_token(&cli, &first, true).unwrap();
    auth.revoke_all(&cli, "alice").unwrap();
    auth.update_user(
        &cli,
        "alice",
        UserPatch {
            display_name: Some("Alice".into()),
            ..UserPatch::default()
        },
        false,
    )
    .unwrap();
    let mut batch: Vec<_> = (0..3)
        .map(|_| AuditEvent::new(common::T0, AuditAction::AuthenticatedWithToken, "alice"))
        .collect();
    auth.record_events(&mut batch).unwrap();
    // Refused or without effect: no event in the log, none heard.
    new_token(&auth, "alice").unwrap();
    new_token(&auth, "alice").unwrap();
    assert!(new_token(&auth, "alice").is_err(), "over maxTokensPerUser");
    assert!(
        auth.revoke_token(&cli, &first, true).is_err(),
        "gone already"
    );
    auth.create_user(
        &cli,
        NewUser {
            name: "carol".into(),
            ..NewUser::default()
        },
    )
    .unwrap();

    let page = auth
        .store()
        .query_events(&AuditQuery {
            limit: 1000,
            ..AuditQuery::default()
        })
        .unwrap();
    let mut logged = page.events;
    logged.reverse();
    let heard = heard.0.lock().unwrap().clone();
    assert_eq!(heard, logged, "the same events, ids and all, in log order");
    assert!(
        heard.windows(2).all(|w| w[0].id < w[1].id),
        "in id order, each once"
    );
    let actions: Vec<_> = heard.iter().map(|e| e.action).collect();
    for a in [
        AuditAction::UserCreated,
        AuditAction::SettingsChanged,
        AuditAction::TokenCreated,
        AuditAction::TokenChanged,
        AuditAction::TokenDeleted,
        AuditAction::AllTokensDeleted,
        AuditAction::UserChanged,
        AuditAction::AuthenticatedWithToken,
    ] {
        assert!(actions.contains(&a), "{a:?} heard");
    }
    assert_eq!(
        actions
            .iter()
            .filter(|a| **a == AuditAction::TokenCreated)
            .count(),
        4,
        "the refused fifth token is not"
    );
}
