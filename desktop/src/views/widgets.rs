//! Widgets the screens share: messages, the token form, the token table, the secret shown once.

use egui::{Color32, RichText, Ui};
use egui_extras::{Column, TableBuilder};
use tokenauth_core::clock::{Clock, Millis, SystemClock, parse_rfc3339};
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

/// A combo box with its label before it (as in every desktop form), named by that label.
pub fn labelled_combo<R>(
    ui: &mut Ui,
    label: &str,
    selected: impl Into<egui::WidgetText>,
    add_contents: impl FnOnce(&mut Ui) -> R,
) -> egui::Response {
    let l = ui.label(label);
    egui::ComboBox::from_id_salt(label)
        .selected_text(selected)
        .show_ui(ui, add_contents)
        .response
        .labelled_by(l.id)
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

/// Within this many days, the expiry is highlighted: time to make the next token.
pub const EXPIRES_SOON_DAYS: i64 = 7;

const HOUR: i64 = 3_600_000;
const DAY: i64 = 24 * HOUR;

/// `a / b` rounded up, for positive `a` and `b`.
fn up(a: i64, b: i64) -> i64 {
    a.saturating_add(b - 1) / b
}

/// How a token's expiry reads in the list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expiry {
    pub words: String,
    /// Within [`EXPIRES_SOON_DAYS`]: highlighted, and marked in words (not colour alone; the
    /// default fonts have no warning sign to draw).
    pub soon: bool,
    pub expired: bool,
}

/// "never", "expired 2026-11-20 10:00", "expires in 3 hours", "expires in 5 days": days
/// rounded up, so a token just made for 5 days says 5.
pub fn expiry(expires_at: Option<&str>, now: Millis) -> Expiry {
    let plain = |words: String| Expiry {
        words,
        soon: false,
        expired: false,
    };
    let Some(text) = expires_at else {
        return plain("never".into());
    };
    let Some(at) = parse_rfc3339(text) else {
        return plain(short_time(Some(text)));
    };
    let left = at.saturating_sub(now);
    if left <= 0 {
        return Expiry {
            words: format!("expired {}", short_time(Some(text))),
            soon: false,
            expired: true,
        };
    }
    let words = if left < DAY {
        match up(left, HOUR) {
            1 => "expires within the hour".to_owned(),
            h => format!("expires in {h} hours"),
        }
    } else {
        match up(left, DAY) {
            1 => "expires in 1 day".to_owned(),
            d => format!("expires in {d} days"),
        }
    };
    Expiry {
        soon: up(left, DAY) <= EXPIRES_SOON_DAYS,
        words,
        expired: false,
    }
}

/// The Expires cell, with the exact time on hover.
pub fn expiry_cell(ui: &mut Ui, t: &TokenView) {
    let e = expiry(t.expires_at.as_deref(), SystemClock.now());
    let text = if e.expired {
        RichText::new(e.words).color(ERROR)
    } else if e.soon {
        RichText::new(format!("Soon: {}", e.words))
            .color(WARNING)
            .strong()
    } else {
        RichText::new(e.words)
    };
    let r = ui.label(text);
    if let Some(at) = &t.expires_at {
        r.on_hover_text(at);
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

/// `can_save`: `None` for a secret that is not the signed-in user's (no keychain button);
/// `Some(Err(why))` when there is no keychain; `Some(Ok(label))` to offer saving it under the
/// label being typed (empty: the entry the app signs in with).
pub fn fresh_secret(
    ui: &mut Ui,
    token: &TokenView,
    can_save: Option<Result<&mut String, &str>>,
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
                Some(Ok(label)) => {
                    ui.separator();
                    labelled_field(
                        ui,
                        "Keychain label",
                        egui::TextEdit::singleline(label)
                            .hint_text("empty: sign the app in with it")
                            .desired_width(200.0),
                    )
                    .on_hover_text(
                        "a name for scripts: tokenauth get URL --user U --label LABEL; \
                         empty, it becomes the entry this app signs in with",
                    );
                    let checked = if label.trim().is_empty() {
                        Ok(())
                    } else {
                        crate::keychain::check_label(label.trim()).map_err(|e| e.to_string())
                    };
                    let clicked = ui
                        .add_enabled(checked.is_ok(), egui::Button::new("Save to keychain"))
                        .clicked();
                    match checked {
                        Ok(()) if clicked => action = SecretAction::SaveToKeychain,
                        Err(e) => error(ui, &e),
                        Ok(()) => {}
                    }
                }
                Some(Err(why)) => {
                    ui.add_enabled(false, egui::Button::new("Save to keychain"))
                        .on_disabled_hover_text(why.to_owned());
                }
                None => {}
            }
            if ui.button("Done").clicked() {
                action = SecretAction::Done;
            }
        });
    });
    action
}

/// What the token table shows besides each token's own fields.
#[derive(Default)]
pub struct TableExtras<'a> {
    /// The owner's name, in a column of its own (the admin's list of everyone's tokens).
    pub show_user: bool,
    /// Where this machine's keychain holds each token (by token id): the label, or "" for the
    /// entry the app signs in with. `None`: no keychain column.
    pub kept: Option<&'a std::collections::HashMap<String, Vec<String>>>,
}

/// What was clicked in a token's row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowAction {
    Rotate(usize),
    Revoke(usize),
}

/// The tokens as a table; answers the row whose Rotate or Revoke was clicked.
pub fn token_table(
    ui: &mut Ui,
    id: &str,
    tokens: &[TokenView],
    extras: &TableExtras<'_>,
) -> Option<RowAction> {
    let show_user = extras.show_user;
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
            .columns(
                Column::auto().at_least(90.0),
                usize::from(extras.kept.is_some()),
            )
            .column(Column::auto().at_least(130.0))
            .header(22.0, |mut h| {
                if show_user {
                    h.col(|ui| {
                        ui.strong("User");
                    });
                }
                let keychain = extras.kept.map(|_| "In this keychain");
                for t in [
                    Some("Description"),
                    Some("Scope"),
                    Some("Created"),
                    Some("Expires"),
                    Some("Last used"),
                    Some("Last IP"),
                    keychain,
                    Some(""),
                ]
                .into_iter()
                .flatten()
                {
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
                    row.col(|ui| expiry_cell(ui, t));
                    row.col(|ui| {
                        ui.label(short_time(t.last_used_at.as_deref()));
                    });
                    row.col(|ui| {
                        ui.label(t.last_used_ip.as_deref().unwrap_or("—"));
                    });
                    if let Some(kept) = extras.kept {
                        row.col(|ui| {
                            ui.label(kept_words(kept.get(&t.id)));
                        });
                    }
                    row.col(|ui| {
                        if ui
                            .button("Rotate")
                            .on_hover_text(
                                "A new secret in its place: the old one stops working at once",
                            )
                            .clicked()
                        {
                            revoke = Some(RowAction::Rotate(i));
                        }
                        if ui.button("Revoke").clicked() {
                            revoke = Some(RowAction::Revoke(i));
                        }
                    });
                });
            });
    });
    revoke
}

/// Where the keychain holds a token, in words: "label nightly", "sign-in", or "no".
pub fn kept_words(labels: Option<&Vec<String>>) -> String {
    match labels {
        None => "no".into(),
        Some(ls) if ls.is_empty() => "no".into(),
        Some(ls) => ls
            .iter()
            .map(|l| {
                if l.is_empty() {
                    "yes (sign-in)".to_owned()
                } else {
                    format!("yes, label {l}")
                }
            })
            .collect::<Vec<_>>()
            .join("; "),
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use tokenauth_core::clock::to_rfc3339;

    const NOW: Millis = 1_800_000_000_000;

    fn at(ms: Millis) -> String {
        to_rfc3339(NOW + ms)
    }

    #[test]
    fn expiry_reads_in_days_rounded_up_and_is_highlighted_within_a_week() {
        let e = |ms| expiry(Some(&at(ms)), NOW);
        assert_eq!(expiry(None, NOW).words, "never");
        assert_eq!(e(5 * DAY - 1000).words, "expires in 5 days");
        assert!(e(5 * DAY).soon);
        assert!(e(7 * DAY).soon, "seven days is within the week");
        assert!(!e(7 * DAY + HOUR).soon);
        assert_eq!(e(30 * DAY).words, "expires in 30 days");
        assert_eq!(e(DAY).words, "expires in 1 day");
        assert_eq!(e(3 * HOUR).words, "expires in 3 hours");
        assert_eq!(e(10 * 60_000).words, "expires within the hour");
        let gone = e(-HOUR);
        assert!(
            gone.expired && gone.words.starts_with("expired "),
            "{gone:?}"
        );
    }
}
