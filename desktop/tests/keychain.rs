//! The OS keychain for real: Secret Service (gnome-keyring) on Linux. These need a running,
//! unlocked keychain, so they are ignored by default; `scripts/keychain-test.sh` starts one
//! under `dbus-run-session` and runs them (as `.ci/run` does).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use egui_kittest::kittest::Queryable;
use tokenauth_desktop::KeychainChoice;
use tokenauth_desktop::keychain::Keychain;
use tokenauth_e2e::Server;

fn unique_server() -> String {
    format!(
        "http://127.0.0.1:{}/keychain-test-{}",
        std::process::id() % 60000,
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    )
}

#[test]
#[ignore = "needs a running, unlocked Secret Service (scripts/keychain-test.sh)"]
fn a_secret_is_saved_read_back_and_forgotten() {
    let k = Keychain::open().expect("a keychain is running");
    let server = unique_server();
    assert_eq!(k.secret(&server, "alice").unwrap(), None);
    k.save(&server, "alice", "tka_not_a_real_token").unwrap();
    assert_eq!(
        k.secret(&format!("{server}/"), "ALICE").unwrap().as_deref(),
        Some("tka_not_a_real_token"),
        "the same server and user, typed differently, is one entry"
    );
    k.save(&server, "alice", "replaced").unwrap();
    assert_eq!(
        k.secret(&server, "alice").unwrap().as_deref(),
        Some("replaced")
    );
    k.forget(&server, "alice").unwrap();
    assert_eq!(k.secret(&server, "alice").unwrap(), None);
    k.forget(&server, "alice").unwrap();
}

#[test]
#[ignore = "needs a running, unlocked Secret Service (scripts/keychain-test.sh)"]
fn a_token_saved_to_the_keychain_signs_the_app_in_next_time() {
    let server = Server::start();
    let mut app = launch(&server, "admin", KeychainChoice::System);
    wait_for(&mut app, "the keychain", |a| a.state().keychain_ready());
    sign_in(&mut app, "admin");
    type_into(&mut app, "Token description", "desktop app");
    click(&mut app, "Create token");
    wait_for(&mut app, "the new secret", |a| has(a, "Save to keychain"));
    let secret = app.get_by_label("Secret").value().unwrap();
    click(&mut app, "Save to keychain");
    wait_for(&mut app, "saved", |a| has_text(a, "Saved in the keychain"));
    click(&mut app, "Sign out");
    drop(app);

    // A new start: the secret comes from the keychain, not from typing.
    let mut app = launch(&server, "admin", KeychainChoice::System);
    wait_for(&mut app, "the keychain's secret", |a| {
        has_text(a, "Secret taken from the keychain")
    });
    assert_eq!(app.state().connect.secret, secret);
    click(&mut app, "Sign in");
    wait_for(&mut app, "signed in with the token", |a| has(a, "Sign out"));
    let k = Keychain::open().unwrap();
    k.forget(&server.url(""), "admin").unwrap();
}

#[test]
#[ignore = "needs a running, unlocked Secret Service (scripts/keychain-test.sh)"]
fn remember_at_sign_in_keeps_the_typed_secret_for_the_next_start() {
    let server = Server::start();
    let mut app = launch(&server, "alice", KeychainChoice::System);
    wait_for(&mut app, "the keychain", |a| a.state().keychain_ready());
    wait_for(&mut app, "the lookup", |a| has_text(a, "holds no secret"));
    click(&mut app, "Remember the secret in the keychain");
    sign_in(&mut app, "alice");
    wait_for(&mut app, "the save", |a| {
        has_text(a, "Secret saved in the keychain")
    });
    drop(app);
    let k = Keychain::open().unwrap();
    assert_eq!(
        k.secret(&server.url(""), "alice").unwrap().as_deref(),
        Some("alice")
    );
    k.forget(&server.url(""), "alice").unwrap();
}

/// Finding L6: the keychain's secret for server A must never go to a URL typed afterwards. The
/// other "server" is a listener that records whatever reaches it.
#[test]
#[ignore = "needs a running, unlocked Secret Service (scripts/keychain-test.sh)"]
fn l6_the_keychain_secret_of_one_server_never_goes_to_another_url() {
    use std::io::Read;
    let server = Server::start();
    let k = Keychain::open().unwrap();
    k.save(&server.url(""), "alice", "alice").unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let elsewhere = format!("http://{}", listener.local_addr().unwrap());

    let mut app = launch(&server, "alice", KeychainChoice::System);
    wait_for(&mut app, "the keychain's secret", |a| {
        has_text(a, "Secret taken from the keychain")
    });
    assert_eq!(app.state().connect.secret, "alice");
    replace_in(&mut app, "Server URL", &elsewhere);
    assert!(
        app.state().connect.secret.is_empty(),
        "cleared with the URL"
    );
    click(&mut app, "Sign in");
    std::thread::sleep(std::time::Duration::from_millis(300));
    app.step();
    // Nothing reached the other address, or at least no credentials did.
    let mut received = Vec::new();
    while let Ok((mut conn, _)) = listener.accept() {
        conn.set_nonblocking(false).unwrap();
        conn.set_read_timeout(Some(std::time::Duration::from_millis(500)))
            .unwrap();
        let mut buf = [0u8; 4096];
        let n = conn.read(&mut buf).unwrap_or(0);
        received.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&received).to_lowercase();
    assert!(!text.contains("authorization"), "{text}");
    k.forget(&server.url(""), "alice").unwrap();
}

/// A loopback proxy that holds each connection `delay` before passing it on to `to`: a slow
/// server, so the fields can be edited while a sign-in is on its way.
fn slow_proxy(to: std::net::SocketAddr, delay: std::time::Duration) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for client in listener.incoming().flatten() {
            std::thread::spawn(move || {
                std::thread::sleep(delay);
                let Ok(server) = std::net::TcpStream::connect(to) else {
                    return;
                };
                let (mut c2, mut s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
                std::thread::spawn(move || {
                    let _ = std::io::copy(&mut c2, &mut s2);
                });
                let (mut s, mut c) = (server, client);
                let _ = std::io::copy(&mut s, &mut c);
            });
        }
    });
    url
}

/// The secret saved at sign-in is saved for the server it was sent to, even when the URL field
/// was edited while the answer was on its way (else it would later be sent to that other URL).
#[test]
#[ignore = "needs a running, unlocked Secret Service (scripts/keychain-test.sh)"]
fn l6_a_secret_remembered_at_sign_in_is_saved_for_the_server_it_went_to() {
    let server = Server::start();
    let slow = slow_proxy(server.addr(), std::time::Duration::from_millis(800));
    let elsewhere = "http://127.0.0.1:9";
    let mut app = launch(&server, "alice", KeychainChoice::System);
    wait_for(&mut app, "the keychain", |a| a.state().keychain_ready());
    replace_in(&mut app, "Server URL", &slow);
    type_into(&mut app, "Password or API token", "alice");
    click(&mut app, "Remember the secret in the keychain");
    click(&mut app, "Sign in");
    replace_in(&mut app, "Server URL", elsewhere);
    wait_for(&mut app, "signed in", |a| has(a, "Sign out"));
    wait_for(&mut app, "the save", |a| {
        has_text(a, "Secret saved in the keychain")
    });
    let k = Keychain::open().unwrap();
    assert_eq!(k.secret(&slow, "alice").unwrap().as_deref(), Some("alice"));
    assert_eq!(k.secret(elsewhere, "alice").unwrap(), None);
    k.forget(&slow, "alice").unwrap();
}

fn cli(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_tokenauth"))
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap()
}

#[test]
#[ignore = "needs a running, unlocked Secret Service (scripts/keychain-test.sh)"]
fn a_token_saved_under_a_label_is_listed_as_kept_and_a_script_gets_it_from_the_cli() {
    let server = Server::start();
    let url = server.url("");
    let mut app = launch(&server, "alice", KeychainChoice::System);
    wait_for(&mut app, "the keychain", |a| a.state().keychain_ready());
    sign_in(&mut app, "alice");
    type_into(&mut app, "Token description", "nightly report");
    click(&mut app, "Create token");
    wait_for(&mut app, "the new secret", |a| has(a, "Save to keychain"));
    let secret = app.get_by_label("Secret").value().unwrap();
    type_into(&mut app, "Keychain label", "nightly");
    click(&mut app, "Save to keychain");
    wait_for(&mut app, "saved under the label", |a| {
        has_text(a, "Saved in the keychain as")
    });
    // The list says which of alice's tokens this machine holds, and under which label.
    wait_for(&mut app, "the token marked as kept", |a| {
        has(a, "yes, label nightly")
    });

    // The CLI reads the entry the app wrote: a script gets the secret alone.
    let got = cli(&["get", &url, "--user", "alice", "--label", "nightly"]);
    assert_eq!(
        got.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&got.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&got.stdout).trim_end(), secret);

    // Rotated in the app: the labelled entry gets the successor, so the script carries on.
    click(&mut app, "Done");
    click(&mut app, "Rotate");
    assert!(
        has_text(&app, "will hold the new one"),
        "the entry is named"
    );
    click(&mut app, "Yes, rotate");
    wait_for(&mut app, "the entry re-keyed", |a| {
        has_text(a, "now holds the new one")
    });
    let rotated = app.get_by_label("Secret").value().unwrap();
    assert_ne!(rotated, secret);
    let got = cli(&["get", &url, "--user", "alice", "--label", "nightly"]);
    assert_eq!(String::from_utf8_lossy(&got.stdout).trim_end(), rotated);

    // And the app sees what the CLI erased.
    let erased = cli(&["erase", &url, "--user", "alice", "--label", "nightly"]);
    assert_eq!(erased.status.code(), Some(0));
    click(&mut app, "Done");
    click(&mut app, "Refresh");
    wait_for(&mut app, "the token no longer kept", |a| has(a, "no"));
    assert!(!has(&app, "yes, label nightly"));
}

#[test]
#[ignore = "needs a running, unlocked Secret Service (scripts/keychain-test.sh)"]
fn entries_saved_at_the_same_moment_are_all_in_the_index() {
    // The app and scripts share one index entry; writers racing must not drop each other.
    let server = unique_server();
    let writers: Vec<_> = (0..6)
        .map(|i| {
            let server = server.clone();
            std::thread::spawn(move || {
                let k = Keychain::open().unwrap();
                k.put(&server, "alice", Some(&format!("job{i}")), "tka_not_real")
                    .unwrap();
            })
        })
        .collect();
    for w in writers {
        w.join().unwrap();
    }
    let k = Keychain::open().unwrap();
    let mut labels: Vec<String> = k
        .index()
        .unwrap()
        .into_iter()
        .filter(|s| s.url == tokenauth_desktop::profiles::normalize_url(&server))
        .filter_map(|s| s.label)
        .collect();
    labels.sort();
    assert_eq!(
        labels,
        (0..6).map(|i| format!("job{i}")).collect::<Vec<_>>()
    );
    for i in 0..6 {
        k.remove(&server, "alice", Some(&format!("job{i}")))
            .unwrap();
    }
}
