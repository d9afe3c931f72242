//! Expiry notices (SPEC §9) to a real HTTP receiver started by the test on 127.0.0.1: the
//! signature checked with the HMAC crate (not with the server's code), retries after a 500,
//! no duplicate after a restart, a final failure audited, and the admin's test message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use hmac::{KeyInit, Mac};
use reqwest::Method;
use serde_json::{Value, json};
use tokenauth_e2e::{Server, basic_header, json_of, status_of};

const SECRET: &str = "receiver-shares-this-secret";
const FAST: [&str; 4] = ["--notify-every", "1", "--notify-retry-ms", "100"];

#[derive(Clone, Default)]
struct Receiver {
    got: Arc<Mutex<Vec<(HeaderMap, Bytes)>>>,
    /// Statuses to answer, in order; 200 once they run out.
    answers: Arc<Mutex<VecDeque<u16>>>,
    always: Arc<Mutex<Option<u16>>>,
}

async fn receive(State(r): State<Receiver>, headers: HeaderMap, body: Bytes) -> StatusCode {
    r.got.lock().unwrap().push((headers, body));
    let always = *r.always.lock().unwrap();
    let code = always
        .or_else(|| r.answers.lock().unwrap().pop_front())
        .unwrap_or(200);
    StatusCode::from_u16(code).unwrap()
}

impl Receiver {
    async fn start() -> (Self, String) {
        let r = Receiver::default();
        let app = axum::Router::new()
            .route("/hook", axum::routing::post(receive))
            .with_state(r.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        (r, url)
    }

    fn count(&self) -> usize {
        self.got.lock().unwrap().len()
    }

    async fn wait_for(&self, n: usize) -> Vec<(HeaderMap, Bytes)> {
        let deadline = Instant::now() + Duration::from_secs(20);
        while self.count() < n && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        self.got.lock().unwrap().clone()
    }
}

fn signed_correctly(headers: &HeaderMap, body: &[u8]) -> bool {
    let Some(sig) = headers
        .get("x-tokenauth-signature-256")
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let Some(hex) = sig.strip_prefix("sha256=") else {
        return false;
    };
    let bytes: Vec<u8> = (0..hex.len())
        .step_by(2)
        .filter_map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
        .collect();
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(body);
    mac.verify_slice(&bytes).is_ok()
}

async fn configure(s: &Server, url: &str) {
    s.settings(json!({"notifications": {"webhookUrl": url, "daysBefore": [7, 1]}}))
        .await;
    let r = s
        .admin(Method::PUT, "/rest/tokenauth/1/admin/notifications/secret")
        .json(&json!({"secret": SECRET}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
}

async fn token_for_days(s: &Server, user: &str, days: u32) -> Value {
    json_of(
        s.req(Method::POST, "/rest/tokenauth/1/tokens")
            .header("Authorization", basic_header(user, user))
            .json(&json!({"description": format!("{days}-day job"), "validityDays": days})),
    )
    .await
}

#[tokio::test]
async fn a_notice_is_signed_retried_after_a_500_audited_and_never_sent_twice_across_a_restart() {
    let (receiver, url) = Receiver::start().await;
    receiver.answers.lock().unwrap().push_back(500);
    let s = Server::start_with(&FAST);
    configure(&s, &url).await;
    let made = token_for_days(&s, "alice", 3).await;

    // The first attempt gets a 500, the retry a 200: the same message twice.
    let got = receiver.wait_for(2).await;
    assert_eq!(got.len(), 2, "one attempt and one retry");
    assert_eq!(
        got[0].1, got[1].1,
        "a retry sends the same message (same delivery id)"
    );
    let (headers, body) = &got[1];
    assert!(
        signed_correctly(headers, body),
        "the HMAC-SHA256 signature checks out"
    );
    assert!(!signed_correctly(headers, b"{\"tampered\": true}"));
    let msg: Value = serde_json::from_slice(body).unwrap();
    assert_eq!(msg["event"], "token.expiring");
    assert_eq!(msg["tokenId"], made["id"]);
    assert_eq!(msg["user"], "alice");
    assert_eq!(msg["daysBefore"], 7, "3 days left: the 7-day threshold");
    assert_eq!(msg["daysLeft"], 3);
    let sent = s.events("action=Expiry notice sent", 1).await;
    assert!(
        sent[0]["reason"].as_str().unwrap().contains("2 attempt"),
        "{}",
        sent[0]
    );

    // A restart and several rounds later: nothing sent again.
    let s = s.restart_with(&FAST);
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(receiver.count(), 2, "no duplicate after a restart");
    let _ = s;
}

#[tokio::test]
async fn a_receiver_that_keeps_failing_is_audited_as_failed_after_the_retries() {
    let (receiver, url) = Receiver::start().await;
    *receiver.always.lock().unwrap() = Some(503);
    let s = Server::start_with(&FAST);
    configure(&s, &url).await;
    token_for_days(&s, "bob", 1).await;
    let failed = s.events("action=Expiry notice failed", 1).await;
    assert_eq!(failed.len(), 1);
    assert!(failed[0]["reason"].as_str().unwrap().contains("5 attempt"));
    assert_eq!(receiver.count(), 5);
    assert_eq!(
        s.metric("tokenauth_expiry_notices_total{outcome=\"failed\"}")
            .await,
        1.0
    );
}

#[tokio::test]
async fn the_admin_sends_a_test_message_and_the_secret_is_never_shown() {
    let (receiver, url) = Receiver::start().await;
    let s = Server::start();
    // No secret yet: refused, naming what is missing.
    let r = s
        .admin(Method::POST, "/rest/tokenauth/1/admin/notifications/test")
        .json(&json!({"webhookUrl": url}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    configure(&s, &url).await;
    let answer = json_of(s.admin(Method::POST, "/rest/tokenauth/1/admin/notifications/test")).await;
    assert_eq!(answer["delivered"], true, "{answer}");
    let got = receiver.wait_for(1).await;
    assert!(signed_correctly(&got[0].0, &got[0].1));
    assert_eq!(
        serde_json::from_slice::<Value>(&got[0].1).unwrap()["event"],
        "test"
    );
    // Read back: set, never its value — not in the API, not in the audit log.
    let view = json_of(s.admin(Method::GET, "/rest/tokenauth/1/admin/notifications")).await;
    assert_eq!(view["secretSet"], true);
    assert!(!view.to_string().contains(SECRET));
    let settings = json_of(s.admin(Method::GET, "/rest/tokenauth/1/admin/settings")).await;
    assert!(!settings.to_string().contains(SECRET));
    let events = Value::from(s.events("", 1).await).to_string();
    assert!(!events.contains(SECRET));
    // Nor the webhook URL's path (Slack's carry their secret there): scheme and host only.
    assert!(!events.contains(&url), "{events}");
    assert!(events.contains("/…"), "{events}");
    // Users may not; a short secret is refused.
    let r = s
        .req(Method::PUT, "/rest/tokenauth/1/admin/notifications/secret")
        .header("Authorization", basic_header("alice", "alice"))
        .json(&json!({"secret": SECRET}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let short = s
        .admin(Method::PUT, "/rest/tokenauth/1/admin/notifications/secret")
        .json(&json!({"secret": "short"}));
    assert_eq!(status_of(short).await, 400);
    // A receiver that is not there: not delivered, in words.
    let answer = json_of(
        s.admin(Method::POST, "/rest/tokenauth/1/admin/notifications/test")
            .json(&json!({"webhookUrl": "http://127.0.0.1:9/hook"})),
    )
    .await;
    assert_eq!(answer["delivered"], false);
    assert!(answer["error"].is_string());
}
