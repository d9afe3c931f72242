//! The `tokenauth` command line on a real Secret Service (gnome-keyring under
//! `dbus-run-session`, started by `scripts/keychain-test.sh`) against the real stub.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write as _;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use tokenauth_desktop::keychain::Keychain;
use tokenauth_e2e::Server;

const NEEDS: &str = "needs a running, unlocked Secret Service (scripts/keychain-test.sh)";

/// Runs `tokenauth` with `args`, `stdin` on its standard input, and `env` added.
fn tokenauth(args: &[&str], stdin: &str, env: &[(&str, &str)]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tokenauth"))
        .args(args)
        .env_remove("TOKENAUTH_TOKEN")
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A user of its own per test: the keychain is shared by the tests of one run.
fn fresh_user(server: &Server, name: &str) -> String {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let r = rt.block_on(async {
        server
            .admin(reqwest::Method::POST, "/rest/tokenauth/1/admin/users")
            .json(&serde_json::json!({"name": name, "password": "pw-1", "groups": ["jira-users"]}))
            .send()
            .await
    });
    assert_eq!(r.unwrap().status(), 201);
    name.to_owned()
}

#[test]
#[ignore = "needs a running, unlocked Secret Service (scripts/keychain-test.sh)"]
fn login_with_a_password_keeps_a_token_and_get_prints_it_alone() {
    let _ = NEEDS;
    let s = Server::start();
    let user = fresh_user(&s, "cli-carol");
    let url = s.url("");
    let out = tokenauth(&["login", &url, "--user", &user], "pw-1", &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let got = tokenauth(&["get", &url, "--user", &user], "", &[]);
    assert_eq!(got.status.code(), Some(0));
    let secret = text(&got.stdout);
    // Only the secret, and a token (never the password) was kept.
    assert_eq!(secret.lines().count(), 1);
    let secret = secret.trim_end();
    assert!(
        tokenauth_core::token_format::parse(secret).is_ok(),
        "{secret}"
    );
    assert!(!text(&got.stderr).contains(secret));
    // And the server takes it.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let status = rt.block_on(async {
        tokenauth_e2e::status_of(
            s.req(reqwest::Method::GET, "/rest/api/2/myself")
                .header("Authorization", format!("Bearer {secret}")),
        )
        .await
    });
    assert_eq!(status, 200);
    // A token given on standard input is kept as it is.
    let out = tokenauth(
        &["login", &url, "--user", &user, "--label", "given"],
        secret,
        &[],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let got = tokenauth(&["get", &url, "--user", &user, "--label", "given"], "", &[]);
    assert_eq!(text(&got.stdout).trim_end(), secret);
}

#[test]
#[ignore = "needs a running, unlocked Secret Service (scripts/keychain-test.sh)"]
fn rotate_replaces_the_saved_token_and_the_old_secret_stops_working() {
    let s = Server::start();
    let user = fresh_user(&s, "cli-rota");
    let url = s.url("");
    let out = tokenauth(
        &["login", &url, "--user", &user, "--label", "cron"],
        "pw-1",
        &[],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let get = || {
        let o = tokenauth(&["get", &url, "--user", &user, "--label", "cron"], "", &[]);
        text(&o.stdout).trim_end().to_owned()
    };
    let old = get();
    let out = tokenauth(
        &["rotate", &url, "--user", &user, "--label", "cron"],
        "",
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        out.stdout.is_empty(),
        "no secret printed when the keychain took it"
    );
    let new = get();
    assert_ne!(new, old);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let status = |secret: &str| {
        rt.block_on(tokenauth_e2e::status_of(
            s.req(reqwest::Method::GET, "/rest/api/2/myself")
                .header("Authorization", format!("Bearer {secret}")),
        ))
    };
    assert_eq!((status(&old), status(&new)), (401, 200));
    // Nothing saved under another label: exit code 1, nothing rotated.
    let out = tokenauth(
        &["rotate", &url, "--user", &user, "--label", "none"],
        "",
        &[],
    );
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(status(&new), 200);
}

#[test]
#[ignore = "needs a running, unlocked Secret Service (scripts/keychain-test.sh)"]
fn a_wrong_password_keeps_nothing_and_says_so_with_its_exit_code() {
    let s = Server::start();
    let user = fresh_user(&s, "cli-wrong");
    let url = s.url("");
    let out = tokenauth(&["login", &url, "--user", &user], "not-it", &[]);
    assert_eq!(out.status.code(), Some(4), "{}", text(&out.stderr));
    let got = tokenauth(&["get", &url, "--user", &user], "", &[]);
    assert_eq!(got.status.code(), Some(1));
    assert!(
        text(&got.stderr).contains("tokenauth login"),
        "{}",
        text(&got.stderr)
    );
    assert!(got.stdout.is_empty());
}

#[test]
#[ignore = "needs a running, unlocked Secret Service (scripts/keychain-test.sh)"]
fn two_labels_for_one_user_are_kept_apart_and_erased_one_by_one() {
    let s = Server::start();
    let user = fresh_user(&s, "cli-dave");
    let url = s.url("");
    for label in ["nightly", "deploy"] {
        let out = tokenauth(
            &["login", &url, "--user", &user, "--label", label],
            "pw-1",
            &[],
        );
        assert!(out.status.success(), "{}", text(&out.stderr));
    }
    let get = |label: &str| {
        let o = tokenauth(&["get", &url, "--user", &user, "--label", label], "", &[]);
        (o.status.code(), text(&o.stdout).trim_end().to_owned())
    };
    let (nightly, deploy) = (get("nightly"), get("deploy"));
    assert_eq!((nightly.0, deploy.0), (Some(0), Some(0)));
    assert_ne!(nightly.1, deploy.1, "two tokens, not one");
    let listed = text(&tokenauth(&["list", "--offline"], "", &[]).stdout);
    for label in ["nightly", "deploy"] {
        assert!(listed.contains(&format!("{user}\t{label}")), "{listed}");
    }
    assert!(
        !listed.contains(&nightly.1) && !listed.contains(&deploy.1),
        "no secret listed"
    );
    let out = tokenauth(
        &["erase", &url, "--user", &user, "--label", "nightly"],
        "",
        &[],
    );
    assert!(out.status.success());
    assert_eq!(get("nightly").0, Some(1));
    assert_eq!(get("deploy"), deploy, "the other label stays");
}

#[test]
#[ignore = "needs a running, unlocked Secret Service (scripts/keychain-test.sh)"]
fn exec_hands_the_token_to_the_jira_client_in_the_environment_only() {
    let Ok(python) = std::env::var("TOKENAUTH_PYTHON") else {
        panic!("TOKENAUTH_PYTHON: a Python with the jira package (keychain-test.sh sets it)");
    };
    let s = Server::start();
    let user = fresh_user(&s, "cli-erin");
    let url = s.url("");
    assert!(
        tokenauth(&["login", &url, "--user", &user], "pw-1", &[])
            .status
            .success()
    );
    let script = "import os, sys\n\
                  from jira import JIRA\n\
                  me = JIRA(os.environ['JIRA_URL'], token_auth=os.environ['JIRA_API_TOKEN'], max_retries=0).myself()\n\
                  assert os.environ['JIRA_USER'] == me['name'], me\n\
                  assert not any(os.environ['JIRA_API_TOKEN'] in a for a in sys.argv)\n\
                  print('myself', me['name'])";
    let out = tokenauth(
        &["exec", &url, "--user", &user, "--", &python, "-c", script],
        "",
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout).trim(), format!("myself {user}"));
    // The child's exit code is the command's, and --env renames the variables.
    let out = tokenauth(
        &[
            "exec",
            &url,
            "--user",
            &user,
            "--env",
            "token=MY_TOKEN",
            "--",
            "sh",
            "-c",
            "test -n \"$MY_TOKEN\" && test -z \"$JIRA_API_TOKEN\" && exit 7",
        ],
        "",
        &[],
    );
    assert_eq!(out.status.code(), Some(7));
}

#[test]
#[ignore = "needs a running, unlocked Secret Service (scripts/keychain-test.sh)"]
fn tokenauth_token_in_the_environment_wins_over_the_keychain() {
    let s = Server::start();
    let user = fresh_user(&s, "cli-fay");
    let url = s.url("");
    assert!(
        tokenauth(&["login", &url, "--user", &user], "pw-1", &[])
            .status
            .success()
    );
    let got = tokenauth(
        &["get", &url, "--user", &user],
        "",
        &[("TOKENAUTH_TOKEN", "from-the-env")],
    );
    assert_eq!(text(&got.stdout).trim_end(), "from-the-env");
    // Even with nothing in the keychain for that user.
    let got = tokenauth(
        &["get", &url, "--user", "nobody"],
        "",
        &[("TOKENAUTH_TOKEN", "x")],
    );
    assert_eq!(got.status.code(), Some(0));
}

#[test]
#[ignore = "needs a running, unlocked Secret Service (scripts/keychain-test.sh)"]
fn the_app_and_the_command_line_see_each_others_entries() {
    let s = Server::start();
    let user = fresh_user(&s, "cli-gil");
    let url = s.url("");
    // Saved by the app's keychain code ("Remember the secret"), read by the command line.
    let k = Keychain::open().unwrap();
    k.save(&url, &user, "pw-1").unwrap();
    let got = tokenauth(&["get", &url, "--user", &user], "", &[]);
    assert_eq!(text(&got.stdout).trim_end(), "pw-1");
    // Kept by the command line, read by the app's code.
    assert!(
        tokenauth(
            &["login", &url, "--user", &user, "--label", "ci"],
            "pw-1",
            &[]
        )
        .status
        .success()
    );
    let secret = k.get(&url, &user, Some("ci")).unwrap().unwrap();
    assert!(tokenauth_core::token_format::parse(&secret).is_ok());
    assert!(
        k.index()
            .unwrap()
            .iter()
            .any(|e| e.user == user && e.label.as_deref() == Some("ci"))
    );
}

#[test]
#[ignore = "needs a running, unlocked Secret Service (scripts/keychain-test.sh)"]
fn without_a_secret_service_the_message_says_what_is_missing() {
    let s = Server::start();
    let url = s.url("");
    let out = tokenauth(
        &["get", &url, "--user", "alice"],
        "",
        &[("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent/bus")],
    );
    assert_eq!(out.status.code(), Some(3));
    let err = text(&out.stderr);
    assert!(
        err.contains("No keychain available") && err.contains("TOKENAUTH_TOKEN"),
        "{err}"
    );
    assert!(out.stdout.is_empty());
    // login makes no token when it cannot keep one.
    let out = tokenauth(
        &["login", &url, "--user", "alice"],
        "alice",
        &[("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent/bus")],
    );
    assert_eq!(out.status.code(), Some(3));
    let rt = tokio::runtime::Runtime::new().unwrap();
    let tokens = rt.block_on(async {
        tokenauth_e2e::json_of(s.get_as("/rest/tokenauth/1/tokens", "alice", "alice")).await
    });
    assert!(tokens.as_array().unwrap().is_empty(), "{tokens}");
}

/// The process of the Secret Service of this D-Bus session.
fn secret_service_pid() -> Option<String> {
    let out = Command::new("dbus-send")
        .args([
            "--session",
            "--print-reply",
            "--dest=org.freedesktop.DBus",
            "/org/freedesktop/DBus",
            "org.freedesktop.DBus.GetConnectionUnixProcessID",
            "string:org.freedesktop.secrets",
        ])
        .output()
        .ok()?;
    text(&out.stdout)
        .split_whitespace()
        .last()
        .map(str::to_owned)
}

#[test]
#[ignore = "needs a running, unlocked Secret Service (scripts/keychain-test.sh)"]
fn a_keychain_that_does_not_answer_is_the_time_limit_not_a_hang() {
    let s = Server::start();
    let url = s.url("");
    // Make sure the service runs, then stop it: every call to it now waits forever.
    assert!(tokenauth(&["status"], "", &[]).status.success());
    let pid = secret_service_pid().expect("the Secret Service's process");
    Command::new("kill").args(["-STOP", &pid]).status().unwrap();
    let started = Instant::now();
    let out = tokenauth(
        &["get", &url, "--user", "alice"],
        "",
        &[("TOKENAUTH_KEYCHAIN_TIMEOUT", "2")],
    );
    let took = started.elapsed();
    Command::new("kill").args(["-CONT", &pid]).status().unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("did not answer within 2 s"),
        "{}",
        text(&out.stderr)
    );
    assert!(took < Duration::from_secs(10), "took {took:?}");
}

#[test]
#[ignore = "needs a running, unlocked Secret Service (scripts/keychain-test.sh)"]
fn a_locked_collection_is_a_clear_refusal() {
    let s = Server::start();
    let user = fresh_user(&s, "cli-hal");
    let url = s.url("");
    assert!(
        tokenauth(&["login", &url, "--user", &user], "pw-1", &[])
            .status
            .success()
    );
    let lock = |method: &str| {
        Command::new("dbus-send")
            .args([
                "--session",
                "--print-reply",
                "--dest=org.freedesktop.secrets",
                "/org/freedesktop/secrets",
                &format!("org.freedesktop.Secret.Service.{method}"),
                "array:objpath:/org/freedesktop/secrets/collection/login",
            ])
            .output()
            .unwrap()
    };
    assert!(lock("Lock").status.success());
    let started = Instant::now();
    let out = tokenauth(
        &["get", &url, "--user", &user],
        "",
        &[("TOKENAUTH_KEYCHAIN_TIMEOUT", "3")],
    );
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("locked") || text(&out.stderr).contains("did not answer"));
    assert!(started.elapsed() < Duration::from_secs(10));
    // Unlocked again for the other tests: the unlock password is the session's.
    let _ = Command::new("sh")
        .args(["-c", "echo -n tokenauth-ci | gnome-keyring-daemon --unlock --replace --components=secrets >/dev/null"])
        .status();
}

/// The fingerprint of a self-signed stub's certificate, as the stub prints it.
fn printed_fingerprint(s: &Server) -> String {
    use rustls::pki_types::pem::PemObject;
    let pem = s.ca.clone().expect("an HTTPS server");
    let der = rustls::pki_types::CertificateDer::pem_slice_iter(&pem)
        .next()
        .unwrap()
        .unwrap();
    tokenauth_desktop::tls::fingerprint(&der)
}

/// Security review 2, N13: `list --accept-fingerprint FP` pinned FP for every saved server, so a
/// fingerprint given for one self-signed stub re-pinned another server to it.
#[test]
#[ignore = "needs a running, unlocked Secret Service (scripts/keychain-test.sh)"]
fn n13_accept_fingerprint_pins_only_the_server_that_presents_it() {
    let a = Server::start_with(&["--tls-self-signed"]);
    let b = Server::start_with(&["--tls-self-signed"]);
    let (fa, fb) = (printed_fingerprint(&a), printed_fingerprint(&b));
    assert_ne!(fa, fb);
    let (ua, ub) = (a.url(""), b.url(""));
    for (url, fp) in [(&ua, &fa), (&ub, &fb)] {
        let out = tokenauth(
            &[
                "login",
                url,
                "--user",
                "alice",
                "--label",
                "n13",
                "--accept-fingerprint",
                fp,
            ],
            "alice",
            &[],
        );
        assert!(out.status.success(), "{}", text(&out.stderr));
    }
    // A fingerprint that is B's: A keeps its own pin, so A's expiry is still asked and answered.
    let out = tokenauth(&["list", "--accept-fingerprint", &fb], "", &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("n13"));
    let line_of = |listing: &str, url: &str| {
        listing
            .lines()
            .find(|l| l.starts_with(url.trim_end_matches('/')) && l.contains("n13"))
            .map(str::to_owned)
            .unwrap_or_else(|| panic!("{url} not listed: {listing}"))
    };
    let again = tokenauth(&["list"], "", &[]);
    let listing = text(&again.stdout);
    for url in [&ua, &ub] {
        let line = line_of(&listing, url);
        assert!(
            !line.contains("not answering") && !line.contains("certificate"),
            "{line}"
        );
    }
    // A fingerprint no saved server presents pins nothing and says so.
    let wrong = "AA:".repeat(31) + "AA";
    let out = tokenauth(&["list", "--accept-fingerprint", &wrong], "", &[]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("nothing pinned"),
        "{}",
        text(&out.stderr)
    );
    // --server names the one it is for; another's fingerprint for it is refused.
    let out = tokenauth(
        &["list", "--accept-fingerprint", &fb, "--server", &ua],
        "",
        &[],
    );
    assert!(!out.status.success(), "B's fingerprint accepted for A");
    assert!(
        text(&out.stderr).contains("nothing pinned"),
        "{}",
        text(&out.stderr)
    );
    let line = line_of(&text(&tokenauth(&["list"], "", &[]).stdout), &ua);
    assert!(!line.contains("not answering"), "{line}");
    for (label, url) in [("n13", &ua), ("n13", &ub)] {
        let _ = tokenauth(
            &["erase", url, "--user", "alice", "--label", label],
            "",
            &[],
        );
    }
}
