//! Admin: the settings form. Each IP entry is checked with core's parser as it is typed; the
//! whole form is checked with core's `Settings::validate` before anything is sent; a refusal
//! from the server is shown next to the field it names.

use std::collections::BTreeSet;
use std::sync::Arc;

use egui::{RichText, Ui};
use tokenauth_core::ip::parse_entry;
use tokenauth_core::permission::GroupRule;
use tokenauth_core::settings::Settings;
use tokenauth_core::validation::ValidationError;

use super::Env;
use super::widgets::{ERROR, busy, error, labelled_field, notice, warning};
use crate::api::UserInfo;
use crate::failure::Failure;
use crate::task::{Task, poll};

#[derive(Default)]
pub struct SettingsView {
    loaded: bool,
    pub original: Option<Settings>,
    pub draft: Settings,
    known_groups: BTreeSet<String>,
    /// The permission groups as typed, comma-separated.
    groups_text: [String; 3],
    loading: Option<Task<(Settings, Vec<UserInfo>)>>,
    saving: Option<Task<Settings>>,
    /// The server's refusal, shown next to the field it names.
    refused: Option<Failure>,
    /// A 409 from the anti-lockout rules: saving again needs `force`.
    lockout: Option<String>,
    error: Option<String>,
    notice: Option<String>,
    /// Expiry notices: the thresholds as typed ("7, 1").
    days_text: String,
    /// Whether the server holds a signing secret (`None`: not known yet).
    secret_set: Option<bool>,
    secret_task: Option<Task<bool>>,
    /// A new signing secret as typed; sent on its own, never shown again.
    pub new_secret: String,
    setting_secret: Option<Task<()>>,
    testing: Option<Task<String>>,
    /// What the last test message came to, or why the secret was not set.
    notice_result: Option<Result<String, String>>,
}

/// Why the IP entry at hand is not valid, from core's parser.
pub fn entry_problem(text: &str) -> Option<String> {
    if text.trim().is_empty() {
        return Some("enter an address or range, or remove the line".into());
    }
    parse_entry(text).err()
}

/// An editor for a list of IP entries: each checked with core's parser as it is typed.
fn ip_list(
    ui: &mut Ui,
    list: &mut Vec<String>,
    refused: Option<&Failure>,
    field: &str,
    [title, entry_label, help]: [&str; 3],
) {
    ui.strong(title);
    ui.label(help);
    let mut remove = None;
    for (i, entry) in list.iter_mut().enumerate() {
        ui.horizontal(|ui| {
            labelled_field(
                ui,
                &format!("{entry_label} {}", i + 1),
                egui::TextEdit::singleline(entry).desired_width(220.0),
            );
            if ui.small_button("Remove").clicked() {
                remove = Some(i);
            }
            match entry_problem(entry) {
                Some(p) => {
                    ui.label(RichText::new(p).color(ERROR));
                }
                None => {
                    ui.label(RichText::new("valid").color(super::widgets::OK));
                }
            }
        });
    }
    if let Some(i) = remove {
        list.remove(i);
    }
    if ui
        .button(format!("Add {}", entry_label.to_lowercase()))
        .clicked()
    {
        list.push(String::new());
    }
    if let Some(r) = refused.filter(|r| r.field.as_deref().is_some_and(|f| f.starts_with(field))) {
        ui.label(RichText::new(format!("Server: {}", r.message)).color(ERROR));
    }
}

fn split_groups(text: &str) -> Vec<String> {
    text.split(',')
        .map(str::trim)
        .filter(|g| !g.is_empty())
        .map(str::to_owned)
        .collect()
}

impl SettingsView {
    pub fn is_busy(&self) -> bool {
        self.loading.is_some()
            || self.saving.is_some()
            || self.secret_task.is_some()
            || self.setting_secret.is_some()
            || self.testing.is_some()
    }

    pub fn reload(&mut self, env: &Env<'_>) {
        let s = Arc::clone(env.session);
        self.loading = Some(env.bg.spawn(async move {
            let settings = s.api.settings().await?;
            let users = s.api.users().await?;
            Ok((settings, users))
        }));
        let s = Arc::clone(env.session);
        self.secret_task = Some(env.bg.spawn(async move { s.api.notice_secret_set().await }));
        self.loaded = true;
    }

    fn adopt(&mut self, s: Settings) {
        let p = &s.permissions;
        self.groups_text = [
            p.use_tokens.groups.join(", "),
            p.create_own_tokens.groups.join(", "),
            p.create_tokens_for_others.groups.join(", "),
        ];
        self.days_text = s
            .notifications
            .days_before
            .iter()
            .map(u32::to_string)
            .collect::<Vec<_>>()
            .join(", ");
        self.draft = s.clone();
        self.original = Some(s);
    }

    /// The first problem of the whole form, as core sees it.
    pub fn problem(&self) -> Option<ValidationError> {
        self.draft.validate(&self.known_groups).err()
    }

    fn poll(&mut self) {
        if let Some(r) = poll(&mut self.loading) {
            match r {
                Ok((s, users)) => {
                    self.known_groups = users
                        .iter()
                        .flat_map(|u| u.groups.iter().map(|g| g.to_lowercase()))
                        .collect();
                    self.adopt(s);
                }
                Err(e) => self.error = Some(e.message),
            }
        }
        if let Some(r) = poll(&mut self.saving) {
            match r {
                Ok(s) => {
                    self.adopt(s);
                    self.refused = None;
                    self.lockout = None;
                    self.notice = Some("Settings saved.".into());
                }
                Err(e) if e.status == Some(409) => self.lockout = Some(e.message),
                Err(e) => {
                    self.error = Some(format!("The server refused the settings: {}", e.message));
                    self.refused = Some(e);
                }
            }
        }
    }

    fn save(&mut self, env: &Env<'_>, force: bool) {
        self.error = None;
        self.notice = None;
        self.refused = None;
        self.lockout = None;
        let (s, draft) = (Arc::clone(env.session), self.draft.clone());
        let base = self.original.clone().unwrap_or_default();
        self.saving = Some(
            env.bg
                .spawn(async move { s.api.put_settings(&base, &draft, force).await }),
        );
    }

    /// A message for `field` (or one of its entries): the local check's, else the server's.
    fn field_message(&self, field: &str) -> Option<String> {
        let names = |f: &str| {
            f == field || f.starts_with(&format!("{field}[")) || f.starts_with(&format!("{field}."))
        };
        if let Some(p) = self.problem().filter(|p| names(&p.field)) {
            return Some(p.message);
        }
        self.refused
            .as_ref()
            .filter(|r| r.field.as_deref().is_some_and(names))
            .map(|r| r.message.clone())
    }

    fn show_field_message(&self, ui: &mut Ui, field: &str) {
        if let Some(m) = self.field_message(field) {
            ui.label(RichText::new(m).color(ERROR));
        }
    }

    pub fn show(&mut self, ui: &mut Ui, env: &Env<'_>) {
        if !self.loaded {
            self.reload(env);
        }
        self.poll();
        ui.heading("Settings");
        if self.original.is_none() {
            busy(ui, self.loading.is_some(), "Loading the settings…");
            if let Some(e) = &self.error {
                error(ui, e);
            }
            return;
        }
        egui::ScrollArea::vertical()
            .auto_shrink([false, false])
            .max_height(ui.available_height() - 70.0)
            .show(ui, |ui| {
                self.form(ui);
                ui.separator();
                self.notices(ui, env);
            });
        ui.separator();
        self.footer(ui, env);
    }

    fn form(&mut self, ui: &mut Ui) {
        ip_list(
            ui,
            &mut self.draft.ip_allow_list,
            self.refused.as_ref(),
            "ipAllowList",
            [
                "IP allow-list",
                "Allowed address",
                "Addresses and CIDR ranges (IPv4 or IPv6) that may authenticate, with tokens and passwords alike. Empty: every address.",
            ],
        );
        if !self.draft.ip_allow_list.is_empty() {
            warning(
                ui,
                "Make sure your own address is in the list: the server refuses a change that locks you out unless you insist.",
            );
        }
        ui.add_space(8.0);
        ip_list(
            ui,
            &mut self.draft.trusted_proxies,
            self.refused.as_ref(),
            "trustedProxies",
            [
                "Trusted proxies",
                "Trusted proxy",
                "Proxies whose X-Forwarded-For is believed.",
            ],
        );
        ui.separator();

        ui.strong("Authentication");
        ui.checkbox(
            &mut self.draft.password_auth_enabled,
            "Allow Basic auth with regular passwords",
        );
        if self.draft.password_auth_enabled && self.draft.audit.failed_token_attempts {
            // Option 2a only exists while passwords are off (SPEC section 2).
            self.draft.audit.failed_token_attempts = false;
        }
        ui.horizontal(|ui| {
            let l = ui.label("Maximum token validity (days)");
            ui.add(egui::DragValue::new(&mut self.draft.max_token_validity_days).range(1..=3650))
                .labelled_by(l.id);
        });
        self.show_field_message(ui, "maxTokenValidityDays");
        ui.checkbox(
            &mut self.draft.allow_non_expiring_tokens,
            "Allow tokens that never expire",
        );
        ui.horizontal(|ui| {
            let l = ui.label("Tokens per user, at most");
            ui.add(
                egui::DragValue::new(&mut self.draft.max_tokens_per_user)
                    .range(1..=tokenauth_core::settings::MAX_TOKENS_PER_USER_LIMIT),
            )
            .labelled_by(l.id);
        });
        self.show_field_message(ui, "maxTokensPerUser");
        ui.horizontal(|ui| {
            let l = ui.label("Failed logins before CAPTCHA (0 = off)");
            ui.add(egui::DragValue::new(&mut self.draft.max_failed_logins).range(0..=100))
                .labelled_by(l.id);
        });
        ui.horizontal(|ui| {
            let mut limited = self.draft.rate_limit_per_minute.is_some();
            ui.checkbox(&mut limited, "Rate limit per user");
            if limited {
                let v = self.draft.rate_limit_per_minute.get_or_insert(600);
                ui.add(
                    egui::DragValue::new(v)
                        .range(1..=1_000_000)
                        .suffix(" per minute"),
                );
            } else {
                self.draft.rate_limit_per_minute = None;
            }
        });
        ui.separator();

        ui.strong("Permissions");
        egui::Grid::new("permissions")
            .num_columns(3)
            .show(ui, |ui| {
                for (i, (title, field)) in [
                    ("Use tokens", "permissions.useTokens"),
                    (
                        "Create tokens for themselves",
                        "permissions.createOwnTokens",
                    ),
                    (
                        "Create tokens for other users",
                        "permissions.createTokensForOthers",
                    ),
                ]
                .into_iter()
                .enumerate()
                {
                    let p = &mut self.draft.permissions;
                    let rule: &mut GroupRule = match i {
                        0 => &mut p.use_tokens,
                        1 => &mut p.create_own_tokens,
                        _ => &mut p.create_tokens_for_others,
                    };
                    let title_label = ui.label(title);
                    let text = &mut self.groups_text[i];
                    ui.horizontal(|ui| {
                        ui.checkbox(&mut rule.everyone, "everyone");
                        ui.label("or groups");
                        let r = ui
                            .add_enabled_ui(!rule.everyone, |ui| {
                                ui.add_sized(
                                    [260.0, 20.0],
                                    egui::TextEdit::singleline(text)
                                        .hint_text("jira-users, developers"),
                                )
                            })
                            .inner
                            .labelled_by(title_label.id);
                        if r.changed() {
                            rule.groups = split_groups(text);
                        }
                    });
                    if let Some(m) = self.field_message(field) {
                        ui.label(RichText::new(m).color(ERROR));
                    }
                    ui.end_row();
                }
            });
        ui.checkbox(
            &mut self.draft.permissions.force_read_only_own_tokens,
            "Tokens users make for themselves are always Read Only",
        );
        ui.separator();

        ui.strong("Audit events");
        ui.label(
            "Creating and deleting tokens is always audited. Each event is also one log line.",
        );
        let a = &mut self.draft.audit;
        ui.checkbox(
            &mut a.successful_authentication,
            "(1) Successful authentication",
        );
        if a.successful_authentication {
            warning(
                ui,
                "One event and one log line per authenticated request: on a busy server the log grows by every API call.",
            );
        }
        let passwords = self.draft.password_auth_enabled;
        ui.add_enabled(
            !passwords,
            egui::Checkbox::new(
                &mut a.failed_token_attempts,
                "(2a) Failed API-token attempts",
            ),
        );
        if passwords {
            ui.label(
                RichText::new(
                    "(2a) is only available while Basic auth with passwords is disabled: with passwords on, a wrong token cannot be told from a wrong password. Use (2b).",
                )
                .italics(),
            );
        }
        ui.checkbox(
            &mut a.all_failed_attempts,
            "(2b) All failed authentication attempts",
        );
        if a.all_failed_attempts {
            warning(
                ui,
                "Every wrong password, scanner and brute-force attempt adds an event and a log line.",
            );
        }
        ui.checkbox(
            &mut a.permission_denied,
            "(3) Permission denied (Read Only token on a write)",
        );
        ui.horizontal(|ui| {
            let l = ui.label("Keep events for (days)");
            ui.add(egui::DragValue::new(&mut a.retention_days).range(1..=3650))
                .labelled_by(l.id);
            let l = ui.label("and at most");
            ui.add(
                egui::DragValue::new(&mut a.max_events)
                    .range(1..=1_000_000_000)
                    .suffix(" events"),
            )
            .labelled_by(l.id);
        });
        self.show_field_message(ui, "audit");
    }

    /// Expiry notices: the webhook and thresholds (saved with the settings), the signing secret
    /// (set on its own, never shown), and a test message to the URL as typed.
    fn notices(&mut self, ui: &mut Ui, env: &Env<'_>) {
        if let Some(r) = poll(&mut self.secret_task) {
            self.secret_set = r.ok();
        }
        if let Some(r) = poll(&mut self.setting_secret) {
            self.notice_result = Some(match r {
                Ok(()) => {
                    self.secret_set = Some(true);
                    Ok("Signing secret set.".into())
                }
                Err(e) => Err(format!("Signing secret not set: {}", e.message)),
            });
        }
        if let Some(r) = poll(&mut self.testing) {
            self.notice_result = Some(r.map_err(|e| e.message));
        }
        ui.strong("Expiry notices");
        ui.label(
            "Before a token expires, the server POSTs a JSON message to this URL, once per \
             threshold, signed with HMAC-SHA256 of the body in X-Tokenauth-Signature-256.",
        );
        let n = &mut self.draft.notifications;
        let mut url = n.webhook_url.clone().unwrap_or_default();
        egui::Grid::new("notices")
            .num_columns(2)
            .min_col_width(210.0)
            .show(ui, |ui| {
                let l = ui.label("Webhook URL");
                ui.add(egui::TextEdit::singleline(&mut url).desired_width(360.0))
                    .labelled_by(l.id);
                ui.end_row();
                let l = ui.label("Days before expiry");
                ui.add(egui::TextEdit::singleline(&mut self.days_text).desired_width(120.0))
                    .labelled_by(l.id);
                ui.end_row();
            });
        let trimmed = url.trim();
        n.webhook_url = (!trimmed.is_empty()).then(|| trimmed.to_owned());
        // A threshold that is not a number shows as 0, which core's check names.
        n.days_before = self
            .days_text
            .split(',')
            .map(str::trim)
            .filter(|d| !d.is_empty())
            .map(|d| d.parse().unwrap_or(0))
            .collect();
        self.show_field_message(ui, "notifications");
        ui.horizontal(|ui| {
            let l = ui.label("Signing secret");
            ui.add(
                egui::TextEdit::singleline(&mut self.new_secret)
                    .password(true)
                    .desired_width(240.0),
            )
            .labelled_by(l.id);
            let ok = tokenauth_core::notify::validate_secret(&self.new_secret).is_ok();
            if ui
                .add_enabled(
                    ok && self.setting_secret.is_none(),
                    egui::Button::new("Set secret"),
                )
                .clicked()
            {
                let (s, secret) = (
                    Arc::clone(env.session),
                    std::mem::take(&mut self.new_secret),
                );
                self.setting_secret = Some(
                    env.bg
                        .spawn(async move { s.api.set_notice_secret(&secret).await }),
                );
            }
            ui.label(match self.secret_set {
                Some(true) => "a secret is set",
                Some(false) => "no secret yet: nothing is sent",
                None => "",
            });
        });
        ui.horizontal(|ui| {
            let url = self.draft.notifications.webhook_url.clone();
            if ui
                .add_enabled(
                    url.is_some() && self.testing.is_none(),
                    egui::Button::new("Send a test message"),
                )
                .clicked()
            {
                let s = Arc::clone(env.session);
                self.notice_result = None;
                self.testing = Some(
                    env.bg
                        .spawn(async move { s.api.test_notice(url.as_deref()).await }),
                );
            }
            busy(ui, self.testing.is_some(), "Sending…");
            match &self.notice_result {
                Some(Ok(m)) => notice(ui, m),
                Some(Err(m)) => error(ui, m),
                None => {}
            }
        });
    }

    fn footer(&mut self, ui: &mut Ui, env: &Env<'_>) {
        let problem = self.problem();
        let changed = self.original.as_ref() != Some(&self.draft);
        ui.horizontal(|ui| {
            let can_save = problem.is_none() && changed && self.saving.is_none();
            if ui
                .add_enabled(can_save, egui::Button::new("Save settings"))
                .clicked()
            {
                self.save(env, false);
            }
            if ui
                .add_enabled(changed, egui::Button::new("Discard changes"))
                .clicked()
                && let Some(o) = self.original.clone()
            {
                self.adopt(o);
                self.refused = None;
            }
            if ui.button("Reload").clicked() {
                self.reload(env);
            }
            busy(ui, self.saving.is_some(), "Saving…");
            match &problem {
                Some(p) => error(ui, &format!("Not sent: {}: {}", p.field, p.message)),
                None if !changed => {
                    ui.label("No changes.");
                }
                None => {}
            }
        });
        if let Some(why) = self.lockout.clone() {
            ui.horizontal(|ui| {
                error(ui, &format!("The server refused: {why}"));
                if ui.button("Save anyway").clicked() {
                    self.save(env, true);
                }
            });
        }
        if let Some(e) = &self.error {
            error(ui, e);
        }
        if let Some(n) = &self.notice {
            notice(ui, n);
        }
    }
}
