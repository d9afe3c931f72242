//! WireMock mappings served after the token rules (SPEC §8, the part that is built): a folder
//! of mappings a team already has, behind Jira's authentication.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use reqwest::Method;
use serde_json::{Value, json};
use tokenauth_e2e::{Server, parts, status_of};

/// A WireMock folder: `mappings/` and `__files/`, as `wiremock --root-dir` reads it.
fn wiremock_folder(root: &Path) {
    std::fs::create_dir_all(root.join("mappings/jira")).unwrap();
    std::fs::create_dir_all(root.join("__files")).unwrap();
    std::fs::write(
        root.join("mappings/jira/issue.json"),
        json!({
            "request": {"method": "GET", "urlPath": "/rest/api/2/issue/PROJ-1"},
            "response": {"status": 200, "headers": {"Content-Type": "application/json", "X-Mapped": "issue"},
                "jsonBody": {"id": "10001", "key": "PROJ-1", "fields": {"summary": "A mapped issue"}}}
        })
        .to_string(),
    )
    .unwrap();
    std::fs::write(
        root.join("mappings/jira/more.json"),
        json!({"mappings": [
            {"request": {"method": "POST", "urlPathTemplate": "/rest/api/2/issue/{key}/comment",
                         "bodyPatterns": [{"matchesJsonPath": "$.body"}]},
             "response": {"status": 201, "headers": {"Content-Type": "application/json"},
                "body": "{\"issue\": \"{{request.pathParameters.key}}\", \"said\": \"{{jsonPath request.body '$.body'}}\"}",
                "transformers": ["response-template"]}},
            {"request": {"method": "GET", "url": "/rest/api/2/search?jql=project%3DPROJ"},
             "response": {"status": 200, "bodyFileName": "search.json", "headers": {"Content-Type": "application/json"}}},
            {"request": {"method": "GET", "urlPath": "/static/hello.txt"},
             "response": {"status": 200, "body": "hello"}}
        ]})
        .to_string(),
    )
    .unwrap();
    std::fs::write(
        root.join("__files/search.json"),
        r#"{"total": 1, "issues": [{"key": "PROJ-1"}]}"#,
    )
    .unwrap();
}

async fn with_token(s: &Server, scope: &str) -> String {
    format!("Bearer {}", s.secret("alice", scope).await)
}

#[tokio::test]
async fn mapped_answers_come_after_jiras_authentication() {
    let dir = tempfile::tempdir().unwrap();
    wiremock_folder(dir.path());
    let s = Server::start_with(&["--mappings", dir.path().to_str().unwrap()]);
    let rw = with_token(&s, "READ_WRITE").await;
    let ro = with_token(&s, "READ_ONLY").await;

    // A token: the mapped issue, with the mapping's headers.
    let r = s
        .req(Method::GET, "/rest/api/2/issue/PROJ-1")
        .header("Authorization", &ro)
        .send()
        .await
        .unwrap();
    let (status, mapped, body) = parts(r, "x-mapped").await;
    assert_eq!((status, mapped.as_deref()), (200, Some("issue")));
    assert_eq!(body["fields"]["summary"], "A mapped issue");

    // No credentials: Jira's 401, never the mapped answer.
    let r = s
        .req(Method::GET, "/rest/api/2/issue/PROJ-1")
        .send()
        .await
        .unwrap();
    let (status, mapped, _) = parts(r, "x-mapped").await;
    assert_eq!((status, mapped), (401, None));

    // A Read Only token's write: 403 before any mapping; a Read & Write token: the templated 201.
    let comment = |auth: &str| {
        s.req(Method::POST, "/rest/api/2/issue/PROJ-1/comment")
            .header("Authorization", auth.to_owned())
            .json(&json!({"body": "looks good"}))
    };
    assert_eq!(status_of(comment(&ro)).await, 403);
    let r = comment(&rw).send().await.unwrap();
    let (status, _, body) = parts(r, "x").await;
    assert_eq!(status, 201);
    assert_eq!(body, json!({"issue": "PROJ-1", "said": "looks good"}));

    // A body file, matched on the URL with its query.
    let r = s
        .req(Method::GET, "/rest/api/2/search?jql=project%3DPROJ")
        .header("Authorization", &ro)
        .send()
        .await
        .unwrap();
    let (status, _, body) = parts(r, "x").await;
    assert_eq!((status, body["total"].clone()), (200, json!(1)));

    // Unmatched /rest/ paths still get the echo.
    let r = s
        .req(Method::GET, "/rest/api/2/project")
        .header("Authorization", &ro)
        .send()
        .await
        .unwrap();
    let (status, _, body): (u16, _, Value) = parts(r, "x").await;
    assert_eq!((status, body["user"].as_str()), (200, Some("alice")));

    // Outside /rest/: matched without authentication, as a static page is.
    let r = s
        .req(Method::GET, "/static/hello.txt")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await.unwrap(), "hello");
    assert_eq!(
        status_of(s.req(Method::GET, "/static/other.txt")).await,
        404
    );
}

#[test]
fn a_bad_mapping_file_refuses_the_start_naming_the_file_and_the_pointer() {
    let dir = tempfile::tempdir().unwrap();
    wiremock_folder(dir.path());
    std::fs::write(
        dir.path().join("mappings/broken.json"),
        r#"{"request": {"method": "GET", "urlPath": "/x", "headers": {"Accept": {"matches": "("}}}, "response": {"status": 200}}"#,
    )
    .unwrap();
    let data = dir.path().join("data");
    let out = std::process::Command::new(tokenauth_e2e::binary())
        .arg("--data-dir")
        .arg(&data)
        .args(["--bind", "127.0.0.1:0", "--mappings"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("broken.json"), "{err}");
    assert!(err.contains("/request/headers/Accept/matches"), "{err}");
    assert!(
        out.stdout.is_empty(),
        "nothing served: {}",
        String::from_utf8_lossy(&out.stdout)
    );
}
