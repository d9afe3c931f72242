//! A token copied to the clipboard does not stay there. Clipboard managers keep history and
//! every program can read the clipboard, so a secret left there outlives its purpose (pasting it
//! once into a script or a password field). After [`CLEAR_AFTER`], and when the app exits, the
//! clipboard is cleared — but only if it still holds that secret: whatever the user copied
//! since is theirs and stays.

use std::sync::Mutex;
use std::time::Duration;

/// Long enough to paste it somewhere, short enough not to linger.
pub const CLEAR_AFTER: Duration = Duration::from_secs(45);

/// The seam to the system clipboard, so the rule can be tested without a display.
pub trait Board {
    fn text(&mut self) -> Option<String>;
    fn clear(&mut self);
}

/// Clears `board` if it still holds `secret`; answers whether it did.
pub fn clear_if_still(board: &mut dyn Board, secret: &str) -> bool {
    if board.text().as_deref() == Some(secret) {
        board.clear();
        true
    } else {
        false
    }
}

struct System(arboard::Clipboard);

impl Board for System {
    fn text(&mut self) -> Option<String> {
        self.0.get_text().ok()
    }
    fn clear(&mut self) {
        let _ = self.0.clear();
    }
}

/// The secret most recently copied, to clear at exit if it is still there.
static LAST: Mutex<Option<String>> = Mutex::new(None);

fn clear_system(secret: &str) {
    // No clipboard (headless, no display): nothing was copied there either.
    if let Ok(c) = arboard::Clipboard::new() {
        clear_if_still(&mut System(c), secret);
    }
}

/// Copies a secret through egui (the window's own clipboard) and clears it again after
/// [`CLEAR_AFTER`] if it is still there.
pub fn copy_secret(ctx: &egui::Context, secret: &str) {
    ctx.copy_text(secret.to_owned());
    if let Ok(mut last) = LAST.lock() {
        *last = Some(secret.to_owned());
    }
    let secret = secret.to_owned();
    let _ = std::thread::Builder::new()
        .name("clipboard-clear".into())
        .spawn(move || {
            std::thread::sleep(CLEAR_AFTER);
            clear_system(&secret);
        });
}

/// Copies a new token's secret and answers the notice that says so.
pub fn copy_token(ctx: &egui::Context, token: &tokenauth_core::token::TokenView) -> String {
    copy_secret(ctx, token.token.as_deref().unwrap_or_default());
    format!(
        "Copied to the clipboard; cleared from it in {} s.",
        CLEAR_AFTER.as_secs()
    )
}

/// At exit: clears the clipboard if it still holds the last secret copied.
pub fn clear_on_exit() {
    let last = LAST.lock().ok().and_then(|mut l| l.take());
    if let Some(secret) = last {
        clear_system(&secret);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fake(Option<String>);
    impl Board for Fake {
        fn text(&mut self) -> Option<String> {
            self.0.clone()
        }
        fn clear(&mut self) {
            self.0 = None;
        }
    }

    #[test]
    fn l6_a_copied_secret_is_cleared_but_what_the_user_copied_since_is_kept() {
        let mut board = Fake(Some("tka_secret".into()));
        assert!(clear_if_still(&mut board, "tka_secret"));
        assert_eq!(board.0, None);
        let mut since = Fake(Some("a shopping list".into()));
        assert!(!clear_if_still(&mut since, "tka_secret"));
        assert_eq!(since.0.as_deref(), Some("a shopping list"));
    }
}
