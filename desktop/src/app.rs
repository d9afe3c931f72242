//! The app: the sign-in screen, then tabs for the user's tokens and, for admins, users,
//! everyone's tokens, settings and the audit log.

use std::sync::Arc;

use tokenauth_core::scope::Scope;

use crate::keychain::Keychain;
use crate::profiles::{Profiles, STORAGE_KEY};
use crate::session::Session;
use crate::task::{Background, Task};
use crate::views::Env;
use crate::views::all_tokens::AllTokensView;
use crate::views::audit::AuditView;
use crate::views::connect::{ConnectView, KeychainStatus};
use crate::views::my_tokens::MyTokensView;
use crate::views::settings::SettingsView;
use crate::views::users::UsersView;
use crate::views::widgets::scope_label;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tab {
    MyTokens,
    Users,
    AllTokens,
    Settings,
    Audit,
}

impl Tab {
    pub fn title(self) -> &'static str {
        match self {
            Tab::MyTokens => "My tokens",
            Tab::Users => "Users",
            Tab::AllTokens => "All tokens",
            Tab::Settings => "Settings",
            Tab::Audit => "Audit log",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "tokens" | "my-tokens" => Some(Tab::MyTokens),
            "users" => Some(Tab::Users),
            "all-tokens" => Some(Tab::AllTokens),
            "settings" => Some(Tab::Settings),
            "audit" => Some(Tab::Audit),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeychainChoice {
    /// The platform's keychain.
    System,
    /// None (tests, or `--no-keychain`): the secret is typed each time.
    Off,
}

/// How the app starts: all optional, for scripts, screenshots and tests.
#[derive(Clone)]
pub struct Launch {
    pub url: Option<String>,
    pub user: Option<String>,
    /// Kept in memory only; for automation (`TOKENAUTH_SECRET`).
    pub secret: Option<String>,
    pub tab: Option<Tab>,
    pub keychain: KeychainChoice,
    /// Sign in at once, with the given secret or the keychain's.
    pub sign_in: bool,
    /// Certificates (PEM) trusted for HTTPS besides the platform's (`--ca-file`).
    pub ca_file: Option<std::path::PathBuf>,
}

impl std::fmt::Debug for Launch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Launch")
            .field("url", &self.url)
            .field("user", &self.user)
            .field("secret", &self.secret.as_ref().map(|_| "<secret>"))
            .field("tab", &self.tab)
            .field("keychain", &self.keychain)
            .field("sign_in", &self.sign_in)
            .field("ca_file", &self.ca_file)
            .finish()
    }
}

impl Default for Launch {
    fn default() -> Self {
        Self {
            url: None,
            user: None,
            secret: None,
            tab: None,
            keychain: KeychainChoice::System,
            sign_in: false,
            ca_file: None,
        }
    }
}

enum KeychainState {
    Opening(Task<Arc<Keychain>>),
    Ready(Arc<Keychain>),
    Unavailable(String),
}

pub struct DesktopApp {
    bg: Background,
    pub profiles: Profiles,
    keychain: KeychainState,
    pub connect: ConnectView,
    session: Option<Arc<Session>>,
    pub tab: Tab,
    first_tab: Option<Tab>,
    pub my_tokens: MyTokensView,
    pub users: UsersView,
    pub all_tokens: AllTokensView,
    pub settings: SettingsView,
    pub audit: AuditView,
}

impl DesktopApp {
    pub fn new(ctx: &egui::Context, profiles: Profiles, launch: Launch) -> std::io::Result<Self> {
        let bg = Background::new(ctx.clone())?;
        let keychain = match launch.keychain {
            KeychainChoice::System => {
                KeychainState::Opening(bg.spawn_keychain(|| Keychain::open_for_app().map(Arc::new)))
            }
            KeychainChoice::Off => KeychainState::Unavailable(
                "The keychain is switched off for this run; type the secret.".into(),
            ),
        };
        let last = profiles.last().cloned();
        // A secret handed in at launch belongs to the server named with it, and to no other:
        // without --url it is not used (it would go to whichever server was used last).
        let ignored_secret = launch.url.is_none() && launch.secret.is_some();
        let given_secret = launch.url.is_some().then_some(launch.secret).flatten();
        let url = launch
            .url
            .or(last.as_ref().map(|p| p.url.clone()))
            .unwrap_or_else(|| "http://127.0.0.1:2990".into());
        let user = launch.user.or(last.map(|p| p.user)).unwrap_or_default();
        let mut connect = match given_secret {
            Some(secret) => ConnectView::with_given_secret(url, user, secret),
            None => ConnectView::new(url, user, String::new()),
        };
        if let Some(path) = &launch.ca_file {
            match crate::tls::read_ca_file(path) {
                Ok(certs) => connect.ca = certs,
                Err(e) => connect.error = Some(e.message),
            }
        }
        if ignored_secret {
            connect.info = Some(
                "TOKENAUTH_SECRET was not used: give the server it belongs to with --url.".into(),
            );
        }
        if launch.sign_in {
            if connect.secret.is_empty() {
                connect.auto_sign_in = true;
            } else {
                connect.sign_in(&bg, &profiles);
            }
        }
        Ok(Self {
            bg,
            profiles,
            keychain,
            connect,
            session: None,
            tab: Tab::MyTokens,
            first_tab: launch.tab,
            my_tokens: MyTokensView::default(),
            users: UsersView::default(),
            all_tokens: AllTokensView::default(),
            settings: SettingsView::default(),
            audit: AuditView::default(),
        })
    }

    /// For eframe: the remembered servers come from its storage.
    pub fn from_creation(
        cc: &eframe::CreationContext<'_>,
        launch: Launch,
    ) -> std::io::Result<Self> {
        let profiles = cc
            .storage
            .and_then(|s| eframe::get_value::<Profiles>(s, STORAGE_KEY))
            .unwrap_or_default();
        Self::new(&cc.egui_ctx, profiles, launch)
    }

    pub fn session(&self) -> Option<&Arc<Session>> {
        self.session.as_ref()
    }

    pub fn keychain_ready(&self) -> bool {
        matches!(self.keychain, KeychainState::Ready(_))
    }

    fn busy(&self) -> bool {
        self.connect.is_busy()
            || self.my_tokens.is_busy()
            || self.users.is_busy()
            || self.all_tokens.is_busy()
            || self.settings.is_busy()
            || self.audit.is_busy()
    }

    fn poll_keychain(&mut self) {
        if let KeychainState::Opening(task) = &mut self.keychain
            && let Some(r) = task.poll()
        {
            self.keychain = match r {
                Ok(k) => {
                    if self.connect.auto_sign_in || self.connect.secret.is_empty() {
                        self.connect.look_up(&self.bg, &k);
                    }
                    KeychainState::Ready(k)
                }
                Err(e) => {
                    self.connect.auto_sign_in = false;
                    KeychainState::Unavailable(e.message)
                }
            };
        }
    }

    fn sign_out(&mut self) {
        self.session = None;
        self.connect.secret.clear();
        self.connect.info = Some("Signed out.".into());
        self.my_tokens = MyTokensView::default();
        self.users = UsersView::default();
        self.all_tokens = AllTokensView::default();
        self.settings = SettingsView::default();
        self.audit = AuditView::default();
    }

    fn header(&mut self, ui: &mut egui::Ui) {
        ui.horizontal(|ui| {
            ui.heading("tokenauth");
            let Some(s) = self.session.clone() else {
                return;
            };
            ui.separator();
            let mut tabs = vec![Tab::MyTokens];
            if s.is_admin() {
                tabs.extend([Tab::Users, Tab::AllTokens, Tab::Settings, Tab::Audit]);
            }
            for t in tabs {
                ui.selectable_value(&mut self.tab, t, t.title());
            }
            ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
                if ui.button("Sign out").clicked() {
                    self.sign_out();
                }
                self.connect.poll_saving();
                if let Some(e) = &self.connect.error {
                    crate::views::widgets::error(ui, e);
                } else if let Some(i) = &self.connect.info {
                    crate::views::widgets::notice(ui, i);
                }
                let role = if s.is_admin() { "admin" } else { "user" };
                ui.label(format!("{} ({role}) at {}", s.me.name, s.api.base()));
                if self.busy() {
                    ui.spinner();
                }
            });
        });
    }
}

impl eframe::App for DesktopApp {
    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        self.poll_keychain();
        egui::Panel::top("header").show(ui, |ui| self.header(ui));
        egui::CentralPanel::default().show(ui, |ui| {
            let Some(session) = self.session.clone() else {
                let status = match &self.keychain {
                    KeychainState::Opening(_) => KeychainStatus::Opening,
                    KeychainState::Ready(k) => KeychainStatus::Ready(k),
                    KeychainState::Unavailable(why) => KeychainStatus::Unavailable(why),
                };
                if let Some(s) = self.connect.show(ui, &self.bg, &mut self.profiles, status) {
                    let admin = s.is_admin();
                    self.session = Some(Arc::new(s));
                    self.tab = match self.first_tab.take() {
                        Some(t) if admin || t == Tab::MyTokens => t,
                        _ => Tab::MyTokens,
                    };
                }
                return;
            };
            let keychain = match &self.keychain {
                KeychainState::Ready(k) => Some(k),
                _ => None,
            };
            let env = Env {
                bg: &self.bg,
                session: &session,
                keychain,
            };
            if !session.is_admin() && self.tab != Tab::MyTokens {
                self.tab = Tab::MyTokens;
            }
            match self.tab {
                Tab::MyTokens => self.my_tokens.show(ui, &env),
                Tab::Users => self.users.show(ui, &env),
                Tab::AllTokens => self.all_tokens.show(ui, &env),
                Tab::Settings => self.settings.show(ui, &env),
                Tab::Audit => self.audit.show(ui, &env),
            }
            // The token the app signed in with was rotated: sign in with its successor.
            if let Some(secret) = self
                .my_tokens
                .replaced_secret
                .take()
                .or_else(|| self.all_tokens.replaced_secret.take())
            {
                self.session = Some(Arc::new(Session {
                    api: session.api.with_secret(&secret),
                    me: session.me.clone(),
                    policy: session.policy.clone(),
                }));
            }
            if session.policy.own_tokens_read_only && self.tab == Tab::MyTokens {
                ui.label(format!(
                    "This server makes your own tokens {}.",
                    scope_label(Scope::ReadOnly)
                ));
            }
        });
    }

    fn save(&mut self, storage: &mut dyn eframe::Storage) {
        eframe::set_value(storage, STORAGE_KEY, &self.profiles);
    }

    /// A token copied to the clipboard does not outlive the app.
    fn on_exit(&mut self) {
        crate::clipboard::clear_on_exit();
    }
}
