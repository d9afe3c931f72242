#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic on broken expectations
//! SPEC section 3, line by line, on a real sled database.

mod common;

use common::{World, basic, bearer};
use serde_json::json;
use tokenauth_core::audit::AuditAction;
use tokenauth_core::auth::AuthRequest;
use tokenauth_core::auth::{AuthType, DenialKind, Effect};
use tokenauth_core::clock::MILLIS_PER_DAY;
use tokenauth_core::credentials::{Credentials, SessionOrigin, SessionPrincipal};
use tokenauth_core::csrf::BrowserHeaders;
use tokenauth_core::scope::Scope;
use tokenauth_core::service::{Actor, UserPatch};
use tokenauth_core::token_format;

const MYSELF: &str = "/rest/api/2/myself";
const ISSUE: &str = "/rest/api/2/issue";

fn denied(outcome: &tokenauth_core::auth::AuthOutcome) -> DenialKind {
    outcome.result.as_ref().expect_err("should be denied").kind
}

fn actions(outcome: &tokenauth_core::auth::AuthOutcome) -> Vec<AuditAction> {
    outcome.events.iter().map(|e| e.action).collect()
}

// ---------------------------------------------------------------- 1. client address

#[test]
fn an_empty_allow_list_allows_every_address() {
    let w = World::new();
    let t = w.token("alice", Scope::ReadOnly);
    let o = w.request_from(
        "203.0.113.9",
        None,
        Some(&basic("alice", &t)),
        "GET",
        MYSELF,
    );
    assert!(o.result.is_ok());
}

#[test]
fn a_client_outside_the_allow_list_gets_403_for_tokens_and_passwords_alike() {
    let w = World::new();
    let t = w.token("alice", Scope::ReadOnly);
    w.settings(json!({"ipAllowList": ["10.0.0.0/8"]}));
    for header in [basic("alice", &t), basic("alice", "alice")] {
        let o = w.request_from("192.0.2.1", None, Some(&header), "GET", MYSELF);
        let d = o.result.unwrap_err();
        assert_eq!((d.status, d.kind), (403, DenialKind::IpNotAllowed));
        assert_eq!(d.message, "IP address not allowed");
        assert_eq!(d.denied_reason(), Some("IP_NOT_ALLOWED"));
        assert_eq!(d.login_reason(), "AUTHENTICATION_DENIED");
    }
    let o = w.request_from("10.1.2.3", None, Some(&basic("alice", &t)), "GET", MYSELF);
    assert!(o.result.is_ok());
}

#[test]
fn the_allow_list_is_checked_before_credentials() {
    let w = World::new();
    w.settings(json!({"ipAllowList": ["10.0.0.0/8"]}));
    let o = w.request_from("192.0.2.1", None, None, "GET", MYSELF);
    assert_eq!(denied(&o), DenialKind::IpNotAllowed);
}

#[test]
fn a_refused_address_is_audited_only_under_2a_or_2b() {
    let w = World::new();
    w.settings(json!({"ipAllowList": ["10.0.0.0/8"]}));
    let o = w.request_from("192.0.2.1", None, Some(&basic("alice", "x")), "GET", MYSELF);
    assert!(o.events.is_empty());
    w.settings(json!({"audit": {"allFailedAttempts": true}}));
    let o = w.request_from("192.0.2.1", None, Some(&basic("alice", "x")), "GET", MYSELF);
    assert_eq!(actions(&o), vec![AuditAction::IpNotAllowed]);
    assert_eq!(o.events[0].author, "Anonymous");
    assert_eq!(o.events[0].affected_user.as_deref(), Some("alice"));
    assert_eq!(o.events[0].client_ip.as_deref(), Some("192.0.2.1"));
    w.settings(json!({"passwordAuthEnabled": false, "audit": {"allFailedAttempts": false, "failedTokenAttempts": true}}));
    let o = w.request_from("192.0.2.1", None, Some(&basic("alice", "x")), "GET", MYSELF);
    assert_eq!(actions(&o), vec![AuditAction::IpNotAllowed]);
}

#[test]
fn through_a_trusted_proxy_the_forwarded_client_is_checked() {
    let w = World::new();
    let t = w.token("alice", Scope::ReadOnly);
    w.settings(
        json!({"ipAllowList": ["198.51.100.0/24"], "trustedProxies": ["10.0.0.1"],
        "audit": {"successfulAuthentication": true}}),
    );
    let ok = w.request_from(
        "10.0.0.1",
        Some("198.51.100.7"),
        Some(&basic("alice", &t)),
        "GET",
        MYSELF,
    );
    let p = ok.result.as_ref().unwrap();
    assert_eq!(p.client.client.to_string(), "198.51.100.7");
    assert_eq!(ok.events[0].client_ip.as_deref(), Some("198.51.100.7"));
    assert_eq!(ok.events[0].proxy_ip.as_deref(), Some("10.0.0.1"));
    let no = w.request_from(
        "10.0.0.1",
        Some("203.0.113.5"),
        Some(&basic("alice", &t)),
        "GET",
        MYSELF,
    );
    assert_eq!(denied(&no), DenialKind::IpNotAllowed);
}

#[test]
fn an_untrusted_proxy_cannot_claim_an_allowed_address() {
    let w = World::new();
    let t = w.token("alice", Scope::ReadOnly);
    w.settings(json!({"ipAllowList": ["198.51.100.0/24"], "trustedProxies": ["10.0.0.1"]}));
    let o = w.request_from(
        "10.9.9.9",
        Some("198.51.100.7"),
        Some(&basic("alice", &t)),
        "GET",
        MYSELF,
    );
    assert_eq!(denied(&o), DenialKind::IpNotAllowed);
}

#[test]
fn a_malformed_forwarded_for_from_a_trusted_proxy_fails_closed() {
    let w = World::new();
    let t = w.token("alice", Scope::ReadOnly);
    w.settings(json!({"ipAllowList": ["10.0.0.0/8"], "trustedProxies": ["10.0.0.1"]}));
    let o = w.request_from(
        "10.0.0.1",
        Some("not-an-ip"),
        Some(&basic("alice", &t)),
        "GET",
        MYSELF,
    );
    assert_eq!(denied(&o), DenialKind::IpNotAllowed);
}

// ---------------------------------------------------------------- 2. credentials

#[test]
fn missing_credentials_get_401_with_a_challenge_and_no_event() {
    let w = World::new();
    w.settings(json!({"audit": {"allFailedAttempts": true}}));
    let o = w.request(None, "GET", MYSELF);
    let d = o.result.unwrap_err();
    assert_eq!((d.status, d.kind), (401, DenialKind::MissingCredentials));
    assert!(d.challenges());
    assert!(o.events.is_empty());
}

#[test]
fn a_malformed_header_gets_401_never_an_error() {
    let w = World::new();
    for h in ["Basic !!!", "Digest abc", "Bearer", "Basic Zm9v"] {
        let o = w.request(Some(h), "GET", MYSELF);
        let d = o.result.unwrap_err();
        assert_eq!(
            (d.status, d.kind),
            (401, DenialKind::MalformedCredentials),
            "{h}"
        );
        assert_eq!(d.login_reason(), "AUTHENTICATED_FAILED");
    }
}

// ---------------------------------------------------------------- 3. tokens

#[test]
fn a_valid_token_in_basic_auth_authenticates_its_owner() {
    let w = World::new();
    let t = w.token("alice", Scope::ReadWrite);
    let o = w.request(Some(&basic("alice", &t)), "POST", ISSUE);
    let p = o.result.as_ref().unwrap();
    assert_eq!(p.user.name, "alice");
    assert_eq!(p.auth, AuthType::Token);
    assert_eq!(p.token.as_ref().unwrap().scope, Scope::ReadWrite);
    assert!(matches!(o.effects[0], Effect::TokenUsed { .. }));
}

#[test]
fn the_user_name_is_matched_ignoring_case() {
    let w = World::new();
    let t = w.token("alice", Scope::ReadOnly);
    assert!(
        w.request(Some(&basic("ALICE", &t)), "GET", MYSELF)
            .result
            .is_ok()
    );
}

#[test]
fn a_bearer_token_authenticates_without_a_user_name() {
    let w = World::new();
    let t = w.token("bob", Scope::ReadOnly);
    let o = w.request(Some(&bearer(&t)), "GET", MYSELF);
    assert_eq!(o.result.unwrap().user.name, "bob");
}

#[test]
fn a_token_presented_with_another_users_name_fails() {
    let w = World::new();
    let t = w.token("alice", Scope::ReadOnly);
    let o = w.request(Some(&basic("bob", &t)), "GET", MYSELF);
    assert_eq!(denied(&o), DenialKind::Failed);
    // With passwords enabled it could have been bob's password: it counts against bob.
    assert_eq!(
        o.effects,
        vec![Effect::FailedLogin {
            user_key: "bob".into()
        }]
    );
}

#[test]
fn a_wrong_secret_for_a_real_token_id_fails() {
    let w = World::new();
    let t = w.token("alice", Scope::ReadOnly);
    let id = token_format::parse(&t).unwrap().id;
    // Same id, a different secret, with a correct checksum: only the hash can reject it.
    let other = token_format::generate().unwrap().text;
    let forged = with_checksum(&format!("tka_{}_{}", id, &other[17..49]));
    assert_eq!(token_format::parse(&forged).unwrap().id, id);
    assert_ne!(forged, t);
    let o = w.request(Some(&basic("alice", &forged)), "GET", MYSELF);
    assert_eq!(denied(&o), DenialKind::Failed);
    let o = w.request(Some(&bearer(&forged)), "GET", MYSELF);
    assert_eq!(denied(&o), DenialKind::Failed);
}

/// Appends the format's checksum (CRC32 in 6 base62 digits), computed independently here.
fn with_checksum(body: &str) -> String {
    const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut n = u64::from(crc32(body.as_bytes()));
    let mut out = [b'0'; 6];
    for slot in out.iter_mut().rev() {
        *slot = ALPHABET[(n % 62) as usize];
        n /= 62;
    }
    format!("{body}{}", String::from_utf8(out.to_vec()).unwrap())
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

#[test]
fn an_expired_token_fails() {
    let w = World::new();
    let t = w.token("alice", Scope::ReadOnly);
    w.clock.advance(365 * MILLIS_PER_DAY);
    assert_eq!(
        denied(&w.request(Some(&basic("alice", &t)), "GET", MYSELF)),
        DenialKind::Failed
    );
    assert_eq!(
        denied(&w.request(Some(&bearer(&t)), "GET", MYSELF)),
        DenialKind::Failed
    );
}

#[test]
fn a_revoked_token_fails() {
    let w = World::new();
    let t = w.token("alice", Scope::ReadOnly);
    let id = token_format::parse(&t).unwrap().id;
    w.auth
        .revoke_token(&w.actor("alice"), id.as_str(), false)
        .unwrap();
    assert_eq!(
        denied(&w.request(Some(&bearer(&t)), "GET", MYSELF)),
        DenialKind::Failed
    );
}

#[test]
fn a_deactivated_users_token_fails() {
    let w = World::new();
    let t = w.token("alice", Scope::ReadOnly);
    let patch = UserPatch {
        active: Some(false),
        ..UserPatch::default()
    };
    w.auth
        .update_user(&w.actor("admin"), "alice", patch, false)
        .unwrap();
    assert_eq!(
        denied(&w.request(Some(&bearer(&t)), "GET", MYSELF)),
        DenialKind::Failed
    );
    assert_eq!(
        denied(&w.request(Some(&basic("alice", "alice")), "GET", MYSELF)),
        DenialKind::Failed
    );
}

#[test]
fn a_user_without_the_use_tokens_permission_gets_403_audited_under_3() {
    let w = World::new();
    let t = w.token("alice", Scope::ReadOnly);
    w.settings(
        json!({"permissions": {"useTokens": {"everyone": false, "groups": ["jira-administrators"]}},
        "audit": {"permissionDenied": true}}),
    );
    let o = w.request(Some(&basic("alice", &t)), "GET", MYSELF);
    let d = o.result.as_ref().unwrap_err();
    assert_eq!((d.status, d.kind), (403, DenialKind::TokenUseNotPermitted));
    assert_eq!(actions(&o), vec![AuditAction::PermissionDenied]);
    let admin = w.token("admin", Scope::ReadOnly);
    assert!(
        w.request(Some(&bearer(&admin)), "GET", MYSELF)
            .result
            .is_ok()
    );
}

// ---------------------------------------------------------------- 4. passwords

#[test]
fn with_passwords_enabled_a_password_authenticates() {
    let w = World::new();
    let o = w.request(Some(&basic("alice", "alice")), "POST", ISSUE);
    let p = o.result.unwrap();
    assert_eq!(p.auth, AuthType::Password);
    assert!(p.token.is_none());
}

#[test]
fn a_wrong_password_or_unknown_user_gets_the_same_401() {
    let w = World::new();
    let a = w
        .request(Some(&basic("alice", "wrong")), "GET", MYSELF)
        .result
        .unwrap_err();
    let b = w
        .request(Some(&basic("nobody", "alice")), "GET", MYSELF)
        .result
        .unwrap_err();
    assert_eq!(a, b);
    assert_eq!(a.status, 401);
    assert!(!a.message.to_lowercase().contains("password is"));
}

#[test]
fn with_passwords_disabled_a_password_gets_403_audited_under_2a() {
    let w = World::new();
    w.settings(json!({"passwordAuthEnabled": false, "audit": {"failedTokenAttempts": true}}));
    let o = w.request(Some(&basic("alice", "alice")), "GET", MYSELF);
    let d = o.result.as_ref().unwrap_err();
    assert_eq!((d.status, d.kind), (403, DenialKind::PasswordAuthDisabled));
    assert_eq!(actions(&o), vec![AuditAction::FailedAuthentication]);
    // A token still works.
    let t = w.token("alice", Scope::ReadOnly);
    assert!(
        w.request(Some(&basic("alice", &t)), "GET", MYSELF)
            .result
            .is_ok()
    );
}

#[test]
fn with_passwords_disabled_a_bad_token_gets_403_and_names_the_token_in_the_event() {
    let w = World::new();
    let t = w.token("alice", Scope::ReadOnly);
    w.settings(json!({"passwordAuthEnabled": false, "audit": {"failedTokenAttempts": true}}));
    let o = w.request(Some(&basic("bob", &t)), "GET", MYSELF);
    assert_eq!(denied(&o), DenialKind::PasswordAuthDisabled);
    let e = &o.events[0];
    assert_eq!(
        e.token_id.as_deref(),
        Some(token_format::parse(&t).unwrap().id.as_str())
    );
    assert_eq!(e.token_description.as_deref(), Some("alice's script"));
}

#[test]
fn with_passwords_enabled_failures_are_audited_only_under_2b() {
    let w = World::new();
    let o = w.request(Some(&basic("alice", "wrong")), "GET", MYSELF);
    assert!(o.events.is_empty());
    w.settings(json!({"audit": {"allFailedAttempts": true}}));
    let o = w.request(Some(&basic("alice", "wrong")), "GET", MYSELF);
    assert_eq!(actions(&o), vec![AuditAction::FailedAuthentication]);
    assert_eq!(o.events[0].reason.as_deref(), Some("wrong password"));
}

// ---------------------------------------------------------------- failed-login counter

#[test]
fn after_three_failures_password_attempts_get_a_captcha_challenge() {
    let w = World::new();
    let t = w.token("alice", Scope::ReadOnly);
    for _ in 0..3 {
        assert_eq!(
            denied(&w.request(Some(&basic("alice", "wrong")), "GET", MYSELF)),
            DenialKind::Failed
        );
    }
    let o = w.request(Some(&basic("alice", "alice")), "GET", MYSELF);
    let d = o.result.unwrap_err();
    assert_eq!(
        (d.status, d.denied_reason()),
        (403, Some("CAPTCHA_CHALLENGE"))
    );
    // Token authentication is neither blocked nor does it reset the count.
    assert!(
        w.request(Some(&basic("alice", &t)), "GET", MYSELF)
            .result
            .is_ok()
    );
    assert_eq!(
        denied(&w.request(Some(&basic("alice", "alice")), "GET", MYSELF)),
        DenialKind::CaptchaChallenge
    );
    // An admin reset lets the password work again.
    w.auth
        .reset_failed_logins(&w.actor("admin"), "alice")
        .unwrap();
    assert!(
        w.request(Some(&basic("alice", "alice")), "GET", MYSELF)
            .result
            .is_ok()
    );
}

#[test]
fn a_wrong_token_counts_as_a_failed_login_while_passwords_are_enabled() {
    let w = World::new();
    let t = w.token("alice", Scope::ReadOnly);
    let id = token_format::parse(&t).unwrap().id;
    w.auth
        .revoke_token(&w.actor("alice"), id.as_str(), false)
        .unwrap();
    for _ in 0..3 {
        w.request(Some(&basic("alice", &t)), "GET", MYSELF);
    }
    assert_eq!(
        w.auth.store().user("alice").unwrap().unwrap().failed_logins,
        3
    );
    assert_eq!(
        denied(&w.request(Some(&basic("alice", "alice")), "GET", MYSELF)),
        DenialKind::CaptchaChallenge
    );
}

#[test]
fn a_successful_password_login_resets_the_count() {
    let w = World::new();
    w.request(Some(&basic("alice", "wrong")), "GET", MYSELF);
    w.request(Some(&basic("alice", "wrong")), "GET", MYSELF);
    assert!(
        w.request(Some(&basic("alice", "alice")), "GET", MYSELF)
            .result
            .is_ok()
    );
    assert_eq!(
        w.auth.store().user("alice").unwrap().unwrap().failed_logins,
        0
    );
}

#[test]
fn a_zero_limit_turns_the_counter_off() {
    let w = World::new();
    w.settings(json!({"maxFailedLogins": 0}));
    for _ in 0..5 {
        w.request(Some(&basic("alice", "wrong")), "GET", MYSELF);
    }
    assert!(
        w.request(Some(&basic("alice", "alice")), "GET", MYSELF)
            .result
            .is_ok()
    );
}

// ---------------------------------------------------------------- 5. scope

#[test]
fn a_read_only_token_may_read_but_not_write() {
    let w = World::new();
    w.settings(json!({"audit": {"permissionDenied": true}}));
    let t = w.token("alice", Scope::ReadOnly);
    for m in ["GET", "HEAD", "OPTIONS"] {
        assert!(
            w.request(Some(&basic("alice", &t)), m, ISSUE)
                .result
                .is_ok(),
            "{m}"
        );
    }
    for m in ["POST", "PUT", "DELETE", "PATCH"] {
        let o = w.request(Some(&basic("alice", &t)), m, ISSUE);
        let d = o.result.as_ref().unwrap_err();
        assert_eq!(
            (d.status, d.denied_reason()),
            (403, Some("READ_ONLY_TOKEN")),
            "{m}"
        );
        assert_eq!(actions(&o), vec![AuditAction::PermissionDenied]);
        assert_eq!(o.events[0].scope, Some(Scope::ReadOnly));
        assert_eq!(o.events[0].method.as_deref(), Some(m));
        assert_eq!(o.events[0].path.as_deref(), Some(ISSUE));
    }
}

#[test]
fn a_read_only_token_may_post_to_the_two_exceptions() {
    let w = World::new();
    let t = w.token("alice", Scope::ReadOnly);
    for path in ["/rest/auth/1/session", "/rest/tokenauth/1/tokens"] {
        assert!(
            w.request(Some(&basic("alice", &t)), "POST", path)
                .result
                .is_ok(),
            "{path}"
        );
    }
}

#[test]
fn permission_denied_is_not_audited_when_option_3_is_off() {
    let w = World::new();
    let t = w.token("alice", Scope::ReadOnly);
    assert!(
        w.request(Some(&basic("alice", &t)), "DELETE", ISSUE)
            .events
            .is_empty()
    );
}

// ---------------------------------------------------------------- 6. success

#[test]
fn success_is_audited_only_under_option_1_and_never_with_the_secret() {
    let w = World::new();
    let t = w.token("alice", Scope::ReadOnly);
    assert!(
        w.request(Some(&basic("alice", &t)), "GET", MYSELF)
            .events
            .is_empty()
    );
    w.settings(json!({"audit": {"successfulAuthentication": true, "allFailedAttempts": true}}));
    let o = w.request(Some(&basic("alice", &t)), "GET", MYSELF);
    assert_eq!(actions(&o), vec![AuditAction::AuthenticatedWithToken]);
    let e = &o.events[0];
    assert_eq!(e.author, "alice");
    assert_eq!(e.token_description.as_deref(), Some("alice's script"));
    let secret = token_format::parse(&t).unwrap().secret.to_owned();
    let o2 = w.request(Some(&basic("alice", &format!("{t}x"))), "GET", MYSELF);
    for e in o.events.iter().chain(&o2.events) {
        let dump = format!("{e:?} {}", e.log_line());
        assert!(!dump.contains(&secret));
    }
    let o3 = w.request(Some(&basic("alice", "alice")), "GET", MYSELF);
    assert_eq!(actions(&o3), vec![AuditAction::AuthenticatedWithPassword]);
}

#[test]
fn last_used_time_and_address_are_recorded() {
    let w = World::new();
    let t = w.token("alice", Scope::ReadOnly);
    w.clock.advance(5_000);
    w.request_from("192.0.2.44", None, Some(&bearer(&t)), "GET", MYSELF);
    let id = token_format::parse(&t).unwrap().id;
    let r = w.auth.store().token(&id).unwrap().unwrap();
    assert_eq!(r.last_used_at, Some(common::T0 + 5_000));
    assert_eq!(r.last_used_ip.as_deref(), Some("192.0.2.44"));
}

// ---------------------------------------------------------------- sessions

#[test]
fn a_session_opened_with_a_read_only_token_stays_read_only_and_dies_with_it() {
    let w = World::new();
    let t = w.token("alice", Scope::ReadOnly);
    let id = token_format::parse(&t).unwrap().id;
    let session = Credentials::Session(SessionPrincipal {
        user: "alice".into(),
        origin: SessionOrigin::Token(id.clone()),
    });
    let ok = w.session(session.clone(), "GET", MYSELF);
    assert_eq!(ok.result.unwrap().auth, AuthType::Session);
    assert_eq!(
        denied(&w.session(session.clone(), "POST", ISSUE)),
        DenialKind::ReadOnlyToken
    );
    w.auth
        .revoke_token(&Actor::cli(), id.as_str(), true)
        .unwrap();
    assert_eq!(
        denied(&w.session(session, "GET", MYSELF)),
        DenialKind::Failed
    );
}

fn password_session(w: &World, user: &str) -> Credentials {
    let stamp = w
        .auth
        .store()
        .user(user)
        .unwrap()
        .unwrap()
        .password
        .clone()
        .unwrap()
        .salt;
    Credentials::Session(SessionPrincipal {
        user: user.into(),
        origin: SessionOrigin::Password { stamp },
    })
}

#[test]
fn a_password_session_of_a_deactivated_user_fails() {
    let w = World::new();
    let session = password_session(&w, "bob");
    assert!(w.session(session.clone(), "POST", ISSUE).result.is_ok());
    let patch = UserPatch {
        active: Some(false),
        ..UserPatch::default()
    };
    w.auth
        .update_user(&w.actor("admin"), "bob", patch, false)
        .unwrap();
    assert_eq!(
        denied(&w.session(session, "GET", MYSELF)),
        DenialKind::Failed
    );
}

#[test]
fn m1_a_password_session_ends_when_the_password_changes() {
    let w = World::new();
    let session = password_session(&w, "bob");
    assert!(w.session(session.clone(), "POST", ISSUE).result.is_ok());
    let patch = UserPatch {
        password: Some("N3w-secret".into()),
        ..UserPatch::default()
    };
    w.auth
        .update_user(&w.actor("admin"), "bob", patch, false)
        .unwrap();
    assert_eq!(
        denied(&w.session(session, "POST", ISSUE)),
        DenialKind::Failed
    );
}

#[test]
fn m1_a_password_session_ends_when_passwords_are_disabled() {
    let w = World::new();
    let session = password_session(&w, "bob");
    w.settings(json!({"passwordAuthEnabled": false}));
    assert_eq!(
        denied(&w.session(session, "POST", ISSUE)),
        DenialKind::Failed
    );
}

#[test]
fn m1_a_password_session_does_not_survive_deleting_and_recreating_the_user() {
    let w = World::new();
    let session = password_session(&w, "bob");
    w.auth.delete_user(&Actor::cli(), "bob").unwrap();
    w.auth
        .create_user(&Actor::cli(), common::user("bob", &["jira-users"]))
        .unwrap();
    assert_eq!(
        denied(&w.session(session, "POST", ISSUE)),
        DenialKind::Failed
    );
}

// ---------------------------------------------------------------- cross-site request forgery

#[test]
fn m2_a_cookie_write_from_a_form_is_refused_before_anything_else() {
    let w = World::new();
    w.settings(json!({"audit": {"permissionDenied": true}}));
    let session = password_session(&w, "admin");
    let form = BrowserHeaders {
        content_type: Some(b"text/plain"),
        origin: Some(b"http://127.0.0.1:8000"),
        host: Some(b"127.0.0.1:2990"),
        ..BrowserHeaders::default()
    };
    let outcome = w.session_with(
        session.clone(),
        "POST",
        "/rest/tokenauth/1/admin/users",
        form,
    );
    assert_eq!(denied(&outcome), DenialKind::XsrfCheckFailed);
    assert_eq!(outcome.events[0].action, AuditAction::PermissionDenied);
    assert!(
        outcome.events[0]
            .reason
            .as_deref()
            .unwrap()
            .contains("Origin")
    );
    // The same session reads, and writes as a JSON client does.
    assert!(
        w.session_with(session.clone(), "GET", MYSELF, form)
            .result
            .is_ok()
    );
    assert!(w.session(session, "POST", ISSUE).result.is_ok());
}

#[test]
fn m2_basic_auth_from_a_foreign_origin_cannot_write_either() {
    let w = World::new();
    let req = AuthRequest {
        peer: "127.0.0.1".parse().unwrap(),
        forwarded_for: None,
        browser: BrowserHeaders {
            origin: Some(b"http://evil.example"),
            host: Some(b"127.0.0.1:2990"),
            ..BrowserHeaders::default()
        },
        credentials: Ok(Credentials::Basic {
            user: "admin".into(),
            secret: "admin".into(),
        }),
        method: "POST",
        path: ISSUE,
        now: w.clock_now(),
    };
    let outcome = w.auth.authenticate(&w.verifier, &req).unwrap();
    assert_eq!(denied(&outcome), DenialKind::XsrfCheckFailed);
}
