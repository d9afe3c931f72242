//! The token lifecycle of SPEC §9 over real HTTP: Jira Data Center's personal access token API,
//! rotation, and the expiry filter.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use reqwest::Method;
use serde_json::{Value, json};
use tokenauth_e2e::{Server, basic_header, json_of, parts, status_of};

fn bearer(t: &str) -> String {
    format!("Bearer {t}")
}

async fn pat_create(s: &Server, user: &str, body: Value) -> (u16, Value) {
    let r = s
        .req(Method::POST, "/rest/pat/latest/tokens")
        .header("Authorization", basic_header(user, user))
        .json(&body)
        .send()
        .await
        .unwrap();
    let (status, _, v) = parts(r, "x").await;
    (status, v)
}

#[tokio::test]
async fn a_pat_api_script_creates_uses_lists_reads_and_deletes_a_token() {
    let s = Server::start();
    let (status, made) =
        pat_create(&s, "alice", json!({"name": "ci", "expirationDuration": 30})).await;
    assert_eq!(status, 201, "{made}");
    let id = made["id"].as_u64().expect("a numeric id");
    assert_eq!(made["name"], "ci");
    assert!(made["createdAt"].is_string() && made["expiringAt"].is_string());
    let raw = made["rawToken"].as_str().unwrap().to_owned();
    // A Bearer token, as in Jira; Read & Write (the settings do not force Read Only).
    let me = json_of(
        s.req(Method::GET, "/rest/api/2/myself")
            .header("Authorization", bearer(&raw)),
    )
    .await;
    assert_eq!(me["name"], "alice");
    assert_eq!(
        status_of(
            s.req(Method::POST, "/rest/api/2/issue")
                .header("Authorization", bearer(&raw))
        )
        .await,
        201,
        "a PAT writes (the echo answers a POST with 201)"
    );
    // Listed and read back without the secret.
    let list = json_of(s.get_as("/rest/pat/latest/tokens", "alice", "alice")).await;
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["id"].as_u64(), Some(id));
    assert!(list[0].get("rawToken").is_none());
    let one = json_of(s.get_as(&format!("/rest/pat/latest/tokens/{id}"), "alice", "alice")).await;
    assert_eq!(one["name"], "ci");
    assert!(one.get("rawToken").is_none());
    // Another user's token is not found; a non-number is not found.
    assert_eq!(
        status_of(s.get_as(&format!("/rest/pat/latest/tokens/{id}"), "bob", "bob")).await,
        404
    );
    assert_eq!(
        status_of(s.get_as("/rest/pat/latest/tokens/abc", "alice", "alice")).await,
        404
    );
    assert_eq!(
        status_of(
            s.req(Method::DELETE, &format!("/rest/pat/latest/tokens/{id}"))
                .header("Authorization", basic_header("bob", "bob"))
        )
        .await,
        404
    );
    // Deleted by its owner: 204, and the token stops working at once.
    assert_eq!(
        status_of(
            s.req(Method::DELETE, &format!("/rest/pat/latest/tokens/{id}"))
                .header("Authorization", basic_header("alice", "alice"))
        )
        .await,
        204
    );
    assert_eq!(
        status_of(
            s.req(Method::GET, "/rest/api/2/myself")
                .header("Authorization", bearer(&raw))
        )
        .await,
        401
    );
    assert_eq!(
        status_of(s.get_as(&format!("/rest/pat/latest/tokens/{id}"), "alice", "alice")).await,
        404
    );
}

#[tokio::test]
async fn the_pat_api_refuses_what_jira_refuses() {
    let s = Server::start();
    // No credentials.
    assert_eq!(
        status_of(s.req(Method::GET, "/rest/pat/latest/tokens")).await,
        401
    );
    // Bad bodies: no name, an empty name, a validity beyond the maximum, not JSON.
    for body in [
        json!({}),
        json!({"name": ""}),
        json!({"name": "x", "expirationDuration": 100000}),
    ] {
        let (status, v) = pat_create(&s, "alice", body.clone()).await;
        assert_eq!(status, 400, "{body}: {v}");
    }
    let r = s
        .req(Method::POST, "/rest/pat/latest/tokens")
        .header("Authorization", basic_header("alice", "alice"))
        .header("Content-Type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    // The per-user cap, named in the refusal.
    s.settings(json!({"maxTokensPerUser": 2})).await;
    for _ in 0..2 {
        assert_eq!(pat_create(&s, "bob", json!({"name": "n"})).await.0, 201);
    }
    let (status, v) = pat_create(&s, "bob", json!({"name": "one too many"})).await;
    assert_eq!(status, 400);
    assert!(v.to_string().contains("maxTokensPerUser"), "{v}");
    // The admin bulk delete is for admins.
    let r = s
        .req(Method::DELETE, "/rest/pat/latest/admin/tokens")
        .header("Authorization", basic_header("bob", "bob"))
        .json(&json!([1]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
}

#[tokio::test]
async fn an_admin_deletes_pats_in_bulk_and_numbers_survive_a_restart() {
    let s = Server::start();
    let (_, a) = pat_create(&s, "alice", json!({"name": "a"})).await;
    let (_, b) = pat_create(&s, "bob", json!({"name": "b"})).await;
    let (_, c) = pat_create(&s, "bob", json!({"name": "c"})).await;
    let s = s.restart();
    let one = json_of(s.get_as(
        &format!("/rest/pat/latest/tokens/{}", c["id"]),
        "bob",
        "bob",
    ))
    .await;
    assert_eq!(
        one["name"], "c",
        "the number names the same token after a restart"
    );
    let r = s
        .admin(Method::DELETE, "/rest/pat/latest/admin/tokens")
        .json(&json!([a["id"], b["id"], 999_999]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let left: Vec<u64> = json_of(s.get_as("/rest/pat/latest/tokens", "bob", "bob"))
        .await
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_u64().unwrap())
        .collect();
    assert_eq!(left, vec![c["id"].as_u64().unwrap()]);
    assert!(
        json_of(s.get_as("/rest/pat/latest/tokens", "alice", "alice"))
            .await
            .as_array()
            .unwrap()
            .is_empty()
    );
    // Each deletion is audited like any other.
    let deleted = s.events("action=API token deleted", 2).await;
    assert_eq!(deleted.len(), 2);
}

#[tokio::test]
async fn rotation_replaces_the_secret_with_no_window_and_the_old_one_is_reported() {
    let s = Server::start();
    let made = s.token("alice", "READ_WRITE").await;
    let old = made["token"].as_str().unwrap().to_owned();
    let old_id = made["id"].as_str().unwrap().to_owned();
    // Warm the cache with the old secret, so the refusal cannot depend on a cold lookup.
    assert_eq!(
        status_of(
            s.req(Method::GET, "/rest/api/2/myself")
                .header("Authorization", bearer(&old))
        )
        .await,
        200
    );
    let r = s
        .req(
            Method::POST,
            &format!("/rest/tokenauth/1/tokens/{old_id}/rotate"),
        )
        .header("Authorization", bearer(&old))
        .send()
        .await
        .unwrap();
    let (status, _, new) = parts(r, "x").await;
    assert_eq!(status, 201, "{new}");
    assert_eq!(new["replaces"], old_id.as_str());
    assert_eq!(
        (
            new["user"].as_str(),
            new["scope"].as_str(),
            new["description"].as_str()
        ),
        (
            Some("alice"),
            Some("READ_WRITE"),
            made["description"].as_str()
        )
    );
    let secret = new["token"].as_str().unwrap();
    assert_eq!(
        status_of(
            s.req(Method::GET, "/rest/api/2/myself")
                .header("Authorization", bearer(secret))
        )
        .await,
        200
    );
    assert_eq!(
        status_of(
            s.req(Method::GET, "/rest/api/2/myself")
                .header("Authorization", bearer(&old))
        )
        .await,
        401
    );
    // The old secret presented again is always audited, naming the successor.
    let seen = s.events("action=Rotated-away API token used", 1).await;
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0]["tokenId"], old_id.as_str());
    assert!(
        seen[0]["reason"]
            .as_str()
            .unwrap()
            .contains(new["id"].as_str().unwrap())
    );
    let rotated = s.events("action=API token rotated", 1).await;
    assert_eq!(rotated[0]["changedValues"][0]["from"], old_id.as_str());
    // Rotating again what was rotated away: 404; someone else's token: 404; an admin: 201.
    let again = s
        .req(
            Method::POST,
            &format!("/rest/tokenauth/1/tokens/{old_id}/rotate"),
        )
        .header("Authorization", basic_header("alice", "alice"));
    assert_eq!(status_of(again).await, 404);
    let bobs = s.token("bob", "READ_ONLY").await;
    let path = format!(
        "/rest/tokenauth/1/tokens/{}/rotate",
        bobs["id"].as_str().unwrap()
    );
    assert_eq!(
        status_of(
            s.req(Method::POST, &path)
                .header("Authorization", basic_header("alice", "alice"))
        )
        .await,
        404
    );
    let by_admin = json_of(
        s.admin(Method::POST, &path)
            .json(&json!({"validityDays": 3})),
    )
    .await;
    assert_eq!(by_admin["user"], "bob");
    // A body that is not what rotation takes: 400.
    let bad = s
        .req(
            Method::POST,
            &format!(
                "/rest/tokenauth/1/tokens/{}/rotate",
                new["id"].as_str().unwrap()
            ),
        )
        .header("Authorization", basic_header("alice", "alice"))
        .json(&json!({"scope": "READ_WRITE"}));
    assert_eq!(status_of(bad).await, 400);
}

#[tokio::test]
async fn a_read_only_token_rotates_itself() {
    let s = Server::start();
    let made = s.token("alice", "READ_ONLY").await;
    let ro = made["token"].as_str().unwrap();
    let r = s
        .req(
            Method::POST,
            &format!(
                "/rest/tokenauth/1/tokens/{}/rotate",
                made["id"].as_str().unwrap()
            ),
        )
        .header("Authorization", bearer(ro))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let new: Value = r.json().await.unwrap();
    assert_eq!(new["scope"], "READ_ONLY");
}

#[tokio::test]
async fn expiring_within_days_filters_own_and_admin_lists() {
    let s = Server::start();
    for days in [3, 30] {
        let r = s
            .req(Method::POST, "/rest/tokenauth/1/tokens")
            .header("Authorization", basic_header("alice", "alice"))
            .json(&json!({"description": format!("{days} days"), "validityDays": days}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
    }
    let soon = json_of(s.get_as(
        "/rest/tokenauth/1/tokens?expiringWithinDays=7",
        "alice",
        "alice",
    ))
    .await;
    let names: Vec<&str> = soon
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["description"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["3 days"]);
    let page = json_of(s.admin(
        Method::GET,
        "/rest/tokenauth/1/admin/tokens?expiringWithinDays=7",
    ))
    .await;
    assert_eq!(page["total"], 1);
    assert_eq!(
        status_of(s.get_as(
            "/rest/tokenauth/1/tokens?expiringWithinDays=soon",
            "alice",
            "alice"
        ))
        .await,
        400
    );
}

#[tokio::test]
async fn the_per_user_cap_holds_on_every_way_a_token_is_made() {
    let mut s = Server::start();
    s.settings(json!({"maxTokensPerUser": 1})).await;
    s.token("alice", "READ_ONLY").await;
    let alice = basic_header("alice", "alice");
    let ways = [
        (
            "/rest/tokenauth/1/tokens",
            json!({"description": "own API"}),
            alice.clone(),
        ),
        (
            "/rest/pat/latest/tokens",
            json!({"name": "PAT API"}),
            alice.clone(),
        ),
        (
            "/rest/de.resolution.apitokenauth/latest/user/token",
            json!({"tokenDescription": "original product's API"}),
            alice.clone(),
        ),
        (
            "/rest/tokenauth/1/admin/users/alice/tokens",
            json!({"description": "admin on behalf"}),
            basic_header("admin", "admin"),
        ),
    ];
    for (path, body, auth) in ways {
        let r = s
            .req(Method::POST, path)
            .header("Authorization", auth)
            .json(&body)
            .send()
            .await
            .unwrap();
        let (status, _, v) = parts(r, "x").await;
        assert_eq!(status, 400, "{path}: {v}");
        assert!(v.to_string().contains("maxTokensPerUser"), "{path}: {v}");
    }
    // And the command line, on the stopped server's data.
    s.stop();
    let out = std::process::Command::new(tokenauth_e2e::binary())
        .arg("--data-dir")
        .arg(&s.data)
        .args(["token", "create", "alice", "--description", "cli"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("maxTokensPerUser"), "{err}");
}

#[tokio::test]
async fn review_m2_a_rotated_away_secret_sent_in_a_loop_is_reported_once_a_minute() {
    let s = Server::start();
    let made = s.token("alice", "READ_ONLY").await;
    let old = made["token"].as_str().unwrap().to_owned();
    let r = s
        .req(
            Method::POST,
            &format!(
                "/rest/tokenauth/1/tokens/{}/rotate",
                made["id"].as_str().unwrap()
            ),
        )
        .header("Authorization", basic_header("alice", "alice"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    for _ in 0..50 {
        let status = status_of(
            s.req(Method::GET, "/rest/api/2/myself")
                .header("Authorization", bearer(&old)),
        )
        .await;
        assert_eq!(status, 401);
    }
    s.settle().await;
    let seen = s.events("action=Rotated-away API token used", 1).await;
    assert_eq!(seen.len(), 1, "one report, not fifty");
}
