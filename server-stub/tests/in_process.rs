#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic on broken expectations
//! SPEC §8, test runs: a Rust test starts the stub in-process on 127.0.0.1:0, gets its URL, uses
//! a fixture token against it, and dropping it stops the server and removes its data.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokenauth_core::credentials::basic_header;
use tokenauth_core::token_format;
use tokenauth_stub::testing::TestServer;

fn client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
}

/// A users file with an admin and `ci-bot`, who holds a Read & Write token with `secret`.
fn users_with_fixture(secret: &str) -> String {
    format!(
        r#"
[[users]]
name = "admin"
password = "admin"
groups = ["jira-administrators"]

[[users]]
name = "ci-bot"
password = "ci-bot-password"
groups = ["jira-users"]
[[users.tokens]]
description = "CI fixture"
secret = "{secret}"
scope = "READ_WRITE"
"#
    )
}

async fn status(http: &reqwest::Client, url: String, authorization: &str) -> u16 {
    http.get(url)
        .header("Authorization", authorization)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

async fn port_closed(addr: SocketAddr) -> bool {
    tokio::net::TcpStream::connect(addr).await.is_err()
}

/// Waits (up to 5 s) for what a dropped server does on its own.
async fn eventually(what: &str, mut done: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !done().await {
        assert!(
            Instant::now() < deadline,
            "{what} did not happen within 5 s"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn two_servers_in_one_process_each_accept_their_own_fixture_token() {
    let http = client();
    let (a, b) = (
        token_format::generate().unwrap().text,
        token_format::generate().unwrap().text,
    );
    let one = TestServer::builder()
        .users_toml(users_with_fixture(&a))
        .start()
        .await
        .unwrap();
    let two = TestServer::builder()
        .users_toml(users_with_fixture(&b))
        .start()
        .await
        .unwrap();
    assert_ne!(one.url(), two.url());
    assert!(one.url().starts_with("http://127.0.0.1:"));
    for (server, mine, other) in [(&one, &a, &b), (&two, &b, &a)] {
        let myself = server.uri("/rest/api/2/myself");
        assert_eq!(
            status(&http, myself.clone(), &format!("Bearer {mine}")).await,
            200
        );
        assert_eq!(
            status(&http, myself.clone(), &basic_header("ci-bot", mine)).await,
            200
        );
        // Each server knows only the tokens of its own users file.
        assert_eq!(status(&http, myself, &format!("Bearer {other}")).await, 401);
    }
    one.stop().await.unwrap();
    two.stop().await.unwrap();
}

#[tokio::test]
async fn dropping_a_server_closes_its_port_and_removes_its_data() {
    let server = TestServer::start().await.unwrap();
    let (addr, dir) = (server.address(), server.data_dir().to_path_buf());
    assert!(dir.is_dir());
    assert!(!port_closed(addr).await);
    drop(server);
    eventually("closing the port", async || port_closed(addr).await).await;
    eventually("removing the data", async || !dir.exists()).await;
}

#[tokio::test]
async fn stop_returns_once_the_port_is_closed_and_the_data_removed() {
    let server = TestServer::start().await.unwrap();
    let http = client();
    // A keep-alive connection open at shutdown does not hold the server up.
    let r = status(
        &http,
        server.uri("/rest/api/2/myself"),
        &basic_header("alice", "alice"),
    )
    .await;
    assert_eq!(r, 200);
    let (addr, dir) = (server.address(), server.data_dir().to_path_buf());
    server.stop().await.unwrap();
    assert!(port_closed(addr).await);
    assert!(!dir.exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_data_directory_is_private_to_its_owner() {
    let server = TestServer::start().await.unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(server.data_dir())
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o700, "{mode:o}");
    }
    server.stop().await.unwrap();
}

#[tokio::test]
async fn a_bad_fixture_refuses_the_start_without_echoing_the_secret() {
    let mut typo = token_format::generate().unwrap().text.into_bytes();
    typo[30] = if typo[30] == b'a' { b'b' } else { b'a' };
    let typo = String::from_utf8(typo).unwrap();
    let e = TestServer::builder()
        .users_toml(users_with_fixture(&typo))
        .start()
        .await
        .err()
        .expect("refused")
        .to_string();
    assert!(e.contains("user 'ci-bot', token 1"), "{e}");
    assert!(!e.contains(&typo[17..49]), "{e}");
}

#[tokio::test]
async fn mappings_are_served_behind_the_fixture_token() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("mappings")).unwrap();
    std::fs::write(
        dir.path().join("mappings/issue.json"),
        r#"{"request": {"method": "GET", "url": "/rest/api/2/issue/PROJ-1"},
            "response": {"status": 200, "jsonBody": {"key": "PROJ-1"}}}"#,
    )
    .unwrap();
    let secret = token_format::generate().unwrap().text;
    let server = TestServer::builder()
        .users_toml(users_with_fixture(&secret))
        .mappings(dir.path())
        .start()
        .await
        .unwrap();
    let http = client();
    let issue = server.uri("/rest/api/2/issue/PROJ-1");
    let r = http.get(&issue).bearer_auth(&secret).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.text().await.unwrap().replace([' ', '\n'], ""),
        r#"{"key":"PROJ-1"}"#
    );
    assert_eq!(http.get(&issue).send().await.unwrap().status(), 401);
    server.stop().await.unwrap();
}

/// Start to first answers, for BENCHMARKS.md (`scripts/measure-start.sh` runs it):
/// `cargo test -p tokenauth-stub --test in_process -- --ignored --nocapture`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement, not a check: run by scripts/measure-start.sh"]
async fn measure_start_to_first_answer() {
    let http = client();
    let secret = token_format::generate().unwrap().text;
    for (label, params) in [
        (
            "test argon2 (64 KiB, 1 pass)",
            tokenauth_stub::testing::TEST_HASH_PARAMS,
        ),
        (
            "default argon2 (19 MiB, 2 passes)",
            tokenauth_core::secret_hash::HashParams::DEFAULT,
        ),
    ] {
        let (mut status_ms, mut auth_ms) = (Vec::new(), Vec::new());
        for _ in 0..20 {
            let t0 = Instant::now();
            let server = TestServer::builder()
                .users_toml(users_with_fixture(&secret))
                .hash_params(params)
                .start()
                .await
                .unwrap();
            let r = http.get(server.uri("/status")).send().await.unwrap();
            assert_eq!(r.status(), 200);
            status_ms.push(t0.elapsed().as_secs_f64() * 1000.0);
            let r = http
                .get(server.uri("/rest/api/2/myself"))
                .bearer_auth(&secret)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200);
            auth_ms.push(t0.elapsed().as_secs_f64() * 1000.0);
            server.stop().await.unwrap();
        }
        for (what, v) in [("/status 200", &mut status_ms), ("token 200", &mut auth_ms)] {
            v.sort_by(f64::total_cmp);
            println!(
                "TestServer::start() [{label}] to first {what}: median {:.1} ms, max {:.1} ms (20 runs)",
                v[v.len() / 2],
                v[v.len() - 1]
            );
        }
    }
}

#[test]
fn the_manual_shows_the_compiled_example_unchanged() {
    let page = include_str!("../../docs/src/developers/rust-test.md");
    let example = include_str!("../examples/in_process.rs");
    assert!(
        page.contains(&format!("```rust\n{example}```")),
        "docs/src/developers/rust-test.md (\"The stub inside a Rust test\") must show server-stub/examples/in_process.rs as it is"
    );
}
