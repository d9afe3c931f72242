//! Admin: the users — the list with groups, active flag and failed-login count; create one;
//! change display name and groups; set a password; deactivate and reactivate; reset the
//! failed-login counter. A refusal (the app's own check as it is typed, or the server's answer)
//! stands next to the field it is about, not in a banner the admin has to match up.

use std::collections::HashMap;
use std::sync::Arc;

use egui::{RichText, Ui};
use egui_extras::{Column, TableBuilder};
use tokenauth_core::settings::Settings;
use tokenauth_core::user::{validate_display_text, validate_groups, validate_name};

use super::Env;
use super::widgets::{ERROR, WARNING, busy, error, labelled_field, notice};
use crate::api::{NewUser, UserInfo, UserPatch};
use crate::failure::Failure;
use crate::task::{Task, poll};

/// The places a refusal is shown beside.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Field {
    NewName,
    NewDisplayName,
    NewGroups,
    NewPassword,
    DisplayName,
    Groups,
    Password,
    Active,
    FailedLogins,
}

/// What a request was for: where its refusal goes and what to say when it worked.
#[derive(Debug, Clone)]
enum Act {
    Create,
    /// Display name and groups.
    Save,
    Password,
    Active(bool),
    Reset,
}

impl Act {
    /// The fields a new attempt of this request clears.
    fn clears(&self, f: Field) -> bool {
        let new_form = matches!(
            f,
            Field::NewName | Field::NewDisplayName | Field::NewGroups | Field::NewPassword
        );
        matches!(self, Act::Create) == new_form
    }

    /// Where a refusal of this request goes: the field the server names, else the control
    /// that sent it.
    fn field(&self, named: Option<&str>) -> Field {
        let named = named.map(|n| n.split(['[', '.']).next().unwrap_or(n));
        match (self, named) {
            (Act::Create, Some("displayName")) => Field::NewDisplayName,
            (Act::Create, Some("groups")) => Field::NewGroups,
            (Act::Create, Some("password")) => Field::NewPassword,
            (Act::Create, _) => Field::NewName,
            (_, Some("displayName")) => Field::DisplayName,
            (_, Some("groups")) => Field::Groups,
            (_, Some("password")) => Field::Password,
            (Act::Save, _) => Field::DisplayName,
            (Act::Password, _) => Field::Password,
            (Act::Active(_), _) => Field::Active,
            (Act::Reset, _) => Field::FailedLogins,
        }
    }
}

/// A refusal the server would take back with `force` (an admin demoting or deactivating
/// themselves): offered again, confirmed.
#[derive(Debug, Clone)]
struct Forceable {
    user: String,
    patch: UserPatch,
    act: Act,
}

/// The groups as typed: comma-separated, blanks dropped.
pub fn parse_groups(text: &str) -> Vec<String> {
    text.split(',')
        .map(str::trim)
        .filter(|g| !g.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The form of a new user.
#[derive(Debug, Clone, Default)]
pub struct NewUserForm {
    pub name: String,
    pub display_name: String,
    pub groups: String,
    pub password: String,
}

/// The selected user's fields, as being edited.
#[derive(Debug, Clone, Default)]
pub struct UserEdit {
    pub name: String,
    pub display_name: String,
    pub groups: String,
    pub password: String,
}

impl UserEdit {
    fn of(u: &UserInfo) -> Self {
        Self {
            name: u.name.clone(),
            display_name: u.display_name.clone(),
            groups: u.groups.join(", "),
            password: String::new(),
        }
    }
}

#[derive(Default)]
pub struct UsersView {
    loaded: bool,
    pub users: Vec<UserInfo>,
    users_task: Option<Task<Vec<UserInfo>>>,
    /// The failed-login limit, to say who is locked out (from the settings).
    max_failed: Option<u32>,
    settings_task: Option<Task<Settings>>,
    pub new: NewUserForm,
    pub edit: Option<UserEdit>,
    acting: Option<(Act, Task<UserInfo>)>,
    refused: HashMap<Field, String>,
    forceable: Option<Forceable>,
    error: Option<String>,
    notice: Option<String>,
}

impl UsersView {
    pub fn is_busy(&self) -> bool {
        self.users_task.is_some() || self.settings_task.is_some() || self.acting.is_some()
    }

    pub fn reload(&mut self, env: &Env<'_>) {
        let s = Arc::clone(env.session);
        self.users_task = Some(env.bg.spawn(async move { s.api.users().await }));
        let s = Arc::clone(env.session);
        self.settings_task = Some(env.bg.spawn(async move { s.api.settings().await }));
        self.loaded = true;
    }

    fn poll(&mut self) {
        if let Some(r) = poll(&mut self.users_task) {
            match r {
                Ok(u) => self.users = u,
                Err(e) => self.error = Some(e.message),
            }
        }
        if let Some(r) = poll(&mut self.settings_task) {
            // Without the settings the list still works; it just cannot say "locked out".
            self.max_failed = r.ok().map(|s| s.max_failed_logins);
        }
        let Some((act, task)) = &mut self.acting else {
            return;
        };
        let Some(r) = task.poll() else {
            return;
        };
        let act = act.clone();
        self.acting = None;
        match r {
            Ok(user) => self.done(&act, user),
            Err(f) => self.refused_by_server(act, f),
        }
    }

    fn done(&mut self, act: &Act, user: UserInfo) {
        let name = user.name.clone();
        self.notice = Some(match act {
            Act::Create => format!("Created {name}."),
            Act::Save => format!("Saved {name}'s display name and groups."),
            Act::Password => {
                format!("Set {name}'s password; their signed-in sessions have ended.")
            }
            Act::Active(true) => format!("Reactivated {name}."),
            Act::Active(false) => {
                format!("Deactivated {name}: every request as {name} is refused now.")
            }
            Act::Reset => format!("Reset {name}'s failed-login counter."),
        });
        if matches!(act, Act::Create) {
            self.new = NewUserForm::default();
        }
        match self.users.iter_mut().find(|u| u.name == user.name) {
            Some(u) => *u = user.clone(),
            None => self.users.push(user.clone()),
        }
        // The edited user shows what the server now holds (a typed password is cleared).
        self.edit = Some(UserEdit::of(&user));
    }

    fn refused_by_server(&mut self, act: Act, f: Failure) {
        // Not a refusal of the values (no connection, signed out, not an admin): in words on top.
        if !matches!(f.status, Some(400 | 404 | 409)) {
            self.error = Some(f.message);
            return;
        }
        let field = act.field(f.field.as_deref());
        if f.status == Some(409)
            && !matches!(act, Act::Create)
            && let Some(e) = &self.edit
        {
            self.forceable = Some(Forceable {
                user: e.name.clone(),
                patch: self.patch_for(&act),
                act: act.clone(),
            });
        }
        self.refused.insert(field, f.message);
    }

    /// The change `act` sends for the user being edited.
    fn patch_for(&self, act: &Act) -> UserPatch {
        let Some(e) = &self.edit else {
            return UserPatch::default();
        };
        match act {
            Act::Save => UserPatch {
                display_name: Some(e.display_name.trim().to_owned()),
                groups: Some(parse_groups(&e.groups)),
                ..UserPatch::default()
            },
            Act::Password => UserPatch {
                password: Some(e.password.clone()),
                ..UserPatch::default()
            },
            Act::Active(a) => UserPatch {
                active: Some(*a),
                ..UserPatch::default()
            },
            Act::Create | Act::Reset => UserPatch::default(),
        }
    }

    fn start(&mut self, env: &Env<'_>, act: Act, force: bool) {
        self.error = None;
        self.notice = None;
        self.forceable = None;
        self.refused.retain(|f, _| !act.clears(*f));
        let s = Arc::clone(env.session);
        let task = match &act {
            Act::Create => {
                let new = NewUser {
                    name: self.new.name.trim().to_owned(),
                    display_name: self.new.display_name.trim().to_owned(),
                    groups: parse_groups(&self.new.groups),
                    password: Some(self.new.password.clone()).filter(|p| !p.is_empty()),
                };
                env.bg.spawn(async move { s.api.create_user(&new).await })
            }
            Act::Reset => {
                let Some(name) = self.edit.as_ref().map(|e| e.name.clone()) else {
                    return;
                };
                env.bg
                    .spawn(async move { s.api.reset_failed_logins(&name).await })
            }
            _ => {
                let Some(name) = self.edit.as_ref().map(|e| e.name.clone()) else {
                    return;
                };
                let patch = self.patch_for(&act);
                env.bg
                    .spawn(async move { s.api.update_user(&name, &patch, force).await })
            }
        };
        self.acting = Some((act, task));
    }

    fn force(&mut self, env: &Env<'_>) {
        let Some(f) = self.forceable.take() else {
            return;
        };
        self.refused.retain(|k, _| !f.act.clears(*k));
        let s = Arc::clone(env.session);
        let act = f.act.clone();
        let task = env
            .bg
            .spawn(async move { s.api.update_user(&f.user, &f.patch, true).await });
        self.acting = Some((act, task));
    }

    pub fn show(&mut self, ui: &mut Ui, env: &Env<'_>) {
        if !self.loaded {
            self.reload(env);
        }
        self.poll();
        ui.heading("Users of this server");
        ui.horizontal(|ui| {
            ui.strong(format!("{} users", self.users.len()));
            if ui.button("Refresh").clicked() {
                self.reload(env);
            }
            busy(ui, self.is_busy(), "Working…");
        });
        if let Some(e) = &self.error {
            error(ui, e);
        }
        if let Some(n) = &self.notice {
            notice(ui, n);
        }
        let height = (ui.available_height() * 0.45).max(140.0);
        ui.allocate_ui(egui::vec2(ui.available_width(), height), |ui| {
            self.table(ui);
        });
        ui.separator();
        ui.columns(2, |cols| {
            self.edit_panel(&mut cols[0], env);
            self.create_panel(&mut cols[1], env);
        });
    }

    fn locked_out(&self, u: &UserInfo) -> bool {
        self.max_failed
            .is_some_and(|max| max > 0 && u.failed_login_count >= max)
    }

    fn table(&mut self, ui: &mut Ui) {
        let mut picked = None;
        let selected = self.edit.as_ref().map(|e| e.name.clone());
        ui.push_id("users-table", |ui| {
            TableBuilder::new(ui)
                .striped(true)
                .resizable(true)
                .cell_layout(egui::Layout::left_to_right(egui::Align::Center))
                .column(Column::auto().at_least(110.0))
                .column(Column::auto().at_least(160.0).clip(true))
                .column(Column::initial(320.0).at_least(180.0).clip(true))
                .column(Column::auto().at_least(80.0))
                .column(Column::remainder().at_least(180.0))
                .header(22.0, |mut h| {
                    for t in ["User", "Display name", "Groups", "Active", "Failed logins"] {
                        h.col(|ui| {
                            ui.strong(t);
                        });
                    }
                })
                .body(|body| {
                    body.rows(22.0, self.users.len(), |mut row| {
                        let u = &self.users[row.index()];
                        row.col(|ui| {
                            let on = selected.as_deref() == Some(u.name.as_str());
                            if ui
                                .selectable_label(on, &u.name)
                                .on_hover_text("edit this user")
                                .clicked()
                            {
                                picked = Some(u.clone());
                            }
                        });
                        row.col(|ui| {
                            ui.label(&u.display_name);
                        });
                        row.col(|ui| {
                            ui.label(u.groups.join(", "));
                        });
                        row.col(|ui| {
                            if u.active {
                                ui.label("yes");
                            } else {
                                ui.label(RichText::new("deactivated").color(WARNING));
                            }
                        });
                        row.col(|ui| {
                            let n = u.failed_login_count;
                            if self.locked_out(u) {
                                ui.label(
                                    RichText::new(format!("{n}: locked out (CAPTCHA)"))
                                        .color(ERROR),
                                )
                                .on_hover_text(
                                    "password logins are refused until the counter is reset",
                                );
                            } else {
                                ui.label(n.to_string());
                            }
                        });
                    });
                });
        });
        if let Some(u) = picked {
            self.edit = Some(UserEdit::of(&u));
            self.refused.retain(|f, _| Act::Create.clears(*f));
            self.forceable = None;
        }
    }

    /// The refusal for `field`, beside it (the third column of the form's grid).
    fn refusal(&self, ui: &mut Ui, field: Field, checked: Option<String>) {
        match checked.or_else(|| self.refused.get(&field).cloned()) {
            Some(e) => error(ui, &e),
            None => {
                ui.label("");
            }
        }
    }

    fn edit_panel(&mut self, ui: &mut Ui, env: &Env<'_>) {
        let Some(mut e) = self.edit.clone() else {
            ui.label("Choose a user in the list to change them.");
            return;
        };
        let Some(user) = self.users.iter().find(|u| u.name == e.name).cloned() else {
            self.edit = None;
            return;
        };
        ui.strong(format!("Change {}", user.name));
        let running = self.acting.is_some();
        let mut act = None;
        egui::Grid::new("edit-user")
            .num_columns(3)
            // A grid cell offers a text field only last frame's column width: without a
            // floor, the fields stay as narrow as their first frame.
            .min_col_width(210.0)
            .spacing([10.0, 6.0])
            .show(ui, |ui| {
                labelled_field(
                    ui,
                    "New display name",
                    egui::TextEdit::singleline(&mut e.display_name).desired_width(220.0),
                );
                let name_check = validate_display_text("displayName", e.display_name.trim())
                    .err()
                    .map(|v| v.message);
                self.refusal(ui, Field::DisplayName, name_check.clone());
                ui.end_row();

                labelled_field(
                    ui,
                    "New groups",
                    egui::TextEdit::singleline(&mut e.groups)
                        .hint_text("comma-separated")
                        .desired_width(220.0),
                );
                let groups_check = validate_groups(&parse_groups(&e.groups))
                    .err()
                    .map(|v| v.message);
                self.refusal(ui, Field::Groups, groups_check.clone());
                ui.end_row();

                ui.label("");
                let changed = e.display_name.trim() != user.display_name
                    || parse_groups(&e.groups) != user.groups;
                let ok = changed && name_check.is_none() && groups_check.is_none();
                if ui
                    .add_enabled(ok && !running, egui::Button::new("Save changes"))
                    .clicked()
                {
                    act = Some(Act::Save);
                }
                ui.label("");
                ui.end_row();

                labelled_field(
                    ui,
                    "New password",
                    egui::TextEdit::singleline(&mut e.password)
                        .password(true)
                        .desired_width(220.0),
                );
                ui.horizontal(|ui| {
                    if ui
                        .add_enabled(
                            !e.password.is_empty() && !running,
                            egui::Button::new("Set password"),
                        )
                        .on_hover_text("their signed-in sessions end")
                        .clicked()
                    {
                        act = Some(Act::Password);
                    }
                    self.refusal(ui, Field::Password, None);
                });
                ui.end_row();

                ui.label("Active");
                ui.horizontal(|ui| {
                    if user.active {
                        ui.label("yes");
                        if ui
                            .add_enabled(!running, egui::Button::new("Deactivate user"))
                            .on_hover_text(
                                "every request as this user is refused; their tokens stay",
                            )
                            .clicked()
                        {
                            act = Some(Act::Active(false));
                        }
                    } else {
                        ui.label(RichText::new("deactivated").color(WARNING));
                        if ui
                            .add_enabled(!running, egui::Button::new("Reactivate user"))
                            .clicked()
                        {
                            act = Some(Act::Active(true));
                        }
                    }
                    self.refusal(ui, Field::Active, None);
                });
                ui.end_row();

                ui.label("Failed logins");
                ui.horizontal(|ui| {
                    let n = user.failed_login_count;
                    match self.max_failed {
                        Some(max) if max > 0 && n >= max => {
                            ui.label(
                                RichText::new(format!("{n} of {max}: locked out")).color(ERROR),
                            );
                        }
                        Some(max) if max > 0 => {
                            ui.label(format!("{n} of {max}"));
                        }
                        _ => {
                            ui.label(n.to_string());
                        }
                    }
                    if ui
                        .add_enabled(
                            n > 0 && !running,
                            egui::Button::new("Reset failed-login counter"),
                        )
                        .clicked()
                    {
                        act = Some(Act::Reset);
                    }
                    self.refusal(ui, Field::FailedLogins, None);
                });
                ui.end_row();
            });
        if let Some(f) = &self.forceable {
            let what = match f.act {
                Act::Active(false) => "Deactivate anyway",
                _ => "Change anyway",
            };
            ui.horizontal(|ui| {
                ui.label("The server asks for confirmation:");
                if ui.button(what).clicked() {
                    act = None;
                    self.edit = Some(e.clone());
                    self.force(env);
                }
            });
        }
        // A field typed again is no longer the one the server refused.
        if let Some(before) = &self.edit {
            if before.display_name != e.display_name {
                self.refused.remove(&Field::DisplayName);
            }
            if before.groups != e.groups {
                self.refused.remove(&Field::Groups);
            }
            if before.password != e.password {
                self.refused.remove(&Field::Password);
            }
        }
        self.edit = Some(e);
        if let Some(a) = act {
            self.start(env, a, false);
        }
    }

    fn create_panel(&mut self, ui: &mut Ui, env: &Env<'_>) {
        ui.strong("Create a user");
        let running = self.acting.is_some();
        let mut create = false;
        let mut n = self.new.clone();
        egui::Grid::new("new-user")
            .num_columns(3)
            // A grid cell offers a text field only last frame's column width: without a
            // floor, the fields stay as narrow as their first frame.
            .min_col_width(210.0)
            .spacing([10.0, 6.0])
            .show(ui, |ui| {
                labelled_field(
                    ui,
                    "User name",
                    egui::TextEdit::singleline(&mut n.name)
                        .hint_text("the login, e.g. jdoe")
                        .desired_width(200.0),
                );
                let name_check = (!n.name.is_empty())
                    .then(|| validate_name("name", n.name.trim()).err())
                    .flatten()
                    .map(|v| v.message);
                self.refusal(ui, Field::NewName, name_check.clone());
                ui.end_row();

                labelled_field(
                    ui,
                    "Display name of the new user",
                    egui::TextEdit::singleline(&mut n.display_name)
                        .hint_text("empty: the user name")
                        .desired_width(200.0),
                );
                let display_check = validate_display_text("displayName", n.display_name.trim())
                    .err()
                    .map(|v| v.message);
                self.refusal(ui, Field::NewDisplayName, display_check.clone());
                ui.end_row();

                labelled_field(
                    ui,
                    "Groups of the new user",
                    egui::TextEdit::singleline(&mut n.groups)
                        .hint_text("comma-separated, e.g. jira-users")
                        .desired_width(200.0),
                );
                let groups_check = validate_groups(&parse_groups(&n.groups))
                    .err()
                    .map(|v| v.message);
                self.refusal(ui, Field::NewGroups, groups_check.clone());
                ui.end_row();

                labelled_field(
                    ui,
                    "Password of the new user",
                    egui::TextEdit::singleline(&mut n.password)
                        .password(true)
                        .hint_text("optional: tokens only")
                        .desired_width(200.0),
                );
                self.refusal(ui, Field::NewPassword, None);
                ui.end_row();

                ui.label("");
                let ok = !n.name.trim().is_empty()
                    && name_check.is_none()
                    && display_check.is_none()
                    && groups_check.is_none();
                create = ui
                    .add_enabled(ok && !running, egui::Button::new("Create user"))
                    .clicked();
                ui.end_row();
            });
        // A field typed again is no longer the one the server refused.
        if n.name != self.new.name {
            self.refused.remove(&Field::NewName);
        }
        if n.password != self.new.password {
            self.refused.remove(&Field::NewPassword);
        }
        self.new = n;
        if create {
            self.start(env, Act::Create, false);
        }
    }
}
