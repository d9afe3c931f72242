//! Second review (shared/security-review-2.md): see main.rs.

#[allow(unused_imports)]
use super::*;

use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::path::Path;
use std::process::{Command, Stdio};

// ---------------------------------------------------------------- N9

/// Starts the binary with `--audit-file path` and answers whether it refused to start (exited
/// non-zero without saying it listens) and its standard error. A binary that starts anyway
/// (the attack works) is stopped after its first line.
fn start_with_audit_file(path: &Path) -> (bool, String) {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(tokenauth_e2e::binary())
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .args(["--bind", "127.0.0.1:0", "--audit-file"])
        .arg(path)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.take().unwrap()),
        &mut first,
    )
    .unwrap();
    if first.contains("listening") {
        // Give it a moment to write its start-up events (the users it seeds) through the file.
        std::thread::sleep(Duration::from_millis(500));
        let _ = child.kill();
    }
    let out = child.wait_with_output().unwrap();
    let refused = !first.contains("listening") && !out.status.success();
    (refused, String::from_utf8_lossy(&out.stderr).into_owned())
}

fn mode_of(p: &Path) -> u32 {
    std::fs::symlink_metadata(p).unwrap().mode() & 0o7777
}

/// N9: another user plants the audit path in a shared directory — a symbolic link to a file of
/// their choosing, a file anyone may write, a file of their own — and root starts the stub with
/// that `--audit-file`. Each refuses the start, naming the file and why, and the planted file
/// (or the link's target) is left as it was: no audit line in it, no chmod to 0600.
#[test]
fn n9_a_planted_audit_file_refuses_the_start_and_is_left_untouched() {
    let shared = tempfile::tempdir().unwrap();
    std::fs::set_permissions(shared.path(), std::fs::Permissions::from_mode(0o1777)).unwrap();
    let path = shared.path().join("audit.jsonl");

    // A symbolic link to a file of the attacker's choosing.
    let victim = shared.path().join("victim");
    std::fs::write(&victim, "precious\n").unwrap();
    std::fs::set_permissions(&victim, std::fs::Permissions::from_mode(0o644)).unwrap();
    std::os::unix::fs::symlink(&victim, &path).unwrap();
    let (refused, err) = start_with_audit_file(&path);
    assert!(refused, "started through a symlink: {err}");
    assert!(err.contains(&path.display().to_string()), "{err}");
    assert!(err.contains("symbolic link"), "{err}");
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious\n");
    assert_eq!(mode_of(&victim), 0o644);
    std::fs::remove_file(&path).unwrap();

    // A file anyone (or the group) may write: its lines could be forged or removed.
    for mode in [0o666, 0o664] {
        std::fs::write(&path, "planted\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        let (refused, err) = start_with_audit_file(&path);
        assert!(refused, "started on a {mode:o} file: {err}");
        assert!(err.contains(&path.display().to_string()), "{err}");
        assert!(err.contains("writable by"), "{err}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "planted\n");
        assert_eq!(mode_of(&path), mode, "not made 0600");
        std::fs::remove_file(&path).unwrap();
    }

    // A file of another user's, mode 0644 (only root can make one for the test).
    if std::fs::metadata(shared.path()).unwrap().uid() == 0 {
        std::fs::write(&path, "planted\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        std::os::unix::fs::chown(&path, Some(65534), Some(65534)).unwrap();
        let (refused, err) = start_with_audit_file(&path);
        assert!(refused, "started on another user's file: {err}");
        assert!(err.contains("belongs to user id 65534"), "{err}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "planted\n");
        assert_eq!(mode_of(&path), 0o644);
    } else {
        eprintln!("not root: the other user's file is not tried");
    }
}

/// N9, what still works: a fresh path in the shared directory is created 0600 and written.
#[tokio::test]
async fn n9_a_fresh_audit_path_is_created_0600_and_written() {
    let shared = tempfile::tempdir().unwrap();
    std::fs::set_permissions(shared.path(), std::fs::Permissions::from_mode(0o1777)).unwrap();
    let path = shared.path().join("audit.jsonl");
    let s = Server::start_with(&["--audit-file", path.to_str().unwrap()]);
    let t = s.token("bob", "READ_ONLY").await;
    let id = t["id"].as_str().unwrap().to_owned();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !std::fs::read_to_string(&path).unwrap().contains(&id) {
        assert!(
            Instant::now() < deadline,
            "the token's event never reached the file"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(mode_of(&path), 0o600);
}

/// The `Set-Cookie` of a session login as `user` with `password`, with more headers.
async fn login_cookie(s: &Server, user: &str, password: &str, headers: &[(&str, &str)]) -> String {
    let mut r = s
        .req(Method::POST, "/rest/auth/1/session")
        .json(&json!({"username": user, "password": password}));
    for (n, v) in headers {
        r = r.header(*n, *v);
    }
    let r = r.send().await.unwrap();
    assert_eq!(r.status(), 200);
    r.headers()["set-cookie"].to_str().unwrap().to_owned()
}

#[tokio::test]
async fn n11_the_session_cookie_is_secure_behind_a_tls_terminating_proxy() {
    let s = Server::start();
    // A browser on http://127.0.0.1 must keep its session: no Secure there.
    let plain = login_cookie(&s, "alice", "alice", &[]).await;
    assert!(!plain.contains("Secure"), "{plain}");
    // An untrusted peer's word counts for nothing (it is not Secure, but not refused either).
    let claimed = login_cookie(&s, "alice", "alice", &[("X-Forwarded-Proto", "https")]).await;
    assert!(!claimed.contains("Secure"), "{claimed}");
    // The proxy in front (trusted) says the browser came over HTTPS.
    s.settings(json!({"trustedProxies": ["127.0.0.1"]})).await;
    let proxied = login_cookie(
        &s,
        "alice",
        "alice",
        &[
            ("X-Forwarded-For", "203.0.113.7"),
            ("X-Forwarded-Proto", "https"),
        ],
    )
    .await;
    assert!(proxied.contains("; Secure"), "{proxied}");
    let proxied_http =
        login_cookie(&s, "alice", "alice", &[("X-Forwarded-For", "203.0.113.7")]).await;
    assert!(!proxied_http.contains("Secure"), "{proxied_http}");
}

#[tokio::test]
async fn n11_insecure_http_beyond_loopback_means_a_tls_proxy_so_the_cookie_is_secure() {
    let (s, _) = super::n10_webhook_targets::exposed(&[]);
    let cookie = login_cookie(&s, "admin", super::n10_webhook_targets::ADMIN_PASSWORD, &[]).await;
    assert!(cookie.contains("; Secure"), "{cookie}");
}
