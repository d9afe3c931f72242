//! The signed-in user's own tokens: create (shown once, copy, save to keychain), list, revoke.

use std::sync::Arc;

use egui::Ui;
use tokenauth_core::token::TokenView;

use super::Env;
use super::widgets::{
    FormRules, SecretAction, TokenForm, busy, confirm, error, fresh_secret, notice, token_table,
};
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
    saving: Option<Task<()>>,
    confirm: Option<TokenView>,
    revoking: Option<Task<String>>,
    error: Option<String>,
    notice: Option<String>,
}

impl MyTokensView {
    pub fn is_busy(&self) -> bool {
        self.loading.is_some()
            || self.creating.is_some()
            || self.revoking.is_some()
            || self.saving.is_some()
    }

    pub fn reload(&mut self, env: &Env<'_>) {
        let s = Arc::clone(env.session);
        self.loading = Some(env.bg.spawn(async move { s.api.my_tokens().await }));
        self.loaded = true;
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
        if let Some(r) = poll(&mut self.saving) {
            match r {
                Ok(()) => {
                    self.notice = Some(
                        "Saved in the keychain: the app signs in with this token from now on."
                            .into(),
                    );
                }
                Err(e) => self.error = Some(format!("not saved in the keychain: {e}")),
            }
        }
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
                Some(_) => Ok(()),
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
                        self.saving =
                            Some(env.bg.spawn_keychain(move || k.save(&url, &user, &secret)));
                    }
                }
                SecretAction::Done => self.fresh = None,
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
                self.loading.is_some() || self.revoking.is_some(),
                "Loading…",
            );
        });
        if let Some(e) = &self.error {
            error(ui, e);
        }
        if let Some(n) = &self.notice {
            notice(ui, n);
        }
        if let Some(i) = token_table(ui, "my-tokens", &self.tokens, false) {
            self.confirm = self.tokens.get(i).cloned();
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
