//! N10 (low): the webhook test was a port scanner — a listening and a closed port of any
//! address the stub could reach (loopback, the private network, the cloud metadata service)
//! answered differently, with the remote status. Only ports of the test's own, on loopback.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::*;

const SIGNING_SECRET: &str = "a signing secret of the test, 32+";
pub(super) const ADMIN_PASSWORD: &str = "not-the-demo-password-1";

/// A receiver on loopback that answers 204 and counts the connections it accepted.
async fn receiver() -> (u16, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = Arc::clone(&accepted);
    tokio::spawn(async move {
        while let Ok((mut c, _)) = listener.accept().await {
            count.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let mut buf = vec![0u8; 64 * 1024];
                let _ = c.read(&mut buf).await;
                let _ = c
                    .write_all(b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n")
                    .await;
            });
        }
    });
    (port, accepted)
}

/// A loopback port nothing listens on.
async fn closed_port() -> u16 {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    l.local_addr().unwrap().port()
}

/// A stub on every interface (behind a TLS proxy, as `--insecure-http` says), with an admin of
/// its own (the demo passwords refuse a non-loopback bind).
pub(super) fn exposed(extra: &[&str]) -> (Server, String) {
    let dir = tempfile::tempdir().unwrap();
    let users = dir.path().join("users.toml");
    std::fs::write(
        &users,
        format!(
            "[[users]]\nname = \"admin\"\npassword = \"{ADMIN_PASSWORD}\"\ngroups = [\"jira-administrators\"]\n"
        ),
    )
    .unwrap();
    let users = users.to_str().unwrap().to_owned();
    let mut args = vec!["--bind", "0.0.0.0:0", "--insecure-http", "--users", &users];
    args.extend_from_slice(extra);
    let s = Server::start_with(&args);
    std::mem::forget(dir);
    (s, basic_header("admin", ADMIN_PASSWORD))
}

async fn try_webhook(s: &Server, admin: &str, url: &str) -> Value {
    json_of(
        s.req(Method::POST, "/rest/tokenauth/1/admin/notifications/test")
            .header("Authorization", admin)
            .json(&json!({ "webhookUrl": url })),
    )
    .await
}

async fn set_signing_secret(s: &Server, admin: &str) {
    let r = s
        .req(Method::PUT, "/rest/tokenauth/1/admin/notifications/secret")
        .header("Authorization", admin)
        .json(&json!({ "secret": SIGNING_SECRET }));
    assert_eq!(status_of(r).await, 204);
}

/// The answer without its delivery id (which differs on every attempt).
fn without_id(mut v: Value) -> Value {
    v.as_object_mut().unwrap().remove("delivery");
    v
}

#[tokio::test]
async fn n10_an_exposed_stub_cannot_probe_loopback_ports_by_address_or_name() {
    let (s, admin) = exposed(&[]);
    set_signing_secret(&s, &admin).await;
    let (open, accepted) = receiver().await;
    let closed = closed_port().await;
    let mut answers = Vec::new();
    for url in [
        format!("http://127.0.0.1:{open}/hook"),
        format!("http://127.0.0.1:{closed}/hook"),
        format!("http://localhost:{open}/hook"),
        format!("http://localhost:{closed}/hook"),
        format!("http://[::ffff:127.0.0.1]:{open}/hook"),
        format!("http://127.1.2.3:{open}/hook"),
    ] {
        let a = try_webhook(&s, &admin, &url).await;
        assert_eq!(a["delivered"], false, "{url}: {a}");
        assert_eq!(a["reason"], "refused_by_policy", "{url}: {a}");
        assert!(a.get("status").is_none(), "{url}: {a}");
        answers.push(without_id(a));
    }
    assert!(answers.windows(2).all(|w| w[0] == w[1]), "{answers:?}");
    assert_eq!(
        accepted.load(Ordering::SeqCst),
        0,
        "the stub connected to loopback"
    );
}

#[tokio::test]
async fn n10_metadata_and_link_local_addresses_are_refused_even_from_a_loopback_stub() {
    let s = Server::start();
    set_signing_secret(&s, &basic_header("admin", "admin")).await;
    for url in [
        "http://169.254.169.254/latest/meta-data/",
        "http://[fe80::1]/hook",
        "http://[fd00:ec2::254]/latest/meta-data/",
        "http://[::ffff:169.254.169.254]/",
        "http://100.100.100.200/latest/meta-data/",
    ] {
        let started = Instant::now();
        let a = try_webhook(&s, &basic_header("admin", "admin"), url).await;
        assert_eq!(a["delivered"], false, "{url}: {a}");
        assert_eq!(a["reason"], "refused_by_policy", "{url}: {a}");
        // Refused before any connection is tried (a connect would wait for its timeout).
        assert!(started.elapsed() < Duration::from_secs(4), "{url}");
    }
}

#[tokio::test]
async fn n10_a_named_range_is_reached_and_a_failure_names_only_its_class() {
    let (s, admin) = exposed(&["--webhook-allow", "127.0.0.1/32"]);
    set_signing_secret(&s, &admin).await;
    let (open, accepted) = receiver().await;
    let a = try_webhook(&s, &admin, &format!("http://127.0.0.1:{open}/hook")).await;
    assert_eq!(a["delivered"], true, "{a}");
    assert_eq!(a["status"], 204, "{a}");
    assert_eq!(accepted.load(Ordering::SeqCst), 1);
    // Still not the rest of loopback.
    let a = try_webhook(&s, &admin, &format!("http://127.0.0.2:{open}/hook")).await;
    assert_eq!(a["reason"], "refused_by_policy", "{a}");
    let closed = closed_port().await;
    let a = try_webhook(&s, &admin, &format!("http://127.0.0.1:{closed}/hook")).await;
    assert_eq!(a["delivered"], false, "{a}");
    assert_eq!(a["reason"], "unreachable", "{a}");
    let text = a.to_string().to_lowercase();
    for detail in ["refused", "os error", "tcp", &closed.to_string()] {
        assert!(!text.contains(detail), "{detail} in {a}");
    }
}
