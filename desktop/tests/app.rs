//! The desktop app, driven headless by its widgets' labels (egui_kittest) against a real
//! tokenauth-stub: the scenarios of SPEC section 7.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use egui_kittest::kittest::{NodeT, Queryable};
use tokenauth_desktop::{KeychainChoice, Tab};
use tokenauth_e2e::{Server, json_of, status_of};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Runtime::new().unwrap()
}

#[test]
fn a_user_creates_a_token_sees_it_listed_once_with_its_secret_and_the_server_accepts_it() {
    let server = Server::start();
    let mut app = signed_in(&server, "alice", "alice");
    assert!(!has(&app, "Audit log"), "no admin tabs for a user");
    wait_for(&mut app, "the token list", |a| has_text(a, "0 tokens"));
    type_into(&mut app, "Token description", "nightly backup");
    click(&mut app, "Create token");
    wait_for(&mut app, "the new secret", |a| {
        has_text(a, "shown only once")
    });
    let secret = app.get_by_label("Secret").value().unwrap();
    assert!(secret.starts_with("tka_"), "{secret}");
    wait_for(&mut app, "the token listed", |a| has_text(a, "1 tokens"));
    assert!(has(&app, "nightly backup"));
    assert!(has(&app, "Read Only"));
    click(&mut app, "Done");
    assert!(
        !has_text(&app, "shown only once"),
        "the secret is gone after Done"
    );

    let rt = runtime();
    let status = rt.block_on(status_of(server.get_as(
        "/rest/api/2/myself",
        "alice",
        &secret,
    )));
    assert_eq!(status, 200, "the secret the app showed authenticates");
}

#[test]
fn revoking_asks_first_and_then_the_token_is_gone_on_the_server() {
    let server = Server::start();
    let rt = runtime();
    let secret = rt.block_on(server.secret("alice", "READ_ONLY"));
    let mut app = signed_in(&server, "alice", "alice");
    wait_for(&mut app, "the token listed", |a| has_text(a, "1 tokens"));
    click(&mut app, "Revoke");
    assert!(has_text(&app, "cannot be undone"), "a confirmation first");
    click(&mut app, "Cancel");
    assert!(has_text(&app, "1 tokens"));
    click(&mut app, "Revoke");
    click(&mut app, "Yes, revoke");
    wait_for(&mut app, "the list without it", |a| has_text(a, "0 tokens"));
    let status = rt.block_on(status_of(server.get_as(
        "/rest/api/2/myself",
        "alice",
        &secret,
    )));
    assert_eq!(status, 401, "the revoked token is refused");
}

#[test]
fn a_wrong_secret_and_a_server_that_is_gone_are_explained_in_words() {
    let mut server = Server::start();
    let mut app = launch(&server, "alice", KeychainChoice::Off);
    wait_for(&mut app, "the sign-in screen", |a| {
        has(a, "Password or API token")
    });
    type_into(&mut app, "Password or API token", "wrong");
    click(&mut app, "Sign in");
    wait_for(&mut app, "the refusal", |a| has_text(a, "sign-in refused"));
    replace_in(&mut app, "Password or API token", "alice");
    click(&mut app, "Sign in");
    wait_for(&mut app, "signed in", |a| has(a, "Sign out"));
    server.stop();
    click(&mut app, "Refresh");
    wait_for(&mut app, "the connection error", |a| {
        has_text(a, "cannot reach the server")
    });
}

#[test]
fn an_admin_creates_a_token_on_a_users_behalf_and_revokes_all_of_theirs() {
    let server = Server::start();
    let mut app = signed_in(&server, "admin", "admin");
    click(&mut app, "All tokens");
    wait_for(&mut app, "the token search", |a| {
        has_text(a, "No tokens match")
    });
    click(&mut app, "For user");
    choose(&mut app, "bob");
    type_into(&mut app, "Token description", "deploy bot");
    click(&mut app, "Read & Write");
    click(&mut app, "Create for user");
    wait_for(&mut app, "the secret for bob", |a| {
        has_text(a, "for bob: copy it now")
    });
    assert!(
        !has(&app, "Save to keychain"),
        "another user's secret is not the admin's to keep"
    );
    wait_for(&mut app, "bob's token listed", |a| has_text(a, "1–1 of 1"));
    assert!(has(&app, "Read & Write"));

    click(&mut app, "Owner");
    choose(&mut app, "bob");
    click(&mut app, "Revoke all of bob's tokens…");
    click(&mut app, "Yes, revoke all");
    wait_for(&mut app, "the revocation", |a| {
        has_text(a, "Revoked all 1 tokens of bob")
    });
    wait_for(&mut app, "an empty list", |a| {
        has_text(a, "No tokens match")
    });
}

#[test]
fn an_invalid_cidr_is_refused_as_it_is_typed_and_nothing_is_sent() {
    let server = Server::start();
    let mut app = signed_in(&server, "admin", "admin");
    click(&mut app, "Settings");
    wait_for(&mut app, "the settings", |a| has(a, "Add allowed address"));
    click(&mut app, "Add allowed address");
    type_into(&mut app, "Allowed address 1", "10.0.0.0/33");
    // Core's own words, as a label of their own beside the entry (the footer says more).
    let inline = tokenauth_core::ip::parse_entry("10.0.0.0/33").unwrap_err();
    assert!(has(&app, &inline), "refused inline: {inline}");
    assert!(has_text(&app, "Not sent: ipAllowList[0]"));
    assert!(
        app.get_by_label("Save settings")
            .accesskit_node()
            .is_disabled(),
        "nothing is sent"
    );

    replace_in(&mut app, "Allowed address 1", "127.0.0.0/8");
    assert!(!has_text(&app, "is not an IP address"));
    assert!(
        !app.get_by_label("Save settings")
            .accesskit_node()
            .is_disabled()
    );
    click(&mut app, "Save settings");
    wait_for(&mut app, "saved", |a| has_text(a, "Settings saved"));
    let rt = runtime();
    let settings = rt.block_on(json_of(
        server.admin(reqwest::Method::GET, "/rest/tokenauth/1/admin/settings"),
    ));
    assert_eq!(settings["ipAllowList"], serde_json::json!(["127.0.0.0/8"]));
}

#[test]
fn option_2a_is_unavailable_while_passwords_are_enabled() {
    let server = Server::start();
    let mut app = signed_in(&server, "admin", "admin");
    app.state_mut().tab = Tab::Settings;
    wait_for(&mut app, "the settings", |a| {
        has(a, "Allow Basic auth with regular passwords")
    });
    assert!(
        app.get_by_label("(2a) Failed API-token attempts")
            .accesskit_node()
            .is_disabled()
    );
    assert!(has_text(
        &app,
        "only available while Basic auth with passwords is disabled"
    ));
    click(&mut app, "Allow Basic auth with regular passwords");
    assert!(
        !app.get_by_label("(2a) Failed API-token attempts")
            .accesskit_node()
            .is_disabled()
    );
    click(&mut app, "(2a) Failed API-token attempts");
    assert!(app.state().settings.draft.audit.failed_token_attempts);
    click(&mut app, "Allow Basic auth with regular passwords");
    assert!(
        !app.state().settings.draft.audit.failed_token_attempts,
        "turning passwords back on turns 2a off"
    );
}

#[test]
fn the_servers_refusal_is_shown_next_to_the_field_it_names() {
    let server = Server::start();
    let mut app = signed_in(&server, "admin", "admin");
    click(&mut app, "Settings");
    wait_for(&mut app, "the settings", |a| has(a, "Add allowed address"));
    // An allow-list without the admin's own address: the server's anti-lockout rule refuses.
    click(&mut app, "Add allowed address");
    type_into(&mut app, "Allowed address 1", "10.9.8.7");
    click(&mut app, "Save settings");
    wait_for(&mut app, "the refusal", |a| {
        has_text(a, "The server refused")
    });
    assert!(has(&app, "Save anyway"));
}

#[test]
fn saving_settings_keeps_what_another_admin_changed_meanwhile() {
    let server = Server::start();
    let mut app = signed_in(&server, "admin", "admin");
    click(&mut app, "Settings");
    wait_for(&mut app, "the settings", |a| has(a, "Add allowed address"));
    // Another admin adds a trusted proxy while this one edits.
    runtime().block_on(server.settings(serde_json::json!({"trustedProxies": ["10.0.0.1"]})));
    click(&mut app, "Add allowed address");
    type_into(&mut app, "Allowed address 1", "127.0.0.1");
    click(&mut app, "Save settings");
    wait_for(&mut app, "saved", |a| has_text(a, "Settings saved"));
    let saved = rt_json(&server, "/rest/tokenauth/1/admin/settings");
    assert_eq!(saved["ipAllowList"], serde_json::json!(["127.0.0.1"]));
    assert_eq!(
        saved["trustedProxies"],
        serde_json::json!(["10.0.0.1"]),
        "the other admin's change survives"
    );
}

#[test]
fn the_audit_log_filters_by_user_and_shows_the_chart() {
    let server = Server::start();
    let rt = runtime();
    rt.block_on(async {
        server.token("alice", "READ_ONLY").await;
        server.token("bob", "READ_WRITE").await;
        server.settle().await;
    });
    let mut app = signed_in(&server, "admin", "admin");
    click(&mut app, "Audit log");
    // The chart ("events from") and the table arrive as two answers, in either order.
    wait_for(&mut app, "the events", |a| {
        has_text(a, "events from") && a.query_all_by_label("API token created").count() >= 2
    });
    type_into(&mut app, "User", "alice");
    click(&mut app, "Apply filters");
    wait_for(&mut app, "the filtered page", |a| {
        a.state().audit.applied.user.is_some()
            && a.query_all_by_label("API token created").count() == 1
    });
    assert_eq!(app.state().audit.applied.user.as_deref(), Some("alice"));
    assert!(
        app.state()
            .audit
            .page
            .events
            .iter()
            .all(|e| e.author.name == "alice" || e.affected_user.as_deref() == Some("alice"))
    );
    let h = app.state().audit.histogram.clone().unwrap();
    assert_eq!(
        h.counts.iter().sum::<u64>() as usize,
        app.state().audit.page.events.len()
    );

    type_into(&mut app, "From", "yesterday");
    click(&mut app, "Apply filters");
    assert!(
        has_text(&app, "is not a time"),
        "a bad time is refused before sending"
    );
}

#[test]
fn the_audit_export_writes_the_filtered_events_to_a_file() {
    let server = Server::start();
    let rt = runtime();
    rt.block_on(async {
        server.token("alice", "READ_ONLY").await;
        server.settle().await;
    });
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.csv");
    let mut app = signed_in(&server, "admin", "admin");
    click(&mut app, "Audit log");
    wait_for(&mut app, "the events", |a| has_text(a, "events from"));
    replace_in(&mut app, "Export to", path.to_str().unwrap());
    click(&mut app, "Export CSV");
    wait_for(&mut app, "the export", |a| has_text(a, "Exported"));
    let csv = std::fs::read_to_string(&path).unwrap();
    assert!(csv.starts_with("id,timestamp,"), "{csv}");
    assert!(csv.contains("API token created"));
    click(&mut app, "Export JSON");
    wait_for(&mut app, "the JSON export", |a| has_text(a, "audit.json"));
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("audit.json")).unwrap())
            .unwrap();
    assert!(!json.as_array().unwrap().is_empty());
}

#[test]
fn permission_groups_are_checked_against_the_groups_users_have_before_saving() {
    let server = Server::start();
    let mut app = signed_in(&server, "admin", "admin");
    click(&mut app, "Settings");
    wait_for(&mut app, "the settings", |a| {
        has(a, "Create tokens for themselves")
    });
    app.get_all_by_label("everyone").nth(1).unwrap().click();
    app.step();
    type_into(&mut app, "Create tokens for themselves", "jira-usres");
    assert!(
        has_text(&app, "unknown group 'jira-usres'"),
        "a typo is named at once"
    );
    assert!(
        app.get_by_label("Save settings")
            .accesskit_node()
            .is_disabled()
    );
    replace_in(&mut app, "Create tokens for themselves", "jira-users");
    click(&mut app, "Save settings");
    wait_for(&mut app, "saved", |a| has_text(a, "Settings saved"));
    let settings = rt_json(&server, "/rest/tokenauth/1/admin/settings");
    assert_eq!(
        settings["permissions"]["createOwnTokens"],
        serde_json::json!({"everyone": false, "groups": ["jira-users"]})
    );
}

#[test]
fn the_servers_signed_in_to_are_remembered_without_their_secrets() {
    let server = Server::start();
    let token = runtime().block_on(server.secret("alice", "READ_ONLY"));
    let mut app = signed_in(&server, "alice", &token);
    let mut storage = MemoryStorage::default();
    eframe::App::save(app.state_mut(), &mut storage);
    let stored = storage.0.values().cloned().collect::<Vec<_>>().join("\n");
    assert!(stored.contains(&server.url("")), "{stored}");
    // The user name is alice and so is the password: only one occurrence, in the user field.
    assert_eq!(stored.matches("alice").count(), 1, "{stored}");
    assert!(
        !stored.to_lowercase().contains("secret") && !stored.to_lowercase().contains("password")
    );

    // The next start offers the remembered server and user.
    let profiles: tokenauth_desktop::profiles::Profiles =
        eframe::get_value(&storage, tokenauth_desktop::profiles::STORAGE_KEY).unwrap();
    assert_eq!(profiles.list[0].user, "alice");
    assert_eq!(profiles.list[0].url, server.url(""));
}

#[test]
fn l6_plain_http_to_another_machine_sends_nothing_until_the_user_accepts() {
    use std::io::Read;
    let server = Server::start();
    let mut app = launch(&server, "alice", KeychainChoice::Off);
    // A listener on a non-loopback address of this machine stands in for a remote server.
    let Some(ip) = non_loopback_ip() else {
        eprintln!("no non-loopback address on this machine; skipped");
        return;
    };
    let listener = std::net::TcpListener::bind((ip, 0)).unwrap();
    listener.set_nonblocking(true).unwrap();
    let remote = format!("http://{}", listener.local_addr().unwrap());
    replace_in(&mut app, "Server URL", &remote);
    type_into(&mut app, "Password or API token", "alice");
    assert!(has_text(&app, "would cross the network unencrypted"));
    click(&mut app, "Sign in");
    assert!(has_text(&app, "unencrypted"), "refused in words");
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert!(listener.accept().is_err(), "nothing was sent");
    // Accepted: then the request goes (and the warning stays on screen).
    click(&mut app, "Send my secret over plain HTTP anyway");
    click(&mut app, "Sign in");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let mut conn = loop {
        app.step();
        if let Ok((c, _)) = listener.accept() {
            break c;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no request after consent"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    conn.set_nonblocking(false).unwrap();
    let mut buf = [0u8; 1024];
    let n = conn.read(&mut buf).unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).contains("GET /rest/api/2/myself"));
}

/// An address of this machine that is not loopback (the route to a public address names it).
fn non_loopback_ip() -> Option<std::net::IpAddr> {
    let s = std::net::UdpSocket::bind("0.0.0.0:0").ok()?;
    s.connect("192.0.2.1:9").ok()?;
    let ip = s.local_addr().ok()?.ip();
    (!ip.is_loopback() && !ip.is_unspecified()).then_some(ip)
}

/// eframe's storage in memory: what the app asks eframe to write to disk.
#[derive(Default)]
struct MemoryStorage(std::collections::HashMap<String, String>);

impl eframe::Storage for MemoryStorage {
    fn get_string(&self, key: &str) -> Option<String> {
        self.0.get(key).cloned()
    }
    fn set_string(&mut self, key: &str, value: String) {
        self.0.insert(key.to_owned(), value);
    }
    fn remove_string(&mut self, key: &str) {
        self.0.remove(key);
    }
    fn flush(&mut self) {}
}

fn rt_json(server: &Server, path: &str) -> serde_json::Value {
    runtime().block_on(json_of(server.admin(reqwest::Method::GET, path)))
}

/// The app on a server with `profiles` remembered (pins included).
fn launch_with(
    server: &Server,
    user: &str,
    profiles: tokenauth_desktop::profiles::Profiles,
) -> common::App {
    let launch = tokenauth_desktop::Launch {
        url: Some(server.url("")),
        user: Some(user.to_owned()),
        keychain: KeychainChoice::Off,
        ..tokenauth_desktop::Launch::default()
    };
    egui_kittest::Harness::builder()
        .with_size([1280.0, 1000.0])
        .build_eframe(move |cc| {
            tokenauth_desktop::DesktopApp::new(&cc.egui_ctx, profiles, launch).expect("app starts")
        })
}

fn server_fingerprint(server: &Server) -> String {
    let pem = server.ca.clone().expect("an HTTPS server");
    let der = rustls_pki_der(&pem);
    tokenauth_desktop::tls::fingerprint(&der)
}

fn rustls_pki_der(pem: &[u8]) -> Vec<u8> {
    use rustls::pki_types::pem::PemObject;
    rustls::pki_types::CertificateDer::pem_slice_iter(pem)
        .next()
        .unwrap()
        .unwrap()
        .to_vec()
}

#[test]
fn a_self_signed_server_is_trusted_after_its_fingerprint_is_accepted_and_pinned() {
    let server = Server::start_with(&["--tls-self-signed"]);
    let expected = server_fingerprint(&server);
    let mut app = launch(&server, "alice", KeychainChoice::Off);
    wait_for(&mut app, "the sign-in screen", |a| {
        has(a, "Password or API token")
    });
    type_into(&mut app, "Password or API token", "alice");
    click(&mut app, "Sign in");
    wait_for(&mut app, "the certificate to accept", |a| {
        has(a, "Trust this certificate")
    });
    // The fingerprint shown is the server's own, and nothing was signed in yet.
    assert!(
        has_text(&app, &expected),
        "the fingerprint {expected} is shown"
    );
    assert!(!has(&app, "Sign out"));
    click(&mut app, "Trust this certificate");
    wait_for(&mut app, "signed in over HTTPS", |a| has(a, "Sign out"));
    assert_eq!(
        app.state().profiles.pin(&server.url("")),
        Some(&expected),
        "pinned for this server"
    );
}

#[test]
fn a_changed_certificate_is_refused_showing_both_fingerprints() {
    let server = Server::start_with(&["--tls-self-signed"]);
    let now = server_fingerprint(&server);
    // This app accepted another certificate for the same URL earlier.
    let before = "AA:".repeat(31) + "AA";
    let mut profiles = tokenauth_desktop::profiles::Profiles::default();
    profiles.set_pin(&server.url(""), &before);
    let mut app = launch_with(&server, "alice", profiles);
    wait_for(&mut app, "the sign-in screen", |a| {
        has(a, "Password or API token")
    });
    type_into(&mut app, "Password or API token", "alice");
    click(&mut app, "Sign in");
    wait_for(&mut app, "the refusal", |a| {
        has(a, "Forget the accepted certificate")
    });
    assert!(
        has_text(&app, &before) && has_text(&app, &now),
        "both fingerprints shown"
    );
    assert!(!has(&app, "Sign out"), "nothing was signed in");
    assert!(
        !has(&app, "Trust this certificate"),
        "no way around the pin in one click"
    );
}

#[test]
fn a_token_expiring_within_a_week_is_flagged_in_days() {
    let server = Server::start();
    let rt = runtime();
    for (description, days) in [("soon", 5), ("later", 30)] {
        let status = rt.block_on(status_of(
            server
                .req(reqwest::Method::POST, "/rest/tokenauth/1/tokens")
                .header(
                    "Authorization",
                    tokenauth_e2e::basic_header("alice", "alice"),
                )
                .json(&serde_json::json!({
                    "description": description, "scope": "READ_ONLY", "validityDays": days
                })),
        ));
        assert_eq!(status, 201);
    }
    let mut app = signed_in(&server, "alice", "alice");
    wait_for(&mut app, "the token list", |a| has_text(a, "2 tokens"));
    // Whole days, rounded up: a token made just now for 5 days expires "in 5 days".
    assert!(
        has(&app, "Soon: expires in 5 days"),
        "within 7 days: flagged"
    );
    assert!(has(&app, "expires in 30 days"), "further out: plain");
    assert!(!has(&app, "Soon: expires in 30 days"));
}

#[test]
fn rotating_asks_first_shows_the_new_secret_once_and_only_the_new_one_works() {
    let server = Server::start();
    let rt = runtime();
    let old = rt.block_on(server.secret("alice", "READ_ONLY"));
    let mut app = signed_in(&server, "alice", "alice");
    wait_for(&mut app, "the token listed", |a| has_text(a, "1 tokens"));
    click(&mut app, "Rotate");
    assert!(
        has_text(&app, "the old one is refused"),
        "a confirmation first"
    );
    click(&mut app, "Cancel");
    click(&mut app, "Rotate");
    click(&mut app, "Yes, rotate");
    wait_for(&mut app, "the new secret", |a| {
        has_text(a, "shown only once")
    });
    let new = app.get_by_label("Secret").value().unwrap();
    assert!(new.starts_with("tka_") && new != old);
    wait_for(&mut app, "still one token", |a| has_text(a, "1 tokens"));
    let status = |secret: &str| {
        rt.block_on(status_of(server.get_as(
            "/rest/api/2/myself",
            "alice",
            secret,
        )))
    };
    assert_eq!((status(&old), status(&new)), (401, 200));
}

#[test]
fn signed_in_with_a_token_the_app_rotates_it_and_carries_on_with_the_new_one() {
    let server = Server::start();
    let rt = runtime();
    let old = rt.block_on(server.secret("alice", "READ_ONLY"));
    let mut app = signed_in(&server, "alice", &old);
    wait_for(&mut app, "the token listed", |a| has_text(a, "1 tokens"));
    click(&mut app, "Rotate");
    click(&mut app, "Yes, rotate");
    wait_for(&mut app, "the new secret", |a| {
        has_text(a, "shown only once")
    });
    click(&mut app, "Done");
    // The next request goes with the successor: no refusal, the list loads.
    click(&mut app, "Refresh");
    wait_for(&mut app, "the list again", |a| {
        has_text(a, "1 tokens") && !has_text(a, "refused")
    });
    assert!(
        !has_text(&app, "401"),
        "the app did not keep using the old secret"
    );
    assert_eq!(
        rt.block_on(status_of(server.get_as(
            "/rest/api/2/myself",
            "alice",
            &old
        ))),
        401
    );
}

#[test]
fn an_admin_rotates_a_users_token_and_hands_over_the_new_secret() {
    let server = Server::start();
    let rt = runtime();
    let old = rt.block_on(server.secret("bob", "READ_WRITE"));
    let mut app = signed_in(&server, "admin", "admin");
    click(&mut app, "All tokens");
    wait_for(&mut app, "bob's token listed", |a| has_text(a, "1–1 of 1"));
    click(&mut app, "Rotate");
    assert!(has_text(&app, "shown once for you to hand over"));
    click(&mut app, "Yes, rotate");
    wait_for(&mut app, "the rotation", |a| {
        has_text(a, "Rotated bob's token")
    });
    let new = app.get_by_label("Secret").value().unwrap();
    assert!(
        !has(&app, "Save to keychain"),
        "bob's secret is not the admin's to keep"
    );
    let status = |secret: &str| {
        rt.block_on(status_of(server.get_as(
            "/rest/api/2/myself",
            "bob",
            secret,
        )))
    };
    assert_eq!((status(&old), status(&new)), (401, 200));
}

/// A webhook receiver on 127.0.0.1 that answers 200 and hands over the request it got.
fn one_shot_receiver() -> (String, std::sync::mpsc::Receiver<String>) {
    use std::io::{Read as _, Write as _};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        conn.set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .unwrap();
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        while let Ok(n) = conn.read(&mut buf) {
            got.extend_from_slice(&buf[..n]);
            let text = String::from_utf8_lossy(&got);
            if n == 0
                || (text.contains("\r\n\r\n") && text.contains("\"event\"") && text.ends_with('}'))
            {
                break;
            }
        }
        let _ =
            conn.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
        let _ = tx.send(String::from_utf8_lossy(&got).into_owned());
    });
    (url, rx)
}

#[test]
fn an_admin_sets_up_expiry_notices_and_sends_a_test_message() {
    let server = Server::start();
    let (url, received) = one_shot_receiver();
    let mut app = signed_in(&server, "admin", "admin");
    click(&mut app, "Settings");
    wait_for(&mut app, "the settings", |a| has(a, "Webhook URL"));
    app.get_by_label("Webhook URL").scroll_to_me();
    app.step();
    type_into(&mut app, "Webhook URL", &url);
    replace_in(&mut app, "Days before expiry", "14, 3");
    type_into(&mut app, "Signing secret", "a-long-enough-secret");
    app.get_by_label("Set secret").click_accesskit();
    wait_for(&mut app, "the secret set", |a| {
        has_text(a, "Signing secret set.")
    });
    assert!(has_text(&app, "a secret is set"));
    app.get_by_label("Send a test message").click_accesskit();
    wait_for(&mut app, "the test message delivered", |a| {
        has_text(a, "Delivered: the receiver answered HTTP 200")
    });
    let request = received
        .recv_timeout(std::time::Duration::from_secs(5))
        .unwrap();
    assert!(
        request
            .to_ascii_lowercase()
            .contains("x-tokenauth-signature-256: sha256="),
        "{request}"
    );
    app.get_by_label("Save settings").click_accesskit();
    wait_for(&mut app, "saved", |a| has_text(a, "Settings saved"));
    let rt = runtime();
    let saved = rt.block_on(json_of(
        server.admin(reqwest::Method::GET, "/rest/tokenauth/1/admin/settings"),
    ));
    assert_eq!(saved["notifications"]["webhookUrl"], url.as_str());
    assert_eq!(
        saved["notifications"]["daysBefore"],
        serde_json::json!([14, 3])
    );
    // A threshold that is no number is refused before anything is sent.
    replace_in(&mut app, "Days before expiry", "soon");
    assert!(has_text(&app, "each threshold is 1 to 365 days"));
}
