//! Signing in: server URL, user, and the secret typed or taken from the keychain.

use std::sync::Arc;

use egui::Ui;
use tokenauth_core::token_format::{self, TokenFormatError};
use tokenauth_core::user::user_key;

use super::widgets::{busy, error, labelled_field, notice, submitted, warning};
use crate::api::{Api, cleartext_host};
use crate::failure::Failure;
use crate::keychain::Keychain;
use crate::profiles::{Profiles, normalize_url};
use crate::session::Session;
use crate::task::{Background, Task, poll};
use crate::tls::{self, CertProblem, Presented, Trust};

/// Which server and user a secret taken from the keychain belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Owner {
    url: String,
    user: String,
}

impl Owner {
    fn of(url: &str, user: &str) -> Self {
        Self {
            url: normalize_url(url),
            user: user_key(user.trim()),
        }
    }
}

#[derive(Default)]
pub struct ConnectView {
    pub url: String,
    pub user: String,
    pub secret: String,
    pub remember: bool,
    /// The user's consent to send the secret to this host over plain HTTP (reset when the URL
    /// changes).
    pub cleartext_ok: Option<String>,
    /// Set while `secret` was not typed but given for one server and user (by the keychain, or
    /// `TOKENAUTH_SECRET` with `--url`): it is sent to that server only, and cleared as soon as
    /// the URL or the user changes (finding L6).
    given_for: Option<Owner>,
    /// The server, user and secret of the sign-in under way: what is remembered and saved once
    /// it succeeds, whatever the fields hold by then.
    sent: Option<(String, String, String)>,
    /// Certificates of a `--ca-file`, trusted besides the platform's.
    pub ca: Vec<Vec<u8>>,
    /// The server's certificate was refused at the last sign-in (for this URL).
    cert_problem: Option<(String, CertProblem)>,
    /// What the server presented, looked at after such a refusal.
    pub presented: Option<(String, Presented)>,
    probing: Option<Task<Presented>>,
    signing_in: Option<Task<Session>>,
    lookup: Option<Task<(Owner, Option<String>)>>,
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

    /// A secret given for `url` and `user` only (not typed): cleared if either changes.
    pub fn with_given_secret(url: String, user: String, secret: String) -> Self {
        let given_for = Some(Owner::of(&url, &user));
        Self {
            given_for,
            ..Self::new(url, user, secret)
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
        let owner = Owner::of(&url, &user);
        self.lookup = Some(bg.spawn_keychain(move || Ok((owner, k.secret(&url, &user)?))));
    }

    /// Forgets a keychain secret once the URL or user no longer names its owner: it must never
    /// be sent to a server it was not saved for. Answers whether it did.
    pub fn drop_foreign_secret(&mut self) -> bool {
        match &self.given_for {
            Some(owner) if *owner != Owner::of(&self.url, &self.user) => {
                self.secret.clear();
                self.given_for = None;
                self.info = Some(
                    "The secret given for another server or user was cleared; type the secret \
                     for this one, or use the keychain's."
                        .into(),
                );
                true
            }
            _ => false,
        }
    }

    /// Plain http:// to another machine, not yet accepted by the user: the host.
    pub fn cleartext_unconfirmed(&self) -> Option<String> {
        cleartext_host(&self.url).filter(|h| self.cleartext_ok.as_ref() != Some(h))
    }

    /// How this server's certificate is judged: the one accepted for it, else the platform's
    /// trust store and the `--ca-file`.
    pub fn trust(&self, profiles: &Profiles) -> Trust {
        match profiles.pin(&self.url) {
            Some(fp) => Trust::Pinned(fp.clone()),
            None if self.ca.is_empty() => Trust::Platform,
            None => Trust::PlatformAnd(self.ca.clone()),
        }
    }

    pub fn sign_in(&mut self, bg: &Background, profiles: &Profiles) {
        self.error = None;
        self.cert_problem = None;
        self.presented = None;
        if self.drop_foreign_secret() {
            return;
        }
        let cleartext_ok =
            cleartext_host(&self.url).is_some() && self.cleartext_unconfirmed().is_none();
        let api = Api::connect(
            &self.url,
            &self.user,
            &self.secret,
            &self.trust(profiles),
            cleartext_ok,
        );
        match api {
            Ok(api) => {
                self.sent = Some((self.url.clone(), self.user.clone(), self.secret.clone()));
                self.signing_in = Some(bg.spawn(Session::sign_in(api)));
            }
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
        self.drop_foreign_secret();
        if let Some(r) = poll(&mut self.lookup) {
            match r {
                // Looked up for a server or user no longer typed: not this one's secret.
                Ok((owner, _)) if owner != Owner::of(&self.url, &self.user) => {
                    self.auto_sign_in = false;
                }
                Ok((owner, Some(s))) => {
                    self.secret = s;
                    self.given_for = Some(owner);
                    self.info = Some("Secret taken from the keychain.".into());
                    if std::mem::take(&mut self.auto_sign_in) {
                        self.sign_in(bg, profiles);
                    }
                }
                Ok((_, None)) => {
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
        if let Some(r) = poll(&mut self.probing) {
            match r {
                Ok(p) => self.presented = Some((normalize_url(&self.url), p)),
                Err(e) => self.info = Some(e.message),
            }
        }
        // A problem and a certificate seen for another URL than the one typed now are moot.
        let here = normalize_url(&self.url);
        if self.cert_problem.as_ref().is_some_and(|(u, _)| *u != here) {
            self.cert_problem = None;
        }
        if self.presented.as_ref().is_some_and(|(u, _)| *u != here) {
            self.presented = None;
        }
        if let Some(r) = poll(&mut self.signing_in) {
            match r {
                Ok(session) => {
                    self.info = None;
                    self.error = None;
                    // What was sent, not what the fields hold now: they may have been edited
                    // while the answer was on its way.
                    let (url, user, secret) = self.sent.take().unwrap_or_default();
                    profiles.remember(&url, &user);
                    if self.remember
                        && let KeychainStatus::Ready(k) = &keychain
                    {
                        let k = Arc::clone(k);
                        self.saving = Some(bg.spawn_keychain(move || k.save(&url, &user, &secret)));
                    }
                    signed_in = Some(session);
                }
                Err(Failure {
                    message,
                    certificate,
                    ..
                }) => {
                    self.sent = None;
                    self.error = Some(message);
                    if let Some(problem) = certificate {
                        // Look at what the server presents, to offer trusting it on first use.
                        if !matches!(problem, CertProblem::Changed { .. }) {
                            let url = normalize_url(&self.url);
                            self.probing = Some(bg.spawn(async move { tls::probe(&url).await }));
                        }
                        self.cert_problem = Some((normalize_url(&self.url), problem));
                    }
                }
            }
        }

        let mut sign_in_now = false;
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
                if r.changed() {
                    // Typed by the user: no longer the keychain's secret.
                    self.given_for = None;
                }
                if submitted(ui, &r) {
                    sign_in_now = true;
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
        if let Some(host) = cleartext_host(&self.url) {
            warning(
                ui,
                &format!(
                    "http://{host} is not this machine: the password or token would cross the \
                     network unencrypted, readable by anyone on the way."
                ),
            );
            let mut ok = self.cleartext_ok.as_deref() == Some(host.as_str());
            if ui
                .checkbox(&mut ok, "Send my secret over plain HTTP anyway")
                .changed()
            {
                self.cleartext_ok = ok.then_some(host);
            }
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
                sign_in_now = true;
            }
            busy(ui, self.signing_in.is_some(), "Signing in…");
            busy(ui, self.lookup.is_some(), "Reading the keychain…");
        });
        if let Some(e) = &self.error {
            error(ui, e);
        }
        sign_in_now |= self.certificate_choice(ui, profiles);
        if let Some(i) = &self.info {
            notice(ui, i);
        }
        if sign_in_now {
            self.sign_in(bg, profiles);
        }
        signed_in
    }

    /// After a refused certificate: trust a self-signed one on first use, or forget the one
    /// accepted before. Answers whether to sign in again now.
    fn certificate_choice(&mut self, ui: &mut Ui, profiles: &mut Profiles) -> bool {
        let Some((url, problem)) = self.cert_problem.clone() else {
            return false;
        };
        if let CertProblem::Changed { .. } = problem {
            ui.horizontal(|ui| {
                if ui.button("Forget the accepted certificate").clicked() {
                    profiles.forget_pin(&url);
                    self.cert_problem = None;
                    self.info = Some(
                        "Forgotten. Sign in again to see the server's new certificate, and trust it \
                         only if its fingerprint is the one the server printed."
                            .into(),
                    );
                }
            });
            return false;
        }
        let Some((_, presented)) = self.presented.clone() else {
            busy(
                ui,
                self.probing.is_some(),
                "Looking at the server's certificate…",
            );
            return false;
        };
        if !presented.self_signed || presented.expired {
            // A certificate from an authority that is wrong for this name, or expired: nothing
            // to accept here.
            return false;
        }
        let mut again = false;
        egui::Frame::group(ui.style()).show(ui, |ui| {
            ui.label(format!(
                "{url} presents a self-signed certificate (for {}; valid until {}).",
                presented.names.join(", "),
                presented.not_after
            ));
            ui.label("Its SHA-256 fingerprint:");
            ui.monospace(&presented.fingerprint);
            ui.label(
                "Trust it only if this is the fingerprint the server printed when it started \
                 (tokenauth-stub prints it, and `openssl x509 -fingerprint -sha256` shows it). \
                 It is then pinned: a different certificate will be refused.",
            );
            if ui.button("Trust this certificate").clicked() {
                profiles.set_pin(&url, &presented.fingerprint);
                self.cert_problem = None;
                self.presented = None;
                again = true;
            }
        });
        again
    }
}
