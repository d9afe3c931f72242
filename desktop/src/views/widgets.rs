//! Widgets the screens share: messages, the token form, the token table, the secret shown once.

use egui::{Color32, RichText, Ui};
use egui_extras::{Column, TableBuilder};
use tokenauth_core::clock::{Clock, SystemClock, parse_rfc3339};
use tokenauth_core::scope::Scope;
use tokenauth_core::token::{TokenView, validate_description};

use crate::api::{NewToken, Validity};

pub const ERROR: Color32 = Color32::from_rgb(0xd0, 0x3a, 0x3a);
pub const WARNING: Color32 = Color32::from_rgb(0xc8, 0x8a, 0x10);
pub const OK: Color32 = Color32::from_rgb(0x2f, 0x9a, 0x4a);

pub fn error(ui: &mut Ui, text: &str) {
    ui.label(RichText::new(text).color(ERROR));
}

pub fn warning(ui: &mut Ui, text: &str) {
    ui.label(RichText::new(format!("Warning: {text}")).color(WARNING));
}

pub fn notice(ui: &mut Ui, text: &str) {
    ui.label(RichText::new(text).color(OK));
}

/// A text field with its label before it, named by that label (for screen readers and tests).
pub fn labelled_field(ui: &mut Ui, label: &str, edit: egui::TextEdit<'_>) -> egui::Response {
    let l = ui.label(label);
    ui.add(edit).labelled_by(l.id)
}

/// Whether Enter was pressed in the field.
pub fn submitted(ui: &Ui, field: &egui::Response) -> bool {
    field.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter))
}

/// A spinner with words while background work runs.
pub fn busy(ui: &mut Ui, running: bool, what: &str) {
    if running {
        ui.horizontal(|ui| {
            ui.spinner();
            ui.label(what);
        });
    }
}

/// An RFC 3339 time as a short local-free display: `2026-11-25 04:12`.
pub fn short_time(t: Option<&str>) -> String {
    match t {
        None => "—".into(),
        Some(t) => {
            let t = t.replace('T', " ");
            t.get(..16).map_or(t.clone(), str::to_owned)
        }
    }
}

pub fn is_expired(t: &TokenView) -> bool {
    t.expires_at
        .as_deref()
        .and_then(parse_rfc3339)
        .is_some_and(|at| at <= SystemClock.now())
}

pub fn scope_label(s: Scope) -> &'static str {
    match s {
        Scope::ReadOnly => "Read Only",
        Scope::ReadWrite => "Read & Write",
    }
}

/// The fields of a new token. Checked with core's rules before anything is sent.
#[derive(Debug, Clone)]
pub struct TokenForm {
    pub description: String,
    pub scope: Scope,
    pub days: u32,
    pub never: bool,
}

impl Default for TokenForm {
    fn default() -> Self {
        Self {
            description: String::new(),
            scope: Scope::ReadOnly,
            days: 90,
            never: false,
        }
    }
}

/// What the server allows for the token being made.
pub struct FormRules {
    pub max_days: u32,
    pub allow_never: bool,
    pub read_only: bool,
}

impl TokenForm {
    pub fn request(&self, rules: &FormRules) -> Result<NewToken, String> {
        let description =
            validate_description("description", &self.description).map_err(|e| e.message)?;
        if rules.read_only && self.scope != Scope::ReadOnly {
            return Err("tokens you make yourself are always Read Only on this server".into());
        }
        let validity = if self.never && rules.allow_never {
            Validity::Never
        } else if (1..=rules.max_days).contains(&self.days) {
            Validity::Days(self.days)
        } else {
            return Err(format!("validity must be 1 to {} days", rules.max_days));
        };
        Ok(NewToken {
            description,
            scope: self.scope,
            validity,
        })
    }

    /// Draws the form; answers the request when the create button was clicked on valid input.
    pub fn show(
        &mut self,
        ui: &mut Ui,
        rules: &FormRules,
        button: &str,
        running: bool,
    ) -> Option<NewToken> {
        if rules.read_only {
            self.scope = Scope::ReadOnly;
        }
        self.days = self.days.clamp(1, rules.max_days.max(1));
        if !rules.allow_never {
            self.never = false;
        }
        egui::Grid::new(ui.next_auto_id())
            .num_columns(2)
            .spacing([12.0, 6.0])
            .show(ui, |ui| {
                labelled_field(
                    ui,
                    "Token description",
                    egui::TextEdit::singleline(&mut self.description)
                        .hint_text("what the token is for, e.g. CI backup job")
                        .desired_width(320.0),
                );
                ui.end_row();

                ui.label("Scope");
                ui.horizontal(|ui| {
                    ui.radio_value(&mut self.scope, Scope::ReadOnly, "Read Only")
                        .on_hover_text("GET, HEAD and OPTIONS only");
                    ui.add_enabled_ui(!rules.read_only, |ui| {
                        ui.radio_value(&mut self.scope, Scope::ReadWrite, "Read & Write")
                            .on_hover_text("every method")
                            .on_disabled_hover_text(
                                "this server makes tokens you create yourself Read Only",
                            );
                    });
                });
                ui.end_row();

                let l = ui.label("Valid for (days)");
                ui.horizontal(|ui| {
                    ui.add_enabled(
                        !self.never,
                        egui::DragValue::new(&mut self.days).range(1..=rules.max_days.max(1)),
                    )
                    .labelled_by(l.id);
                    ui.label(format!("at most {}", rules.max_days));
                    if rules.allow_never {
                        ui.checkbox(&mut self.never, "Never expires");
                    }
                });
                ui.end_row();
            });
        let checked = self.request(rules);
        let mut out = None;
        ui.horizontal(|ui| {
            let clicked = ui
                .add_enabled(checked.is_ok() && !running, egui::Button::new(button))
                .clicked();
            if running {
                ui.spinner();
            }
            match &checked {
                Ok(req) if clicked => out = Some(req.clone()),
                Err(e) if !self.description.is_empty() => error(ui, e),
                _ => {}
            }
        });
        out
    }
}

/// A new secret, shown this once.
pub enum SecretAction {
    None,
    Copy,
    SaveToKeychain,
    Done,
}

pub fn fresh_secret(
    ui: &mut Ui,
    token: &TokenView,
    can_save: Option<Result<(), &str>>,
) -> SecretAction {
    let mut action = SecretAction::None;
    egui::Frame::group(ui.style()).show(ui, |ui| {
        ui.label(
            RichText::new(format!(
                "New token \u{201c}{}\u{201d} for {}: copy it now, it is shown only once",
                token.description, token.user
            ))
            .strong(),
        );
        let mut secret = token.token.clone().unwrap_or_default();
        labelled_field(
            ui,
            "Secret",
            // Shown, not editable or selectable: it leaves only through "Copy to clipboard",
            // which clears it from the clipboard again.
            egui::TextEdit::singleline(&mut secret)
                .font(egui::TextStyle::Monospace)
                .interactive(false)
                .desired_width(f32::INFINITY),
        );
        ui.horizontal(|ui| {
            if ui.button("Copy to clipboard").clicked() {
                action = SecretAction::Copy;
            }
            match can_save {
                Some(Ok(()))
                    if ui
                        .button("Save to keychain")
                        .on_hover_text("sign in with this token from now on")
                        .clicked() =>
                {
                    action = SecretAction::SaveToKeychain;
                }
                Some(Err(why)) => {
                    ui.add_enabled(false, egui::Button::new("Save to keychain"))
                        .on_disabled_hover_text(why.to_owned());
                }
                _ => {}
            }
            if ui.button("Done").clicked() {
                action = SecretAction::Done;
            }
        });
    });
    action
}

/// The tokens as a table; answers the index of the token whose Revoke was clicked.
pub fn token_table(ui: &mut Ui, id: &str, tokens: &[TokenView], show_user: bool) -> Option<usize> {
    let mut revoke = None;
    ui.push_id(id, |ui| {
        let mut table = TableBuilder::new(ui)
            .striped(true)
            .resizable(true)
            .cell_layout(egui::Layout::left_to_right(egui::Align::Center));
        if show_user {
            table = table.column(Column::auto().at_least(70.0));
        }
        table
            .column(Column::remainder().at_least(160.0).clip(true))
            .columns(Column::auto().at_least(80.0), 5)
            .column(Column::auto().at_least(60.0))
            .header(22.0, |mut h| {
                if show_user {
                    h.col(|ui| {
                        ui.strong("User");
                    });
                }
                for t in [
                    "Description",
                    "Scope",
                    "Created",
                    "Expires",
                    "Last used",
                    "Last IP",
                    "",
                ] {
                    h.col(|ui| {
                        ui.strong(t);
                    });
                }
            })
            .body(|body| {
                body.rows(22.0, tokens.len(), |mut row| {
                    let i = row.index();
                    let t = &tokens[i];
                    if show_user {
                        row.col(|ui| {
                            ui.label(&t.user);
                        });
                    }
                    row.col(|ui| {
                        ui.label(&t.description)
                            .on_hover_text(format!("id {} · created by {}", t.id, t.created_by));
                    });
                    row.col(|ui| {
                        ui.label(scope_label(t.scope));
                    });
                    row.col(|ui| {
                        ui.label(short_time(Some(&t.created_at)));
                    });
                    row.col(|ui| match &t.expires_at {
                        None => {
                            ui.label("never");
                        }
                        Some(at) if is_expired(t) => {
                            ui.label(
                                RichText::new(format!("expired {}", short_time(Some(at))))
                                    .color(ERROR),
                            );
                        }
                        Some(at) => {
                            ui.label(short_time(Some(at)));
                        }
                    });
                    row.col(|ui| {
                        ui.label(short_time(t.last_used_at.as_deref()));
                    });
                    row.col(|ui| {
                        ui.label(t.last_used_ip.as_deref().unwrap_or("—"));
                    });
                    row.col(|ui| {
                        if ui.button("Revoke").clicked() {
                            revoke = Some(i);
                        }
                    });
                });
            });
    });
    revoke
}

/// A yes/no question in a modal window; `Some(true)` when confirmed.
pub fn confirm(ui: &mut Ui, id: &str, question: &str, yes: &str) -> Option<bool> {
    let mut answer = None;
    let modal = egui::Modal::new(ui.make_persistent_id(id)).show(ui.ctx(), |ui| {
        ui.set_max_width(420.0);
        ui.label(question);
        ui.add_space(8.0);
        ui.horizontal(|ui| {
            if ui.button(yes).clicked() {
                answer = Some(true);
            }
            if ui.button("Cancel").clicked() {
                answer = Some(false);
            }
        });
    });
    if modal.should_close() && answer.is_none() {
        answer = Some(false);
    }
    answer
}
