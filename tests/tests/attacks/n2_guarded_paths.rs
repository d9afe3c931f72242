//! N2 (medium): a pattern reaches `/rest/` content under another spelling without credentials.

use super::n1_mappings_see_no_credentials::add_mapping;
use super::*;

/// A request as raw bytes, so no client tidies the path first; answers the whole reply.
async fn raw_get(s: &Server, path: &[u8]) -> String {
    let mut c = tokio::net::TcpStream::connect(s.addr()).await.unwrap();
    let mut req = b"GET ".to_vec();
    req.extend_from_slice(path);
    req.extend_from_slice(b" HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    c.write_all(&req).await.unwrap();
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), c.read_to_end(&mut out)).await;
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test]
async fn n2_a_pattern_mapping_does_not_answer_anonymously_under_another_spelling() {
    let s = Server::start();
    for pattern in [
        json!({"urlPattern": ".*/rest/api/2/myself"}),
        json!({"urlPathPattern": "(?i)/rest/api/2/myself"}),
    ] {
        let mut request = pattern.clone();
        request["method"] = json!("GET");
        let r = add_mapping(
            &s,
            json!({"request": request, "response": {"body": "CONFIDENTIAL"}}),
        )
        .await;
        assert_eq!(r.status(), 201);
    }
    for path in [
        &b"/x/rest/api/2/myself"[..],
        b"/jira/rest/api/2/myself",
        "/reſt/api/2/myself".as_bytes(),
        b"/re%C5%BFt/api/2/myself",
        b"/REST/api/2/myself",
        b"/%72est/api/2/myself",
        b"//rest/api/2/myself",
        b"/./rest/api/2/myself",
        b"/Rest/api/2/myself",
    ] {
        let answer = raw_get(&s, path).await;
        assert!(
            !answer.contains("CONFIDENTIAL"),
            "{}: {answer}",
            String::from_utf8_lossy(path)
        );
    }
    // The anonymous caller gets the 401 Jira would give, with the realm.
    let r = s
        .req(Method::GET, "/x/rest/api/2/myself")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert!(r.headers().contains_key("www-authenticate"));
    // With credentials the same mapping answers, and a Read Only token cannot write there.
    let t = s.secret("alice", "READ_ONLY").await;
    let ok = s
        .req(Method::GET, "/x/rest/api/2/myself")
        .header("Authorization", bearer(&t));
    assert_eq!(tokenauth_e2e::text_of(ok).await, "CONFIDENTIAL");
}

#[tokio::test]
async fn n2_a_catch_all_mapping_needs_credentials_and_a_public_prefix_does_not() {
    let s = Server::start();
    add_mapping(
        &s,
        json!({"priority": 9, "request": {"urlPattern": ".*"}, "response": {"body": "CATCH-ALL"}}),
    )
    .await;
    add_mapping(
        &s,
        json!({"request": {"urlPathPattern": "/static/.*"}, "response": {"body": "public page"}}),
    )
    .await;
    add_mapping(
        &s,
        json!({"request": {"urlPathPattern": "/open/.*"}, "metadata": {"tokenauth": {"public": true}},
               "response": {"body": "opened on purpose"}}),
    )
    .await;
    assert_eq!(status_of(s.req(Method::GET, "/anything")).await, 401);
    let page = s.req(Method::GET, "/static/app.js");
    assert_eq!(tokenauth_e2e::text_of(page).await, "public page");
    let open = s.req(Method::GET, "/open/x");
    assert_eq!(tokenauth_e2e::text_of(open).await, "opened on purpose");
    let authed = s
        .req(Method::GET, "/anything")
        .header("Authorization", basic_header("bob", "bob"));
    assert_eq!(tokenauth_e2e::text_of(authed).await, "CATCH-ALL");
}

/// N12 (low): the near-miss report told anonymous clients about guarded mappings.
#[tokio::test]
async fn n12_an_anonymous_near_miss_report_names_no_guarded_mapping() {
    let s = Server::start_with(&["--unmatched", "404"]);
    let guarded = add_mapping(
        &s,
        json!({"name": "secret customer list", "request": {"method": "GET", "urlPath": "/rest/api/2/issue/CUST-1"},
               "response": {"body": "x"}}),
    )
    .await;
    let guarded: Value = guarded.json().await.unwrap();
    let guarded_id = guarded["id"].as_str().unwrap().to_owned();
    add_mapping(
        &s,
        json!({"name": "public page", "request": {"method": "GET", "urlPath": "/static/issue/CUST-1"}}),
    )
    .await;
    let r = s
        .req(Method::GET, "/x/rest/api/2/issue/CUST-2")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let report = r.text().await.unwrap();
    assert!(report.contains("public page"), "{report}");
    assert!(
        !report.contains("secret customer") && !report.contains(&guarded_id),
        "{report}"
    );
    // An authenticated caller hears of every mapping.
    let r = s
        .req(Method::GET, "/x/rest/api/2/issue/CUST-2")
        .header("Authorization", basic_header("bob", "bob"));
    assert!(tokenauth_e2e::text_of(r).await.contains("secret customer"));
}

/// The guard reads a URL regex exactly (its DFA beside that of every `/rest/` spelling): an
/// unescaped `.` outside the first segment leaves a mapping open, as real Bitbucket mappings
/// (`/2.0/repositories/…`) need; a regex that could spell `/rest/` any way stays guarded.
#[tokio::test]
async fn n2_a_regex_is_open_exactly_when_it_can_match_no_spelling_of_rest() {
    let s = Server::start();
    let open = "/2.0/repositories/[^/]+/pullrequests";
    let guarded = [
        "/(r|x)est/api/.*",
        "/.est/api/x",
        "(?i)/REST/api/y",
        "/re(s|ſ)t/api/z",
        ".*",
    ];
    for (i, p) in std::iter::once(open).chain(guarded).enumerate() {
        let body = if i == 0 { "open" } else { "CONFIDENTIAL" };
        let m = json!({"priority": i + 1, "request": {"method": "GET", "urlPathPattern": p},
                       "response": {"body": body}});
        assert_eq!(add_mapping(&s, m).await.status(), 201);
    }
    let page = s.req(Method::GET, "/2.0/repositories/team/pullrequests");
    assert_eq!(tokenauth_e2e::text_of(page).await, "open");
    for path in [
        &b"/xest/api/x"[..],
        b"/best/api/x",
        b"/ReSt/api/y",
        "/reſt/api/z".as_bytes(),
        b"/anything",
    ] {
        let answer = raw_get(&s, path).await;
        assert!(
            answer.starts_with("HTTP/1.1 401") && !answer.contains("CONFIDENTIAL"),
            "{}: {answer}",
            String::from_utf8_lossy(path)
        );
    }
}
