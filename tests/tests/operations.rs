//! SPEC section 11 against the real binary: HTTPS (self-signed and given certificates, reload,
//! refusals by real clients), `/status`, `/metrics`, and writes that fail loudly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};
use tokenauth_e2e::{Server, basic_header, https_client, json_of, status_of};

const MYSELF: &str = "/rest/api/2/myself";

/// A certificate and key for `names`, valid from `from_days` to `to_days` around now (negative:
/// in the past), written as PEM into `dir`.
fn certificate(
    dir: &Path,
    stem: &str,
    names: &[&str],
    from_days: i64,
    to_days: i64,
) -> (PathBuf, PathBuf) {
    let mut params =
        rcgen::CertificateParams::new(names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>())
            .unwrap();
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now + time::Duration::days(from_days);
    params.not_after = now + time::Duration::days(to_days);
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = params.self_signed(&key).unwrap();
    let (c, k) = (
        dir.join(format!("{stem}.crt")),
        dir.join(format!("{stem}.key")),
    );
    std::fs::write(&c, cert.pem()).unwrap();
    std::fs::write(&k, key.serialize_pem()).unwrap();
    (c, k)
}

fn fingerprint(pem_path: &Path) -> String {
    let out = Command::new("openssl")
        .args(["x509", "-noout", "-fingerprint", "-sha256", "-in"])
        .arg(pem_path)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .rsplit('=')
        .next()
        .unwrap()
        .to_owned()
}

/// curl as a real client: its exit code (0 ok, 60 a certificate it does not trust) and output.
fn curl(args: &[&str]) -> (i32, String) {
    let out = Command::new("curl")
        .args(["-s", "-m", "10"])
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

// ---------------------------------------------------------------- HTTPS

#[tokio::test]
async fn a_self_signed_stub_serves_https_and_http2_and_says_its_fingerprint() {
    let s = Server::start_with(&["--tls-self-signed"]);
    assert!(s.base.starts_with("https://"), "{}", s.base);
    let cert = s.data.join("tls/self-signed.crt");
    // The log names the certificate and the fingerprint openssl computes.
    let log = s.log_with(&cert.display().to_string());
    assert!(log.contains(&cert.display().to_string()), "{log}");
    // Real clients: the harness's rustls client, and curl over HTTP/2 with the certificate.
    assert_eq!(status_of(s.get_as(MYSELF, "alice", "alice")).await, 200);
    let url = s.url("/status");
    let ca = cert.to_str().unwrap();
    assert_eq!(
        curl(&["--cacert", ca, "--http2", "-w", " %{http_version}", &url]),
        (0, "{\"state\":\"RUNNING\"} 2".into())
    );
    // Without the certificate, curl refuses the server (60: not trusted).
    assert_eq!(curl(&[&url]).0, 60);
    // The key is the operator's alone.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(s.data.join("tls/self-signed.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    // serverInfo says how clients reach it.
    let info = json_of(s.req(Method::GET, "/rest/api/2/serverInfo")).await;
    assert!(info["baseUrl"].as_str().unwrap().starts_with("https://"));
}

#[tokio::test]
async fn the_fingerprint_on_standard_output_is_the_certificates() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(tokenauth_e2e::binary())
        .arg("--data-dir")
        .arg(dir.path().join("d"))
        .args(["--bind", "127.0.0.1:0", "--tls-self-signed"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(child.stdout.take().unwrap()));
    let first = lines.next().unwrap().unwrap();
    let second = lines.next().unwrap().unwrap();
    let _ = child.kill();
    let _ = child.wait();
    assert!(first.starts_with("tokenauth-stub listening on https://"));
    let printed = second
        .strip_prefix("TLS certificate SHA-256 fingerprint: ")
        .unwrap();
    assert_eq!(
        printed,
        fingerprint(&dir.path().join("d/tls/self-signed.crt"))
    );
}

#[tokio::test]
async fn the_session_cookie_is_secure_over_https() {
    let s = Server::start_with(&["--tls-self-signed"]);
    let r = s
        .req(Method::POST, "/rest/auth/1/session")
        .json(&json!({"username": "alice", "password": "alice"}))
        .send()
        .await
        .unwrap();
    let cookie = r.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(cookie.contains("; Secure"), "{cookie}");
    // And not over plain HTTP, where a browser would drop it.
    let plain = Server::start();
    let r = plain
        .req(Method::POST, "/rest/auth/1/session")
        .json(&json!({"username": "alice", "password": "alice"}))
        .send()
        .await
        .unwrap();
    assert!(
        !r.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .contains("Secure")
    );
}

#[tokio::test]
async fn expired_and_wrong_name_certificates_are_refused_by_real_clients() {
    let dir = tempfile::tempdir().unwrap();
    for (stem, names, from, to, why) in [
        (
            "expired",
            vec!["localhost", "127.0.0.1"],
            -30,
            -1,
            "expired",
        ),
        ("wrong-name", vec!["example.test"], -1, 30, "name"),
    ] {
        let (cert, key) = certificate(dir.path(), stem, &names, from, to);
        let data = dir.path().join(stem);
        let s = Server::start_on(
            &data,
            &[
                "--tls-cert",
                cert.to_str().unwrap(),
                "--tls-key",
                key.to_str().unwrap(),
            ],
        );
        // curl with the very certificate as its CA still refuses it.
        let (code, _) = curl(&["--cacert", cert.to_str().unwrap(), &s.url("/status")]);
        assert_eq!(code, 60, "curl accepted the {why} certificate");
        // So does rustls (the desktop's and the CLI's TLS).
        let client = https_client(&std::fs::read(&cert).unwrap());
        let err = client.get(s.url("/status")).send().await.unwrap_err();
        let text = format!("{err:?}");
        assert!(
            text.contains("Expired")
                || text.contains("NotValidForName")
                || text.contains("certificate"),
            "{why}: {text}"
        );
    }
}

#[cfg(unix)]
#[tokio::test]
async fn a_new_certificate_is_taken_on_sighup_and_a_broken_one_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (cert_a, key_a) = certificate(dir.path(), "a", &["localhost", "127.0.0.1"], -1, 30);
    let (cert_b, key_b) = certificate(dir.path(), "b", &["localhost", "127.0.0.1"], -1, 30);
    let live_cert = dir.path().join("live.crt");
    let live_key = dir.path().join("live.key");
    std::fs::copy(&cert_a, &live_cert).unwrap();
    std::fs::copy(&key_a, &live_key).unwrap();
    let s = Server::start_on(
        &dir.path().join("data"),
        &[
            "--tls-cert",
            live_cert.to_str().unwrap(),
            "--tls-key",
            live_key.to_str().unwrap(),
        ],
    );
    let trusts = |pem: &Path| https_client(&std::fs::read(pem).unwrap());
    let url = s.url("/status");
    let first = trusts(&cert_a).get(&url).send().await;
    assert!(first.is_ok(), "{first:?}");
    std::fs::copy(&cert_b, &live_cert).unwrap();
    std::fs::copy(&key_b, &live_key).unwrap();
    let hup = || {
        Command::new("kill")
            .args(["-HUP", &s.pid().to_string()])
            .status()
            .unwrap();
        std::thread::sleep(Duration::from_millis(500));
    };
    hup();
    assert!(
        trusts(&cert_b).get(&url).send().await.is_ok(),
        "B is served"
    );
    assert!(trusts(&cert_a).get(&url).send().await.is_err(), "A is gone");
    // A broken certificate: refused, B stays, and the log says why.
    std::fs::write(&live_cert, "garbage").unwrap();
    hup();
    assert!(trusts(&cert_b).get(&url).send().await.is_ok());
    assert!(
        s.log().contains("TLS certificate not reloaded"),
        "{}",
        s.log()
    );
}

#[test]
fn plain_http_on_a_non_loopback_address_is_refused_unless_said_aloud() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(tokenauth_e2e::binary())
        .arg("--data-dir")
        .arg(dir.path().join("d"))
        .args(["--bind", "0.0.0.0:0"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("plain HTTP") && err.contains("--tls-self-signed"),
        "{err}"
    );
    // --insecure-http passes this rule (and then meets the demo-password one).
    let out = Command::new(tokenauth_e2e::binary())
        .arg("--data-dir")
        .arg(dir.path().join("d"))
        .args(["--bind", "0.0.0.0:0", "--insecure-http"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("demo password"), "{err}");
}

// ---------------------------------------------------------------- /status and /metrics

#[tokio::test]
async fn status_answers_anonymously_as_jira_does() {
    let s = Server::start();
    let r = s.req(Method::GET, "/status").send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        json!({"state": "RUNNING"})
    );
}

fn sample(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {series} in\n{text}"))
}

#[tokio::test]
async fn metrics_count_what_happens_and_are_for_this_machine_or_admins() {
    let s = Server::start();
    let scrape = || async {
        s.req(Method::GET, "/metrics")
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    };
    let before = scrape().await;
    let allowed = "tokenauth_requests_total{outcome=\"allowed\",reason=\"\"}";
    let failed = "tokenauth_requests_total{outcome=\"denied\",reason=\"failed\"}";
    for _ in 0..3 {
        assert_eq!(status_of(s.get_as(MYSELF, "alice", "alice")).await, 200);
    }
    assert_eq!(status_of(s.get_as(MYSELF, "alice", "nope")).await, 401);
    s.settings(json!({"audit": {"successfulAuthentication": true}}))
        .await;
    assert_eq!(status_of(s.get_as(MYSELF, "bob", "bob")).await, 200);
    s.settle().await;
    // The audited request's event is written by the background writer, within a moment.
    let mut after = scrape().await;
    for _ in 0..100 {
        if sample(&after, "tokenauth_audit_events_written_total") >= 1.0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
        after = scrape().await;
    }
    assert!(sample(&after, allowed) >= sample(&before, allowed) + 4.0);
    assert_eq!(sample(&after, failed), sample(&before, failed) + 1.0);
    assert!(sample(&after, "tokenauth_argon2_verifications_total") >= 2.0);
    assert!(sample(&after, "tokenauth_verified_cache_hits_total") >= 2.0);
    assert!(sample(&after, "tokenauth_audit_events_written_total") >= 1.0);
    assert_eq!(sample(&after, "tokenauth_audit_events_failed_total"), 0.0);
    assert!(after.contains("tokenauth_build_info{version="));
    // From elsewhere (a client behind a trusted proxy), only an admin reads them.
    s.settings(json!({"trustedProxies": ["127.0.0.1"]})).await;
    let remote = |auth: Option<String>| {
        let mut r = s
            .req(Method::GET, "/metrics")
            .header("X-Forwarded-For", "203.0.113.5");
        if let Some(a) = auth {
            r = r.header("Authorization", a);
        }
        r
    };
    assert_eq!(status_of(remote(None)).await, 401);
    assert_eq!(
        status_of(remote(Some(basic_header("alice", "alice")))).await,
        403
    );
    assert_eq!(
        status_of(remote(Some(basic_header("admin", "admin")))).await,
        200
    );
}

#[test]
fn the_metrics_pass_promtool_when_it_is_installed() {
    let Ok(out) = Command::new("promtool").arg("--version").output() else {
        // .ci/run installs it and says so, so there this cannot pass by skipping.
        assert!(
            std::env::var_os("TOKENAUTH_REQUIRE_PROMTOOL").is_none(),
            "promtool is required here"
        );
        eprintln!("promtool is not installed; skipped (.ci/run installs it)");
        return;
    };
    assert!(out.status.success());
    let rt = tokio::runtime::Runtime::new().unwrap();
    let s = Server::start();
    let text = rt.block_on(async {
        status_of(s.get_as(MYSELF, "alice", "alice")).await;
        s.req(Method::GET, "/metrics")
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    });
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), text.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

// ---------------------------------------------------------------- failing writes

/// The disk fills (a file-size limit on the server process, which sled's file reaches): audit
/// writes fail and are counted, authentication goes on, and a token change whose write fails
/// is refused with 503 and leaves nothing behind.
#[tokio::test]
async fn failing_writes_are_counted_and_the_server_keeps_authenticating() {
    if Command::new("prlimit").arg("--version").output().is_err() {
        eprintln!("prlimit (util-linux) is missing; skipped");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let s = Server::start_limited(&data, 600_000);
    s.settings(json!({"audit": {"successfulAuthentication": true}}))
        .await;
    let metric = |name: &'static str| {
        let s = &s;
        async move {
            let text = s
                .req(Method::GET, "/metrics")
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            sample(&text, name)
        }
    };
    // Audited requests until the audit writes start failing.
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let rb = s.get_as(MYSELF, "alice", "alice");
        tasks.push(tokio::spawn(async move {
            for _ in 0..1500 {
                let r = rb.try_clone().unwrap().send().await.unwrap();
                assert_eq!(r.status(), 200, "authentication goes on");
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(metric("tokenauth_audit_events_failed_total").await > 0.0);
    assert_eq!(status_of(s.get_as(MYSELF, "bob", "bob")).await, 200);
    // A token whose write fails is refused, and not there afterwards.
    let r = s
        .req(Method::POST, "/rest/tokenauth/1/tokens")
        .header("Authorization", basic_header("bob", "bob"))
        .json(&json!({"description": "after the disk filled"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16() / 100, 5, "{}", r.text().await.unwrap());
    let listed = json_of(s.get_as("/rest/tokenauth/1/tokens", "bob", "bob")).await;
    assert!(listed.as_array().unwrap().is_empty(), "{listed}");
}
