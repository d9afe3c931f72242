//! One module per screen, plus the widgets they share.

pub mod all_tokens;
pub mod audit;
pub mod connect;
pub mod my_tokens;
pub mod settings;
pub mod users;
pub mod widgets;

use std::sync::Arc;

use crate::keychain::Keychain;
use crate::session::Session;
use crate::task::Background;

/// What a screen needs from the app while it draws.
pub struct Env<'a> {
    pub bg: &'a Background,
    pub session: &'a Arc<Session>,
    pub keychain: Option<&'a Arc<Keychain>>,
}
