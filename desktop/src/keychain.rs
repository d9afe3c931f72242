//! The OS keychain through keyring-core: Secret Service on Linux (pure Rust, over D-Bus),
//! Keychain on macOS, Credential Manager on Windows. Shared by the app and the `tokenauth`
//! command line, so each sees what the other saved.
//!
//! One entry per server, user and label, readable by other tools: service `tokenauth <url>`,
//! account `<user>` (no label) or `<user>#<label>`. Beside them, one entry (service
//! `tokenauth`, account `index`) lists which entries exist and the token id each holds —
//! no secret — because not every platform's store can be searched; `list` reads it.
//!
//! Every call may block (D-Bus, an unlock prompt nobody answers): the app makes them in the
//! background and the command line under a time limit ([`within`]). There is never a
//! plain-text fallback: without a keychain, the answer is an error that says so.

use std::sync::Arc;
use std::time::Duration;

use keyring_core::{CredentialStore, Entry, Error};
use serde::{Deserialize, Serialize};
use tokenauth_core::token_format;
use tokenauth_core::user::user_key;

use crate::failure::Failure;
use crate::profiles::normalize_url;

pub struct Keychain {
    store: Arc<CredentialStore>,
}

fn platform_store() -> Result<Arc<CredentialStore>, Error> {
    #[cfg(target_os = "linux")]
    {
        let store: Arc<CredentialStore> = zbus_secret_service_keyring_store::Store::new()?;
        Ok(store)
    }
    #[cfg(target_os = "macos")]
    {
        let store: Arc<CredentialStore> = apple_native_keyring_store::keychain::Store::new()?;
        Ok(store)
    }
    #[cfg(target_os = "windows")]
    {
        let store: Arc<CredentialStore> = windows_native_keyring_store::Store::new()?;
        Ok(store)
    }
    #[cfg(not(any(target_os = "linux", target_os = "macos", target_os = "windows")))]
    {
        Err(Error::NotSupportedByStore(
            "no keychain support on this platform".into(),
        ))
    }
}

/// The name of the platform's store, as `status` reports it.
pub const BACKEND: &str = if cfg!(target_os = "linux") {
    "Secret Service (D-Bus: GNOME Keyring, KWallet, KeePassXC)"
} else if cfg!(target_os = "macos") {
    "macOS Keychain"
} else if cfg!(target_os = "windows") {
    "Windows Credential Manager"
} else {
    "none on this platform"
};

/// What to do when there is no keychain, in words for this platform.
pub const FIX: &str = if cfg!(target_os = "linux") {
    "start a Secret Service in this session (a desktop session has one; on a headless machine: \
     `dbus-run-session -- sh -c 'echo -n PASSWORD | gnome-keyring-daemon --unlock --components=secrets; ...'`), \
     or set TOKENAUTH_TOKEN for this one command"
} else {
    "unlock the keychain, or set TOKENAUTH_TOKEN for this one command"
};

fn words(e: &Error) -> String {
    match e {
        Error::NoStorageAccess(inner) => {
            format!(
                "the keychain is locked or refused access ({inner}): unlock it (log in to the \
                 desktop session, or answer its unlock prompt), or set TOKENAUTH_TOKEN for this \
                 one command"
            )
        }
        Error::PlatformFailure(inner) => format!("the keychain failed: {inner}"),
        other => other.to_string(),
    }
}

/// Why a keychain call failed: no store to ask, or an entry name it cannot have.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeychainError {
    /// No store, a locked one, or one that did not answer in time.
    #[error("{0}")]
    Unavailable(String),
    /// The label (or user) is not one an entry can have.
    #[error("{0}")]
    Invalid(String),
}

impl From<KeychainError> for Failure {
    fn from(e: KeychainError) -> Self {
        match e {
            KeychainError::Unavailable(m) | KeychainError::Invalid(m) => Failure::new(m),
        }
    }
}

/// The keychain's service name for a server: the same URL typed two ways is one entry.
pub fn service_name(server: &str) -> String {
    format!("tokenauth {}", normalize_url(server))
}

/// The account of an entry: the user (lower case, as the server compares names), and the
/// label after a `#` when there is one.
pub fn account(user: &str, label: Option<&str>) -> String {
    let user = user_key(user.trim());
    match label {
        Some(l) => format!("{user}#{l}"),
        None => user,
    }
}

/// A label names one of a user's tokens on this machine: 1–64 characters, no `#`, none hidden.
pub fn check_label(label: &str) -> Result<(), KeychainError> {
    let n = label.chars().count();
    if n == 0
        || n > 64
        || label.contains('#')
        || label.chars().any(tokenauth_core::bounded::is_hidden)
    {
        return Err(KeychainError::Invalid(format!(
            "'{}' is not a label: 1 to 64 characters, no '#' and no control characters",
            tokenauth_core::bounded::name(label)
        )));
    }
    Ok(())
}

/// One saved secret, as the index knows it (never the secret itself).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Saved {
    pub url: String,
    pub user: String,
    #[serde(default)]
    pub label: Option<String>,
    /// The token id, when the secret is a token.
    #[serde(default)]
    pub token_id: Option<String>,
}

const INDEX_SERVICE: &str = "tokenauth";
const INDEX_ACCOUNT: &str = "index";

impl Keychain {
    /// Connects to the platform's keychain. Failing is a normal state (no Secret Service in
    /// this session, say): the message says so and what to do.
    pub fn open() -> Result<Self, KeychainError> {
        platform_store().map(|store| Self { store }).map_err(|e| {
            KeychainError::Unavailable(format!(
                "No keychain available ({}): {FIX}. Nothing was stored in a file instead.",
                words(&e)
            ))
        })
    }

    /// For the app's sign-in screen, in the words it shows.
    pub fn open_for_app() -> Result<Self, Failure> {
        Self::open().map_err(|e| {
            let (KeychainError::Unavailable(m) | KeychainError::Invalid(m)) = e;
            Failure::new(format!(
                "{m} Type the secret each time; it is kept in memory only."
            ))
        })
    }

    fn entry(&self, service: &str, account: &str) -> Result<Entry, KeychainError> {
        Entry::new_in_store(&self.store, service, account)
            .map_err(|e| KeychainError::Unavailable(words(&e)))
    }

    fn read(&self, service: &str, account: &str) -> Result<Option<String>, KeychainError> {
        match self.entry(service, account)?.get_password() {
            Ok(s) => Ok(Some(s)),
            Err(Error::NoEntry) => Ok(None),
            Err(e) => Err(KeychainError::Unavailable(words(&e))),
        }
    }

    /// The saved secret of `user` at `server` under `label` (`None`: the unlabelled one).
    pub fn get(
        &self,
        server: &str,
        user: &str,
        label: Option<&str>,
    ) -> Result<Option<String>, KeychainError> {
        if let Some(l) = label {
            check_label(l)?;
        }
        self.read(&service_name(server), &account(user, label))
    }

    /// Saves a secret and notes it in the index.
    pub fn put(
        &self,
        server: &str,
        user: &str,
        label: Option<&str>,
        secret: &str,
    ) -> Result<(), KeychainError> {
        if let Some(l) = label {
            check_label(l)?;
        }
        self.entry(&service_name(server), &account(user, label))?
            .set_password(secret)
            .map_err(|e| KeychainError::Unavailable(words(&e)))?;
        let saved = Saved {
            url: normalize_url(server),
            user: user_key(user.trim()),
            label: label.map(str::to_owned),
            token_id: token_format::parse(secret)
                .ok()
                .map(|t| t.id.as_str().to_owned()),
        };
        self.update_index(|index| {
            index.retain(|s| !same_entry(s, &saved));
            index.push(saved.clone());
        })
    }

    /// Removes a saved secret; answers whether there was one.
    pub fn remove(
        &self,
        server: &str,
        user: &str,
        label: Option<&str>,
    ) -> Result<bool, KeychainError> {
        if let Some(l) = label {
            check_label(l)?;
        }
        let existed = match self
            .entry(&service_name(server), &account(user, label))?
            .delete_credential()
        {
            Ok(()) => true,
            Err(Error::NoEntry) => false,
            Err(e) => return Err(KeychainError::Unavailable(words(&e))),
        };
        let gone = Saved {
            url: normalize_url(server),
            user: user_key(user.trim()),
            label: label.map(str::to_owned),
            token_id: None,
        };
        self.update_index(|index| index.retain(|s| !same_entry(s, &gone)))?;
        Ok(existed)
    }

    /// Reads, changes and writes the index under an exclusive file lock: the app and scripts
    /// may write it at the same moment, the store has no compare-and-swap, and two
    /// read-modify-writes that overlap lose one of the changes (reading back after writing is
    /// not enough: a later writer may have read before ours landed). The lock serialises them
    /// across threads and processes; it is released when the file closes. Where no lock file
    /// can be made the change is still made, read back and re-applied a few times.
    fn update_index(&self, change: impl Fn(&mut Vec<Saved>)) -> Result<(), KeychainError> {
        let _lock = index_lock();
        // The change holds in `index` when applying it again alters nothing (order aside).
        let holds = |index: &Vec<Saved>| {
            let mut want = index.clone();
            change(&mut want);
            want.len() == index.len() && want.iter().all(|w| index.contains(w))
        };
        for attempt in 1..=5u64 {
            let mut index = self.index()?;
            if holds(&index) {
                return Ok(());
            }
            change(&mut index);
            self.write_index(&index)?;
            if holds(&self.index()?) {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(10 * attempt));
        }
        Err(KeychainError::Unavailable(
            "the keychain index kept changing under this write; try again".into(),
        ))
    }

    /// What is saved, as the index says (servers, users, labels, token ids; no secret).
    pub fn index(&self) -> Result<Vec<Saved>, KeychainError> {
        Ok(self
            .read(INDEX_SERVICE, INDEX_ACCOUNT)?
            .and_then(|text| serde_json::from_str(&text).ok())
            .unwrap_or_default())
    }

    fn write_index(&self, index: &[Saved]) -> Result<(), KeychainError> {
        let text = serde_json::to_string(index)
            .map_err(|e| KeychainError::Unavailable(format!("the keychain index: {e}")))?;
        self.entry(INDEX_SERVICE, INDEX_ACCOUNT)?
            .set_password(&text)
            .map_err(|e| KeychainError::Unavailable(words(&e)))
    }

    /// Whether the store answers and is unlocked: reading an entry that need not exist.
    pub fn check(&self) -> Result<(), KeychainError> {
        self.read(INDEX_SERVICE, "status-probe").map(|_| ())
    }

    // The app's calls (the unlabelled entry of a server and user), in its error type.

    /// The saved secret, if there is one.
    pub fn secret(&self, server: &str, user: &str) -> Result<Option<String>, Failure> {
        Ok(self.get(server, user, None)?)
    }

    pub fn save(&self, server: &str, user: &str, secret: &str) -> Result<(), Failure> {
        Ok(self.put(server, user, None, secret)?)
    }

    /// Removes the saved secret; none saved is not an error.
    pub fn forget(&self, server: &str, user: &str) -> Result<(), Failure> {
        self.remove(server, user, None)?;
        Ok(())
    }
}

fn same_entry(a: &Saved, b: &Saved) -> bool {
    a.url == b.url && a.user == b.user && a.label == b.label
}

/// How long a keychain call may take before the command line gives up: long enough for a
/// person to answer an unlock prompt (30 s), or `TOKENAUTH_KEYCHAIN_TIMEOUT` seconds.
pub fn time_limit() -> Duration {
    std::env::var("TOKENAUTH_KEYCHAIN_TIMEOUT")
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
        .map_or(Duration::from_secs(30), Duration::from_secs)
}

/// Runs a keychain call on a thread of its own and waits at most `limit`: a locked keyring
/// whose unlock prompt nobody answers is an error, not a hang. (The call itself cannot be
/// cancelled; the process may exit while it waits.)
pub fn within<T: Send + 'static>(
    limit: Duration,
    f: impl FnOnce() -> Result<T, KeychainError> + Send + 'static,
) -> Result<T, KeychainError> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("keychain".into())
        .spawn(move || {
            let _ = tx.send(f());
        })
        .map_err(|e| KeychainError::Unavailable(format!("cannot start the keychain call: {e}")))?;
    match rx.recv_timeout(limit) {
        Ok(r) => r,
        Err(_) => Err(KeychainError::Unavailable(format!(
            "the keychain did not answer within {} s: it is probably locked, with an unlock \
             prompt nobody can see here. Unlock it (or log in to the desktop session), or set \
             TOKENAUTH_TOKEN for this one command",
            limit.as_secs()
        ))),
    }
}

/// The lock that serialises writers of the index: `index.lock` in the user's config directory
/// for tokenauth (0700), held until the returned file is dropped. `None` when it cannot be
/// made (a read-only home): the caller goes on without it.
fn index_lock() -> Option<std::fs::File> {
    let dir = directories::ProjectDirs::from("", "", "tokenauth")?
        .config_dir()
        .to_path_buf();
    tokenauth_core::private_fs::create_dir(&dir).ok()?;
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.join("index.lock"))
        .ok()?;
    file.lock().ok()?;
    Some(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_named_for_other_tools_to_find() {
        assert_eq!(
            service_name("127.0.0.1:2990/"),
            "tokenauth http://127.0.0.1:2990"
        );
        assert_eq!(account("Alice", None), "alice");
        assert_eq!(account("alice", Some("nightly")), "alice#nightly");
    }

    #[test]
    fn labels_are_short_and_plain() {
        assert!(check_label("nightly build").is_ok());
        for bad in ["", "a#b", "x\n", &"l".repeat(65)] {
            assert!(check_label(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_call_that_never_answers_is_an_error_in_time() {
        let started = std::time::Instant::now();
        let r: Result<(), _> = within(Duration::from_millis(100), || {
            std::thread::sleep(Duration::from_secs(5));
            Ok(())
        });
        assert!(
            matches!(r, Err(KeychainError::Unavailable(ref m)) if m.contains("did not answer"))
        );
        assert!(started.elapsed() < Duration::from_secs(2));
    }
}
