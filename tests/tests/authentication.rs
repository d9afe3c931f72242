//! SPEC section 3 over HTTP against the real binary: every status code and header.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use reqwest::Method;
use serde_json::json;
use tokenauth_e2e::{Server, basic_header, parts};

const MYSELF: &str = "/rest/api/2/myself";
const ISSUE: &str = "/rest/api/2/issue";

#[tokio::test]
async fn serverinfo_is_anonymous_and_carries_version_numbers() {
    let s = Server::start();
    let (status, _, body) = parts(
        s.req(Method::GET, "/rest/api/2/serverInfo")
            .send()
            .await
            .unwrap(),
        "x",
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body["versionNumbers"], json!([9, 12, 0]));
    assert_eq!(body["deploymentType"], "Server");
    for key in [
        "baseUrl",
        "version",
        "buildNumber",
        "serverTime",
        "serverTitle",
    ] {
        assert!(body.get(key).is_some(), "{key}");
    }
}

/// `serverInfo` and `myself` are answered before the router (`routes/hot.rs`); a `HEAD` still
/// takes the router, which runs the same handler and drops the body: so each hot answer must
/// carry the status and headers the router gives its `HEAD`, and as many body bytes as that
/// announced.
#[tokio::test]
async fn the_hot_answers_are_what_the_router_answers() {
    let s = Server::start();
    let t = s.secret("alice", "READ_ONLY").await;
    let headers = |r: &reqwest::Response| -> Vec<(String, String)> {
        r.headers()
            .iter()
            .filter(|(n, _)| *n != "date")
            .map(|(n, v)| (n.to_string(), v.to_str().unwrap().to_owned()))
            .collect()
    };
    for (path, token) in [
        ("/rest/api/2/serverInfo", None),
        ("/rest/api/latest/serverInfo", None),
        (MYSELF, Some(&t)),
        ("/rest/api/latest/myself", Some(&t)),
    ] {
        let send = |method: Method| {
            let r = s.req(method, path);
            match token {
                Some(t) => r.bearer_auth(t),
                None => r,
            }
            .send()
        };
        let head = send(Method::HEAD).await.unwrap();
        let get = send(Method::GET).await.unwrap();
        assert_eq!(get.status(), 200, "{path}");
        assert_eq!(head.status(), 200, "{path}");
        assert_eq!(headers(&get), headers(&head), "{path}");
        let announced: usize = head.headers()["content-length"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(get.bytes().await.unwrap().len(), announced, "{path}");
    }
}

#[tokio::test]
async fn missing_credentials_get_401_with_a_basic_challenge() {
    let s = Server::start();
    let r = s.req(Method::GET, MYSELF).send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(r.headers()["www-authenticate"], "Basic realm=\"tokenauth\"");
    assert_eq!(r.headers()["x-seraph-loginreason"], "AUTHENTICATED_FAILED");
    let body: serde_json::Value = r.json().await.unwrap();
    assert!(body["errorMessages"].is_array());
    assert!(body["errors"].is_object());
}

#[tokio::test]
async fn malformed_authorization_headers_get_401_never_500() {
    let s = Server::start();
    for h in [
        "Basic !!!",
        "Basic",
        "Bearer",
        "Negotiate abc",
        "Basic Zm9v",
        "Bearer a b",
    ] {
        let r = s
            .req(Method::GET, MYSELF)
            .header("Authorization", h)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401, "{h}");
    }
    let r = s
        .req(Method::GET, MYSELF)
        .header(
            "Authorization",
            reqwest::header::HeaderValue::from_bytes(b"Basic \xff\xfe").unwrap(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
}

#[tokio::test]
async fn a_token_authenticates_as_basic_password_and_as_bearer() {
    let s = Server::start();
    let t = s.secret("alice", "READ_ONLY").await;
    let (status, _, body) = parts(s.get_as(MYSELF, "alice", &t).send().await.unwrap(), "x").await;
    assert_eq!((status, body["name"].as_str()), (200, Some("alice")));
    let r = s
        .req(Method::GET, "/rest/api/latest/myself")
        .bearer_auth(&t)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let (status, _, body) = parts(
        s.get_as("/rest/api/user/current", "alice", &t)
            .send()
            .await
            .unwrap(),
        "x",
    )
    .await;
    assert_eq!(
        (status, body["username"].as_str(), body["type"].as_str()),
        (200, Some("alice"), Some("known"))
    );
}

#[tokio::test]
async fn the_echo_names_user_auth_type_token_and_scope() {
    let s = Server::start();
    let t = s.token("alice", "READ_WRITE").await;
    let secret = t["token"].as_str().unwrap();
    let r = s
        .req(Method::POST, ISSUE)
        .header("Authorization", basic_header("alice", secret))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    let (status, _, body) = parts(r, "x").await;
    assert_eq!(status, 201);
    assert_eq!(
        body,
        json!({"user": "alice", "method": "POST", "path": ISSUE, "authType": "token", "tokenId": t["id"], "scope": "READ_WRITE"})
    );
    let (status, _, body) = parts(
        s.get_as("/rest/api/2/search", "bob", "bob")
            .send()
            .await
            .unwrap(),
        "x",
    )
    .await;
    assert_eq!((status, body["authType"].as_str()), (200, Some("password")));
}

#[tokio::test]
async fn read_only_tokens_read_but_writes_get_403() {
    let s = Server::start();
    let t = s.secret("alice", "READ_ONLY").await;
    for m in [Method::GET, Method::HEAD, Method::OPTIONS] {
        let r = s
            .req(m.clone(), ISSUE)
            .header("Authorization", basic_header("alice", &t))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{m}");
    }
    for m in [Method::POST, Method::PUT, Method::DELETE, Method::PATCH] {
        let r = s
            .req(m.clone(), ISSUE)
            .header("Authorization", basic_header("alice", &t))
            .send()
            .await
            .unwrap();
        let (status, reason, _) = parts(r, "x-authentication-denied-reason").await;
        assert_eq!(
            (status, reason.as_deref()),
            (403, Some("READ_ONLY_TOKEN")),
            "{m}"
        );
    }
}

#[tokio::test]
async fn read_only_tokens_may_post_to_the_session_and_token_creation() {
    let s = Server::start();
    let t = s.secret("alice", "READ_ONLY").await;
    let r = s
        .req(Method::POST, "/rest/tokenauth/1/tokens")
        .header("Authorization", basic_header("alice", &t))
        .json(&json!({"description": "made by a read-only token"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let r = s
        .req(Method::POST, "/rest/auth/1/session")
        .header("Authorization", basic_header("alice", &t))
        .json(&json!({"username": "alice", "password": t}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn a_session_cookie_authenticates_and_keeps_the_tokens_scope() {
    let s = Server::start();
    let t = s.secret("alice", "READ_ONLY").await;
    let r = s
        .req(Method::POST, "/rest/auth/1/session")
        .json(&json!({"username": "alice", "password": t}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let cookie = r.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    assert!(cookie.starts_with("JSESSIONID="));
    let (status, _, body) = parts(
        s.req(Method::GET, ISSUE)
            .header("Cookie", &cookie)
            .send()
            .await
            .unwrap(),
        "x",
    )
    .await;
    assert_eq!((status, body["authType"].as_str()), (200, Some("session")));
    // A write as a well-behaved client sends it (JSON): refused by the token's scope.
    let r = s
        .req(Method::POST, ISSUE)
        .header("Cookie", &cookie)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(
        r.headers()["x-authentication-denied-reason"],
        "READ_ONLY_TOKEN"
    );
    let (status, _, body) = parts(
        s.req(Method::GET, "/rest/auth/1/session")
            .header("Cookie", &cookie)
            .send()
            .await
            .unwrap(),
        "x",
    )
    .await;
    assert_eq!((status, body["name"].as_str()), (200, Some("alice")));
    assert_eq!(
        s.req(Method::DELETE, "/rest/auth/1/session")
            .header("Cookie", &cookie)
            .header("X-Atlassian-Token", "no-check")
            .send()
            .await
            .unwrap()
            .status(),
        204
    );
    assert_eq!(
        s.req(Method::GET, ISSUE)
            .header("Cookie", &cookie)
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
    let bad = s
        .req(Method::POST, "/rest/auth/1/session")
        .json(&json!({"username": "alice", "password": "nope"}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 401);
}

#[tokio::test]
async fn revoked_wrong_user_and_deactivated_user_tokens_fail() {
    let s = Server::start();
    let t = s.token("alice", "READ_ONLY").await;
    let secret = t["token"].as_str().unwrap().to_owned();
    // Verified once: every check below meets a warm cache.
    assert_eq!(
        s.get_as(MYSELF, "alice", &secret)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        s.get_as(MYSELF, "bob", &secret)
            .send()
            .await
            .unwrap()
            .status(),
        401,
        "another user's name"
    );
    let r = s
        .admin(Method::PUT, "/rest/tokenauth/1/admin/users/alice")
        .json(&json!({"active": false}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        s.get_as(MYSELF, "alice", &secret)
            .send()
            .await
            .unwrap()
            .status(),
        401,
        "deactivated"
    );
    s.admin(Method::PUT, "/rest/tokenauth/1/admin/users/alice")
        .json(&json!({"active": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        s.get_as(MYSELF, "alice", &secret)
            .send()
            .await
            .unwrap()
            .status(),
        200,
        "reactivated"
    );
    let id = t["id"].as_str().unwrap();
    assert_eq!(
        s.admin(
            Method::DELETE,
            &format!("/rest/tokenauth/1/admin/tokens/{id}")
        )
        .send()
        .await
        .unwrap()
        .status(),
        204
    );
    assert_eq!(
        s.req(Method::GET, MYSELF)
            .bearer_auth(&secret)
            .send()
            .await
            .unwrap()
            .status(),
        401,
        "revoked"
    );
}

#[tokio::test]
async fn an_expired_token_fails() {
    let s = Server::start();
    let at = tokenauth_core::clock::to_rfc3339(
        tokenauth_core::clock::Clock::now(&tokenauth_core::clock::SystemClock) + 1_500,
    );
    let r = s
        .req(Method::POST, "/rest/tokenauth/1/tokens")
        .header("Authorization", basic_header("alice", "alice"))
        .json(&json!({"description": "short-lived", "expiresAt": at}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let secret = r.json::<serde_json::Value>().await.unwrap()["token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        s.req(Method::GET, MYSELF)
            .bearer_auth(&secret)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    tokio::time::sleep(std::time::Duration::from_millis(1_700)).await;
    assert_eq!(
        s.req(Method::GET, MYSELF)
            .bearer_auth(&secret)
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
}

#[tokio::test]
async fn without_the_use_tokens_permission_a_token_gets_403() {
    let s = Server::start();
    let t = s.secret("alice", "READ_ONLY").await;
    // Verified once, so the secret is in the cache when the permission goes.
    assert_eq!(
        s.get_as(MYSELF, "alice", &t).send().await.unwrap().status(),
        200
    );
    s.settings(json!({"permissions": {"useTokens": {"everyone": false, "groups": ["jira-administrators"]}}})).await;
    let (status, reason, _) = parts(
        s.get_as(MYSELF, "alice", &t).send().await.unwrap(),
        "x-authentication-denied-reason",
    )
    .await;
    assert_eq!(
        (status, reason.as_deref()),
        (403, Some("TOKEN_USE_NOT_PERMITTED"))
    );
}

#[tokio::test]
async fn passwords_off_refuses_passwords_with_403_but_not_tokens() {
    let s = Server::start();
    let t = s.secret("alice", "READ_ONLY").await;
    s.settings(json!({"passwordAuthEnabled": false})).await;
    let (status, reason, _) = parts(
        s.get_as(MYSELF, "alice", "alice").send().await.unwrap(),
        "x-authentication-denied-reason",
    )
    .await;
    assert_eq!(
        (status, reason.as_deref()),
        (403, Some("PASSWORD_AUTH_DISABLED"))
    );
    assert_eq!(
        s.get_as(MYSELF, "alice", &t).send().await.unwrap().status(),
        200
    );
    // A wrong secret for alice is also 403 while passwords are off.
    assert_eq!(
        s.get_as(MYSELF, "alice", &format!("{t}x"))
            .send()
            .await
            .unwrap()
            .status(),
        403
    );
}

#[tokio::test]
async fn the_ip_allow_list_applies_to_tokens_and_passwords() {
    let mut s = Server::start();
    let t = s.secret("alice", "READ_ONLY").await;
    s.settings(json!({"ipAllowList": ["10.0.0.0/8"]})).await;
    for secret in [t.as_str(), "alice"] {
        let r = s.get_as(MYSELF, "alice", secret).send().await.unwrap();
        let (status, reason, body) = parts(r, "x-authentication-denied-reason").await;
        assert_eq!((status, reason.as_deref()), (403, Some("IP_NOT_ALLOWED")));
        assert_eq!(body["errorMessages"][0], "IP address not allowed");
    }
    // The admin locked themselves out too; the way back is the CLI on the stopped server.
    let r = s
        .admin(Method::PUT, "/rest/tokenauth/1/admin/settings")
        .json(&json!({"ipAllowList": []}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    s.stop();
    let out = std::process::Command::new(tokenauth_e2e::binary())
        .arg("--data-dir")
        .arg(&s.data)
        .args([
            "settings",
            "set",
            r#"{"ipAllowList": ["127.0.0.1", "::1"]}"#,
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let s = s.restart();
    assert_eq!(
        s.get_as(MYSELF, "alice", &t).send().await.unwrap().status(),
        200
    );
}

#[tokio::test]
async fn through_a_trusted_proxy_the_forwarded_address_decides() {
    let s = Server::start();
    let t = s.secret("alice", "READ_ONLY").await;
    s.settings(json!({"trustedProxies": ["127.0.0.1"], "ipAllowList": ["198.51.100.0/24"]}))
        .await;
    let ok = s
        .get_as(MYSELF, "alice", &t)
        .header("X-Forwarded-For", "198.51.100.7")
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    let no = s
        .get_as(MYSELF, "alice", &t)
        .header("X-Forwarded-For", "203.0.113.1")
        .send()
        .await
        .unwrap();
    assert_eq!(no.status(), 403);
    let spoof = s
        .get_as(MYSELF, "alice", &t)
        .header("X-Forwarded-For", "198.51.100.7, 203.0.113.1")
        .send()
        .await
        .unwrap();
    assert_eq!(
        spoof.status(),
        403,
        "the right-most untrusted address is the client"
    );
}

#[tokio::test]
async fn through_an_untrusted_proxy_forwarded_for_is_ignored() {
    let s = Server::start();
    let t = s.secret("alice", "READ_ONLY").await;
    s.settings(json!({"trustedProxies": ["10.9.9.9"], "ipAllowList": ["198.51.100.0/24"]}))
        .await;
    let r = s
        .get_as(MYSELF, "alice", &t)
        .header("X-Forwarded-For", "198.51.100.7")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
}

#[tokio::test]
async fn three_wrong_passwords_bring_a_captcha_challenge_that_an_admin_resets() {
    let s = Server::start();
    let t = s.secret("alice", "READ_ONLY").await;
    for _ in 0..3 {
        assert_eq!(
            s.get_as(MYSELF, "alice", "wrong")
                .send()
                .await
                .unwrap()
                .status(),
            401
        );
    }
    let (status, reason, _) = parts(
        s.get_as(MYSELF, "alice", "alice").send().await.unwrap(),
        "x-authentication-denied-reason",
    )
    .await;
    assert_eq!(
        (status, reason.as_deref()),
        (403, Some("CAPTCHA_CHALLENGE"))
    );
    assert_eq!(
        s.get_as(MYSELF, "alice", &t).send().await.unwrap().status(),
        200,
        "tokens are not blocked"
    );
    let r = s
        .admin(
            Method::POST,
            "/rest/tokenauth/1/admin/users/alice/reset-failed-logins",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        s.get_as(MYSELF, "alice", "alice")
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
}

#[tokio::test]
async fn the_rate_limit_answers_429_with_retry_after() {
    let s = Server::start();
    s.settings(json!({"rateLimitPerMinute": 3})).await;
    let t = s.secret("bob", "READ_ONLY").await;
    let mut statuses = Vec::new();
    let mut retry = None;
    for _ in 0..5 {
        let r = s
            .req(Method::GET, MYSELF)
            .bearer_auth(&t)
            .send()
            .await
            .unwrap();
        statuses.push(r.status().as_u16());
        if r.status() == 429 {
            retry = r
                .headers()
                .get("retry-after")
                .map(|v| v.to_str().unwrap().parse::<u64>().unwrap());
        }
    }
    assert!(statuses.contains(&429), "{statuses:?}");
    assert!(retry.is_some_and(|r| (1..=60).contains(&r)));
}
