//! Record a real server once, replay it behind real token authentication forever (issue 23,
//! part 3): `--proxy-all` and `--record-mappings`, WireMock's recording API, and what a proxy
//! must never do — forward the caller's credentials, hand back the upstream's, write a secret
//! into a recording, follow a redirect, or wait without bound.
//!
//! The upstream here is a small server of the test's own (an axum app standing in for Jira: it
//! answers with what it saw, sets a session cookie and hands out a raw token); the Python
//! client test records the real WireMock with the real `jira` client.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::routing::{get, post};
use base64::Engine as _;
use reqwest::Method;
use serde_json::{Value, json};
use tokenauth_core::credentials::basic_header;
use tokenauth_e2e::Server;

const OPERATOR: &str = "Bearer upstream-operator-secret-42";
const UPSTREAM_SESSION: &str = "UPSTREAMSESSION0123456789";
const UPSTREAM_RAW_TOKEN: &str = "upstream-raw-token-0123456789";

/// What the upstream saw: every request's method, path and headers.
#[derive(Clone, Default)]
struct Seen(Arc<Mutex<Vec<Request>>>);

/// One request as the upstream saw it: method, path, headers.
type Request = (String, String, HashMap<String, String>);

impl Seen {
    fn last(&self) -> HashMap<String, String> {
        self.0
            .lock()
            .unwrap()
            .last()
            .map(|s| s.2.clone())
            .unwrap_or_default()
    }
}

fn note(seen: &Seen, method: &str, path: &str, h: &HeaderMap) {
    let headers = h
        .iter()
        .map(|(n, v)| {
            (
                n.as_str().to_owned(),
                v.to_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    seen.0
        .lock()
        .unwrap()
        .push((method.into(), path.into(), headers));
}

/// The stand-in for Jira, on 127.0.0.1:0.
async fn upstream() -> (String, Seen) {
    let seen = Seen::default();
    let counter = Arc::new(Mutex::new(0u32));
    let app = Router::new()
        .route(
            "/rest/api/2/issue/{key}",
            get(|State((seen, _)): State<(Seen, Arc<Mutex<u32>>)>, UrlPath(key): UrlPath<String>, h: HeaderMap| async move {
                note(&seen, "GET", &format!("/rest/api/2/issue/{key}"), &h);
                let auth = h.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
                (
                    [(header::SET_COOKIE, format!("JSESSIONID={UPSTREAM_SESSION}; Path=/; HttpOnly")),
                     (header::CONTENT_TYPE, "application/json".to_owned())],
                    json!({"key": key, "fields": {"summary": "From the real server"}, "seenAuthorization": auth}).to_string(),
                )
            }),
        )
        .route(
            "/rest/api/2/counter",
            get(|State((seen, counter)): State<(Seen, Arc<Mutex<u32>>)>, h: HeaderMap| async move {
                note(&seen, "GET", "/rest/api/2/counter", &h);
                let mut c = counter.lock().unwrap();
                *c += 1;
                ([(header::CONTENT_TYPE, "application/json")], json!({"value": *c}).to_string())
            }),
        )
        .route(
            "/rest/api/2/issue",
            post(|State((seen, _)): State<(Seen, Arc<Mutex<u32>>)>, h: HeaderMap, body: String| async move {
                note(&seen, "POST", "/rest/api/2/issue", &h);
                let asked: Value = serde_json::from_str(&body).unwrap_or_default();
                (StatusCode::CREATED, [(header::CONTENT_TYPE, "application/json")],
                 json!({"key": "P-2", "summary": asked["fields"]["summary"], "rawToken": UPSTREAM_RAW_TOKEN}).to_string())
            }),
        )
        .route(
            "/static/page",
            get(|State((seen, _)): State<(Seen, Arc<Mutex<u32>>)>, h: HeaderMap| async move {
                note(&seen, "GET", "/static/page", &h);
                "a page"
            }),
        )
        .route(
            "/rest/api/2/gz",
            get(|| async {
                use std::io::Write as _;
                let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
                gz.write_all(format!(r#"{{"rawToken":"{UPSTREAM_RAW_TOKEN}"}}"#).as_bytes()).unwrap();
                ([(header::CONTENT_TYPE, "application/json"), (header::CONTENT_ENCODING, "gzip")], gz.finish().unwrap())
            }),
        )
        .route(
            "/rest/api/2/cookie2",
            get(|| async { ([("set-cookie2", format!("atl={UPSTREAM_SESSION}"))], "{}") }),
        )
        .route("/hang", get(|| async {
            tokio::time::sleep(Duration::from_secs(60)).await;
            "late"
        }))
        .route("/big", get(|| async { "x".repeat(3 * 1024 * 1024) }))
        .route("/ten-mb", get(|| async {
            ([(header::CONTENT_TYPE, "application/octet-stream")], vec![7u8; 10_000_000])
        }))
        .route("/loop", get(|| async {
            (StatusCode::FOUND, [(header::LOCATION, "/loop")], "")
        }))
        .with_state((seen.clone(), counter));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, seen)
}

/// Every file under `dir`, as bytes.
fn files_under(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push((p.display().to_string(), std::fs::read(&p).unwrap()));
            }
        }
    }
    out
}

/// Every form a secret can take in a file: as sent, base64 (at each alignment) and URL-encoded.
fn forms(secret: &str) -> Vec<String> {
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut f = vec![secret.to_owned(), secret.replace(':', "%3A")];
    for skip in 0..3 {
        let encoded = b64.encode(&secret.as_bytes()[skip..]);
        // The middle of the run: what any base64 of a text holding it shows.
        if encoded.len() > 8 {
            f.push(encoded[4..encoded.len() - 4].to_owned());
        }
    }
    f
}

async fn fetch(s: &Server, path: &str, auth: Option<&str>) -> (u16, HeaderMap, String) {
    let mut rb = s.req(Method::GET, path);
    if let Some(a) = auth {
        rb = rb.header("Authorization", a);
    }
    let r = rb.send().await.unwrap();
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    (status, headers, r.text().await.unwrap())
}

#[tokio::test]
async fn a_recording_through_the_stub_replays_without_the_upstream_and_holds_no_secret() {
    let (up, seen) = upstream().await;
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("recorded");
    let folder_arg = folder.display().to_string();
    let mut stub = Server::start_on_with_env(
        &dir.path().join("data"),
        &[
            "--mappings",
            &folder_arg,
            "--proxy-all",
            &up,
            "--record-mappings",
        ],
        &[("TOKENAUTH_UPSTREAM_AUTHORIZATION", OPERATOR)],
    );
    let alice_secret = stub.secret("alice", "READ_WRITE").await;
    let alice = basic_header("alice", &alice_secret);
    let bob_read_only = format!("Bearer {}", stub.secret("bob", "READ_ONLY").await);

    // Alice's read goes to the upstream with the operator's credential, never hers.
    let r = stub
        .req(Method::GET, "/rest/api/2/issue/P-1")
        .header("Authorization", &alice)
        .header(
            "Cookie",
            "theme=dark-and-quiet; JSESSIONID=not-a-session-here",
        )
        .header("X-Api-Key", "caller-api-key-123456")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        r.headers().get("set-cookie").is_none(),
        "the upstream's session stays with the server"
    );
    let issue: Value = r.json().await.unwrap();
    assert_eq!(issue["fields"]["summary"], "From the real server");
    assert_eq!(
        issue["seenAuthorization"], "[redacted]",
        "the operator's credential is cut from the answer"
    );
    let sent = seen.last();
    assert_eq!(
        sent.get("authorization").map(String::as_str),
        Some(OPERATOR)
    );
    assert!(
        !sent.contains_key("cookie") && !sent.contains_key("x-api-key"),
        "{sent:?}"
    );
    assert!(
        sent.get("via")
            .is_some_and(|v| v.contains("tokenauth-stub-"))
    );

    // Two reads of one resource that changes: replayed in order, as a scenario.
    for want in [1, 2] {
        let (status, _, body) = fetch(&stub, "/rest/api/2/counter", Some(&alice)).await;
        assert_eq!(
            (status, serde_json::from_str::<Value>(&body).unwrap()),
            (200, json!({"value": want}))
        );
    }
    // A write: the upstream's raw token never reaches the caller.
    let r = stub
        .req(Method::POST, "/rest/api/2/issue")
        .header("Authorization", &alice)
        .json(&json!({"fields": {"summary": "new", "password": "alices-form-password"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let created: Value = r.json().await.unwrap();
    assert_eq!(
        (created["key"].as_str(), created["rawToken"].as_str()),
        (Some("P-2"), Some("[redacted]"))
    );

    // The token rules come first, on every path the proxy answers, within the token's scope.
    let before = seen.0.lock().unwrap().len();
    assert_eq!(fetch(&stub, "/rest/api/2/issue/P-1", None).await.0, 401);
    assert_eq!(
        fetch(&stub, "/static/page", None).await.0,
        401,
        "outside /rest/ too"
    );
    let r = stub
        .req(Method::POST, "/rest/api/2/issue")
        .header("Authorization", &bob_read_only)
        .json(&json!({"fields": {}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(
        seen.0.lock().unwrap().len(),
        before,
        "nothing refused reached the upstream"
    );
    assert_eq!(fetch(&stub, "/static/page", Some(&alice)).await.0, 200);
    // A 10 MB answer is within the default bound: passed on whole, and recorded whole.
    let r = stub
        .req(Method::GET, "/ten-mb")
        .header("Authorization", &alice)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.bytes().await.unwrap().len(), 10_000_000);

    let started = stub.events("action=Recording%20started", 1).await;
    assert_eq!(started[0]["author"]["name"], "tokenauth");
    assert!(
        started[0]["changedValues"].to_string().contains(&up),
        "{}",
        started[0]
    );

    // Killed, not stopped: everything answered is on disk already.
    stub.kill9();
    let files = files_under(&folder);
    let mappings = files
        .iter()
        .filter(|(p, _)| p.contains("/mappings/") && p.ends_with(".json"))
        .count();
    assert_eq!(
        mappings,
        6,
        "{:?}",
        files.iter().map(|f| &f.0).collect::<Vec<_>>()
    );
    assert!(files.iter().any(|(p, b)| p.contains("/__files/ten-mb-")
        && p.ends_with(".bin")
        && b.len() == 10_000_000));
    let alice_basic = format!("alice:{alice_secret}");
    for (path, bytes) in &files {
        let text = String::from_utf8_lossy(bytes);
        for secret in [
            alice_secret.as_str(),
            alice_basic.as_str(),
            "upstream-operator-secret-42",
            UPSTREAM_SESSION,
            UPSTREAM_RAW_TOKEN,
            "alices-form-password",
            "caller-api-key-123456",
            "not-a-session-here",
            bob_read_only.trim_start_matches("Bearer "),
        ] {
            for form in forms(secret) {
                assert!(
                    !text.contains(&form),
                    "{path} holds a form of {secret:?}: {text}"
                );
            }
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            assert_eq!(
                std::fs::metadata(path).unwrap().permissions().mode() & 0o777,
                0o600,
                "{path}"
            );
        }
    }

    // Replayed with no upstream at all: the same answers, behind the same rules.
    drop(up);
    let replay = Server::start_with(&["--mappings", &folder_arg]);
    let alice_again = basic_header("alice", &replay.secret("alice", "READ_WRITE").await);
    let (status, _, body) = fetch(&replay, "/rest/api/2/issue/P-1", Some(&alice_again)).await;
    assert_eq!(
        (status, serde_json::from_str::<Value>(&body).unwrap()),
        (200, issue)
    );
    for want in [1, 2] {
        let (_, _, body) = fetch(&replay, "/rest/api/2/counter", Some(&alice_again)).await;
        assert_eq!(
            serde_json::from_str::<Value>(&body).unwrap(),
            json!({"value": want})
        );
    }
    let r = replay
        .req(Method::POST, "/rest/api/2/issue")
        .header("Authorization", &alice_again)
        .json(&json!({"fields": {"summary": "new", "password": "another-password"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        201,
        "a secret field is matched as the recording saw it: redacted"
    );
    assert_eq!(r.json::<Value>().await.unwrap(), created);
    assert_eq!(fetch(&replay, "/rest/api/2/issue/P-1", None).await.0, 401);
}

#[tokio::test]
async fn the_recording_api_starts_stops_and_snapshots_as_wiremocks_does() {
    let (up, _seen) = upstream().await;
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("m");
    std::fs::create_dir_all(folder.join("mappings")).unwrap();
    std::fs::create_dir_all(folder.join("__files")).unwrap();
    let s = Server::start_with(&["--mappings", &folder.display().to_string()]);
    let alice = basic_header("alice", &s.secret("alice", "READ_WRITE").await);
    let status = |v: Value| v["status"].as_str().unwrap().to_owned();
    let json_of = |rb| tokenauth_e2e::json_of(rb);
    assert_eq!(
        status(json_of(s.req(Method::GET, "/__admin/recordings/status")).await),
        "NeverStarted"
    );

    // Aiming the proxy is changing the mappings: not for someone who is not an admin.
    let r = s
        .req(Method::POST, "/__admin/recordings/start")
        .header("Authorization", &alice)
        .header("X-Forwarded-For", "203.0.113.7")
        .json(&json!({"targetBaseUrl": up}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let r = s
        .req(Method::POST, "/__admin/recordings/start")
        .json(&json!({"targetBaseUrl": up, "captureHeaders": {"Authorization": {}}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400, "a credential is never captured");

    let r = s
        .req(Method::POST, "/__admin/recordings/start")
        .json(&json!({"targetBaseUrl": up}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        status(json_of(s.req(Method::GET, "/__admin/recordings/status")).await),
        "Recording"
    );
    assert_eq!(
        fetch(&s, "/rest/api/2/issue/P-9", Some(&alice)).await.0,
        200
    );
    let stopped = json_of(s.req(Method::POST, "/__admin/recordings/stop")).await;
    let recorded = stopped["mappings"].as_array().unwrap();
    assert_eq!(recorded.len(), 1);
    assert_eq!(
        recorded[0]["request"],
        json!({"url": "/rest/api/2/issue/P-9", "method": "GET"})
    );
    assert_eq!(
        status(json_of(s.req(Method::GET, "/__admin/recordings/status")).await),
        "Stopped"
    );
    let r = s
        .req(Method::POST, "/__admin/recordings/stop")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400, "not recording");
    // The proxy is gone, the recording answers.
    let mappings = json_of(s.req(Method::GET, "/__admin/mappings")).await;
    assert_eq!(mappings["meta"]["total"], 1);
    assert_eq!(
        fetch(&s, "/rest/api/2/issue/P-9", Some(&alice)).await.0,
        200
    );
    assert_eq!(
        fetch(&s, "/rest/api/2/issue/P-10", Some(&alice)).await.0,
        200,
        "the echo again"
    );

    let snap = json_of(
        s.req(Method::POST, "/__admin/recordings/snapshot")
            .json(&json!({"persist": false, "outputFormat": "IDS"})),
    )
    .await;
    assert_eq!(snap["ids"].as_array().unwrap().len(), 1);

    let events = s.events("action=Recording%20started", 1).await;
    assert_eq!(events[0]["author"]["name"], "local client");
    assert!(events[0]["changedValues"].to_string().contains(&up));
    // Both saves (the stop's and the snapshot's) are awaited: the writer stores events in
    // batches, and the snapshot's can land a batch after the stop's.
    assert_eq!(s.events("action=Recording%20saved", 2).await.len(), 2);
}

#[tokio::test]
async fn bad_upstreams_get_a_clear_error_and_a_bounded_wait() {
    let (up, _seen) = upstream().await;
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start_on(
        &dir.path().join("data"),
        &[
            "--proxy-all",
            &up,
            "--proxy-timeout",
            "2",
            "--proxy-max-body",
            "1048576",
        ],
    );
    let alice = basic_header("alice", &s.secret("alice", "READ_WRITE").await);

    let began = Instant::now();
    let (status, _, body) = fetch(&s, "/hang", Some(&alice)).await;
    assert_eq!(status, 504, "{body}");
    assert!(
        body.contains("no answer from") && body.contains("/hang"),
        "{body}"
    );
    assert!(began.elapsed() < Duration::from_secs(10));

    let (status, _, body) = fetch(&s, "/big", Some(&alice)).await;
    assert_eq!(status, 502);
    assert!(body.contains("1048576 bytes"), "{body}");

    // A redirect goes back to the caller, unfollowed: a loop of them is the caller's to stop.
    let unfollowing = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let r = unfollowing
        .get(s.url("/loop"))
        .header("Authorization", &alice)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 302);
    assert_eq!(r.headers()["location"], "/loop");

    // A proxy that leads back to this server: refused at once, not sent round forever.
    let r = s
        .req(Method::POST, "/__admin/recordings/start")
        .json(&json!({"targetBaseUrl": s.base, "persist": false}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let (status, _, body) = fetch(&s, "/rest/api/2/anything", Some(&alice)).await;
    assert_eq!(status, 508, "{body}");
    assert!(
        body.contains("already passed through this server"),
        "{body}"
    );
    let stopped = tokenauth_e2e::json_of(s.req(Method::POST, "/__admin/recordings/stop")).await;
    assert_eq!(stopped["mappings"], json!([]), "an error is not recorded");

    // An upstream that is not there.
    let gone = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", l.local_addr().unwrap())
    };
    let r = s
        .req(Method::POST, "/__admin/mappings")
        .json(&json!({"request": {"urlPath": "/rest/gone"}, "response": {"proxyBaseUrl": gone}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let (status, _, body) = fetch(&s, "/rest/gone", Some(&alice)).await;
    assert_eq!(status, 502);
    assert!(body.contains("network failure"), "{body}");

    // A mapping may not carry the upstream's credential.
    let r = s.req(Method::POST, "/__admin/mappings").json(&json!({"request": {"urlPath": "/x"}, "response": {"proxyBaseUrl": up, "additionalProxyRequestHeaders": {"Authorization": "Basic YTpi"}}})).send().await.unwrap();
    assert_eq!(r.status(), 422);
}

#[test]
fn a_proxy_all_to_this_server_itself_refuses_the_start() {
    for host in [
        "localhost",
        "127.1",
        "0x7f000001",
        "2130706433",
        "[::ffff:127.0.0.1]",
        "127.0.0.2",
    ] {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let dir = tempfile::tempdir().unwrap();
        let out = std::process::Command::new(tokenauth_e2e::binary())
            .args([
                "--data-dir",
                &dir.path().display().to_string(),
                "--bind",
                &format!("127.0.0.1:{port}"),
            ])
            .args(["--proxy-all", &format!("http://{host}:{port}")])
            .output()
            .unwrap();
        assert!(!out.status.success(), "{host}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("is this server itself"), "{host}: {err}");
    }
}

#[tokio::test]
async fn what_the_upstream_must_not_see_or_hand_back() {
    let (up, seen) = upstream().await;
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start_on(&dir.path().join("data"), &["--proxy-all", &up]);
    let read_only = format!("Bearer {}", s.secret("alice", "READ_ONLY").await);
    // A Read Only token's GET stays a GET: no method override reaches the upstream.
    let r = s
        .req(Method::GET, "/rest/api/2/issue/P-1?_method=DELETE")
        .header("Authorization", &read_only)
        .header("X-HTTP-Method-Override", "DELETE")
        .header("X-HTTP-Method", "DELETE")
        .header("X-Method-Override", "DELETE")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let sent = seen.last();
    for h in [
        "x-http-method-override",
        "x-http-method",
        "x-method-override",
    ] {
        assert!(!sent.contains_key(h), "{h} reached the upstream");
    }
    // A compressed answer is read, scrubbed and sent plain; Set-Cookie2 is held back too.
    let r = s
        .req(Method::GET, "/rest/api/2/gz")
        .header("Authorization", &read_only)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers().get("content-encoding").is_none());
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        json!({"rawToken": "[redacted]"})
    );
    let r = s
        .req(Method::GET, "/rest/api/2/cookie2")
        .header("Authorization", &read_only)
        .send()
        .await
        .unwrap();
    assert!(r.headers().get("set-cookie2").is_none());
    let journal = tokenauth_e2e::text_of(s.req(Method::GET, "/__admin/requests")).await;
    assert!(!journal.contains(UPSTREAM_SESSION) && !journal.contains(UPSTREAM_RAW_TOKEN));
}
