//! The signed-in user's own tokens: create (shown once, copy, save to the keychain under a
//! label), list (with where this machine's keychain holds each), rotate (the keychain entries
//! holding the old token get the new one), revoke.

use std::collections::HashMap;
use std::sync::Arc;

use egui::Ui;
use tokenauth_core::token::TokenView;

use super::Env;
use super::widgets::{
    FormRules, RowAction, SecretAction, TableExtras, TokenForm, busy, confirm, error, fresh_secret,
    notice, token_table,
};
use crate::keychain::Saved;
use crate::profiles::normalize_url;
use crate::task::{Task, poll};

#[derive(Default)]
pub struct MyTokensView {
    loaded: bool,
    pub tokens: Vec<TokenView>,
    loading: Option<Task<Vec<TokenView>>>,
    pub form: TokenForm,
    creating: Option<Task<TokenView>>,
    /// The token just made, with its secret, until "Done".
    fresh: Option<TokenView>,
    /// The keychain label the fresh token is saved under (empty: the app's sign-in entry).
    pub label: String,
    saving: Option<Task<Option<String>>>,
    /// This machine's keychain entries, by token id: their labels ("" for the sign-in entry).
    pub kept: HashMap<String, Vec<String>>,
    kept_task: Option<Task<Vec<Saved>>>,
    /// Why the keychain column says nothing (no keychain, or it failed).
    kept_problem: Option<String>,
    confirm: Option<TokenView>,
    revoking: Option<Task<String>>,
    confirm_rotate: Option<TokenView>,
    rotating: Option<Task<TokenView>>,
    /// The token being rotated: its id, and the labels this keychain keeps it under.
    rotating_from: Option<(String, Vec<String>)>,
    /// Keychain entries being given the rotated token's new secret: answers their labels.
    rekeying: Option<Task<Vec<String>>>,
    /// The sign-in token was rotated: the app signs in with this secret from now on.
    pub replaced_secret: Option<String>,
    error: Option<String>,
    notice: Option<String>,
}

impl MyTokensView {
    pub fn is_busy(&self) -> bool {
        self.loading.is_some()
            || self.creating.is_some()
            || self.revoking.is_some()
            || self.saving.is_some()
            || self.kept_task.is_some()
            || self.rotating.is_some()
            || self.rekeying.is_some()
    }

    pub fn reload(&mut self, env: &Env<'_>) {
        let s = Arc::clone(env.session);
        self.loading = Some(env.bg.spawn(async move { s.api.my_tokens().await }));
        self.loaded = true;
        self.reload_kept(env);
    }

    /// Reads the keychain's index (names and token ids, no secret) in the background.
    fn reload_kept(&mut self, env: &Env<'_>) {
        match env.keychain {
            Some(k) => {
                let k = Arc::clone(k);
                self.kept_task = Some(env.bg.spawn_keychain(move || Ok(k.index()?)));
            }
            None => self.kept_problem = Some("no keychain in this session".into()),
        }
    }

    /// The index entries of this server and user, by the token id they hold.
    fn note_kept(&mut self, env: &Env<'_>, saved: Vec<Saved>) {
        let url = normalize_url(env.session.api.base());
        let user = tokenauth_core::user::user_key(&env.session.me.name);
        self.kept.clear();
        for s in saved {
            if s.url == url
                && s.user == user
                && let Some(id) = s.token_id
            {
                self.kept
                    .entry(id)
                    .or_default()
                    .push(s.label.unwrap_or_default());
            }
        }
        self.kept_problem = None;
    }

    fn poll(&mut self, env: &Env<'_>) {
        if let Some(r) = poll(&mut self.loading) {
            match r {
                Ok(t) => self.tokens = t,
                Err(e) => self.error = Some(e.message),
            }
        }
        if let Some(r) = poll(&mut self.creating) {
            match r {
                Ok(t) => {
                    self.notice = None;
                    self.form.description.clear();
                    self.fresh = Some(t);
                    self.reload(env);
                }
                Err(e) => self.error = Some(e.message),
            }
        }
        if let Some(r) = poll(&mut self.revoking) {
            match r {
                Ok(what) => {
                    self.notice = Some(format!("Revoked \u{201c}{what}\u{201d}."));
                    self.reload(env);
                }
                Err(e) => self.error = Some(e.message),
            }
        }
        if let Some(r) = poll(&mut self.rotating) {
            let (old_id, labels) = self.rotating_from.take().unwrap_or_default();
            match r {
                Ok(new) => self.rotated(env, &old_id, labels, new),
                Err(e) => self.error = Some(e.message),
            }
        }
        if let Some(r) = poll(&mut self.rekeying) {
            match r {
                Ok(labels) => {
                    self.notice = Some(format!(
                        "Rotated: the old secret no longer works; this keychain's {} now hold{} the new one.",
                        labels_in_words(&labels),
                        if labels.len() == 1 { "s" } else { "" }
                    ));
                    self.reload_kept(env);
                }
                Err(e) => {
                    self.error = Some(format!(
                        "Rotated, but the keychain did not take the new secret ({e}): copy it now and save it; the old one no longer works."
                    ));
                }
            }
        }
        if let Some(r) = poll(&mut self.kept_task) {
            match r {
                Ok(saved) => self.note_kept(env, saved),
                Err(e) => self.kept_problem = Some(e.message),
            }
        }
        if let Some(r) = poll(&mut self.saving) {
            match r {
                Ok(None) => {
                    self.notice = Some(
                        "Saved in the keychain: the app signs in with this token from now on."
                            .into(),
                    );
                    self.reload_kept(env);
                }
                Ok(Some(label)) => {
                    self.notice = Some(format!(
                        "Saved in the keychain as \u{201c}{label}\u{201d}: \
                         tokenauth get {} --user {} --label {label} prints it for a script.",
                        env.session.api.base(),
                        env.session.me.name
                    ));
                    self.reload_kept(env);
                }
                Err(e) => self.error = Some(format!("not saved in the keychain: {e}")),
            }
        }
    }

    /// After a rotation: the new secret is shown once; the keychain entries that held the old
    /// token get the new one; the app signs in with it if it signed in with the old one.
    fn rotated(&mut self, env: &Env<'_>, old_id: &str, labels: Vec<String>, new: TokenView) {
        self.notice = Some("Rotated: the old secret no longer works.".into());
        let secret = new.token.clone().unwrap_or_default();
        if env.session.api.token_id().as_deref() == Some(old_id) {
            self.replaced_secret = Some(secret.clone());
        }
        if let (Some(k), false) = (env.keychain, labels.is_empty()) {
            let k = Arc::clone(k);
            let (url, user) = (
                env.session.api.base().to_owned(),
                env.session.api.user().to_owned(),
            );
            self.rekeying = Some(env.bg.spawn_keychain(move || {
                for l in &labels {
                    let label = Some(l.as_str()).filter(|l| !l.is_empty());
                    k.put(&url, &user, label, &secret)?;
                }
                Ok(labels)
            }));
        }
        self.fresh = Some(new);
        self.reload(env);
    }

    pub fn show(&mut self, ui: &mut Ui, env: &Env<'_>) {
        if !self.loaded {
            self.reload(env);
        }
        self.poll(env);
        let policy = &env.session.policy;
        ui.heading("My API tokens");
        ui.label("Use a token as the password in HTTP Basic auth, or as a Bearer token.");
        ui.add_space(6.0);

        if let Some(fresh) = &self.fresh {
            let can_save = Some(match env.keychain {
                Some(_) => Ok(&mut self.label),
                None => Err("no keychain is available in this session"),
            });
            match fresh_secret(ui, fresh, can_save) {
                SecretAction::Copy => {
                    self.notice = Some(crate::clipboard::copy_token(ui.ctx(), fresh));
                }
                SecretAction::SaveToKeychain => {
                    if let (Some(k), Some(secret)) = (env.keychain, fresh.token.clone()) {
                        let k = Arc::clone(k);
                        let (url, user) = (
                            env.session.api.base().to_owned(),
                            env.session.api.user().to_owned(),
                        );
                        let label = Some(self.label.trim().to_owned()).filter(|l| !l.is_empty());
                        self.saving = Some(env.bg.spawn_keychain(move || {
                            k.put(&url, &user, label.as_deref(), &secret)?;
                            Ok(label)
                        }));
                    }
                }
                SecretAction::Done => {
                    self.fresh = None;
                    self.label.clear();
                }
                SecretAction::None => {}
            }
            ui.add_space(8.0);
        }

        if policy.may_create_own_tokens {
            egui::CollapsingHeader::new("Create a token")
                .default_open(true)
                .show(ui, |ui| {
                    let rules = FormRules {
                        max_days: policy.max_token_validity_days,
                        allow_never: policy.allow_non_expiring_tokens,
                        read_only: policy.own_tokens_read_only,
                    };
                    if let Some(req) =
                        self.form
                            .show(ui, &rules, "Create token", self.creating.is_some())
                    {
                        self.error = None;
                        let s = Arc::clone(env.session);
                        self.creating =
                            Some(env.bg.spawn(async move { s.api.create_own(&req).await }));
                    }
                });
        } else {
            ui.label("You are not permitted to create tokens on this server.");
        }
        ui.add_space(8.0);
        ui.horizontal(|ui| {
            ui.strong(format!("{} tokens", self.tokens.len()));
            if ui.button("Refresh").clicked() {
                self.reload(env);
            }
            busy(
                ui,
                self.loading.is_some() || self.revoking.is_some() || self.rotating.is_some(),
                "Loading…",
            );
        });
        if let Some(e) = &self.error {
            error(ui, e);
        }
        if let Some(n) = &self.notice {
            notice(ui, n);
        }
        if let Some(why) = &self.kept_problem {
            ui.label(format!(
                "Which tokens this machine's keychain holds is not known: {why}."
            ));
        }
        let extras = TableExtras {
            show_user: false,
            kept: self.kept_problem.is_none().then_some(&self.kept),
        };
        match token_table(ui, "my-tokens", &self.tokens, &extras) {
            Some(RowAction::Revoke(i)) => self.confirm = self.tokens.get(i).cloned(),
            Some(RowAction::Rotate(i)) => self.confirm_rotate = self.tokens.get(i).cloned(),
            None => {}
        }
        if let Some(t) = self.confirm_rotate.clone() {
            let labels = self.kept.get(&t.id).cloned().unwrap_or_default();
            let kept = if labels.is_empty() {
                String::new()
            } else {
                format!(
                    " This keychain's {} will hold the new one.",
                    labels_in_words(&labels)
                )
            };
            let q = format!(
                "Rotate \u{201c}{}\u{201d}? A new secret replaces it, with the same scope and \
                 a fresh expiry; the old one is refused from now on.{kept}",
                t.description
            );
            match confirm(ui, "confirm-rotate-own", &q, "Yes, rotate") {
                Some(true) => {
                    self.confirm_rotate = None;
                    self.error = None;
                    let s = Arc::clone(env.session);
                    let id = t.id.clone();
                    self.rotating_from = Some((t.id, labels));
                    self.rotating = Some(env.bg.spawn(async move {
                        s.api.rotate(&id, crate::api::Validity::Default).await
                    }));
                }
                Some(false) => self.confirm_rotate = None,
                None => {}
            }
        }
        if let Some(t) = self.confirm.clone() {
            let q = format!(
                "Revoke \u{201c}{}\u{201d}? Scripts that use it are refused from now on; this cannot be undone.",
                t.description
            );
            match confirm(ui, "confirm-revoke-own", &q, "Yes, revoke") {
                Some(true) => {
                    self.confirm = None;
                    self.error = None;
                    let s = Arc::clone(env.session);
                    self.revoking = Some(env.bg.spawn(async move {
                        s.api.revoke_own(&t.id).await.map(|()| t.description)
                    }));
                }
                Some(false) => self.confirm = None,
                None => {}
            }
        }
    }
}

/// Keychain entries by label, in words: "sign-in entry", "entry labelled “nightly”", ….
fn labels_in_words(labels: &[String]) -> String {
    let names: Vec<String> = labels
        .iter()
        .map(|l| {
            if l.is_empty() {
                "sign-in entry".to_owned()
            } else {
                format!("entry labelled \u{201c}{l}\u{201d}")
            }
        })
        .collect();
    names.join(" and ")
}
