//! `tokenauth-desktop`: the desktop app for tokenauth's users and admins.

use anyhow::Context as _;
use clap::Parser;
use tokenauth_desktop::{DesktopApp, KeychainChoice, Launch, Tab};

/// Manage API tokens, settings and the audit log of a tokenauth server.
#[derive(Parser)]
#[command(version)]
struct Args {
    /// Server URL (default: the last one used, else http://127.0.0.1:2990).
    #[arg(long, env = "TOKENAUTH_URL")]
    url: Option<String>,
    /// User name (default: the last one used).
    #[arg(long, env = "TOKENAUTH_USER")]
    user: Option<String>,
    /// Sign in at once, with TOKENAUTH_SECRET or the secret in the keychain.
    #[arg(long)]
    sign_in: bool,
    /// The screen to open after signing in: tokens, users, all-tokens, settings or audit.
    #[arg(long, value_parser = |s: &str| Tab::parse(s).ok_or("one of tokens, users, all-tokens, settings, audit"))]
    tab: Option<Tab>,
    /// Do not use the OS keychain in this run.
    #[arg(long)]
    no_keychain: bool,
    /// Trust the certificates in this PEM file for HTTPS, besides the system's (a private CA)
    #[arg(long, env = "TOKENAUTH_CA_FILE")]
    ca_file: Option<std::path::PathBuf>,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let launch = Launch {
        url: args.url,
        user: args.user,
        // For scripts only; never written anywhere by the app.
        secret: std::env::var("TOKENAUTH_SECRET")
            .ok()
            .filter(|s| !s.is_empty()),
        tab: args.tab,
        keychain: if args.no_keychain {
            KeychainChoice::Off
        } else {
            KeychainChoice::System
        },
        sign_in: args.sign_in,
        ca_file: args.ca_file,
    };
    let options = eframe::NativeOptions {
        viewport: egui::ViewportBuilder::default()
            .with_title("tokenauth")
            // Also eframe's storage folder: not the server's `tokenauth` data directory.
            .with_app_id("tokenauth-desktop")
            .with_inner_size([1180.0, 780.0])
            .with_min_inner_size([720.0, 480.0]),
        ..Default::default()
    };
    eframe::run_native(
        "tokenauth",
        options,
        Box::new(move |cc| Ok(Box::new(DesktopApp::from_creation(cc, launch)?))),
    )
    .map_err(|e| anyhow::anyhow!("{e}"))
    .context("the window could not be opened")
}
