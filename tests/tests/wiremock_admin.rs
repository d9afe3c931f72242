//! WireMock's admin API and the request journal (SPEC §8) over real HTTP: who may call it, what
//! the journal holds (and never holds), the 404 for unmatched requests, and the bounds.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use reqwest::Method;
use serde_json::{Value, json};
use tokenauth_e2e::{Server, basic_header, json_of, status_of, text_of};

const ISSUE_MAPPING: &str = r#"{"name": "issue PROJ-1",
  "request": {"method": "GET", "urlPath": "/rest/api/2/issue/PROJ-1"},
  "response": {"status": 200, "jsonBody": {"key": "PROJ-1"}}}"#;

async fn add_mapping(s: &Server, mapping: &str) -> Value {
    let r = s
        .req(Method::POST, "/__admin/mappings")
        .body(mapping.to_owned())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "creating a mapping");
    r.json().await.unwrap()
}

async fn journal(s: &Server) -> Value {
    json_of(s.req(Method::GET, "/__admin/requests")).await
}

#[tokio::test]
async fn no_presented_secret_ever_reaches_the_journal() {
    let s = Server::start();
    // A template that echoes what the client sent, the way a careless mapping would.
    add_mapping(
        &s,
        r#"{"request": {"method": "POST", "urlPath": "/rest/api/2/echo"},
            "response": {"status": 200, "transformers": ["response-template"],
              "body": "auth={{request.headers.Authorization}} body={{request.body}}"}}"#,
    )
    .await;
    let token = s.secret("alice", "READ_WRITE").await;
    // The token as Bearer, in the query, in another header and in the body.
    let r = s
        .req(Method::POST, &format!("/rest/api/2/echo?t={token}"))
        .header("Authorization", format!("Bearer {token}"))
        .header("X-Atlassian-Token", "no-check")
        .header("X-Debug", format!("sent {token}"))
        .body(format!("{{\"token\": \"{token}\"}}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // A password in Basic, and in an unmatched request's body.
    let r = s
        .req(Method::POST, "/rest/api/2/other")
        .header("Authorization", basic_header("bob", "bob"))
        .header("X-Atlassian-Token", "no-check")
        .body("my password is bob")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    // A session: its cookie, and the login body with the password.
    let login = s
        .req(Method::POST, "/rest/auth/1/session")
        .json(&json!({"username": "alice", "password": "alice"}))
        .send()
        .await
        .unwrap();
    let cookie = login
        .headers()
        .get("set-cookie")
        .unwrap()
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let session_id = cookie.split('=').nth(1).unwrap().to_owned();
    assert_eq!(
        status_of(
            s.req(Method::GET, "/rest/api/2/myself")
                .header("Cookie", &cookie)
        )
        .await,
        200
    );

    let text = journal(&s).await.to_string();
    let basic = basic_header("bob", "bob");
    for secret in [
        token.as_str(),
        basic.trim_start_matches("Basic "),
        "password\":\"alice",
        "password is bob",
        session_id.as_str(),
    ] {
        assert!(!text.contains(secret), "{secret} is in the journal: {text}");
    }
    assert!(text.contains("[redacted]"));
}

#[tokio::test]
async fn the_journal_says_what_the_stub_decided_for_each_request() {
    let s = Server::start();
    add_mapping(&s, ISSUE_MAPPING).await;
    let ro = s.token("alice", "READ_ONLY").await;
    let (secret, id) = (ro["token"].as_str().unwrap(), ro["id"].as_str().unwrap());
    let bearer = format!("Bearer {secret}");
    let get = s
        .req(Method::GET, "/rest/api/2/issue/PROJ-1")
        .header("Authorization", &bearer);
    assert_eq!(status_of(get).await, 200);
    let write = s
        .req(Method::POST, "/rest/api/2/issue/PROJ-1")
        .header("Authorization", &bearer)
        .header("X-Atlassian-Token", "no-check");
    assert_eq!(status_of(write).await, 403);
    assert_eq!(
        status_of(s.req(Method::GET, "/rest/api/2/issue/PROJ-1")).await,
        401
    );

    let j = journal(&s).await;
    let on_issue: Vec<&Value> = j["requests"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["request"]["url"] == "/rest/api/2/issue/PROJ-1")
        .collect();
    assert_eq!(on_issue.len(), 3);
    // Newest first: the anonymous 401, the Read Only write's 403, the mapped read.
    let [anon, ro_write, read] = on_issue[..] else {
        panic!()
    };
    assert_eq!(anon["tokenauth"]["decision"], "refused");
    assert_eq!(anon["tokenauth"]["refusal"]["status"], 401);
    assert_eq!(ro_write["tokenauth"]["refusal"]["kind"], "read_only_token");
    assert_eq!(ro_write["response"]["status"], 403);
    assert_eq!(read["tokenauth"]["decision"], "allowed");
    assert_eq!(read["tokenauth"]["authType"], "token");
    assert_eq!(read["tokenauth"]["tokenId"], id);
    assert_eq!(read["tokenauth"]["matchedMapping"]["name"], "issue PROJ-1");
    assert_eq!(read["stubMapping"]["name"], "issue PROJ-1");
    assert_eq!(read["wasMatched"], true);

    let count = json_of(
        s.req(Method::POST, "/__admin/requests/count")
            .body(r#"{"method": "GET", "urlPath": "/rest/api/2/issue/PROJ-1"}"#),
    )
    .await;
    assert_eq!(count["count"], 2);
}

#[tokio::test]
async fn from_another_address_the_admin_api_needs_an_administrator_and_a_read_only_token_only_reads()
 {
    let s = Server::start();
    // A proxy on this machine passing a remote client on: not local any more.
    let remote = |m: Method, path: &str| {
        s.req(m, path)
            .header("X-Forwarded-For", "203.0.113.9")
            .header("X-Atlassian-Token", "no-check")
    };
    assert_eq!(
        status_of(remote(Method::GET, "/__admin/mappings")).await,
        401
    );
    assert_eq!(status_of(remote(Method::POST, "/__admin/reset")).await, 401);
    let alice = remote(Method::GET, "/__admin/requests")
        .header("Authorization", basic_header("alice", "alice"));
    assert_eq!(status_of(alice).await, 403);
    let admin = remote(Method::GET, "/__admin/mappings")
        .header("Authorization", basic_header("admin", "admin"));
    assert_eq!(status_of(admin).await, 200);
    let ro = s.secret("admin", "READ_ONLY").await;
    let read =
        remote(Method::GET, "/__admin/mappings").header("Authorization", format!("Bearer {ro}"));
    assert_eq!(status_of(read).await, 200);
    let write = remote(Method::POST, "/__admin/mappings")
        .header("Authorization", format!("Bearer {ro}"))
        .header("Content-Type", "application/json")
        .body(ISSUE_MAPPING);
    assert_eq!(status_of(write).await, 403);
    assert_eq!(
        json_of(s.req(Method::GET, "/__admin/mappings")).await["meta"]["total"],
        0
    );
}

#[tokio::test]
async fn a_bad_mapping_is_refused_with_its_pointer_and_nothing_changes() {
    let s = Server::start();
    add_mapping(&s, ISSUE_MAPPING).await;
    let r = s
        .req(Method::POST, "/__admin/mappings")
        .body(r#"{"request": {"headers": {"Accept": {"matches": "("}}}}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    let body: Value = r.json().await.unwrap();
    assert_eq!(
        body["errors"][0]["source"]["pointer"],
        "/request/headers/Accept/matches"
    );
    let r = s
        .req(Method::POST, "/__admin/mappings/import")
        .body(r#"{"mappings": [{"request": {"url": "/ok"}}, {"request": {"url": 1, "urlPath": "/x"}}]}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    let body: Value = r.json().await.unwrap();
    assert_eq!(
        body["errors"][0]["source"]["pointer"],
        "/mappings/1/request/urlPath"
    );
    assert_eq!(
        json_of(s.req(Method::GET, "/__admin/mappings")).await["meta"]["total"],
        1
    );
    assert_eq!(
        status_of(s.req(Method::POST, "/__admin/mappings").body("not json")).await,
        422
    );
}

#[tokio::test]
async fn import_reset_and_scenarios_behave_as_wiremock_does() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("mappings")).unwrap();
    std::fs::write(dir.path().join("mappings/issue.json"), ISSUE_MAPPING).unwrap();
    let s = Server::start_with(&["--mappings", dir.path().to_str().unwrap()]);
    let from_file = json_of(s.req(Method::GET, "/__admin/mappings")).await["mappings"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let import = json!({"mappings": [
        {"id": "00000000-0000-4000-8000-000000000001", "scenarioName": "login",
         "requiredScenarioState": "Started", "newScenarioState": "in",
         "request": {"method": "GET", "urlPath": "/page"}, "response": {"status": 200, "body": "first"}},
        {"id": "00000000-0000-4000-8000-000000000002", "scenarioName": "login",
         "requiredScenarioState": "in",
         "request": {"method": "GET", "urlPath": "/page"}, "response": {"status": 200, "body": "second"}}
    ], "importOptions": {"duplicatePolicy": "IGNORE", "deleteAllNotInImport": false}});
    assert_eq!(
        status_of(
            s.req(Method::POST, "/__admin/mappings/import")
                .json(&import)
        )
        .await,
        200
    );
    assert_eq!(
        json_of(s.req(Method::GET, "/__admin/mappings")).await["meta"]["total"],
        3
    );
    assert_eq!(text_of(s.req(Method::GET, "/page")).await, "first");
    assert_eq!(text_of(s.req(Method::GET, "/page")).await, "second");
    let scenarios = json_of(s.req(Method::GET, "/__admin/scenarios")).await;
    assert_eq!(scenarios["scenarios"][0]["name"], "login");
    assert_eq!(scenarios["scenarios"][0]["state"], "in");
    assert_eq!(
        scenarios["scenarios"][0]["possibleStates"],
        json!(["Started", "in"])
    );
    assert_eq!(
        status_of(s.req(Method::POST, "/__admin/scenarios/reset")).await,
        200
    );
    assert_eq!(text_of(s.req(Method::GET, "/page")).await, "first");

    // Reset: the folder's mappings again, an empty journal.
    assert_eq!(status_of(s.req(Method::POST, "/__admin/reset")).await, 200);
    let after = json_of(s.req(Method::GET, "/__admin/mappings")).await;
    assert_eq!(after["meta"]["total"], 1);
    assert_eq!(after["mappings"][0]["id"], from_file.as_str());
    assert_eq!(
        json_of(s.req(Method::GET, "/__admin/requests")).await["meta"]["total"],
        0
    );
}

#[tokio::test]
async fn with_unmatched_404_an_unmatched_request_gets_the_closest_mappings() {
    let s = Server::start_with(&["--unmatched", "404"]);
    add_mapping(&s, ISSUE_MAPPING).await;
    let t = s.secret("alice", "READ_ONLY").await;
    let r = s
        .req(Method::GET, "/rest/api/2/issue/PROJ-2")
        .header("Authorization", format!("Bearer {t}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let report = r.text().await.unwrap();
    assert!(report.contains("Request was not matched"), "{report}");
    assert!(report.contains("GET /rest/api/2/issue/PROJ-2"), "{report}");
    assert!(report.contains("\"issue PROJ-1\""), "{report}");
    // The token rules still come first.
    assert_eq!(
        status_of(s.req(Method::GET, "/rest/api/2/issue/PROJ-2")).await,
        401
    );
    let unmatched = json_of(s.req(Method::GET, "/__admin/requests/unmatched")).await;
    assert_eq!(unmatched["requests"][0]["url"], "/rest/api/2/issue/PROJ-2");
    let near = json_of(s.req(Method::GET, "/__admin/requests/unmatched/near-misses")).await;
    assert_eq!(near["nearMisses"][0]["stubMapping"]["name"], "issue PROJ-1");

    // Without the option, the same request gets the echo.
    let plain = Server::start();
    let t = plain.secret("alice", "READ_ONLY").await;
    let echo = json_of(
        plain
            .req(Method::GET, "/rest/api/2/issue/PROJ-2")
            .header("Authorization", format!("Bearer {t}")),
    )
    .await;
    assert_eq!(echo["user"], "alice");
}

#[tokio::test]
async fn the_journal_keeps_its_size_and_the_gauge_shows_it() {
    let s = Server::start_with(&["--journal-size", "3"]);
    for i in 0..5 {
        status_of(s.req(Method::GET, &format!("/static/{i}"))).await;
    }
    let j = journal(&s).await;
    assert_eq!(j["meta"]["total"], 3);
    assert_eq!(j["requests"][0]["request"]["url"], "/static/4");
    assert_eq!(s.metric("tokenauth_journal_requests").await, 3.0);
    assert_eq!(
        status_of(s.req(Method::DELETE, "/__admin/requests")).await,
        200
    );
    assert_eq!(journal(&s).await["meta"]["total"], 0);

    let off = Server::start_with(&["--journal-size", "0"]);
    status_of(off.req(Method::GET, "/static/x")).await;
    let j = journal(&off).await;
    assert_eq!(j["requestJournalDisabled"], true);
    assert_eq!(j["meta"]["total"], 0);
}

/// The attack: a web page the developer visits POSTs a mapping to the stub on their machine (a
/// "simple" cross-site request, no preflight), or rebinds its own name to 127.0.0.1 to read
/// the journal; the mapping would serve the page's script from the stub's origin. Neither is
/// local, so both need an administrator's credentials, and nothing is added.
#[tokio::test]
async fn a_web_page_cannot_drive_the_admin_api_from_the_developers_browser() {
    let s = Server::start();
    let evil_mapping = r#"{"request": {"urlPath": "/evil"},
        "response": {"status": 200, "headers": {"Content-Type": "text/html"},
                     "body": "<script>fetch('/rest/tokenauth/1/tokens')</script>"}}"#;
    let cross_site = s
        .req(Method::POST, "/__admin/mappings")
        .header("Origin", "https://evil.example")
        .header("Sec-Fetch-Site", "cross-site")
        .header("Content-Type", "text/plain")
        .body(evil_mapping);
    assert_eq!(status_of(cross_site).await, 401);
    let rebound = s
        .req(Method::GET, "/__admin/requests")
        .header("Host", "rebound.evil.example:2990");
    assert_eq!(status_of(rebound).await, 401);
    let rebound_write = s
        .req(Method::POST, "/__admin/mappings")
        .header("Host", "rebound.evil.example:2990")
        .header("Origin", "http://rebound.evil.example:2990")
        .body(evil_mapping);
    assert_eq!(status_of(rebound_write).await, 401);
    assert_eq!(status_of(s.req(Method::GET, "/evil")).await, 404);
    assert_eq!(
        json_of(s.req(Method::GET, "/__admin/mappings")).await["meta"]["total"],
        0
    );
}

/// The review's F1: a mapping (any local process may add one) that echoes the caller's
/// `Authorization` through Handlebars' escaping (`=` becomes `&#x3D;`) and its `log` helper.
/// Neither the journal nor the server's log may end up holding the credential in any form.
#[tokio::test]
async fn a_template_cannot_carry_a_credential_into_the_journal_or_the_log() {
    let s = Server::start();
    add_mapping(
        &s,
        r#"{"request": {"urlPathPattern": "/rest/api/2/issue/.*"},
            "response": {"status": 200, "transformers": ["response-template"],
              "headers": {"X-Request-Echo": "{{request.headers.authorization}}"},
              "body": "{{request.headers.authorization}} {{log request.headers.authorization level='error'}}"}}"#,
    )
    .await;
    let token = s.secret("alice", "READ_ONLY").await;
    let basic = basic_header("alice", &token);
    let r = s
        .req(Method::GET, "/rest/api/2/issue/PROJ-1")
        .header("Authorization", &basic)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let encoded = basic.trim_start_matches("Basic ").to_owned();
    let escaped = encoded.replace('=', "&#x3D;");
    let unpadded = encoded.trim_end_matches('=').to_owned();
    let text = journal(&s).await.to_string();
    for leak in [&token, &encoded, &escaped, &unpadded] {
        assert!(
            !text.contains(leak.as_str()),
            "{leak} in the journal: {text}"
        );
    }
    assert!(text.contains("responseBodyOmitted"), "{text}");
    s.settle().await;
    let log = s.log();
    assert!(
        !log.contains(&unpadded),
        "the credential reached the log: {log}"
    );
}

/// The review's F4: paths that a lenient pattern matches but that do not start with `/rest/`
/// as written. The token rules guard them all; without credentials no mapping answers.
#[tokio::test]
async fn a_mapped_rest_path_is_never_served_without_credentials_whatever_its_spelling() {
    let s = Server::start();
    add_mapping(
        &s,
        r#"{"request": {"urlPattern": ".*/rest/api/2/.*"},
            "response": {"status": 200, "body": "CONFIDENTIAL"}}"#,
    )
    .await;
    for path in [
        "/rest/api/2/issue/PROJ-1",
        "//rest/api/2/issue/PROJ-1",
        "/rest/api/2/serverInfo/",
        "/x/%2e%2e/rest/api/2/issue/PROJ-1",
        "/%72est/api/2/issue/PROJ-1",
        "/REST/api/2/issue/PROJ-1",
    ] {
        let r = s.req(Method::GET, path).send().await.unwrap();
        let status = r.status().as_u16();
        let body = r.text().await.unwrap();
        assert!(
            !body.contains("CONFIDENTIAL") && (status == 401 || status == 404),
            "{path}: {status} {body}"
        );
    }
    // Raw, so no client tidies the dot segments away first.
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let mut raw = tokio::net::TcpStream::connect(s.addr()).await.unwrap();
    raw.write_all(b"GET /x/../rest/api/2/issue/PROJ-1 HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut answer = String::new();
    raw.read_to_string(&mut answer).await.unwrap();
    assert!(!answer.contains("CONFIDENTIAL"), "{answer}");
    // With a token the mapping answers, as it should.
    let t = s.secret("alice", "READ_ONLY").await;
    let ok = s
        .req(Method::GET, "/rest/api/2/issue/PROJ-1")
        .header("Authorization", format!("Bearer {t}"));
    assert_eq!(text_of(ok).await, "CONFIDENTIAL");
}

/// The review's F7: a proxy on this machine (nginx's default `proxy_pass` sends `Host:
/// 127.0.0.1` and no forwarding header) would make every remote client local. With
/// `--insecure-http` (a proxy in front does TLS) or loopback among the trusted proxies, no
/// caller is local.
#[tokio::test]
async fn behind_a_proxy_on_this_machine_the_admin_api_always_needs_an_administrator() {
    let s = Server::start_with(&["--insecure-http"]);
    assert_eq!(
        status_of(s.req(Method::GET, "/__admin/mappings")).await,
        401
    );
    let admin = s
        .req(Method::GET, "/__admin/mappings")
        .header("Authorization", basic_header("admin", "admin"));
    assert_eq!(status_of(admin).await, 200);

    let t = Server::start();
    assert_eq!(
        status_of(t.req(Method::GET, "/__admin/mappings")).await,
        200
    );
    t.settings(json!({"trustedProxies": ["127.0.0.1"]})).await;
    assert_eq!(
        status_of(t.req(Method::GET, "/__admin/mappings")).await,
        401
    );
}
