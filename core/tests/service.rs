#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic on broken expectations
//! Token, settings and user operations with their rules, on a real sled database.

mod common;

use common::World;
use serde_json::json;
use tokenauth_core::CoreError;
use tokenauth_core::audit::{AuditAction, AuditQuery};
use tokenauth_core::auth::{AuthType, TokenUse};
use tokenauth_core::clock::{MILLIS_PER_DAY, parse_rfc3339};
use tokenauth_core::ip::ClientAddr;
use tokenauth_core::scope::Scope;
use tokenauth_core::service::{
    Actor, NewTokenRequest, ScopeChoice, Source, TokenFilter, UserPatch,
};
use tokenauth_core::token::Expiry;
use tokenauth_core::token_format::TokenId;

fn req(scope: Option<Scope>, expiry: Expiry) -> NewTokenRequest {
    NewTokenRequest {
        description: "deploy".into(),
        scope: scope.map_or(ScopeChoice::LeastPrivilege, ScopeChoice::Exactly),
        expiry,
    }
}

/// The events of one action, newest first.
fn events_of(w: &World, action: AuditAction) -> Vec<tokenauth_core::audit::AuditEvent> {
    w.auth
        .query_events(
            &Actor::cli(),
            &AuditQuery {
                action: Some(action),
                ..AuditQuery::default()
            },
        )
        .unwrap()
        .events
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
        .update_user(&w.actor("alice"), "alice", patch, false)
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
        w.auth
            .update_user(&w.actor("alice"), "alice", groups, false),
        Err(CoreError::Forbidden(_))
    ));
}

// ---------------------------------------------------------------- what a token may mint (H1)

/// `name` acting through one of their tokens of `scope` (as the server builds the actor).
fn via_token(w: &World, name: &str, scope: Scope, days: u32) -> Actor {
    let view = w
        .auth
        .create_token(&w.actor(name), name, req(Some(scope), Expiry::Days(days)))
        .unwrap();
    let mut a = w.actor(name);
    a.auth = Some(AuthType::Token);
    a.token = Some(TokenUse {
        id: TokenId::parse(&view.id).unwrap(),
        scope,
        description: view.description,
        expires_at: view.expires_at.as_deref().and_then(parse_rfc3339),
    });
    a
}

#[test]
fn h1_a_read_only_token_cannot_mint_read_write() {
    let w = World::new();
    let ro = via_token(&w, "alice", Scope::ReadOnly, 30);
    assert!(matches!(
        w.auth
            .create_token(&ro, "alice", req(Some(Scope::ReadWrite), Expiry::Default)),
        Err(CoreError::ReadOnlyToken(_))
    ));
    // The original product's API names no scope: it gets Read Only.
    let compat = NewTokenRequest {
        description: "compat".into(),
        scope: ScopeChoice::AsMuchAsAllowed,
        expiry: Expiry::Default,
    };
    let child = w.auth.create_token(&ro, "alice", compat.clone()).unwrap();
    assert_eq!(child.scope, Scope::ReadOnly);
    // With a password (or a Read & Write token) the same request gets Read & Write.
    let rw = w
        .auth
        .create_token(&w.actor("alice"), "alice", compat)
        .unwrap();
    assert_eq!(rw.scope, Scope::ReadWrite);
    assert!(
        w.auth
            .create_token(&ro, "alice", req(Some(Scope::ReadOnly), Expiry::Default))
            .is_ok()
    );
}

#[test]
fn h1_a_token_made_with_a_token_expires_no_later_than_it() {
    let w = World::new();
    let parent = via_token(&w, "alice", Scope::ReadWrite, 10);
    let cap = parent.token.as_ref().unwrap().expires_at;
    let child = w
        .auth
        .create_token(
            &parent,
            "alice",
            req(Some(Scope::ReadWrite), Expiry::Default),
        )
        .unwrap();
    assert_eq!(child.expires_at.as_deref().and_then(parse_rfc3339), cap);
    let err = w
        .auth
        .create_token(&parent, "alice", req(None, Expiry::Days(30)))
        .unwrap_err();
    assert!(matches!(err, CoreError::Invalid(ref v) if v.field == "validityDays"));
    // The event names the token that minted it.
    let e = last_event(&w);
    assert!(
        e.changed_values
            .iter()
            .any(|c| c.key == "createdWithToken"
                && c.to == parent.token.as_ref().unwrap().id.as_str())
    );
}

// ---------------------------------------------------------------- the per-user cap (M5b)

#[test]
fn m5_a_user_holds_at_most_max_tokens_per_user() {
    let w = World::new();
    w.settings(json!({"maxTokensPerUser": 3}));
    for _ in 0..3 {
        w.token("alice", Scope::ReadOnly);
    }
    let err = w
        .auth
        .create_token(&w.actor("alice"), "alice", req(None, Expiry::Default))
        .unwrap_err();
    assert!(
        matches!(err, CoreError::Invalid(ref v) if v.field == "maxTokensPerUser"),
        "{err}"
    );
    // An admin on alice's behalf is held to it too; bob is not affected.
    assert!(
        w.auth
            .create_token(&w.actor("admin"), "alice", req(None, Expiry::Default))
            .is_err()
    );
    w.token("bob", Scope::ReadOnly);
}

// ---------------------------------------------------------------- anti-lockout (L1)

#[test]
fn l1_a_password_session_counts_as_a_password_when_disabling_passwords() {
    let w = World::new();
    let admin = admin_from(&w, "127.0.0.1", AuthType::Session);
    assert!(admin.used_password());
    assert!(matches!(
        w.auth
            .update_settings(&admin, &json!({"passwordAuthEnabled": false}), false),
        Err(CoreError::Conflict(_))
    ));
    // A Read Only token is no way back in: nothing can be changed with it.
    w.token("admin", Scope::ReadOnly);
    assert!(matches!(
        w.auth
            .update_settings(&admin, &json!({"passwordAuthEnabled": false}), false),
        Err(CoreError::Conflict(_))
    ));
    w.token("admin", Scope::ReadWrite);
    assert!(
        w.auth
            .update_settings(&admin, &json!({"passwordAuthEnabled": false}), false)
            .is_ok()
    );
}

#[test]
fn l1_taking_away_use_tokens_with_passwords_off_is_a_lockout() {
    let w = World::new();
    let admin = via_token(&w, "admin", Scope::ReadWrite, 30);
    w.settings(json!({"passwordAuthEnabled": false}));
    let patch =
        json!({"permissions": {"useTokens": {"everyone": false, "groups": ["jira-users"]}}});
    let mut admin_no_users_group = admin.clone();
    admin_no_users_group.user.groups = vec!["jira-administrators".into()];
    w.auth
        .update_user(
            &Actor::cli(),
            "admin",
            UserPatch {
                groups: Some(vec!["jira-administrators".into()]),
                ..UserPatch::default()
            },
            false,
        )
        .unwrap();
    assert!(matches!(
        w.auth.update_settings(&admin_no_users_group, &patch, false),
        Err(CoreError::Conflict(_))
    ));
    assert!(
        w.auth
            .update_settings(&admin_no_users_group, &patch, true)
            .is_ok()
    );
}

#[test]
fn l1_trusted_proxies_changed_with_the_allow_list_are_checked_together() {
    let w = World::new();
    // The admin comes through 10.0.0.1 for the client 203.0.113.9.
    let mut admin = admin_from(&w, "10.0.0.1", AuthType::Password);
    admin.source = Some(Source {
        peer: "10.0.0.1".parse().unwrap(),
        forwarded_for: Some(b"203.0.113.9".to_vec()),
    });
    // Trusting the proxy makes the admin 203.0.113.9, which the new list excludes.
    let patch = json!({"trustedProxies": ["10.0.0.1"], "ipAllowList": ["10.0.0.0/8"]});
    let err = w.auth.update_settings(&admin, &patch, false).unwrap_err();
    assert!(
        matches!(err, CoreError::Conflict(ref m) if m.contains("203.0.113.9")),
        "{err}"
    );
    let ok =
        json!({"trustedProxies": ["10.0.0.1"], "ipAllowList": ["10.0.0.0/8", "203.0.113.0/24"]});
    assert!(w.auth.update_settings(&admin, &ok, false).is_ok());
}

#[test]
fn l1_an_admin_cannot_demote_or_deactivate_themselves_without_force() {
    let w = World::new();
    let demote = UserPatch {
        groups: Some(vec!["jira-users".into()]),
        ..UserPatch::default()
    };
    let deactivate = UserPatch {
        active: Some(false),
        ..UserPatch::default()
    };
    // The review's reproduction: the only admin demotes themselves and no admin is left.
    for patch in [demote.clone(), deactivate.clone()] {
        assert!(matches!(
            w.auth.update_user(&w.actor("admin"), "admin", patch, false),
            Err(CoreError::Conflict(_))
        ));
    }
    assert!(w.auth.settings().is_admin(&w.actor("admin").user));
    // Changing one's own display name is no demotion.
    let rename = UserPatch {
        display_name: Some("The Admin".into()),
        ..UserPatch::default()
    };
    w.auth
        .update_user(&w.actor("admin"), "admin", rename, false)
        .unwrap();
    // Another admin may be demoted: the actor remains one.
    w.auth
        .create_user(
            &Actor::cli(),
            common::user("root", &["jira-administrators"]),
        )
        .unwrap();
    w.auth
        .update_user(&w.actor("admin"), "root", demote.clone(), false)
        .unwrap();
    // With force, as asked.
    w.auth
        .update_user(&w.actor("admin"), "admin", deactivate, true)
        .unwrap();
}

#[test]
fn l1_an_admin_cannot_delete_themselves_so_one_always_remains() {
    let w = World::new();
    assert!(matches!(
        w.auth.delete_user(&w.actor("admin"), "admin"),
        Err(CoreError::Conflict(_))
    ));
}

// ---------------------------------------------------------------- the maximum validity (L10)

#[test]
fn l10_lowering_the_maximum_validity_applies_to_existing_tokens() {
    let w = World::new();
    let t = w.token("alice", Scope::ReadOnly);
    w.clock.advance(40 * MILLIS_PER_DAY);
    let ok = w.request(Some(&common::bearer(&t)), "GET", "/rest/api/2/myself");
    assert!(ok.result.is_ok());
    w.settings(json!({"maxTokenValidityDays": 30}));
    let gone = w.request(Some(&common::bearer(&t)), "GET", "/rest/api/2/myself");
    assert!(gone.result.is_err());
    // The listing says so too.
    let listed = w.auth.own_tokens(&w.actor("alice")).unwrap();
    assert_eq!(
        listed[0].expires_at.as_deref().and_then(parse_rfc3339),
        Some(common::T0 + 30 * MILLIS_PER_DAY)
    );
}

// ---------------------------------------------------------------- rotation (SPEC §9)

fn id_of(secret: &str) -> String {
    tokenauth_core::token_format::parse(secret)
        .unwrap()
        .id
        .as_str()
        .to_owned()
}

#[test]
fn rotation_gives_a_new_secret_with_the_same_owner_description_and_scope() {
    let w = World::new();
    let old = w.token("alice", Scope::ReadWrite);
    let old_id = id_of(&old);
    w.clock.advance(5 * MILLIS_PER_DAY);
    let new = w
        .auth
        .rotate_token(&w.actor("alice"), &old_id, Expiry::Default, false)
        .unwrap();
    assert_ne!(new.id, old_id);
    assert_eq!(new.user, "alice");
    assert_eq!(new.description, "alice's script");
    assert_eq!(new.scope, Scope::ReadWrite);
    // A fresh expiry: the old one's lifetime (the maximum, 365 days) from now.
    let expires = new.expires_at.as_deref().and_then(parse_rfc3339).unwrap();
    assert_eq!(expires, w.auth.now() + 365 * MILLIS_PER_DAY);
    let secret = new.token.clone().unwrap();
    // The old secret is refused at once, the new one works.
    assert!(
        w.request(Some(&common::bearer(&old)), "GET", "/rest/api/2/myself")
            .result
            .is_err()
    );
    assert!(
        w.request(Some(&common::bearer(&secret)), "GET", "/rest/api/2/myself")
            .result
            .is_ok()
    );
    // Audited, naming both ids.
    let rotated = events_of(&w, AuditAction::TokenRotated);
    assert_eq!(rotated.len(), 1);
    assert!(
        rotated[0]
            .changed_values
            .iter()
            .any(|c| c.key == "tokenId" && c.from == old_id && c.to == new.id)
    );
    // The token count is unchanged.
    assert_eq!(w.auth.own_tokens(&w.actor("alice")).unwrap().len(), 1);
}

#[test]
fn a_rotated_away_secret_is_always_audited_with_its_successor_even_with_failure_auditing_off() {
    let w = World::new();
    w.settings(json!({"audit": {"failedTokenAttempts": false, "allFailedAttempts": false}}));
    let old = w.token("alice", Scope::ReadOnly);
    let new = w
        .auth
        .rotate_token(&w.actor("alice"), &id_of(&old), Expiry::Default, false)
        .unwrap();
    // Some days later a forgotten cron job still sends the old secret, in Basic and Bearer.
    w.clock.advance(3 * MILLIS_PER_DAY);
    for header in [common::bearer(&old), common::basic("alice", &old)] {
        let out = w.request(Some(&header), "GET", "/rest/api/2/myself");
        assert_eq!(out.result.unwrap_err().status, 401);
    }
    let seen = events_of(&w, AuditAction::RotatedTokenPresented);
    assert_eq!(seen.len(), 2);
    for e in &seen {
        assert_eq!(e.token_id.as_deref(), Some(id_of(&old).as_str()));
        assert!(
            e.changed_values
                .iter()
                .any(|c| c.key == "successorTokenId" && c.to == new.id)
        );
        assert_eq!(e.affected_user.as_deref(), Some("alice"));
    }
    // A wrong secret under the old id is an ordinary failure: not audited with failures off,
    // and never reported as the rotated token (the id alone is public).
    let forged = tokenauth_core::token_format::compose(
        &TokenId::parse(&id_of(&old)).unwrap(),
        &"x".repeat(tokenauth_core::token_format::SECRET_LEN),
    )
    .unwrap();
    let _ = w.request(Some(&common::bearer(&forged)), "GET", "/rest/api/2/myself");
    let count = events_of(&w, AuditAction::RotatedTokenPresented).len();
    assert_eq!(count, 2);
}

#[test]
fn users_rotate_only_their_own_tokens_admins_anyones() {
    let w = World::new();
    let bobs = id_of(&w.token("bob", Scope::ReadOnly));
    assert!(matches!(
        w.auth
            .rotate_token(&w.actor("alice"), &bobs, Expiry::Default, false),
        Err(CoreError::NotFound(_))
    ));
    let by_admin = w
        .auth
        .rotate_token(&w.actor("admin"), &bobs, Expiry::Days(7), true)
        .unwrap();
    assert_eq!(by_admin.user, "bob");
    assert_eq!(
        by_admin.expires_at.as_deref().and_then(parse_rfc3339),
        Some(w.auth.now() + 7 * MILLIS_PER_DAY)
    );
    // Rotating what is already rotated away: not found, nothing written.
    assert!(matches!(
        w.auth
            .rotate_token(&w.actor("admin"), &bobs, Expiry::Default, true),
        Err(CoreError::NotFound(_))
    ));
}

#[test]
fn a_read_only_token_rotates_itself_but_cannot_rotate_a_read_write_token() {
    let w = World::new();
    let rw = id_of(&w.token("alice", Scope::ReadWrite));
    let ro = via_token(&w, "alice", Scope::ReadOnly, 10);
    assert!(matches!(
        w.auth.rotate_token(&ro, &rw, Expiry::Default, false),
        Err(CoreError::ReadOnlyToken(_))
    ));
    // Itself: replaced, not copied, so its own expiry does not cap the new one (10 days of
    // lifetime → 10 days from now).
    let own_id = ro.token.as_ref().unwrap().id.as_str().to_owned();
    w.clock.advance(8 * MILLIS_PER_DAY);
    let renewed = w
        .auth
        .rotate_token(&ro, &own_id, Expiry::Default, false)
        .unwrap();
    assert_eq!(renewed.scope, Scope::ReadOnly);
    assert_eq!(
        renewed.expires_at.as_deref().and_then(parse_rfc3339),
        Some(w.auth.now() + 10 * MILLIS_PER_DAY)
    );
}

#[test]
fn token_numbers_are_stable_across_restarts_and_never_reused() {
    let w = World::new();
    let a = id_of(&w.token("alice", Scope::ReadOnly));
    let b = id_of(&w.token("bob", Scope::ReadOnly));
    let (na, nb) = (
        w.auth.token_number(&a).unwrap(),
        w.auth.token_number(&b).unwrap(),
    );
    assert_ne!(na, nb);
    w.auth.revoke_token(&w.actor("bob"), &b, false).unwrap();
    let c = id_of(&w.token("bob", Scope::ReadOnly));
    let nc = w.auth.token_number(&c).unwrap();
    assert!(nc > nb, "a revoked token's number is not given again");
    let w = w.reopen();
    assert_eq!(w.auth.token_number(&a).unwrap(), na);
    assert_eq!(w.auth.token_by_number(&w.actor("alice"), na).unwrap().id, a);
    // Others' tokens by number look absent; an admin sees them.
    assert!(matches!(
        w.auth.token_by_number(&w.actor("alice"), nc),
        Err(CoreError::NotFound(_))
    ));
    assert_eq!(w.auth.token_by_number(&w.actor("admin"), nc).unwrap().id, c);
    assert!(w.auth.token_by_number(&w.actor("admin"), nb).is_err());
}

#[test]
fn expiring_within_days_lists_only_valid_tokens_expiring_in_the_window() {
    let w = World::new();
    let alice = w.actor("alice");
    let soon = w
        .auth
        .create_token(&alice, "alice", req(None, Expiry::Days(3)))
        .unwrap();
    let later = w
        .auth
        .create_token(&alice, "alice", req(None, Expiry::Days(30)))
        .unwrap();
    let expired = w
        .auth
        .create_token(&alice, "alice", req(None, Expiry::Days(1)))
        .unwrap();
    w.clock.advance(MILLIS_PER_DAY + 1);
    let ids: Vec<String> = w
        .auth
        .own_tokens_expiring_within(&alice, 7)
        .unwrap()
        .into_iter()
        .map(|t| t.id)
        .collect();
    assert_eq!(ids, vec![soon.id.clone()]);
    assert!(!ids.contains(&later.id) && !ids.contains(&expired.id));
    let page = w
        .auth
        .list_tokens(
            &w.actor("admin"),
            &TokenFilter {
                expiring_within_days: Some(30),
                ..TokenFilter::default()
            },
        )
        .unwrap();
    let mut got: Vec<String> = page.tokens.into_iter().map(|t| t.id).collect();
    got.sort();
    let mut want = vec![soon.id, later.id];
    want.sort();
    assert_eq!(got, want);
}

#[test]
fn tokens_made_before_numbering_get_numbers_when_the_store_is_opened() {
    let w = World::new();
    let a = id_of(&w.token("alice", Scope::ReadOnly));
    let b = id_of(&w.token("bob", Scope::ReadOnly));
    let World { dir, auth, .. } = w;
    drop(auth);
    // A database written by a build without numbers: no number trees, no counter.
    {
        let db = loop {
            match sled::open(dir.path()) {
                Ok(db) => break db,
                Err(_) => std::thread::sleep(std::time::Duration::from_millis(20)),
            }
        };
        db.drop_tree("token_numbers").unwrap();
        db.drop_tree("tokens_by_number").unwrap();
        db.open_tree("meta")
            .unwrap()
            .remove("next_token_number")
            .unwrap();
        db.flush().unwrap();
    }
    let w = World::open_in(dir);
    let (na, nb) = (
        w.auth.token_number(&a).unwrap(),
        w.auth.token_number(&b).unwrap(),
    );
    assert_ne!(na, nb);
    let c = id_of(&w.token("alice", Scope::ReadOnly));
    assert!(w.auth.token_number(&c).unwrap() > na.max(nb));
    let w = w.reopen();
    assert_eq!(w.auth.token_number(&a).unwrap(), na);
}

#[test]
fn review_m1_an_admins_read_only_token_cannot_rotate_someone_elses_token() {
    let w = World::new();
    let bobs = id_of(&w.token("bob", Scope::ReadOnly));
    let admin_ro = via_token(&w, "admin", Scope::ReadOnly, 30);
    assert!(matches!(
        w.auth.rotate_token(&admin_ro, &bobs, Expiry::Default, true),
        Err(CoreError::ReadOnlyToken(_))
    ));
    // With a password (or a Read & Write token) the admin may.
    let admin_rw = via_token(&w, "admin", Scope::ReadWrite, 30);
    assert!(
        w.auth
            .rotate_token(&admin_rw, &bobs, Expiry::Default, true)
            .is_ok()
    );
}

#[test]
fn review_m3_a_token_rotating_itself_keeps_its_lifetime_at_most() {
    let w = World::new();
    let one_day = via_token(&w, "alice", Scope::ReadOnly, 1);
    let id = one_day.token.as_ref().unwrap().id.as_str().to_owned();
    let err = w
        .auth
        .rotate_token(&one_day, &id, Expiry::Days(365), false)
        .unwrap_err();
    assert!(
        matches!(err, CoreError::Invalid(ref v) if v.field == "validityDays"),
        "{err}"
    );
    assert!(
        w.auth
            .rotate_token(&one_day, &id, Expiry::Never, false)
            .is_err()
    );
    let renewed = w
        .auth
        .rotate_token(&one_day, &id, Expiry::Default, false)
        .unwrap();
    assert_eq!(
        renewed.expires_at.as_deref().and_then(parse_rfc3339),
        Some(w.auth.now() + MILLIS_PER_DAY)
    );
    // The owner, signed in with a password, may give it a longer life.
    let longer = w
        .auth
        .rotate_token(&w.actor("alice"), &renewed.id, Expiry::Days(30), false)
        .unwrap();
    assert_eq!(
        longer.expires_at.as_deref().and_then(parse_rfc3339),
        Some(w.auth.now() + 30 * MILLIS_PER_DAY)
    );
}

#[test]
fn review_m2_rotated_away_tokens_are_forgotten_after_the_maximum_validity() {
    let w = World::new();
    w.settings(json!({"maxTokenValidityDays": 30}));
    let old = w.token("alice", Scope::ReadOnly);
    w.auth
        .rotate_token(&w.actor("alice"), &id_of(&old), Expiry::Default, false)
        .unwrap();
    let presented = |w: &World| {
        w.request(Some(&common::bearer(&old)), "GET", "/rest/api/2/myself");
        events_of(w, AuditAction::RotatedTokenPresented).len()
    };
    w.clock.advance(29 * MILLIS_PER_DAY);
    w.auth.prune_audit().unwrap();
    assert_eq!(
        presented(&w),
        1,
        "still remembered within the maximum validity"
    );
    w.clock.advance(2 * MILLIS_PER_DAY);
    w.auth.prune_audit().unwrap();
    assert_eq!(
        presented(&w),
        1,
        "forgotten after it: an unknown id, not reported"
    );
}
