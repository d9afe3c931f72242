//! SPEC §8, test runs, against the real binary: `token mint` makes a secret to paste into a
//! users file, the server started with that file accepts it (Basic and Bearer) and audits its
//! creation, and `--ephemeral` keeps the data in a private directory removed at exit.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use tokenauth_e2e::{Server, basic_header, binary};

const MYSELF: &str = "/rest/api/2/myself";

/// `tokenauth-stub token mint`: its standard output, and whether it succeeded.
fn mint() -> String {
    let out = Command::new(binary())
        .args(["token", "mint"])
        .output()
        .unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap()
}

fn users_file(dir: &Path, secret: &str) -> PathBuf {
    let path = dir.join("users.toml");
    std::fs::write(
        &path,
        format!(
            r#"
[[users]]
name = "admin"
password = "admin"
groups = ["jira-administrators", "jira-users"]

[[users]]
name = "ci-bot"
password = "ci-bot-password"
groups = ["jira-users"]
[[users.tokens]]
description = "CI fixture"
secret = "{secret}"
scope = "READ_WRITE"
validity_days = 30
"#
        ),
    )
    .unwrap();
    path
}

#[test]
fn mint_prints_one_valid_secret_and_nothing_else_without_touching_a_data_directory() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("never-created");
    let out = Command::new(binary())
        .args(["token", "mint"])
        .env("TOKENAUTH_DATA_DIR", &data)
        .output()
        .unwrap();
    assert!(out.status.success());
    let stdout = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 1, "{stdout:?}");
    let parsed = tokenauth_core::token_format::parse(lines[0]).expect("a valid token");
    assert!(!data.exists(), "mint needs no database");
    // Each call mints a new one.
    assert_ne!(mint(), stdout);
    // Standard error may say what it is, never the secret itself.
    assert!(
        !String::from_utf8(out.stderr)
            .unwrap()
            .contains(parsed.secret)
    );
}

#[tokio::test]
async fn a_minted_secret_in_the_users_file_authenticates_as_basic_and_bearer_and_is_audited() {
    let secret = mint().trim().to_owned();
    let dir = tempfile::tempdir().unwrap();
    let users = users_file(dir.path(), &secret);
    let server = Server::start_with(&["--users", users.to_str().unwrap()]);
    for auth in [basic_header("ci-bot", &secret), format!("Bearer {secret}")] {
        let r = server
            .req(reqwest::Method::GET, MYSELF)
            .header("Authorization", auth)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let me: serde_json::Value = r.json().await.unwrap();
        assert_eq!(me["name"], "ci-bot");
    }
    // Read & Write, as the file says: a write is echoed, not refused.
    let r = server
        .req(reqwest::Method::POST, "/rest/api/2/issue")
        .bearer_auth(&secret)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let id = &secret[4..16];
    let created = server.events("action=API%20token%20created", 1).await;
    let e = created
        .iter()
        .find(|e| e["tokenId"] == id)
        .expect("the fixture token's creation is audited");
    assert_eq!(e["author"]["name"], "tokenauth-cli");
    assert_eq!(e["tokenDescription"], "CI fixture");
    assert!(!e.to_string().contains(&secret[17..49]));
    // Listed like any token; stored only as a hash (nowhere on disk as text).
    let tokens: serde_json::Value = server
        .admin(
            reqwest::Method::GET,
            "/rest/tokenauth/1/admin/tokens?user=ci-bot",
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(tokens["tokens"][0]["id"], id, "{tokens}");
    assert_eq!(tokens["tokens"][0]["scope"], "READ_WRITE");
    assert!(!server.log().contains(&secret[17..49]));
}

#[test]
fn a_malformed_secret_refuses_the_start_naming_file_user_and_entry_but_not_the_secret() {
    let mut typo = mint().trim().to_owned().into_bytes();
    typo[30] = if typo[30] == b'a' { b'b' } else { b'a' };
    let typo = String::from_utf8(typo).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let users = users_file(dir.path(), &typo);
    let out = Command::new(binary())
        .args(["--ephemeral", "--bind", "127.0.0.1:0", "--users"])
        .arg(&users)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("users.toml"), "{err}");
    assert!(err.contains("user 'ci-bot', token 1"), "{err}");
    assert!(
        !err.contains(&typo[17..49]) && !err.contains(&typo),
        "{err}"
    );
    assert!(out.stdout.is_empty());
}

/// Starts `--ephemeral` with `users`, and returns the child, its URL and its data directory
/// (from the "data directory:" line on standard error).
fn start_ephemeral(users: &Path, stderr: &Path) -> (std::process::Child, String, PathBuf) {
    let mut child = Command::new(binary())
        .args(["--ephemeral", "--bind", "127.0.0.1:0", "--users"])
        .arg(users)
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(stderr).unwrap())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .trim()
        .strip_prefix("tokenauth-stub listening on ")
        .unwrap()
        .to_owned();
    let deadline = Instant::now() + Duration::from_secs(5);
    let data = loop {
        let log = std::fs::read_to_string(stderr).unwrap();
        if let Some(rest) = log.split("data directory: ").nth(1) {
            break PathBuf::from(rest.split_whitespace().next().unwrap());
        }
        assert!(Instant::now() < deadline, "no data directory line: {log}");
        std::thread::sleep(Duration::from_millis(10));
    };
    (child, url, data)
}

#[tokio::test]
async fn ephemeral_data_is_private_and_removed_on_sigterm_and_sigint() {
    let secret = mint().trim().to_owned();
    let dir = tempfile::tempdir().unwrap();
    let users = users_file(dir.path(), &secret);
    tokenauth_e2e::init_tls();
    let http = reqwest::Client::new();
    for signal in ["-TERM", "-INT"] {
        let (mut child, url, data) = start_ephemeral(&users, &dir.path().join("stderr"));
        assert!(data.is_dir());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&data).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o700, "{mode:o}");
        }
        let r = http
            .get(format!("{url}{MYSELF}"))
            .bearer_auth(&secret)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        Command::new("kill")
            .args([signal, &child.id().to_string()])
            .status()
            .unwrap();
        assert!(child.wait().unwrap().success(), "{signal}");
        assert!(!data.exists(), "{signal} left {}", data.display());
    }
}

#[test]
fn ephemeral_and_a_data_directory_exclude_each_other() {
    let out = Command::new(binary())
        .args([
            "--ephemeral",
            "--data-dir",
            "/tmp/unused",
            "--bind",
            "127.0.0.1:0",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8(out.stderr)
            .unwrap()
            .contains("cannot be used with")
    );
}
