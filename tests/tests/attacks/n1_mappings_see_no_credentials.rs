//! N1 (high): a mapping reads other users' credentials — by a template that echoes them, or
//! by an oracle of `matches` patterns that the journal tells apart.

use super::*;

/// Adds a mapping through the admin API, as a local caller with no credentials may.
pub async fn add_mapping(s: &Server, mapping: Value) -> reqwest::Response {
    s.req(Method::POST, "/__admin/mappings")
        .json(&mapping)
        .send()
        .await
        .unwrap()
}

/// A client that does not follow redirects, so the test sees the `Location` it was given.
fn no_redirects() -> reqwest::Client {
    tokenauth_e2e::init_tls();
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

#[tokio::test]
async fn n1_a_template_cannot_hand_over_another_users_token() {
    let s = Server::start();
    let r = add_mapping(
        &s,
        json!({"request": {"method": "GET", "urlPath": "/rest/api/2/issue/PROJ-1"},
               "response": {"status": 302, "transformers": ["response-template"],
                 "headers": {"Location": "http://127.0.0.1:1/{{request.headers.Authorization}}"},
                 "body": "{{request.headers.authorization}} {{request.headers.[AUTHORIZATION]}} {{#each request.headers}}{{this}};{{/each}} {{request.cookies.JSESSIONID}}"}}),
    )
    .await;
    assert_eq!(r.status(), 201);
    let token = s.secret("alice", "READ_WRITE").await;
    let r = no_redirects()
        .get(s.url("/rest/api/2/issue/PROJ-1"))
        .header("Authorization", bearer(&token))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 302);
    let location = r.headers()["location"].to_str().unwrap().to_owned();
    let body = r.text().await.unwrap();
    assert_eq!(location, "http://127.0.0.1:1/[redacted]");
    let secret_part = &token[token.len() - 20..];
    assert!(!body.contains(secret_part), "{body}");
    let journal = text_of_admin_requests(&s).await;
    assert!(
        !journal.contains(secret_part),
        "the journal kept it: {journal}"
    );
}

/// Basic credentials and the session cookie are sealed as the token is.
#[tokio::test]
async fn n1_a_template_cannot_hand_over_a_password_or_a_session() {
    let s = Server::start();
    add_mapping(
        &s,
        json!({"request": {"urlPath": "/rest/api/2/echo"},
               "response": {"transformers": ["response-template"],
                 "body": "{{request.headers.Authorization}}|{{request.headers.Cookie}}|{{request.cookies.JSESSIONID}}"}}),
    )
    .await;
    let basic = basic_header("alice", "alice");
    let r = s
        .req(Method::GET, "/rest/api/2/echo")
        .header("Authorization", &basic)
        .header("Cookie", "JSESSIONID=planted-session-value");
    assert_eq!(
        tokenauth_e2e::text_of(r).await,
        "[redacted]|[redacted]|[redacted]"
    );
    let cookie = login(&s, "bob", "bob").await;
    let r = s
        .req(Method::GET, "/rest/api/2/echo")
        .header("Cookie", &cookie);
    let text = tokenauth_e2e::text_of(r).await;
    assert!(!text.contains(cookie.split('=').nth(1).unwrap()), "{text}");
}

#[tokio::test]
async fn n1_a_mapping_cannot_guess_a_credential_one_character_at_a_time() {
    let s = Server::start();
    for (i, guess) in ["A", "B", "t"].iter().enumerate() {
        let r = add_mapping(
            &s,
            json!({"priority": i + 1, "request": {"urlPath": "/rest/api/2/myself/x",
                   "headers": {"Authorization": {"matches": format!("Bearer {guess}.*")}}}}),
        )
        .await;
        assert_eq!(r.status(), 422, "a guessing matcher is refused at load");
        let v: Value = r.json().await.unwrap();
        assert_eq!(
            v["errors"][0]["source"]["pointer"],
            "/request/headers/Authorization/matches"
        );
        assert!(
            v["errors"][0]["detail"]
                .as_str()
                .unwrap()
                .contains("credential"),
            "{v}"
        );
    }
    for (what, matcher) in [
        ("headers", json!({"authorization": {"contains": "tka_"}})),
        ("headers", json!({"X-Api-Key": {"matches": "a.*"}})),
        (
            "cookies",
            json!({"JSESSIONID": {"matches": "[0-9a-f]{4}.*"}}),
        ),
        (
            "queryParameters",
            json!({"access_token": {"contains": "x"}}),
        ),
    ] {
        let r = add_mapping(&s, json!({"request": {"urlPath": "/x", what: matcher}})).await;
        assert_eq!(r.status(), 422, "{what} {matcher}");
    }
    // One guess of the whole value is one bit, as real mapping folders use it.
    let token = s.secret("alice", "READ_ONLY").await;
    let r = add_mapping(
        &s,
        json!({"request": {"urlPath": "/rest/api/2/issue/P-9",
               "headers": {"Authorization": {"equalTo": bearer(&token)}}},
               "response": {"body": "exactly alice's token"}}),
    )
    .await;
    assert_eq!(r.status(), 201);
    let hit = s
        .req(Method::GET, "/rest/api/2/issue/P-9")
        .header("Authorization", bearer(&token));
    assert_eq!(tokenauth_e2e::text_of(hit).await, "exactly alice's token");
    // A scheme or presence test reads nothing of the secret, and loads.
    let r = add_mapping(
        &s,
        json!({"request": {"urlPath": "/y", "headers": {"Authorization": {"matches": "Bearer .*"}}}}),
    )
    .await;
    assert_eq!(r.status(), 201);
}

pub async fn text_of_admin_requests(s: &Server) -> String {
    tokenauth_e2e::text_of(s.req(Method::GET, "/__admin/requests")).await
}

/// The same for bodies (found by the second look at the engine): a password in a JSON or form
/// body is `[redacted]` to matchers, templates and scenarios alike.
#[tokio::test]
async fn n1_a_mapping_cannot_read_a_password_from_a_body() {
    let s = Server::start();
    // One guess per mapping on the current password in a JSON body...
    for c in ['s', 'x'] {
        let r = add_mapping(
            &s,
            json!({"id": format!("00000000-0000-4000-8000-00000000000{}", if c == 's' { 1 } else { 2 }),
                   "priority": 1,
                   "request": {"method": "PUT", "urlPath": "/rest/api/2/myself/password",
                     "bodyPatterns": [{"matchesJsonPath": {"expression": "$.currentPassword", "matches": format!("{c}.*")}}]},
                   "response": {"status": 204}}),
        )
        .await;
        assert_eq!(r.status(), 201);
    }
    // ...a template that echoes it...
    add_mapping(
        &s,
        json!({"priority": 5,
               "request": {"method": "PUT", "urlPath": "/rest/api/2/myself/password"},
               "response": {"status": 302, "transformers": ["response-template"],
                 "headers": {"Location": "http://127.0.0.1:1/c?p={{jsonPath request.body '$.currentPassword'}}"},
                 "body": "{{request.body}}"}}),
    )
    .await;
    // ...and a scenario stepped by a form login's password.
    for (state, next) in [("Started", "s-first")] {
        add_mapping(
            &s,
            json!({"scenarioName": "oracle", "requiredScenarioState": state, "newScenarioState": next,
                   "request": {"method": "POST", "urlPath": "/login.jsp",
                     "bodyPatterns": [{"matches": ".*os_password=s.*"}]},
                   "response": {"status": 200}}),
        )
        .await;
    }
    let r = no_redirects()
        .put(s.url("/rest/api/2/myself/password"))
        .header("Authorization", basic_header("alice", "alice"))
        .header("Content-Type", "application/json")
        .header("X-Atlassian-Token", "no-check")
        .body(r#"{"password":"n3w-password-1","currentPassword":"secret-old-pw"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 302, "no guess matched, the template answered");
    let location = r.headers()["location"].to_str().unwrap().to_owned();
    let body = r.text().await.unwrap();
    assert_eq!(location, "http://127.0.0.1:1/c?p=[redacted]");
    assert!(
        !body.contains("secret-old-pw") && !body.contains("n3w-password-1"),
        "{body}"
    );
    let r = s
        .req(Method::POST, "/login.jsp")
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body("os_username=alice&os_password=secret-old-pw");
    let _ = status_of(r).await;
    let scenarios = json_of(s.req(Method::GET, "/__admin/scenarios")).await;
    assert_eq!(scenarios["scenarios"][0]["state"], "Started", "{scenarios}");
}

/// "One guess, one bit" only holds if the guesses are few: a dictionary of `equalTo`s spread
/// over many mappings tried every word against each of alice's requests, and the journal said
/// which chunk matched (second look at N1).
#[tokio::test]
async fn n1_a_dictionary_of_credential_values_is_refused() {
    let s = Server::start();
    let words = |from: usize| -> Vec<Value> {
        (from..from + 40)
            .map(|i| {
                let b = base64::Engine::encode(
                    &base64::engine::general_purpose::STANDARD,
                    format!("alice:guess{i}"),
                );
                json!({"equalTo": format!("Basic {b}")})
            })
            .collect()
    };
    let chunk = |n: usize| {
        json!({"request": {"method": "GET", "urlPathPattern": "/rest/api/2/issue/.*",
                 "headers": {"Authorization": {"or": words(n * 40)}}},
               "response": {"status": 200, "body": format!("chunk {n}")}})
    };
    let r = add_mapping(&s, chunk(0)).await;
    assert_eq!(r.status(), 201);
    let r = add_mapping(&s, chunk(1)).await;
    assert_eq!(r.status(), 400, "80 values are more than 64");
    let text = r.text().await.unwrap();
    assert!(text.contains("64"), "{text}");
    let listed = json_of(s.req(Method::GET, "/__admin/mappings")).await;
    assert_eq!(
        listed["mappings"].as_array().unwrap().len(),
        1,
        "nothing half-added"
    );
}
