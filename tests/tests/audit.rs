//! SPEC section 4 over HTTP: which events each audit option produces, the always-audited token
//! events, the events endpoint's shape and filters, the export, and the log lines.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use reqwest::Method;
use serde_json::{Value, json};
use tokenauth_e2e::{Server, basic_header, json_of};

const MYSELF: &str = "/rest/api/2/myself";

fn actions(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .map(|e| e["type"]["action"].as_str().unwrap().to_owned())
        .collect()
}

/// Authentication events, once every earlier request's events are stored.
async fn auth_events(s: &Server) -> Vec<String> {
    s.settle().await;
    auth_events_settled(s).await
}

async fn auth_events_settled(s: &Server) -> Vec<String> {
    let all = s.events("", 0).await;
    actions(&all)
        .into_iter()
        .filter(|a| {
            !matches!(
                a.as_str(),
                "API token created" | "API token deleted" | "Settings changed" | "User created"
            )
        })
        .collect()
}

#[tokio::test]
async fn with_every_option_off_no_authentication_event_is_written() {
    let s = Server::start();
    let t = s.secret("alice", "READ_ONLY").await;
    s.get_as(MYSELF, "alice", &t).send().await.unwrap();
    s.get_as(MYSELF, "alice", "wrong").send().await.unwrap();
    s.req(Method::POST, "/rest/api/2/issue")
        .bearer_auth(&t)
        .send()
        .await
        .unwrap();
    assert_eq!(auth_events(&s).await, Vec::<String>::new());
}

#[tokio::test]
async fn option_1_records_each_successful_authentication() {
    let s = Server::start();
    s.settings(json!({"audit": {"successfulAuthentication": true}}))
        .await;
    let t = s.token("alice", "READ_ONLY").await;
    let secret = t["token"].as_str().unwrap();
    s.get_as(MYSELF, "alice", secret).send().await.unwrap();
    s.get_as(MYSELF, "alice", "wrong").send().await.unwrap();
    let events = s
        .events("action=Authenticated with API token&user=alice", 1)
        .await;
    assert_eq!(events.len(), 1);
    let e = &events[0];
    assert_eq!(e["author"]["name"], "alice");
    assert_eq!(e["tokenId"], t["id"]);
    assert_eq!(e["tokenDescription"], "alice script");
    assert_eq!(e["scope"], "READ_ONLY");
    assert_eq!(e["path"], MYSELF);
    assert_eq!(e["method"], "GET");
    assert_eq!(e["source"], "127.0.0.1");
    assert_eq!(e["type"]["category"], "API tokens");
    assert!(!e.to_string().contains(secret), "never the secret");
    // Password logins (the token creation above) count as authentications too.
    let pw = s
        .events("action=Authenticated with password&user=alice", 1)
        .await;
    assert!(!pw.is_empty());
    assert!(
        !auth_events(&s)
            .await
            .contains(&"Failed authentication attempt".to_string())
    );
}

#[tokio::test]
async fn a_success_event_too_large_to_queue_at_once_is_written_all_the_same() {
    // The front service answers a cached token in its call, queueing the event without a wait
    // when it can (`Writer::try_events`). An event past the queue's free share (1 KiB: here a
    // 1,500-character path) is handed back and waited for instead; it must reach the log all
    // the same, whole, like the ordinary one beside it.
    let s = Server::start();
    s.settings(json!({"audit": {"successfulAuthentication": true}}))
        .await;
    let t = s.secret("alice", "READ_ONLY").await;
    let long = format!("/rest/api/2/issue/{}", "A".repeat(1500));
    s.get_as(&long, "alice", &t).send().await.unwrap();
    s.get_as(MYSELF, "alice", &t).send().await.unwrap();
    s.settle().await;
    let events = s
        .events("action=Authenticated with API token&user=alice", 2)
        .await;
    let paths: Vec<&str> = events.iter().filter_map(|e| e["path"].as_str()).collect();
    let lengths: Vec<usize> = paths.iter().map(|p| p.len()).collect();
    assert_eq!(
        lengths,
        [MYSELF.len(), long.len()],
        "both written, newest first"
    );
    assert_eq!(paths[1], long, "the large one whole");
}

#[tokio::test]
async fn option_2b_records_every_failed_attempt_and_nothing_else() {
    let s = Server::start();
    s.settings(json!({"audit": {"allFailedAttempts": true}}))
        .await;
    let t = s.secret("alice", "READ_ONLY").await;
    s.get_as(MYSELF, "alice", "Zq9-not-hers")
        .send()
        .await
        .unwrap();
    s.get_as(MYSELF, "alice", &t).send().await.unwrap();
    s.req(Method::PUT, "/rest/api/2/issue")
        .bearer_auth(&t)
        .send()
        .await
        .unwrap();
    let got = auth_events(&s).await;
    assert_eq!(got, vec!["Failed authentication attempt"]);
    let e = &s.events("action=Failed authentication attempt", 1).await[0];
    assert_eq!(e["author"]["name"], "Anonymous");
    assert_eq!(e["affectedUser"], "alice");
    assert!(
        !e.to_string().contains("Zq9-not-hers"),
        "never the presented secret"
    );
}

#[tokio::test]
async fn option_2a_records_failed_token_attempts_and_refused_addresses() {
    let s = Server::start();
    let t = s.secret("alice", "READ_ONLY").await;
    let bob = format!("Bearer {}", s.secret("bob", "READ_WRITE").await);
    s.admin_uses_token().await;
    s.settings(
        json!({"passwordAuthEnabled": false, "audit": {"failedTokenAttempts": true},
        "trustedProxies": ["127.0.0.1"], "ipAllowList": ["10.0.0.0/8", "127.0.0.1"]}),
    )
    .await;
    s.get_as(MYSELF, "alice", "alice").send().await.unwrap();
    s.get_as(MYSELF, "alice", &t).send().await.unwrap();
    s.get_as(MYSELF, "alice", &t)
        .header("X-Forwarded-For", "203.0.113.9")
        .send()
        .await
        .unwrap();
    s.settle_as(&bob).await;
    let got = auth_events_settled(&s).await;
    assert_eq!(
        got,
        vec!["IP address not allowed", "Failed authentication attempt"]
    );
    let ip = &s.events("action=IP address not allowed", 1).await[0];
    assert_eq!(ip["source"], "203.0.113.9");
    assert_eq!(ip["proxyIp"], "127.0.0.1");
}

#[tokio::test]
async fn option_2a_is_refused_while_passwords_are_enabled() {
    let s = Server::start();
    let r = s
        .admin(Method::PUT, "/rest/tokenauth/1/admin/settings")
        .json(&json!({"audit": {"failedTokenAttempts": true}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.unwrap();
    assert!(
        body["errors"]["audit.failedTokenAttempts"].is_string(),
        "{body}"
    );
}

#[tokio::test]
async fn option_3_records_permission_denied_for_read_only_writes() {
    let s = Server::start();
    s.settings(json!({"audit": {"permissionDenied": true}}))
        .await;
    let t = s.secret("alice", "READ_ONLY").await;
    let r = s
        .req(Method::DELETE, "/rest/api/2/issue/ABC-1")
        .bearer_auth(&t)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    s.get_as(MYSELF, "alice", "wrong").send().await.unwrap();
    assert_eq!(auth_events(&s).await, vec!["Permission denied"]);
    let e = &s.events("action=Permission denied", 1).await[0];
    assert_eq!(
        (
            e["method"].as_str(),
            e["path"].as_str(),
            e["scope"].as_str()
        ),
        (
            Some("DELETE"),
            Some("/rest/api/2/issue/ABC-1"),
            Some("READ_ONLY")
        )
    );
}

#[tokio::test]
async fn token_creation_and_deletion_are_always_audited() {
    let s = Server::start();
    let a = s.token("alice", "READ_ONLY").await;
    let id = a["id"].as_str().unwrap();
    s.req(Method::DELETE, &format!("/rest/tokenauth/1/tokens/{id}"))
        .header("Authorization", basic_header("alice", "alice"))
        .send()
        .await
        .unwrap();
    s.token("bob", "READ_WRITE").await;
    s.token("bob", "READ_ONLY").await;
    let r = s
        .admin(Method::DELETE, "/rest/tokenauth/1/admin/users/bob/tokens")
        .send()
        .await
        .unwrap();
    assert_eq!(r.json::<Value>().await.unwrap()["deleted"], 2);
    let created = s.events("action=API token created", 3).await;
    assert_eq!(created.len(), 3);
    let deleted = s.events("action=API token deleted&user=alice", 1).await;
    assert_eq!(deleted[0]["tokenId"], id);
    let all = s.events("action=All API tokens of a user deleted", 1).await;
    assert_eq!(
        (
            all[0]["author"]["name"].as_str(),
            all[0]["affectedUser"].as_str()
        ),
        (Some("admin"), Some("bob"))
    );
}

#[tokio::test]
async fn events_page_newest_first_and_filter_by_time_user_and_action() {
    let s = Server::start();
    for _ in 0..3 {
        s.token("alice", "READ_ONLY").await;
    }
    s.settle().await;
    let page = s
        .admin(Method::GET, "/rest/auditing/1.0/events?limit=2")
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    assert_eq!(page["entities"].as_array().unwrap().len(), 2);
    assert_eq!(page["pagingInfo"]["isLastPage"], false);
    let ts: Vec<&str> = page["entities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["timestamp"].as_str().unwrap())
        .collect();
    assert!(ts[0] >= ts[1]);
    let alice = s.events("user=alice&action=API token created", 3).await;
    assert_eq!(alice.len(), 3);
    let future = s.events("from=2999-01-01T00:00:00Z", 0).await;
    assert!(future.is_empty());
    let r = s
        .admin(Method::GET, "/rest/auditing/1.0/events?from=yesterday")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let r = s
        .admin(Method::GET, "/rest/auditing/1.0/events?action=Nope")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let r = s
        .get_as("/rest/auditing/1.0/events", "alice", "alice")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403, "admins only");
}

#[tokio::test]
async fn a_keyset_cursor_pages_through_every_event_once_and_the_histogram_counts_them() {
    let s = Server::start();
    for _ in 0..7 {
        s.token("bob", "READ_ONLY").await;
    }
    s.settle().await;
    let everything = s.events("action=API token created", 7).await;
    let mut seen = Vec::new();
    let mut cursor = String::new();
    // Never more pages than events: a cursor that does not advance fails instead of looping.
    for _ in 0..=everything.len() {
        let page = json_of(s.admin(
            Method::GET,
            &format!("/rest/auditing/1.0/events?action=API token created&limit=3&before={cursor}"),
        ))
        .await;
        seen.extend(
            page["entities"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["id"].clone()),
        );
        match page["pagingInfo"]["nextBefore"].as_str() {
            Some(next) => cursor = next.to_owned(),
            None => break,
        }
    }
    let ids: Vec<Value> = everything.iter().map(|e| e["id"].clone()).collect();
    assert_eq!(seen, ids, "each event once, newest first");

    let h = json_of(s.admin(
        Method::GET,
        "/rest/tokenauth/1/admin/audit/histogram?action=API token created&buckets=5",
    ))
    .await;
    let counts: u64 = h["counts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_u64().unwrap())
        .sum();
    assert_eq!(counts, ids.len() as u64);
    assert_eq!(h["counts"].as_array().unwrap().len(), 5);
    assert!(h["bucketMillis"].as_i64().unwrap() >= 1);
    let r = s
        .admin(Method::GET, "/rest/auditing/1.0/events?before=yesterday")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
}

#[tokio::test]
async fn the_export_gives_csv_and_json_of_the_filtered_events() {
    let s = Server::start();
    s.token("alice", "READ_ONLY").await;
    s.settle().await;
    let csv = s
        .admin(
            Method::GET,
            "/rest/tokenauth/1/admin/audit/export?format=csv&user=alice",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(csv.status(), 200);
    assert!(
        csv.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .contains("attachment")
    );
    let text = csv.text().await.unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with("id,timestamp,category,action"));
    assert!(lines.iter().skip(1).all(|l| l.contains("alice")), "{text}");
    let json: Value = s
        .admin(
            Method::GET,
            "/rest/tokenauth/1/admin/audit/export?format=json",
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(json.as_array().unwrap().len() >= 4);
    let bad = s
        .admin(
            Method::GET,
            "/rest/tokenauth/1/admin/audit/export?format=xml",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
}

#[tokio::test]
async fn every_event_is_also_one_log_line_under_target_tokenauth() {
    let mut s = Server::start();
    let t = s.token("alice", "READ_WRITE").await;
    s.settings(json!({"audit": {"successfulAuthentication": true}}))
        .await;
    s.req(Method::GET, MYSELF)
        .bearer_auth(t["token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    s.settle().await;
    s.stop();
    let log = s.log();
    let line = log
        .lines()
        .find(|l| l.contains("event=\"Authenticated with API token\""))
        .unwrap_or_else(|| panic!("no log line in {log}"));
    assert!(
        line.contains(" INFO ") && line.contains("tokenauth:"),
        "{line}"
    );
    for part in [
        "token_description=\"alice script\"",
        "scope=READ_WRITE",
        "user=alice",
        "path=/rest/api/2/myself",
    ] {
        assert!(line.contains(part), "{part} in {line}");
    }
    assert!(
        !log.contains(t["token"].as_str().unwrap()),
        "the secret is never logged"
    );
}

#[tokio::test]
async fn lowering_the_retention_prunes_at_once() {
    let s = Server::start();
    for _ in 0..4 {
        s.token("alice", "READ_ONLY").await;
    }
    s.settle().await;
    assert!(s.events("", 0).await.len() > 5);
    s.settings(json!({"audit": {"maxEvents": 2}})).await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let left = s.events("", 0).await;
        if left.len() <= 2 {
            // The newest survive: the settings change is among them.
            assert!(actions(&left).contains(&"Settings changed".to_string()));
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "still {} events",
            left.len()
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}
