//! The admin's Users screen and the audit event details, driven headless (egui_kittest)
//! against a real tokenauth-stub: SPEC section 7's user administration.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use egui_kittest::kittest::{NodeT, Queryable};
use tokenauth_e2e::{Server, json_of, status_of};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Runtime::new().unwrap()
}

/// `user`'s answer from the server with `password` (200, or 401/403 when refused).
fn password_status(server: &Server, user: &str, password: &str) -> u16 {
    runtime()
        .block_on(async { status_of(server.get_as("/rest/api/2/myself", user, password)).await })
}

fn user_json(server: &Server, name: &str) -> serde_json::Value {
    let all = runtime().block_on(async {
        json_of(server.admin(reqwest::Method::GET, "/rest/tokenauth/1/admin/users")).await
    });
    all.as_array()
        .unwrap()
        .iter()
        .find(|u| u["name"] == name)
        .cloned()
        .unwrap_or_else(|| panic!("{name} not in {all}"))
}

/// Opens the Users screen and picks `name` in the list.
fn edit_user(app: &mut App, name: &str) {
    click(app, "Users");
    wait_for(app, "the user list", |a| {
        has_text(a, "3 users") || has_text(a, "4 users")
    });
    app.get_by_role_and_label(egui::accesskit::Role::Button, name)
        .click();
    app.step();
    app.step();
    wait_for(app, "the user's form", |a| {
        has_text(a, &format!("Change {name}"))
    });
}

/// The screen rectangle of the node labelled `label` (or, with `part`, containing it).
fn rect(app: &App, label: &str, part: bool) -> egui::accesskit::Rect {
    let node = if part {
        app.query_all_by_label_contains(label).next()
    } else {
        app.query_by_label(label)
    }
    .unwrap_or_else(|| panic!("no node {label}"));
    node.accesskit_node().bounding_box().expect("a drawn node")
}

/// Whether the message containing `message` is drawn on the same line as, and right of, the
/// control labelled `control`.
fn beside(app: &App, control: &str, message: &str) -> bool {
    let (c, m) = (rect(app, control, false), rect(app, message, true));
    let same_line = m.y0 < c.y1 && c.y0 < m.y1;
    same_line && m.x0 >= c.x1 - 1.0
}

#[test]
fn an_admin_resets_a_locked_out_users_failed_login_counter() {
    let server = Server::start();
    // Three wrong passwords: bob's own password is refused from now on (the CAPTCHA limit).
    for _ in 0..3 {
        assert_eq!(password_status(&server, "bob", "wrong"), 401);
    }
    assert_ne!(password_status(&server, "bob", "bob"), 200, "locked out");

    let mut app = signed_in(&server, "admin", "admin");
    edit_user(&mut app, "bob");
    assert!(
        has(&app, "3: locked out (CAPTCHA)"),
        "the list says who is locked out"
    );
    assert!(has(&app, "3 of 3: locked out"));
    click(&mut app, "Reset failed-login counter");
    wait_for(&mut app, "the reset", |a| {
        has_text(a, "Reset bob's failed-login counter")
    });
    assert!(has(&app, "0 of 3"));
    assert_eq!(user_json(&server, "bob")["failedLoginCount"], 0);
    assert_eq!(
        password_status(&server, "bob", "bob"),
        200,
        "bob is back in"
    );
}

#[test]
fn an_admin_creates_a_user_renames_them_changes_groups_and_sets_a_password() {
    let server = Server::start();
    let mut app = signed_in(&server, "admin", "admin");
    click(&mut app, "Users");
    wait_for(&mut app, "the user list", |a| has_text(a, "3 users"));
    type_into(&mut app, "User name", "carol");
    type_into(&mut app, "Display name of the new user", "Carol C");
    type_into(&mut app, "Groups of the new user", "jira-users, qa");
    type_into(&mut app, "Password of the new user", "first-pw");
    click(&mut app, "Create user");
    wait_for(&mut app, "carol created", |a| has_text(a, "Created carol."));
    assert!(has_text(&app, "4 users"));
    let carol = user_json(&server, "carol");
    assert_eq!(carol["displayName"], "Carol C");
    assert_eq!(carol["groups"], serde_json::json!(["jira-users", "qa"]));
    assert_eq!(password_status(&server, "carol", "first-pw"), 200);

    // The new user is the one being edited.
    replace_in(&mut app, "New display name", "Carol Client");
    replace_in(&mut app, "New groups", "jira-users");
    click(&mut app, "Save changes");
    wait_for(&mut app, "the change", |a| {
        has_text(a, "Saved carol's display name and groups")
    });
    let carol = user_json(&server, "carol");
    assert_eq!(carol["displayName"], "Carol Client");
    assert_eq!(carol["groups"], serde_json::json!(["jira-users"]));

    type_into(&mut app, "New password", "second-pw");
    click(&mut app, "Set password");
    wait_for(&mut app, "the password", |a| {
        has_text(a, "Set carol's password")
    });
    assert_eq!(password_status(&server, "carol", "second-pw"), 200);
    assert_eq!(password_status(&server, "carol", "first-pw"), 401);
    assert_eq!(
        app.get_by_label("New password").value().as_deref(),
        Some(""),
        "the typed password is not kept in the form"
    );
}

#[test]
fn a_deactivated_user_is_refused_until_reactivated() {
    let server = Server::start();
    let mut app = signed_in(&server, "admin", "admin");
    edit_user(&mut app, "alice");
    click(&mut app, "Deactivate user");
    wait_for(&mut app, "the deactivation", |a| {
        has_text(a, "Deactivated alice")
    });
    assert!(has_text(&app, "deactivated"));
    assert_eq!(password_status(&server, "alice", "alice"), 401);
    click(&mut app, "Reactivate user");
    wait_for(&mut app, "the reactivation", |a| {
        has_text(a, "Reactivated alice.")
    });
    assert_eq!(password_status(&server, "alice", "alice"), 200);
}

#[test]
fn each_refusal_stands_next_to_the_field_it_is_about() {
    let server = Server::start();
    let mut app = signed_in(&server, "admin", "admin");
    click(&mut app, "Users");
    wait_for(&mut app, "the user list", |a| has_text(a, "3 users"));

    // The app's own check, as it is typed: nothing can be sent.
    type_into(&mut app, "User name", "a:b");
    assert!(beside(&app, "User name", "must not contain ':'"));
    assert!(
        app.get_by_label("Create user")
            .accesskit_node()
            .is_disabled()
    );

    // The server's refusal of a name that exists.
    replace_in(&mut app, "User name", "bob");
    click(&mut app, "Create user");
    wait_for(&mut app, "the conflict", |a| has_text(a, "already exists"));
    assert!(beside(&app, "User name", "already exists"));

    // A password the server refuses (longer than it hashes).
    replace_in(&mut app, "User name", "dave");
    type_into(&mut app, "Password of the new user", &"p".repeat(1100));
    click(&mut app, "Create user");
    wait_for(&mut app, "the password refusal", |a| {
        has_text(a, "1 to 1024 bytes")
    });
    assert!(beside(&app, "Password of the new user", "1 to 1024 bytes"));
    assert!(!has_text(&app, "Created dave"));

    // An admin deactivating themselves is asked to confirm, next to the control.
    edit_user(&mut app, "admin");
    click(&mut app, "Deactivate user");
    wait_for(&mut app, "the server's question", |a| {
        has(a, "Deactivate anyway")
    });
    assert!(beside(
        &app,
        "Deactivate user",
        "would remove your own admin rights"
    ));
    assert_eq!(
        user_json(&server, "admin")["active"],
        true,
        "nothing changed yet"
    );
}

#[test]
fn an_audit_row_opens_the_whole_event_with_values_before_and_after() {
    let server = Server::start();
    let mut app = signed_in(&server, "admin", "admin");
    edit_user(&mut app, "bob");
    replace_in(&mut app, "New display name", "Robert Example");
    click(&mut app, "Save changes");
    wait_for(&mut app, "the change", |a| {
        has_text(a, "Saved bob's display name")
    });
    runtime().block_on(server.settle());

    click(&mut app, "Audit log");
    wait_for(&mut app, "the events", |a| has(a, "Details"));
    // Filtered to user changes, bob's rename is the one row; it opens the event.
    let filter = "User changed";
    open_combo(&mut app, "Action");
    choose(&mut app, filter);
    click(&mut app, "Apply filters");
    wait_for(&mut app, "the filtered events", |a| {
        a.query_all_by_label("Details").count() == 1
    });
    click(&mut app, "Details");
    wait_for(&mut app, "the event window", |a| {
        has_text(a, "Audit event ")
    });
    for field in [
        "Event id",
        "Time (UTC)",
        "Category",
        "Author",
        "Affected user",
        "Client IP",
    ] {
        assert!(has(&app, field), "{field} shown");
    }
    assert!(has(&app, "Before") && has(&app, "After"));
    assert!(has(&app, "displayName"));
    assert!(has(&app, "Bob Example"), "the value before");
    assert!(has(&app, "Robert Example"), "the value after");
    click(&mut app, "Close");
    assert!(!has_text(&app, "Audit event "));
}
