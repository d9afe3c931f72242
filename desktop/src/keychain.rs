//! The OS keychain through keyring-core: Secret Service on Linux (pure Rust, over D-Bus),
//! Keychain on macOS, Credential Manager on Windows. One entry per server and user, holding the
//! secret the app signs in with. Every call may block (D-Bus, an unlock prompt), so the app
//! makes them in the background.

use std::sync::Arc;

use keyring_core::{CredentialStore, Entry, Error};

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

fn words(e: &Error) -> String {
    match e {
        Error::NoStorageAccess(inner) => {
            format!("the keychain is locked or refused access ({inner})")
        }
        Error::PlatformFailure(inner) => format!("the keychain failed: {inner}"),
        other => other.to_string(),
    }
}

/// The keychain's service name for a server: the same URL typed two ways is one entry.
pub fn service_name(server: &str) -> String {
    format!("tokenauth {}", normalize_url(server))
}

impl Keychain {
    /// Connects to the platform's keychain. Failing is a normal state (no Secret Service in
    /// this session, say): the message says so and the user types the secret instead.
    pub fn open() -> Result<Self, Failure> {
        platform_store().map(|store| Self { store }).map_err(|e| {
            Failure::new(format!(
                "No keychain available ({}). Type the secret each time; it is kept in memory only.",
                words(&e)
            ))
        })
    }

    fn entry(&self, server: &str, user: &str) -> Result<Entry, Failure> {
        Entry::new_in_store(
            &self.store,
            &service_name(server),
            &user.trim().to_lowercase(),
        )
        .map_err(|e| Failure::new(words(&e)))
    }

    /// The saved secret, if there is one.
    pub fn secret(&self, server: &str, user: &str) -> Result<Option<String>, Failure> {
        match self.entry(server, user)?.get_password() {
            Ok(s) => Ok(Some(s)),
            Err(Error::NoEntry) => Ok(None),
            Err(e) => Err(Failure::new(words(&e))),
        }
    }

    pub fn save(&self, server: &str, user: &str, secret: &str) -> Result<(), Failure> {
        self.entry(server, user)?
            .set_password(secret)
            .map_err(|e| Failure::new(words(&e)))
    }

    /// Removes the saved secret; none saved is not an error.
    pub fn forget(&self, server: &str, user: &str) -> Result<(), Failure> {
        match self.entry(server, user)?.delete_credential() {
            Ok(()) | Err(Error::NoEntry) => Ok(()),
            Err(e) => Err(Failure::new(words(&e))),
        }
    }
}
