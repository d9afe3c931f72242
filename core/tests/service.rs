#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic on broken expectations
//! Token, settings and user operations with their rules, on a real sled database.

mod common;

use common::World;
use serde_json::json;
use tokenauth_core::CoreError;
use tokenauth_core::audit::{AuditAction, AuditQuery};
use tokenauth_core::auth::AuthType;
use tokenauth_core::ip::ClientAddr;
use tokenauth_core::scope::Scope;
use tokenauth_core::service::{Actor, NewTokenRequest, TokenFilter};
use tokenauth_core::token::Expiry;

fn req(scope: Option<Scope>, expiry: Expiry) -> NewTokenRequest {
    NewTokenRequest {
        description: "deploy".into(),
        scope,
        expiry,
    }
}

fn last_event(w: &World) -> tokenauth_core::audit::AuditEvent {
    w.auth
        .query_events(
            &Actor::cli(),
            &AuditQuery {
                limit: 1,
                ..AuditQuery::default()
            },
        )
        .unwrap()
        .events
        .remove(0)
}

#[test]
fn creating_a_token_shows_the_secret_once_and_stores_only_a_hash() {
    let w = World::new();
    let view = w
        .auth
        .create_token(
            &w.actor("alice"),
            "alice",
            req(Some(Scope::ReadWrite), Expiry::Days(30)),
        )
        .unwrap();
    let secret = view.token.clone().unwrap();
    assert_eq!(view.created_by, "alice");
    let listed = w.auth.own_tokens(&w.actor("alice")).unwrap();
    assert_eq!(listed.len(), 1);
    assert!(listed[0].token.is_none());
    drop(w.auth);
    // Nothing on disk holds the secret text.
    let secret_part = &secret[17..49];
    for entry in walk(w.dir.path()) {
        let bytes = std::fs::read(&entry).unwrap();
        assert!(
            !bytes
                .windows(secret_part.len())
                .any(|win| win == secret_part.as_bytes())
        );
    }
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p))
        } else {
            out.push(p)
        }
    }
    out
}

#[test]
fn creation_is_always_audited_without_the_secret() {
    let w = World::new();
    let view = w
        .auth
        .create_token(&w.actor("alice"), "alice", req(None, Expiry::Default))
        .unwrap();
    let e = last_event(&w);
    assert_eq!(e.action, AuditAction::TokenCreated);
    assert_eq!(e.token_id.as_deref(), Some(view.id.as_str()));
    assert_eq!(
        e.scope,
        Some(Scope::ReadOnly),
        "no scope given means Read Only"
    );
    assert!(!format!("{e:?}").contains(view.token.as_deref().unwrap()));
}

#[test]
fn forced_read_only_refuses_self_made_read_write_tokens_but_not_admins_on_behalf() {
    let w = World::new();
    w.settings(json!({"permissions": {"forceReadOnlyOwnTokens": true}}));
    let err = w
        .auth
        .create_token(
            &w.actor("alice"),
            "alice",
            req(Some(Scope::ReadWrite), Expiry::Default),
        )
        .unwrap_err();
    assert!(matches!(err, CoreError::Forbidden(_)));
    assert!(
        w.auth
            .create_token(
                &w.actor("alice"),
                "alice",
                req(Some(Scope::ReadOnly), Expiry::Default)
            )
            .is_ok()
    );
    let v = w
        .auth
        .create_token(
            &w.actor("admin"),
            "alice",
            req(Some(Scope::ReadWrite), Expiry::Default),
        )
        .unwrap();
    assert_eq!(
        (v.scope, v.created_by.as_str(), v.user.as_str()),
        (Scope::ReadWrite, "admin", "alice")
    );
}

#[test]
fn only_permitted_users_create_tokens_for_others() {
    let w = World::new();
    let err = w
        .auth
        .create_token(&w.actor("alice"), "bob", req(None, Expiry::Default))
        .unwrap_err();
    assert!(matches!(err, CoreError::Forbidden(_)));
    w.settings(json!({"permissions": {"createOwnTokens": {"everyone": false, "groups": ["jira-administrators"]}}}));
    let err = w
        .auth
        .create_token(&w.actor("alice"), "alice", req(None, Expiry::Default))
        .unwrap_err();
    assert!(matches!(err, CoreError::Forbidden(_)));
}

#[test]
fn the_maximum_validity_bounds_every_new_token() {
    let w = World::new();
    w.settings(json!({"maxTokenValidityDays": 30}));
    let err = w
        .auth
        .create_token(&w.actor("alice"), "alice", req(None, Expiry::Days(31)))
        .unwrap_err();
    assert!(matches!(err, CoreError::Invalid(ref v) if v.field == "validityDays"));
    let err = w
        .auth
        .create_token(&w.actor("alice"), "alice", req(None, Expiry::Never))
        .unwrap_err();
    assert!(matches!(err, CoreError::Invalid(ref v) if v.field == "neverExpires"));
    w.settings(json!({"allowNonExpiringTokens": true}));
    let v = w
        .auth
        .create_token(&w.actor("alice"), "alice", req(None, Expiry::Never))
        .unwrap();
    assert_eq!(v.expires_at, None);
}

#[test]
fn users_revoke_only_their_own_tokens_and_others_look_absent() {
    let w = World::new();
    let v = w
        .auth
        .create_token(&w.actor("alice"), "alice", req(None, Expiry::Default))
        .unwrap();
    assert!(matches!(
        w.auth.revoke_token(&w.actor("bob"), &v.id, false),
        Err(CoreError::NotFound(_))
    ));
    assert!(matches!(
        w.auth.revoke_token(&w.actor("bob"), &v.id, true),
        Err(CoreError::NotFound(_))
    ));
    w.auth
        .revoke_token(&w.actor("alice"), &v.id, false)
        .unwrap();
    assert_eq!(last_event(&w).action, AuditAction::TokenDeleted);
    assert!(matches!(
        w.auth.revoke_token(&w.actor("alice"), &v.id, false),
        Err(CoreError::NotFound(_))
    ));
}

#[test]
fn an_admin_revokes_all_of_a_users_tokens_with_one_event() {
    let w = World::new();
    for _ in 0..3 {
        w.token("bob", Scope::ReadOnly);
    }
    let alice = w.token("alice", Scope::ReadOnly);
    assert!(matches!(
        w.auth.revoke_all(&w.actor("alice"), "bob"),
        Err(CoreError::Forbidden(_))
    ));
    let removed = w.auth.revoke_all(&w.actor("admin"), "bob").unwrap();
    assert_eq!(removed.len(), 3);
    assert!(w.auth.own_tokens(&w.actor("bob")).unwrap().is_empty());
    let e = last_event(&w);
    assert_eq!(e.action, AuditAction::AllTokensDeleted);
    assert_eq!(e.affected_user.as_deref(), Some("bob"));
    assert_eq!(e.changed_values[0].from, "3");
    assert!(
        w.request(Some(&common::bearer(&alice)), "GET", "/rest/api/2/myself")
            .result
            .is_ok()
    );
}

#[test]
fn renaming_changes_only_the_description() {
    let w = World::new();
    let v = w
        .auth
        .create_token(&w.actor("alice"), "alice", req(None, Expiry::Default))
        .unwrap();
    let r = w
        .auth
        .rename_token(&w.actor("alice"), &v.id, "nightly", false)
        .unwrap();
    assert_eq!(
        (r.description.as_str(), r.scope, &r.expires_at),
        ("nightly", v.scope, &v.expires_at)
    );
    assert!(
        w.auth
            .rename_token(&w.actor("alice"), &v.id, "", false)
            .is_err()
    );
}

#[test]
fn the_admin_listing_searches_filters_and_pages() {
    let w = World::new();
    w.token("alice", Scope::ReadOnly);
    w.token("bob", Scope::ReadWrite);
    w.clock.advance(1);
    let all = w
        .auth
        .list_tokens(&w.actor("admin"), &TokenFilter::default())
        .unwrap();
    assert_eq!(all.total, 2);
    let q = TokenFilter {
        q: Some("BOB".into()),
        ..TokenFilter::default()
    };
    assert_eq!(
        w.auth.list_tokens(&w.actor("admin"), &q).unwrap().tokens[0].user,
        "bob"
    );
    let s = TokenFilter {
        scope: Some(Scope::ReadOnly),
        ..TokenFilter::default()
    };
    assert_eq!(w.auth.list_tokens(&w.actor("admin"), &s).unwrap().total, 1);
    let e = TokenFilter {
        expired: Some(true),
        ..TokenFilter::default()
    };
    assert_eq!(w.auth.list_tokens(&w.actor("admin"), &e).unwrap().total, 0);
    let p = TokenFilter {
        offset: 1,
        limit: 1,
        ..TokenFilter::default()
    };
    let page = w.auth.list_tokens(&w.actor("admin"), &p).unwrap();
    assert_eq!((page.total, page.tokens.len()), (2, 1));
    assert!(matches!(
        w.auth
            .list_tokens(&w.actor("alice"), &TokenFilter::default()),
        Err(CoreError::Forbidden(_))
    ));
}

#[test]
fn settings_changes_are_validated_whole_and_nothing_is_half_applied() {
    let w = World::new();
    let admin = w.actor("admin");
    let err = w
        .auth
        .update_settings(
            &admin,
            &json!({"passwordAuthEnabled": false, "ipAllowList": ["bad"]}),
            true,
        )
        .unwrap_err();
    assert!(matches!(err, CoreError::Invalid(ref v) if v.field == "ipAllowList[0]"));
    assert!(w.auth.settings().password_auth_enabled);
    assert!(matches!(
        w.auth.update_settings(&w.actor("alice"), &json!({}), false),
        Err(CoreError::Forbidden(_))
    ));
}

#[test]
fn settings_changes_are_audited_with_their_changed_values() {
    let w = World::new();
    w.auth
        .update_settings(
            &w.actor("admin"),
            &json!({"maxTokenValidityDays": 90}),
            false,
        )
        .unwrap();
    let e = last_event(&w);
    assert_eq!(e.action, AuditAction::SettingsChanged);
    assert_eq!(e.changed_values.len(), 1);
    assert_eq!(
        (
            e.changed_values[0].key.as_str(),
            e.changed_values[0].from.as_str(),
            e.changed_values[0].to.as_str()
        ),
        ("maxTokenValidityDays", "365", "90")
    );
}

fn admin_from(w: &World, ip: &str, auth: AuthType) -> Actor {
    let mut a = w.actor("admin");
    a.client = Some(ClientAddr {
        client: ip.parse().unwrap(),
        proxy: None,
        forwarded_for_malformed: false,
    });
    a.auth = Some(auth);
    a
}

#[test]
fn an_allow_list_that_excludes_the_admin_is_a_conflict_unless_forced() {
    let w = World::new();
    let admin = admin_from(&w, "192.0.2.10", AuthType::Password);
    let patch = json!({"ipAllowList": ["10.0.0.0/8"]});
    let err = w.auth.update_settings(&admin, &patch, false).unwrap_err();
    assert!(matches!(err, CoreError::Conflict(ref m) if m.contains("192.0.2.10")));
    assert!(w.auth.settings().ip_allow_list.is_empty());
    w.auth.update_settings(&admin, &patch, true).unwrap();
    assert_eq!(
        w.auth.settings().ip_allow_list,
        vec!["10.0.0.0/8".to_string()]
    );
    let inside = admin_from(&w, "10.1.1.1", AuthType::Password);
    assert!(
        w.auth
            .update_settings(
                &inside,
                &json!({"ipAllowList": ["10.0.0.0/8", "::1"]}),
                false
            )
            .is_ok()
    );
}

#[test]
fn disabling_passwords_while_holding_no_token_is_a_conflict() {
    let w = World::new();
    let admin = admin_from(&w, "127.0.0.1", AuthType::Password);
    let patch = json!({"passwordAuthEnabled": false});
    assert!(matches!(
        w.auth.update_settings(&admin, &patch, false),
        Err(CoreError::Conflict(_))
    ));
    w.token("admin", Scope::ReadWrite);
    assert!(w.auth.update_settings(&admin, &patch, false).is_ok());
}

#[test]
fn users_are_created_changed_and_deleted_with_events() {
    let w = World::new();
    let admin = w.actor("admin");
    let u = w
        .auth
        .create_user(&admin, common::user("carol", &["jira-users"]))
        .unwrap();
    assert_eq!(u.key(), "carol");
    assert!(matches!(
        w.auth.create_user(&admin, common::user("CAROL", &[])),
        Err(CoreError::Conflict(_))
    ));
    assert!(matches!(
        w.auth.create_user(&admin, common::user("a:b", &[])),
        Err(CoreError::Invalid(_))
    ));
    w.token("carol", Scope::ReadOnly);
    w.auth.delete_user(&admin, "carol").unwrap();
    assert!(w.auth.store().user("carol").unwrap().is_none());
    assert!(w.auth.store().tokens_of("carol").unwrap().is_empty());
    assert_eq!(last_event(&w).action, AuditAction::UserDeleted);
    assert!(matches!(
        w.auth
            .create_user(&w.actor("alice"), common::user("x", &[])),
        Err(CoreError::Forbidden(_))
    ));
}

#[test]
fn a_user_changing_their_password_never_puts_it_in_the_audit_log() {
    let w = World::new();
    let patch = tokenauth_core::service::UserPatch {
        password: Some("n3w-s3cret".into()),
        ..Default::default()
    };
    w.auth
        .update_user(&w.actor("alice"), "alice", patch)
        .unwrap();
    let e = last_event(&w);
    assert!(!format!("{e:?}").contains("n3w-s3cret"));
    assert!(
        w.request(Some(&common::basic("alice", "n3w-s3cret")), "GET", "/x")
            .result
            .is_ok()
    );
    let groups = tokenauth_core::service::UserPatch {
        groups: Some(vec!["jira-administrators".into()]),
        ..Default::default()
    };
    assert!(matches!(
        w.auth.update_user(&w.actor("alice"), "alice", groups),
        Err(CoreError::Forbidden(_))
    ));
}
