//! N5 (medium): one user flooded the always-audited events — rotating their token in a loop,
//! presenting each old secret — and the log, bounded by `audit.maxEvents`, forgot everyone
//! else's history.

use super::*;

/// Alice's token rotating itself: the rotation endpoint with the token as its own credential.
async fn rotate_itself(s: &Server, secret: &str) -> reqwest::Response {
    let id = &secret[4..16];
    s.req(
        Method::POST,
        &format!("/rest/tokenauth/1/tokens/{id}/rotate"),
    )
    .header("Authorization", bearer(secret))
    .send()
    .await
    .unwrap()
}

#[tokio::test]
async fn n5_one_user_rotating_and_presenting_old_secrets_cannot_push_out_anothers_history() {
    let s = Server::start();
    // A log of 100 events kept a day: one user's budget is then the floor, 60 an hour.
    s.settings(json!({"audit": {"maxEvents": 100, "retentionDays": 1}}))
        .await;
    // Bob's history: one token created.
    let bobs = s.token("bob", "READ_ONLY").await;
    let bobs_id = bobs["id"].as_str().unwrap().to_owned();
    // Alice, with one token, rotates it in a loop and presents every old secret.
    let mut secret = s.secret("alice", "READ_WRITE").await;
    let (mut rotated, mut refused) = (0, 0);
    for _ in 0..150 {
        let r = rotate_itself(&s, &secret).await;
        match r.status().as_u16() {
            201 => {
                let new: Value = r.json().await.unwrap();
                let old = std::mem::replace(&mut secret, new["token"].as_str().unwrap().to_owned());
                rotated += 1;
                let presented = s
                    .req(Method::GET, "/rest/api/2/myself")
                    .header("Authorization", bearer(&old));
                assert_eq!(status_of(presented).await, 401);
            }
            429 => {
                assert!(r.headers().contains_key("retry-after"), "a 429 says when");
                refused += 1;
            }
            other => panic!("rotation answered {other}"),
        }
    }
    // A retention round (a settings change starts one) applies maxEvents.
    s.settings(json!({"audit": {"maxEvents": 100, "retentionDays": 1}}))
        .await;
    s.settle().await;
    let bobs_events = s.events("action=API token created&user=bob", 1).await;
    assert!(
        bobs_events.iter().any(|e| e["tokenId"] == bobs_id.as_str()),
        "bob's token creation was pushed out by {rotated} rotations: {bobs_events:?}"
    );
    assert!(
        rotated <= 60,
        "{rotated} rotations went through in a minute"
    );
    assert!(refused >= 90, "{refused}");
}

#[tokio::test]
#[ignore = "waits the minute after which a summary is due (~65 s); .ci/run runs it"]
async fn n5_what_a_flooder_was_refused_is_counted_in_one_summary_event() {
    let s = Server::start();
    s.settings(json!({"audit": {"maxEvents": 100, "retentionDays": 1}}))
        .await;
    let mut secret = s.secret("alice", "READ_WRITE").await;
    let mut refused = 0;
    while refused < 7 {
        let r = rotate_itself(&s, &secret).await;
        if r.status() == 429 {
            refused += 1;
        } else {
            assert_eq!(r.status(), 201);
            let new: Value = r.json().await.unwrap();
            secret = new["token"].as_str().unwrap().to_owned();
        }
    }
    // Due a minute after the first refusal; written by the next retention round (a settings
    // change starts one) even though alice stopped.
    tokio::time::sleep(Duration::from_secs(62)).await;
    s.settings(json!({"audit": {"maxEvents": 100, "retentionDays": 1}}))
        .await;
    let summaries = s.events("action=Audit events suppressed", 1).await;
    assert_eq!(summaries.len(), 1, "{summaries:?}");
    let e = &summaries[0];
    assert_eq!(e["affectedUser"], "alice", "{e}");
    let refused_value = e["changedValues"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["key"] == "refused")
        .unwrap();
    assert_eq!(refused_value["to"], "7", "{e}");
    assert!(
        e["reason"].as_str().unwrap().contains("API token rotated"),
        "{e}"
    );
}
