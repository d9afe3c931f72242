//! WireMock mappings served after the token rules (SPEC §8, the part that is built): a folder
//! of mappings a team already has, behind Jira's authentication.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};
use tokenauth_e2e::{Server, parts, status_of};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

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

/// The binary on `dir` with `extra`: (started?, standard error up to the start or the exit).
fn start_output(dir: &Path, extra: &[&str]) -> (bool, String) {
    use std::io::{BufRead as _, Read as _};
    let mut child = std::process::Command::new(tokenauth_e2e::binary())
        .arg("--data-dir")
        .arg(dir.join("data"))
        .args(["--bind", "127.0.0.1:0", "--mappings"])
        .arg(dir)
        .args(extra)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    let started = first.starts_with("tokenauth-stub listening on ");
    let _ = child.kill();
    let _ = child.wait();
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    (started, err)
}

#[tokio::test]
async fn a_bad_mapping_is_refused_alone_naming_the_file_the_pointer_and_the_feature() {
    let dir = tempfile::tempdir().unwrap();
    wiremock_folder(dir.path());
    std::fs::write(
        dir.path().join("mappings/broken.json"),
        json!({"mappings": [
            {"request": {"method": "GET", "urlPath": "/x", "headers": {"Accept": {"matches": "("}}}},
            {"request": {"method": "GET", "urlPath": "/static/custom", "customMatcher": {"name": "m"}}},
            {"request": {"method": "GET", "urlPath": "/static/kept"}, "response": {"body": "kept"}}
        ]})
        .to_string(),
    )
    .unwrap();
    let (started, err) = start_output(dir.path(), &[]);
    assert!(started, "{err}");
    let lines: Vec<&str> = err.lines().filter(|l| l.contains("broken.json")).collect();
    assert_eq!(lines.len(), 2, "{err}");
    assert!(
        lines[0].contains("/mappings/0/request/headers/Accept/matches: invalid regex"),
        "{err}"
    );
    assert!(
        lines[1].contains("/mappings/1/request/customMatcher: not supported"),
        "{err}"
    );
    assert!(
        err.contains("loaded 5 of 7 mappings from 3 files; 2 refused"),
        "{err}"
    );
    // The rest of the folder answers, the refused file's good mapping too.
    let s = Server::start_with(&["--mappings", dir.path().to_str().unwrap()]);
    let kept = s.req(Method::GET, "/static/kept");
    assert_eq!(tokenauth_e2e::text_of(kept).await, "kept");
    assert_eq!(
        status_of(s.req(Method::GET, "/static/hello.txt")).await,
        200
    );
    assert_eq!(status_of(s.req(Method::GET, "/static/custom")).await, 404);

    // For CI: --strict-mappings makes any refusal refuse the start, saying it once.
    let (started, err) = start_output(dir.path(), &["--strict-mappings"]);
    assert!(!started, "{err}");
    let fatal = err.lines().find(|l| l.starts_with("error: ")).unwrap();
    assert!(
        fatal.contains("2 of 7 mappings refused") && fatal.contains("broken.json"),
        "{err}"
    );
    assert_eq!(
        fatal.matches("/request/headers/Accept/matches").count(),
        1,
        "{fatal}"
    );
}

#[test]
fn a_file_that_is_not_json_refuses_the_start_as_in_wiremock() {
    let dir = tempfile::tempdir().unwrap();
    wiremock_folder(dir.path());
    std::fs::write(
        dir.path().join("mappings/torn.json"),
        r#"{"request": {"url": "/x""#,
    )
    .unwrap();
    let (started, err) = start_output(dir.path(), &[]);
    assert!(!started, "{err}");
    let fatal = err.lines().find(|l| l.starts_with("error: ")).unwrap();
    assert!(
        fatal.contains("torn.json: (document): not valid JSON"),
        "{err}"
    );
    // Said once: the error is not repeated as its own cause.
    assert_eq!(fatal.matches("torn.json").count(), 1, "{fatal}");
}

/// What WireMock 3.13.2 writes for `RANDOM_DATA_THEN_CLOSE` and after the head of
/// `MALFORMED_RESPONSE_CHUNK` (read off its socket).
const GARBAGE: &[u8] = b"lskdu018973t09sylgasjkfg1][]'./.sdlv";

/// A folder of the mappings that need the raw connection: the faults (on `/rest/`, behind the
/// token rules, and one outside), a reason phrase and a dribbled body.
fn connection_folder(root: &Path) {
    std::fs::create_dir_all(root.join("mappings")).unwrap();
    let fault = |path: &str, fault: &str| {
        json!({"request": {"method": "GET", "urlPath": path},
               "response": {"status": 404, "headers": {"X-Mapped": "fault"}, "body": "never sent", "fault": fault}})
    };
    let mappings = json!({"mappings": [
        fault("/rest/api/2/fault/reset", "CONNECTION_RESET_BY_PEER"),
        fault("/rest/api/2/fault/empty", "EMPTY_RESPONSE"),
        fault("/rest/api/2/fault/malformed", "MALFORMED_RESPONSE_CHUNK"),
        fault("/rest/api/2/fault/random", "RANDOM_DATA_THEN_CLOSE"),
        fault("/static/reset", "CONNECTION_RESET_BY_PEER"),
        {"request": {"method": "GET", "urlPath": "/rest/api/2/fine"},
         "response": {"status": 200, "body": "fine"}},
        {"request": {"method": "GET", "urlPath": "/rest/api/2/teapot"},
         "response": {"status": 418, "statusMessage": "Short and stout", "body": "tea"}},
        {"request": {"method": "GET", "urlPath": "/rest/api/2/dribble"},
         "response": {"status": 200, "body": "0123456789abcdefghij",
                      "chunkedDribbleDelay": {"numberOfChunks": 4, "totalDuration": 1000}}}
    ]});
    std::fs::write(root.join("mappings/connection.json"), mappings.to_string()).unwrap();
}

/// The stub serving [`connection_folder`], and a Read Only token's `Authorization`.
async fn connection_server() -> (Server, tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    connection_folder(dir.path());
    let s = Server::start_with(&["--mappings", dir.path().to_str().unwrap()]);
    let auth = with_token(&s, "READ_ONLY").await;
    (s, dir, auth)
}

/// A GET as raw HTTP/1.1 (`auth` may be empty); the connection closes after it unless it is
/// the first of several.
fn get(path: &str, auth: &str, close: bool) -> String {
    let auth = if auth.is_empty() {
        String::new()
    } else {
        format!("Authorization: {auth}\r\n")
    };
    let connection = if close { "close" } else { "keep-alive" };
    format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n{auth}Connection: {connection}\r\n\r\n")
}

/// Everything the server sends until the connection ends, and how it ended: `Ok` for a clean
/// close (EOF), the error for a reset.
async fn read_to_end(conn: &mut TcpStream) -> (Vec<u8>, std::io::Result<()>) {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let read = tokio::time::timeout(Duration::from_secs(20), conn.read(&mut buf))
            .await
            .expect("the server ends the connection");
        match read {
            Ok(0) => return (got, Ok(())),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) => return (got, Err(e)),
        }
    }
}

/// One request on a new connection: what came back and how the connection ended.
async fn raw(s: &Server, request: &str) -> (Vec<u8>, std::io::Result<()>) {
    let mut conn = TcpStream::connect(s.addr()).await.unwrap();
    conn.write_all(request.as_bytes()).await.unwrap();
    read_to_end(&mut conn).await
}

fn status_line(response: &[u8]) -> String {
    let end = response
        .windows(2)
        .position(|w| w == b"\r\n")
        .unwrap_or(response.len());
    String::from_utf8_lossy(&response[..end]).into_owned()
}

/// The token rules come first, fault or not: no credentials get Jira's 401, answered normally.
async fn no_token_gets_the_401(s: &Server, path: &str) {
    let (got, end) = raw(s, &get(path, "", true)).await;
    end.unwrap();
    assert!(
        status_line(&got).starts_with("HTTP/1.1 401 "),
        "{}",
        String::from_utf8_lossy(&got)
    );
}

#[tokio::test]
async fn connection_reset_by_peer_resets_the_connection_after_the_token_rules() {
    let (s, _dir, auth) = connection_server().await;
    no_token_gets_the_401(&s, "/rest/api/2/fault/reset").await;

    let (got, end) = raw(&s, &get("/rest/api/2/fault/reset", &auth, true)).await;
    assert!(got.is_empty(), "{}", String::from_utf8_lossy(&got));
    assert_eq!(
        end.expect_err("a reset, not a clean close").kind(),
        std::io::ErrorKind::ConnectionReset
    );

    // On a kept-alive connection: the first answer is normal, the fault resets the connection.
    let mut conn = TcpStream::connect(s.addr()).await.unwrap();
    conn.write_all(get("/rest/api/2/fine", &auth, false).as_bytes())
        .await
        .unwrap();
    let mut first = Vec::new();
    let mut buf = [0u8; 4096];
    while !first.ends_with(b"fine") {
        let n = conn.read(&mut buf).await.unwrap();
        assert!(n > 0, "{}", String::from_utf8_lossy(&first));
        first.extend_from_slice(&buf[..n]);
    }
    assert_eq!(status_line(&first), "HTTP/1.1 200 OK");
    conn.write_all(get("/rest/api/2/fault/reset", &auth, true).as_bytes())
        .await
        .unwrap();
    let (got, end) = read_to_end(&mut conn).await;
    assert!(got.is_empty());
    assert_eq!(end.unwrap_err().kind(), std::io::ErrorKind::ConnectionReset);

    // Outside /rest/, without authentication, as the static pages are.
    let (got, end) = raw(&s, &get("/static/reset", "", true)).await;
    assert!(got.is_empty());
    assert_eq!(end.unwrap_err().kind(), std::io::ErrorKind::ConnectionReset);

    // The server carries on.
    let (got, end) = raw(&s, &get("/rest/api/2/fine", &auth, true)).await;
    end.unwrap();
    assert!(got.ends_with(b"fine"));
}

#[tokio::test]
async fn empty_response_closes_with_nothing_written() {
    let (s, _dir, auth) = connection_server().await;
    no_token_gets_the_401(&s, "/rest/api/2/fault/empty").await;
    let (got, end) = raw(&s, &get("/rest/api/2/fault/empty", &auth, true)).await;
    assert!(got.is_empty(), "{}", String::from_utf8_lossy(&got));
    end.expect("a clean close, not a reset");
}

#[tokio::test]
async fn malformed_response_chunk_sends_a_200_head_then_no_chunk() {
    let (s, _dir, auth) = connection_server().await;
    no_token_gets_the_401(&s, "/rest/api/2/fault/malformed").await;
    let (got, end) = raw(&s, &get("/rest/api/2/fault/malformed", &auth, false)).await;
    end.expect("a clean close, not a reset");
    // WireMock's head: a 200 whatever the mapping says, none of its headers, chunked encoding.
    let head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
    assert_eq!(
        got,
        [&head[..], GARBAGE].concat(),
        "{}",
        String::from_utf8_lossy(&got)
    );
    // To a request that closes the connection, WireMock (Jetty) delimits the body by the close
    // instead: the garbage arrives as a 200's body.
    let (got, end) = raw(&s, &get("/rest/api/2/fault/malformed", &auth, true)).await;
    end.expect("a clean close, not a reset");
    let head = b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n";
    assert_eq!(
        got,
        [&head[..], GARBAGE].concat(),
        "{}",
        String::from_utf8_lossy(&got)
    );
}

#[tokio::test]
async fn random_data_then_close_sends_garbage_instead_of_a_response() {
    let (s, _dir, auth) = connection_server().await;
    no_token_gets_the_401(&s, "/rest/api/2/fault/random").await;
    let (got, end) = raw(&s, &get("/rest/api/2/fault/random", &auth, true)).await;
    end.expect("a clean close, not a reset");
    assert_eq!(got, GARBAGE, "{}", String::from_utf8_lossy(&got));
    assert!(!got.starts_with(b"HTTP/"));
}

#[tokio::test]
async fn status_message_is_the_reason_phrase() {
    let (s, _dir, auth) = connection_server().await;
    let (got, end) = raw(&s, &get("/rest/api/2/teapot", &auth, true)).await;
    end.unwrap();
    assert_eq!(status_line(&got), "HTTP/1.1 418 Short and stout");
    assert!(got.ends_with(b"tea"));
    // Without one, the standard phrase.
    let (got, _) = raw(&s, &get("/rest/api/2/fine", &auth, true)).await;
    assert_eq!(status_line(&got), "HTTP/1.1 200 OK");
}

/// A chunked body's chunks, in order (`None` if it is not well-formed chunked encoding).
fn chunks(mut body: &[u8]) -> Option<Vec<Vec<u8>>> {
    let mut out = Vec::new();
    loop {
        let eol = body.windows(2).position(|w| w == b"\r\n")?;
        let size = usize::from_str_radix(std::str::from_utf8(&body[..eol]).ok()?, 16).ok()?;
        body = &body[eol + 2..];
        if size == 0 {
            return Some(out);
        }
        out.push(body.get(..size)?.to_vec());
        body = body.get(size + 2..)?;
    }
}

#[tokio::test]
async fn chunked_dribble_delay_spreads_the_chunks_over_the_duration() {
    let (s, _dir, auth) = connection_server().await;
    let mut conn = TcpStream::connect(s.addr()).await.unwrap();
    let start = Instant::now();
    conn.write_all(get("/rest/api/2/dribble", &auth, true).as_bytes())
        .await
        .unwrap();
    // Each read, with when it came.
    let mut arrivals = Vec::new();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = conn.read(&mut buf).await.unwrap();
        if n == 0 {
            break;
        }
        arrivals.push(start.elapsed());
        got.extend_from_slice(&buf[..n]);
    }
    let total = start.elapsed();
    let split = got.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&got[..split]).to_lowercase();
    assert!(head.starts_with("http/1.1 200 ok"), "{head}");
    assert!(head.contains("transfer-encoding: chunked"), "{head}");
    // The body in WireMock's 4 chunks of 5 bytes.
    let body = chunks(&got[split + 4..]).expect("well-formed chunked encoding");
    assert_eq!(
        body,
        [&b"01234"[..], b"56789", b"abcde", b"fghij"].map(<[u8]>::to_vec)
    );
    // Spread over the 1 s (loosely: waits never end early, a busy machine may make them longer):
    // nothing before the first chunk's 250 ms, the whole at least 80 % of the duration, and the
    // chunks came in separate reads.
    assert!(arrivals[0] >= Duration::from_millis(200), "{arrivals:?}");
    assert!(total >= Duration::from_millis(800), "{total:?}");
    assert!(arrivals.len() >= 3, "{arrivals:?}");
}

/// The stub's own endpoints (who the caller is, sessions, tokens) answer before any mapping: a
/// mapping must never tell a client it authenticated as someone else, nor stand in for the
/// endpoint that takes a password. WireMock has no such endpoints, so there its mapping answers.
#[tokio::test]
async fn a_mapping_never_answers_for_the_stubs_own_endpoints() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("mappings")).unwrap();
    std::fs::write(
        dir.path().join("mappings/own.json"),
        json!({"mappings": [
            {"request": {"method": "GET", "urlPath": "/rest/api/2/myself"},
             "response": {"status": 200, "jsonBody": {"name": "mallory"}}},
            {"request": {"method": "POST", "urlPath": "/rest/auth/1/session"},
             "response": {"status": 200, "jsonBody": {"session": {"name": "JSESSIONID", "value": "fake"}}}}
        ]})
        .to_string(),
    )
    .unwrap();
    let s = Server::start_with(&["--mappings", dir.path().to_str().unwrap()]);
    let auth = with_token(&s, "READ_ONLY").await;
    let me = s
        .req(Method::GET, "/rest/api/2/myself")
        .header("Authorization", &auth);
    let (status, _, body): (u16, _, Value) = parts(me.send().await.unwrap(), "x").await;
    assert_eq!((status, body["name"].as_str()), (200, Some("alice")));
    let login = s
        .req(Method::POST, "/rest/auth/1/session")
        .json(&json!({"username": "alice", "password": "wrong"}));
    assert_eq!(login.send().await.unwrap().status(), 401);
}
