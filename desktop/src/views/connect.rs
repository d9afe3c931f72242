//! Signing in: server URL, user, and the secret typed or taken from the keychain.

use std::sync::Arc;

use egui::Ui;
use tokenauth_core::token_format::{self, TokenFormatError};

use super::widgets::{busy, error, labelled_field, notice, submitted, warning};
use crate::api::Api;
use crate::failure::Failure;
use crate::keychain::Keychain;
use crate::profiles::{Profiles, normalize_url};
use crate::session::Session;
use crate::task::{Background, Task, poll};

#[derive(Default)]
pub struct ConnectView {
    pub url: String,
    pub user: String,
    pub secret: String,
    pub remember: bool,
    signing_in: Option<Task<Session>>,
    lookup: Option<Task<Option<String>>>,
    saving: Option<Task<()>>,
    pub error: Option<String>,
    pub info: Option<String>,
    /// Sign in as soon as the keychain lookup brings a secret.
    pub auto_sign_in: bool,
}

/// What the secret field holds, in words, using core's token format.
pub fn secret_kind(secret: &str) -> Option<Result<String, String>> {
    if secret.is_empty() {
        return None;
    }
    Some(match token_format::parse(secret) {
        Ok(t) => Ok(format!("an API token (id {})", t.id.as_str())),
        Err(TokenFormatError::Prefix) => Ok("a password".into()),
        Err(e) => Err(format!("this looks like an API token, but it {e}")),
    })
}

pub enum KeychainStatus<'a> {
    Opening,
    Ready(&'a Arc<Keychain>),
    Unavailable(&'a str),
}

impl ConnectView {
    pub fn new(url: String, user: String, secret: String) -> Self {
        Self {
            url,
            user,
            secret,
            ..Self::default()
        }
    }

    pub fn is_busy(&self) -> bool {
        self.signing_in.is_some() || self.lookup.is_some() || self.saving.is_some()
    }

    /// The outcome of "Remember the secret in the keychain", which ends after sign-in; the app
    /// shows it in its header.
    pub fn poll_saving(&mut self) {
        if let Some(r) = poll(&mut self.saving) {
            match r {
                Ok(()) => self.info = Some("Secret saved in the keychain.".into()),
                Err(e) => self.error = Some(format!("not saved in the keychain: {e}")),
            }
        }
    }

    /// Looks the secret for the typed server and user up in the keychain.
    pub fn look_up(&mut self, bg: &Background, keychain: &Arc<Keychain>) {
        let (k, url, user) = (Arc::clone(keychain), self.url.clone(), self.user.clone());
        if url.trim().is_empty() || user.trim().is_empty() {
            return;
        }
        self.lookup = Some(bg.spawn_blocking(move || k.secret(&url, &user)));
    }

    pub fn sign_in(&mut self, bg: &Background) {
        self.error = None;
        match Api::new(&self.url, &self.user, &self.secret) {
            Ok(api) => self.signing_in = Some(bg.spawn(Session::sign_in(api))),
            Err(e) => self.error = Some(e.message),
        }
    }

    /// Draws the screen; answers the new session once sign-in succeeded.
    pub fn show(
        &mut self,
        ui: &mut Ui,
        bg: &Background,
        profiles: &mut Profiles,
        keychain: KeychainStatus<'_>,
    ) -> Option<Session> {
        let mut signed_in = None;
        if let Some(r) = poll(&mut self.lookup) {
            match r {
                Ok(Some(s)) => {
                    self.secret = s;
                    self.info = Some("Secret taken from the keychain.".into());
                    if std::mem::take(&mut self.auto_sign_in) {
                        self.sign_in(bg);
                    }
                }
                Ok(None) => {
                    self.auto_sign_in = false;
                    self.info = Some(format!(
                        "The keychain holds no secret for {} at {}.",
                        self.user.trim(),
                        normalize_url(&self.url)
                    ));
                }
                Err(e) => {
                    self.auto_sign_in = false;
                    self.error = Some(e.message);
                }
            }
        }
        self.poll_saving();
        if let Some(r) = poll(&mut self.signing_in) {
            match r {
                Ok(session) => {
                    self.info = None;
                    self.error = None;
                    profiles.remember(&self.url, &self.user);
                    if self.remember
                        && let KeychainStatus::Ready(k) = &keychain
                    {
                        let (k, url, user, secret) = (
                            Arc::clone(k),
                            self.url.clone(),
                            self.user.clone(),
                            self.secret.clone(),
                        );
                        self.saving = Some(bg.spawn_blocking(move || k.save(&url, &user, &secret)));
                    }
                    signed_in = Some(session);
                }
                Err(Failure { message, .. }) => self.error = Some(message),
            }
        }

        ui.heading("Sign in to a tokenauth server");
        ui.add_space(8.0);
        if !profiles.list.is_empty() {
            ui.horizontal(|ui| {
                ui.label("Saved servers");
                let mut chosen = None;
                let mut forget = None;
                egui::ComboBox::from_id_salt("profiles")
                    .selected_text("choose…")
                    .show_ui(ui, |ui| {
                        for (i, p) in profiles.list.iter().enumerate() {
                            if ui.selectable_label(false, p.label()).clicked() {
                                chosen = Some(i);
                            }
                        }
                    });
                if let Some(p) = profiles.list.iter().position(|p| {
                    p.url == normalize_url(&self.url)
                        && p.user.eq_ignore_ascii_case(self.user.trim())
                }) && ui.button("Forget this server").clicked()
                {
                    forget = Some(p);
                }
                if let Some(i) = chosen
                    && let Some(p) = profiles.list.get(i)
                {
                    self.url = p.url.clone();
                    self.user = p.user.clone();
                    self.secret.clear();
                    self.info = None;
                    if let KeychainStatus::Ready(k) = &keychain {
                        self.look_up(bg, k);
                    }
                }
                if let Some(i) = forget {
                    profiles.forget(i);
                }
            });
        }
        egui::Grid::new("connect")
            .num_columns(2)
            .spacing([12.0, 8.0])
            .show(ui, |ui| {
                labelled_field(
                    ui,
                    "Server URL",
                    egui::TextEdit::singleline(&mut self.url)
                        .hint_text("http://127.0.0.1:2990")
                        .desired_width(320.0),
                );
                ui.end_row();
                labelled_field(
                    ui,
                    "User",
                    egui::TextEdit::singleline(&mut self.user).desired_width(320.0),
                );
                ui.end_row();
                let r = labelled_field(
                    ui,
                    "Password or API token",
                    egui::TextEdit::singleline(&mut self.secret)
                        .password(true)
                        .desired_width(320.0),
                );
                if submitted(ui, &r) {
                    self.sign_in(bg);
                }
                ui.end_row();
            });
        match secret_kind(&self.secret) {
            Some(Ok(kind)) => {
                ui.label(format!("The secret is {kind}."));
            }
            Some(Err(why)) => warning(ui, &why),
            None => {}
        }
        ui.add_space(6.0);
        match &keychain {
            KeychainStatus::Opening => busy(ui, true, "Opening the keychain…"),
            KeychainStatus::Ready(k) => {
                ui.horizontal(|ui| {
                    if ui
                        .add_enabled(
                            self.lookup.is_none(),
                            egui::Button::new("Use secret from keychain"),
                        )
                        .clicked()
                    {
                        self.look_up(bg, k);
                    }
                    ui.checkbox(&mut self.remember, "Remember the secret in the keychain");
                });
            }
            KeychainStatus::Unavailable(why) => warning(ui, why),
        }
        ui.add_space(6.0);
        ui.horizontal(|ui| {
            if ui
                .add_enabled(self.signing_in.is_none(), egui::Button::new("Sign in"))
                .clicked()
            {
                self.sign_in(bg);
            }
            busy(ui, self.signing_in.is_some(), "Signing in…");
            busy(ui, self.lookup.is_some(), "Reading the keychain…");
        });
        if let Some(e) = &self.error {
            error(ui, e);
        }
        if let Some(i) = &self.info {
            notice(ui, i);
        }
        signed_in
    }
}
