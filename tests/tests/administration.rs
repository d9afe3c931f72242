//! Admin endpoints, settings validation and anti-lockout, users, the original product's API,
//! request limits, and what a restart keeps.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use reqwest::Method;
use serde_json::{Value, json};
use tokenauth_e2e::{Server, basic_header, json_of, parts};

#[tokio::test]
async fn admin_endpoints_are_refused_to_users() {
    let s = Server::start();
    let t = s.secret("alice", "READ_WRITE").await;
    let cases = [
        (Method::GET, "/rest/tokenauth/1/admin/tokens"),
        (Method::GET, "/rest/tokenauth/1/admin/settings"),
        (Method::PUT, "/rest/tokenauth/1/admin/settings"),
        (Method::GET, "/rest/tokenauth/1/admin/users"),
        (Method::POST, "/rest/tokenauth/1/admin/users"),
        (Method::DELETE, "/rest/tokenauth/1/admin/users/bob"),
        (Method::POST, "/rest/tokenauth/1/admin/users/bob/tokens"),
        (Method::DELETE, "/rest/tokenauth/1/admin/users/bob/tokens"),
        (
            Method::POST,
            "/rest/tokenauth/1/admin/users/bob/reset-failed-logins",
        ),
        (Method::GET, "/rest/tokenauth/1/admin/audit/export"),
        (Method::GET, "/rest/auditing/1.0/events"),
        (
            Method::DELETE,
            "/rest/de.resolution.apitokenauth/latest/user/token/deleteAllFor/bob",
        ),
    ];
    for (m, path) in cases {
        let r = s
            .req(m.clone(), path)
            .header("Authorization", basic_header("alice", &t))
            .json(&json!({}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 403, "{m} {path}");
    }
}

#[tokio::test]
async fn an_admin_lists_searches_and_creates_tokens_on_behalf() {
    let s = Server::start();
    s.token("alice", "READ_ONLY").await;
    let r = s
        .admin(Method::POST, "/rest/tokenauth/1/admin/users/bob/tokens")
        .json(&json!({"description": "deploy bot", "scope": "READ_WRITE", "validityDays": 7}))
        .send()
        .await
        .unwrap();
    let (status, _, made) = parts(r, "x").await;
    assert_eq!(
        (status, made["createdBy"].as_str(), made["user"].as_str()),
        (201, Some("admin"), Some("bob"))
    );
    let page: Value = s
        .admin(Method::GET, "/rest/tokenauth/1/admin/tokens?q=deploy")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(page["total"], 1);
    assert_eq!(page["tokens"][0]["id"], made["id"]);
    assert!(
        page["tokens"][0].get("token").is_none(),
        "the secret is shown only once"
    );
    let page: Value = s
        .admin(
            Method::GET,
            "/rest/tokenauth/1/admin/tokens?user=alice&expired=false",
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(page["total"], 1);
    let echo: Value = s
        .req(Method::POST, "/rest/api/2/issue")
        .bearer_auth(made["token"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(echo["user"], "bob");
}

#[tokio::test]
async fn own_tokens_are_listed_renamed_and_revoked_and_others_are_not_found() {
    let s = Server::start();
    let t = s.token("alice", "READ_ONLY").await;
    let id = t["id"].as_str().unwrap();
    let list: Value = s
        .get_as("/rest/tokenauth/1/tokens", "alice", "alice")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list.as_array().unwrap().len(), 1);
    for key in [
        "id",
        "user",
        "description",
        "scope",
        "createdAt",
        "createdBy",
        "expiresAt",
        "lastUsedAt",
        "lastUsedIp",
    ] {
        assert!(list[0].get(key).is_some(), "{key}");
    }
    let r = s
        .req(Method::PATCH, &format!("/rest/tokenauth/1/tokens/{id}"))
        .header("Authorization", basic_header("alice", "alice"))
        .json(&json!({"description": "renamed"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.json::<Value>().await.unwrap()["description"], "renamed");
    let r = s
        .req(Method::DELETE, &format!("/rest/tokenauth/1/tokens/{id}"))
        .header("Authorization", basic_header("bob", "bob"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404, "bob cannot see alice's token");
    let r = s
        .req(Method::DELETE, &format!("/rest/tokenauth/1/tokens/{id}"))
        .header("Authorization", basic_header("alice", "alice"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
}

#[tokio::test]
async fn token_requests_are_validated_with_the_field_named() {
    let s = Server::start();
    let post = |body: Value| {
        s.req(Method::POST, "/rest/tokenauth/1/tokens")
            .header("Authorization", basic_header("alice", "alice"))
            .json(&body)
            .send()
    };
    for (body, field) in [
        (json!({"description": ""}), "description"),
        (
            json!({"description": "x", "validityDays": 400}),
            "validityDays",
        ),
        (json!({"description": "x", "scope": "ALL"}), "scope"),
        (
            json!({"description": "x", "expiresAt": "soon"}),
            "expiresAt",
        ),
        (
            json!({"description": "x", "neverExpires": true}),
            "neverExpires",
        ),
    ] {
        let (status, _, b) = parts(post(body.clone()).await.unwrap(), "x").await;
        assert_eq!(status, 400, "{body}");
        assert!(b["errors"][field].is_string(), "{field}: {b}");
    }
    s.settings(json!({"permissions": {"forceReadOnlyOwnTokens": true}}))
        .await;
    let r = post(json!({"description": "x", "scope": "READ_WRITE"}))
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
}

#[tokio::test]
async fn settings_are_validated_whole_and_lockouts_need_force() {
    let s = Server::start();
    let r = s
        .admin(Method::PUT, "/rest/tokenauth/1/admin/settings")
        .json(&json!({"passwordAuthEnabled": false, "ipAllowList": ["10.0.0.0/33"]}))
        .send()
        .await
        .unwrap();
    let (status, _, body) = parts(r, "x").await;
    assert_eq!(status, 400);
    assert!(body["errors"]["ipAllowList[0]"].is_string());
    let now: Value = s
        .admin(Method::GET, "/rest/tokenauth/1/admin/settings")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(now["passwordAuthEnabled"], true, "nothing half-applied");
    let r = s
        .admin(Method::PUT, "/rest/tokenauth/1/admin/settings")
        .json(&json!({"ipAllowList": ["10.0.0.0/8"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 409);
    let r = s
        .admin(Method::PUT, "/rest/tokenauth/1/admin/settings")
        .json(&json!({"passwordAuthEnabled": false}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        409,
        "the admin signed in with a password and holds no token"
    );
    let r = s.admin(Method::PUT, "/rest/tokenauth/1/admin/settings").json(&json!({"permissions": {"useTokens": {"everyone": false, "groups": ["nobody-has-this"]}}})).send().await.unwrap();
    assert_eq!(r.status(), 400, "unknown group");
    let r = s
        .admin(Method::PUT, "/rest/tokenauth/1/admin/settings")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
}

#[tokio::test]
async fn users_are_created_changed_and_deleted_by_admins() {
    let s = Server::start();
    let r = s.admin(Method::POST, "/rest/tokenauth/1/admin/users").json(&json!({"name": "carol", "password": "pw", "groups": ["jira-users"], "displayName": "Carol"})).send().await.unwrap();
    let (status, _, u) = parts(r, "x").await;
    assert_eq!((status, u["key"].as_str()), (201, Some("carol")));
    assert!(u.get("password").is_none());
    assert_eq!(
        s.get_as("/rest/api/2/myself", "carol", "pw")
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let r = s
        .admin(Method::POST, "/rest/tokenauth/1/admin/users")
        .json(&json!({"name": "Carol", "password": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 409, "names are case-insensitive");
    let users: Value = s
        .admin(Method::GET, "/rest/tokenauth/1/admin/users")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(users.as_array().unwrap().len(), 4);
    assert_eq!(
        s.admin(Method::DELETE, "/rest/tokenauth/1/admin/users/carol")
            .send()
            .await
            .unwrap()
            .status(),
        204
    );
    assert_eq!(
        s.get_as("/rest/api/2/myself", "carol", "pw")
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
    assert_eq!(
        s.admin(Method::DELETE, "/rest/tokenauth/1/admin/users/carol")
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
}

#[tokio::test]
async fn the_original_products_api_still_works() {
    let s = Server::start();
    let base = "/rest/de.resolution.apitokenauth/latest/user/token";
    let r = s
        .req(Method::POST, base)
        .header("Authorization", basic_header("alice", "alice"))
        .json(&json!({"tokenDescription": "legacy script", "tokenValidityTimeInMonths": 12}))
        .send()
        .await
        .unwrap();
    let (status, _, made) = parts(r, "x").await;
    assert_eq!(status, 201);
    let secret = made["plainTextToken"].as_str().unwrap();
    assert_eq!(
        s.get_as("/rest/api/2/myself", "alice", secret)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let list: Value = s
        .get_as(base, "alice", "alice")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list[0]["description"], "legacy script");
    assert!(list[0]["created"].is_i64(), "epoch milliseconds");
    let id = made["id"].as_str().unwrap();
    let r = s
        .req(Method::PATCH, &format!("{base}/{id}"))
        .header("Authorization", basic_header("alice", "alice"))
        .json(&json!({"tokenDescription": "renamed"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let me: Value = s
        .get_as("/rest/api/2/myself", "bob", "bob")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let key = me["key"].as_str().unwrap();
    s.req(Method::POST, base)
        .header("Authorization", basic_header("bob", "bob"))
        .json(&json!({"tokenDescription": "b"}))
        .send()
        .await
        .unwrap();
    let r = s
        .req(Method::DELETE, &format!("{base}/deleteAllFor/{key}"))
        .header("Authorization", basic_header("alice", "alice"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let r = s
        .admin(Method::DELETE, &format!("{base}/deleteAllFor/{key}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.json::<Value>().await.unwrap()["deleted"], 1);
    let r = s
        .req(Method::DELETE, &format!("{base}/{id}"))
        .header("Authorization", basic_header("alice", "alice"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
}

#[tokio::test]
async fn bad_input_gets_400_413_and_404_never_500() {
    let s = Server::start();
    let big = vec![b'x'; 1024 * 1024 + 1];
    let r = s
        .admin(Method::POST, "/rest/api/2/issue")
        .body(big.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    let r = s
        .admin(Method::POST, "/rest/tokenauth/1/tokens")
        .body(big)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    let r = s
        .admin(Method::POST, "/rest/tokenauth/1/tokens")
        .body("{\"description\": ")
        .send()
        .await
        .unwrap();
    let (status, _, body) = parts(r, "x").await;
    assert_eq!(status, 400);
    assert!(body["errorMessages"][0].as_str().unwrap().contains("JSON"));
    let r = s
        .admin(Method::POST, "/rest/tokenauth/1/tokens")
        .json(&json!({"description": "x", "bogus": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(
        s.admin(Method::DELETE, "/rest/tokenauth/1/tokens/not-an-id")
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    assert_eq!(
        s.req(Method::GET, "/nothing-here")
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    let r = s
        .admin(Method::GET, "/rest/tokenauth/1/admin/tokens?limit=abc")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
}

#[tokio::test]
async fn the_openapi_document_is_served_anonymously() {
    let s = Server::start();
    let doc: Value = s
        .req(Method::GET, "/rest/tokenauth/1/openapi.json")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(doc["openapi"], "3.0.3");
    for p in [
        "/rest/api/2/myself",
        "/rest/tokenauth/1/tokens",
        "/rest/tokenauth/1/admin/settings",
        "/rest/auditing/1.0/events",
        "/rest/de.resolution.apitokenauth/latest/user/token",
    ] {
        assert!(doc["paths"].get(p).is_some(), "{p}");
    }
}

#[tokio::test]
async fn a_restart_keeps_every_token_setting_and_last_use() {
    let s = Server::start();
    let t = s.token("alice", "READ_WRITE").await;
    let secret = t["token"].as_str().unwrap().to_owned();
    s.settings(json!({"maxTokenValidityDays": 30, "audit": {"permissionDenied": true}}))
        .await;
    assert_eq!(
        s.req(Method::GET, "/rest/api/2/myself")
            .bearer_auth(&secret)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let s = s.restart();
    assert_eq!(
        s.req(Method::GET, "/rest/api/2/myself")
            .bearer_auth(&secret)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let settings: Value = s
        .admin(Method::GET, "/rest/tokenauth/1/admin/settings")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(settings["maxTokenValidityDays"], 30);
    assert_eq!(settings["audit"]["permissionDenied"], true);
    let list: Value = s
        .get_as("/rest/tokenauth/1/tokens", "alice", "alice")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        list[0]["lastUsedAt"].is_string(),
        "last use survives a clean shutdown: {list}"
    );
    assert_eq!(list[0]["lastUsedIp"], "127.0.0.1");
}

#[tokio::test]
async fn the_cli_refuses_a_database_held_by_the_running_server() {
    let s = Server::start();
    let out = std::process::Command::new(tokenauth_e2e::binary())
        .arg("--data-dir")
        .arg(&s.data)
        .args(["token", "list"])
        .env_remove("RUST_BACKTRACE")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("in use by another process"), "{err}");
    assert!(err.contains(&s.data.display().to_string()), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[tokio::test]
async fn a_users_file_replaces_the_demo_users_on_a_new_database() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("users.toml");
    std::fs::write(
        &file,
        "[[users]]\nname = \"carol\"\npassword = \"c-pass\"\ngroups = [\"jira-administrators\"]\n",
    )
    .unwrap();
    let s = Server::start_on(
        &dir.path().join("data"),
        &["--users", file.to_str().unwrap()],
    );
    assert_eq!(
        s.get_as("/rest/api/2/myself", "carol", "c-pass")
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        s.get_as("/rest/api/2/myself", "admin", "admin")
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
}

#[tokio::test]
async fn json_logs_carry_the_token_event_lines() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Server::start_on(&dir.path().join("data"), &["--log-format", "json"]);
    s.token("alice", "READ_ONLY").await;
    s.stop();
    let line = s
        .log()
        .lines()
        .find(|l| l.contains("API token created"))
        .map(str::to_owned)
        .expect("a token event line");
    let v: Value = serde_json::from_str(&line).expect("one JSON object per line");
    assert_eq!(v["target"], "tokenauth");
    assert_eq!(v["level"], "INFO");
    assert!(
        v["fields"]["message"]
            .as_str()
            .unwrap()
            .contains("token_description=\"alice script\"")
    );
}

#[tokio::test]
async fn the_token_policy_tells_each_caller_what_they_may_create() {
    let s = Server::start();
    let alice = json_of(s.get_as("/rest/tokenauth/1/tokens/policy", "alice", "alice")).await;
    assert_eq!(alice["maxTokenValidityDays"], 365);
    assert_eq!(alice["isAdmin"], false);
    assert_eq!(alice["mayCreateOwnTokens"], true);
    assert_eq!(alice["mayCreateTokensForOthers"], false);
    s.settings(serde_json::json!({"maxTokenValidityDays": 30, "permissions": {"forceReadOnlyOwnTokens": true}}))
        .await;
    let alice = json_of(s.get_as("/rest/tokenauth/1/tokens/policy", "alice", "alice")).await;
    assert_eq!(alice["maxTokenValidityDays"], 30);
    assert_eq!(alice["ownTokensReadOnly"], true);
    let admin = json_of(s.admin(reqwest::Method::GET, "/rest/tokenauth/1/tokens/policy")).await;
    assert_eq!(admin["isAdmin"], true);
    assert_eq!(admin["mayCreateTokensForOthers"], true);
}
