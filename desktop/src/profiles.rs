//! Servers the app remembers between runs (URL and user, never a secret), kept in eframe's
//! storage.

use serde::{Deserialize, Serialize};

pub const STORAGE_KEY: &str = "tokenauth.profiles";
const MAX_PROFILES: usize = 12;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Profile {
    pub url: String,
    pub user: String,
}

impl Profile {
    pub fn label(&self) -> String {
        format!("{} @ {}", self.user, self.url)
    }
}

/// Most recently used first.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Profiles {
    pub list: Vec<Profile>,
    /// Certificates accepted on first use: server URL → SHA-256 fingerprint (`AB:CD:…`).
    /// Not a secret; kept so a changed certificate is noticed.
    #[serde(default)]
    pub pins: std::collections::BTreeMap<String, String>,
}

impl Profiles {
    /// Puts a profile first, once; the oldest beyond the limit are forgotten.
    pub fn remember(&mut self, url: &str, user: &str) {
        let p = Profile {
            url: normalize_url(url),
            user: user.trim().to_owned(),
        };
        self.list
            .retain(|q| !(q.url == p.url && q.user.eq_ignore_ascii_case(&p.user)));
        self.list.insert(0, p);
        self.list.truncate(MAX_PROFILES);
    }

    pub fn forget(&mut self, index: usize) {
        if index < self.list.len() {
            self.list.remove(index);
        }
    }

    pub fn last(&self) -> Option<&Profile> {
        self.list.first()
    }

    /// The fingerprint accepted for `url`, if any.
    pub fn pin(&self, url: &str) -> Option<&String> {
        self.pins.get(&normalize_url(url))
    }

    pub fn set_pin(&mut self, url: &str, fingerprint: &str) {
        self.pins.insert(normalize_url(url), fingerprint.to_owned());
    }

    pub fn forget_pin(&mut self, url: &str) {
        self.pins.remove(&normalize_url(url));
    }
}

/// The server URL as the app stores and keys it: trimmed, without a trailing slash, with
/// `http://` when no scheme was typed.
pub fn normalize_url(url: &str) -> String {
    let url = url.trim().trim_end_matches('/');
    if url.contains("://") || url.is_empty() {
        url.to_owned()
    } else {
        format!("http://{url}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembering_moves_a_server_first_once_and_keeps_no_secret() {
        let mut p = Profiles::default();
        p.remember("127.0.0.1:2990/", "admin");
        p.remember("http://jira.example:8080", "alice");
        p.remember("http://127.0.0.1:2990", "ADMIN");
        assert_eq!(p.list.len(), 2);
        assert_eq!(p.last().unwrap().url, "http://127.0.0.1:2990");
        assert_eq!(p.last().unwrap().user, "ADMIN");
        let stored = serde_json::to_string(&p).unwrap();
        assert!(!stored.contains("secret") && !stored.contains("password"));
    }

    #[test]
    fn only_the_most_recent_servers_are_kept() {
        let mut p = Profiles::default();
        for i in 0..20 {
            p.remember(&format!("http://host{i}"), "u");
        }
        assert_eq!(p.list.len(), MAX_PROFILES);
        assert_eq!(p.list[0].url, "http://host19");
    }
}
