//! Driving the real app headless against a real `tokenauth-stub` on 127.0.0.1:0.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use tokenauth_desktop::{DesktopApp, KeychainChoice, Launch};
use tokenauth_e2e::Server;

pub type App = Harness<'static, DesktopApp>;

pub fn launch(server: &Server, user: &str, keychain: KeychainChoice) -> App {
    let launch = Launch {
        url: Some(server.url("")),
        user: Some(user.to_owned()),
        keychain,
        ..Launch::default()
    };
    Harness::builder()
        .with_size([1280.0, 1000.0])
        .build_eframe(move |cc| DesktopApp::from_creation(cc, launch).expect("app starts"))
}

/// Steps the app in real time until `done` holds; background requests answer meanwhile.
pub fn wait_for(app: &mut App, what: &str, done: impl Fn(&App) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        app.step();
        if done(app) {
            app.step();
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    // What the screen said instead, so a failure explains itself.
    let shown: Vec<String> = app
        .query_all_by(|_| true)
        .filter_map(|n| {
            let n = egui_kittest::kittest::NodeT::accesskit_node(&n);
            n.label().or_else(|| n.value()).filter(|t| !t.is_empty())
        })
        .collect();
    panic!("timed out waiting for: {what}; the screen shows: {shown:?}");
}

pub fn type_into(app: &mut App, label: &str, text: &str) {
    app.get_by_label(label).focus();
    app.step();
    app.get_by_label(label).type_text(text);
    app.step();
    app.step();
}

/// Replaces a field's text: select all, then type.
pub fn replace_in(app: &mut App, label: &str, text: &str) {
    app.get_by_label(label).focus();
    app.step();
    app.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::A);
    app.step();
    app.get_by_label(label).type_text(text);
    app.step();
    app.step();
}

/// Clicks, then lets the app draw what the click changed (it shows on the next frame).
pub fn click(app: &mut App, label: &str) {
    app.get_by_label(label).click();
    app.step();
    app.step();
}

pub fn has(app: &App, label: &str) -> bool {
    app.query_all_by_label(label).next().is_some()
}

pub fn has_text(app: &App, part: &str) -> bool {
    app.query_all_by_label_contains(part).next().is_some()
}

/// Signs in through the sign-in screen's widgets.
pub fn sign_in(app: &mut App, secret: &str) {
    wait_for(app, "the sign-in screen", |a| {
        has(a, "Password or API token")
    });
    type_into(app, "Password or API token", secret);
    click(app, "Sign in");
    wait_for(app, "signed in", |a| has(a, "Sign out"));
}

pub fn signed_in(server: &Server, user: &str, secret: &str) -> App {
    let mut app = launch(server, user, KeychainChoice::Off);
    sign_in(&mut app, secret);
    app
}

/// Picks an entry of the open combo box (not a table cell with the same text).
pub fn choose(app: &mut App, option: &str) {
    // The pointer moves there a frame before it presses, as a hand would.
    app.get_by_role_and_label(egui::accesskit::Role::Button, option)
        .hover();
    app.step();
    app.get_by_role_and_label(egui::accesskit::Role::Button, option)
        .click();
    app.step();
    app.step();
}

/// Opens the drop-down named `label` (a table header may carry the same word).
pub fn open_combo(app: &mut App, label: &str) {
    app.get_by_role_and_label(egui::accesskit::Role::ComboBox, label)
        .click();
    app.step();
    app.step();
}
