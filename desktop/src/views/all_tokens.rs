//! Admin: every user's tokens — search and filter, rotate one (the new secret shown once, to
//! hand over), revoke one or all of a user's, create on a user's behalf with a scope. (The users themselves are in `users`.)

use std::sync::Arc;

use egui::Ui;
use tokenauth_core::scope::Scope;
use tokenauth_core::token::TokenView;

use super::Env;
use super::widgets::{
    FormRules, RowAction, SecretAction, TableExtras, TokenForm, busy, confirm, error, fresh_secret,
    labelled_combo, labelled_field, notice, scope_label, token_table,
};
use crate::api::{TokenPage, TokenSearch, UserInfo};
use crate::task::{Task, poll};

const PAGE: usize = 50;

enum Confirm {
    One(TokenView),
    All(String),
    Rotate(TokenView),
}

pub struct AllTokensView {
    loaded: bool,
    pub users: Vec<UserInfo>,
    users_task: Option<Task<Vec<UserInfo>>>,
    pub search: TokenSearch,
    requested: Option<TokenSearch>,
    pub page: Option<TokenPage>,
    page_task: Option<Task<TokenPage>>,
    pub form: TokenForm,
    pub for_user: String,
    creating: Option<Task<TokenView>>,
    fresh: Option<TokenView>,
    confirm: Option<Confirm>,
    acting: Option<Task<String>>,
    error: Option<String>,
    notice: Option<String>,
    /// The id of the token being rotated.
    rotating: Option<String>,
    /// The admin's own sign-in token was rotated: the app signs in with this secret now.
    pub replaced_secret: Option<String>,
}

impl Default for AllTokensView {
    fn default() -> Self {
        Self {
            loaded: false,
            users: Vec::new(),
            users_task: None,
            search: TokenSearch {
                limit: PAGE,
                ..TokenSearch::default()
            },
            requested: None,
            page: None,
            page_task: None,
            form: TokenForm::default(),
            for_user: String::new(),
            creating: None,
            fresh: None,
            confirm: None,
            acting: None,
            error: None,
            notice: None,
            rotating: None,
            replaced_secret: None,
        }
    }
}

impl AllTokensView {
    pub fn is_busy(&self) -> bool {
        self.users_task.is_some()
            || self.page_task.is_some()
            || self.creating.is_some()
            || self.acting.is_some()
    }

    pub fn reload(&mut self, env: &Env<'_>) {
        let s = Arc::clone(env.session);
        self.users_task = Some(env.bg.spawn(async move { s.api.users().await }));
        self.requested = None;
        self.loaded = true;
    }

    fn poll(&mut self, env: &Env<'_>) {
        if let Some(r) = poll(&mut self.users_task) {
            match r {
                Ok(u) => self.users = u,
                Err(e) => self.error = Some(e.message),
            }
        }
        if let Some(r) = poll(&mut self.page_task) {
            match r {
                Ok(p) => self.page = Some(p),
                Err(e) => self.error = Some(e.message),
            }
        }
        if let Some(r) = poll(&mut self.creating) {
            match r {
                Ok(t) => {
                    match self.rotating.take() {
                        Some(old) => {
                            if env.session.api.token_id().as_deref() == Some(old.as_str()) {
                                self.replaced_secret = t.token.clone();
                            }
                            self.notice = Some(format!(
                                "Rotated {}'s token \u{201c}{}\u{201d}: the old secret no \
                                 longer works; hand over the new one below.",
                                t.user, t.description
                            ));
                        }
                        None => self.form.description.clear(),
                    }
                    self.fresh = Some(t);
                    self.requested = None;
                }
                Err(e) => {
                    self.rotating = None;
                    self.error = Some(e.message);
                }
            }
        }
        if let Some(r) = poll(&mut self.acting) {
            match r {
                Ok(done) => {
                    self.notice = Some(done);
                    self.requested = None;
                }
                Err(e) => self.error = Some(e.message),
            }
        }
        // Any change of the filters (or a change on the server) asks for the page again.
        if self.requested.as_ref() != Some(&self.search) && self.page_task.is_none() {
            let (s, q) = (Arc::clone(env.session), self.search.clone());
            self.requested = Some(self.search.clone());
            self.page_task = Some(env.bg.spawn(async move { s.api.search_tokens(&q).await }));
        }
    }

    fn filters(&mut self, ui: &mut Ui) {
        let before = self.search.clone();
        ui.horizontal_wrapped(|ui| {
            labelled_field(
                ui,
                "Search",
                egui::TextEdit::singleline(&mut self.search.q)
                    .hint_text("description, token id or user")
                    .desired_width(200.0),
            );
            let shown = self
                .search
                .user
                .clone()
                .unwrap_or_else(|| "all users".into());
            labelled_combo(ui, "Owner", shown, |ui| {
                ui.selectable_value(&mut self.search.user, None, "all users");
                for u in &self.users {
                    ui.selectable_value(&mut self.search.user, Some(u.name.clone()), &u.name);
                }
            });
            let shown = match self.search.expired {
                None => "any",
                Some(true) => "expired only",
                Some(false) => "valid only",
            };
            labelled_combo(ui, "Expiry", shown, |ui| {
                ui.selectable_value(&mut self.search.expired, None, "any");
                ui.selectable_value(&mut self.search.expired, Some(true), "expired only");
                ui.selectable_value(&mut self.search.expired, Some(false), "valid only");
            });
            let shown = self.search.scope.map_or("any", scope_label);
            labelled_combo(ui, "Token scope", shown, |ui| {
                ui.selectable_value(&mut self.search.scope, None, "any");
                for s in [Scope::ReadOnly, Scope::ReadWrite] {
                    ui.selectable_value(&mut self.search.scope, Some(s), scope_label(s));
                }
            });
        });
        // New filters start from their first page.
        if self.search != before {
            self.search.offset = 0;
        }
    }

    pub fn show(&mut self, ui: &mut Ui, env: &Env<'_>) {
        if !self.loaded {
            self.reload(env);
        }
        self.poll(env);
        ui.heading("Users and their tokens");
        ui.add_space(4.0);
        if let Some(fresh) = &self.fresh {
            // The secret belongs to another user: copy it to hand over; it is not the admin's
            // to keep in their keychain.
            match fresh_secret(ui, fresh, None) {
                SecretAction::Copy => {
                    self.notice = Some(crate::clipboard::copy_token(ui.ctx(), fresh));
                }
                SecretAction::Done => self.fresh = None,
                _ => {}
            }
        }
        self.filters(ui);
        ui.horizontal(|ui| {
            if let Some(p) = &self.page {
                let (from, to) = (
                    p.offset.saturating_add(1),
                    p.offset.saturating_add(p.tokens.len()),
                );
                if p.tokens.is_empty() {
                    ui.label(format!("No tokens match ({} in all).", p.total));
                } else {
                    ui.label(format!("{from}–{to} of {}", p.total));
                }
                if ui
                    .add_enabled(p.offset > 0, egui::Button::new("Previous page"))
                    .clicked()
                {
                    self.search.offset = p.offset.saturating_sub(PAGE);
                }
                if ui
                    .add_enabled(to < p.total, egui::Button::new("Next page"))
                    .clicked()
                {
                    self.search.offset = p.offset.saturating_add(PAGE);
                }
            }
            if ui.button("Refresh").clicked() {
                self.reload(env);
            }
            if let Some(u) = self.search.user.clone()
                && ui.button(format!("Revoke all of {u}'s tokens…")).clicked()
            {
                self.confirm = Some(Confirm::All(u));
            }
            busy(
                ui,
                self.page_task.is_some() || self.acting.is_some(),
                "Loading…",
            );
        });
        if let Some(e) = &self.error {
            error(ui, e);
        }
        if let Some(n) = &self.notice {
            notice(ui, n);
        }
        let tokens = self
            .page
            .as_ref()
            .map(|p| p.tokens.as_slice())
            .unwrap_or(&[]);
        let table_height = (ui.available_height() - 190.0).max(120.0);
        let mut revoke = None;
        ui.allocate_ui(egui::vec2(ui.available_width(), table_height), |ui| {
            let extras = TableExtras {
                show_user: true,
                kept: None,
            };
            revoke = token_table(ui, "admin-tokens", tokens, &extras);
        });
        match revoke {
            Some(RowAction::Revoke(i)) => self.confirm = tokens.get(i).cloned().map(Confirm::One),
            Some(RowAction::Rotate(i)) => {
                self.confirm = tokens.get(i).cloned().map(Confirm::Rotate);
            }
            None => {}
        }
        ui.separator();
        self.create_for(ui, env);
        self.confirmation(ui, env);
    }

    fn create_for(&mut self, ui: &mut Ui, env: &Env<'_>) {
        ui.strong("Create a token on a user's behalf");
        ui.horizontal(|ui| {
            let shown = if self.for_user.is_empty() {
                "choose a user".to_owned()
            } else {
                self.for_user.clone()
            };
            labelled_combo(ui, "For user", shown, |ui| {
                for u in self.users.iter().filter(|u| u.active) {
                    ui.selectable_value(&mut self.for_user, u.name.clone(), &u.name);
                }
            });
        });
        let p = &env.session.policy;
        let rules = FormRules {
            max_days: p.max_token_validity_days,
            allow_never: p.allow_non_expiring_tokens,
            read_only: false,
        };
        let running = self.creating.is_some();
        if let Some(req) = self.form.show(ui, &rules, "Create for user", running) {
            if self.for_user.is_empty() {
                self.error = Some("choose the user the token is for".into());
            } else {
                self.error = None;
                let (s, user) = (Arc::clone(env.session), self.for_user.clone());
                self.creating = Some(
                    env.bg
                        .spawn(async move { s.api.create_for(&user, &req).await }),
                );
            }
        }
    }

    fn confirmation(&mut self, ui: &mut Ui, env: &Env<'_>) {
        let Some(c) = &self.confirm else {
            return;
        };
        let (q, yes) = match c {
            Confirm::One(t) => (
                format!(
                    "Revoke {}'s token \u{201c}{}\u{201d}? Scripts that use it are refused from now on.",
                    t.user, t.description
                ),
                "Yes, revoke",
            ),
            Confirm::All(u) => (
                format!("Revoke every token of {u}? All of {u}'s scripts are refused from now on."),
                "Yes, revoke all",
            ),
            Confirm::Rotate(t) => (
                format!(
                    "Rotate {}'s token \u{201c}{}\u{201d}? A new secret replaces it (same scope, \
                     a fresh expiry), shown once for you to hand over; the old one is refused \
                     from now on.",
                    t.user, t.description
                ),
                "Yes, rotate",
            ),
        };
        match confirm(ui, "confirm-admin-revoke", &q, yes) {
            Some(true) => {
                let s = Arc::clone(env.session);
                self.error = None;
                if let Some(Confirm::Rotate(t)) = &self.confirm {
                    let id = t.id.clone();
                    self.rotating = Some(id.clone());
                    self.confirm = None;
                    self.creating = Some(env.bg.spawn(async move {
                        s.api.rotate(&id, crate::api::Validity::Default).await
                    }));
                    return;
                }
                self.acting = Some(match self.confirm.take() {
                    Some(Confirm::One(t)) => env.bg.spawn(async move {
                        s.api.admin_revoke(&t.id).await.map(|()| {
                            format!(
                                "Revoked {}'s token \u{201c}{}\u{201d}.",
                                t.user, t.description
                            )
                        })
                    }),
                    Some(Confirm::All(u)) => env.bg.spawn(async move {
                        s.api
                            .revoke_all(&u)
                            .await
                            .map(|n| format!("Revoked all {n} tokens of {u}."))
                    }),
                    Some(Confirm::Rotate(_)) | None => return,
                });
            }
            Some(false) => self.confirm = None,
            None => {}
        }
    }
}
