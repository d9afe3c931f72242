//! Sessions opened by `POST /rest/auth/1/session`, held in memory (a restart logs everyone out).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::Engine as _;
use tokenauth_core::credentials::SessionPrincipal;
use tokenauth_core::secret_hash::random_bytes;

pub const COOKIE: &str = "JSESSIONID";
const LIFETIME: Duration = Duration::from_secs(8 * 3600);
const MAX_SESSIONS: usize = 100_000;

pub struct Sessions {
    map: Mutex<HashMap<String, (SessionPrincipal, Instant)>>,
}

impl Default for Sessions {
    fn default() -> Self {
        Self {
            map: Mutex::new(HashMap::new()),
        }
    }
}

impl Sessions {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (SessionPrincipal, Instant)>> {
        self.map
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub fn open(&self, principal: SessionPrincipal) -> Option<String> {
        let id =
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random_bytes::<32>().ok()?);
        let mut map = self.lock();
        if map.len() >= MAX_SESSIONS {
            map.retain(|_, (_, at)| at.elapsed() < LIFETIME);
        }
        if map.len() >= MAX_SESSIONS {
            // Still full of live sessions: the oldest goes.
            if let Some(oldest) = map
                .iter()
                .min_by_key(|(_, (_, at))| *at)
                .map(|(k, _)| k.clone())
            {
                map.remove(&oldest);
            }
        }
        map.insert(id.clone(), (principal, Instant::now()));
        Some(id)
    }

    pub fn get(&self, id: &str) -> Option<SessionPrincipal> {
        let mut map = self.lock();
        match map.get(id) {
            Some((p, at)) if at.elapsed() < LIFETIME => Some(p.clone()),
            Some(_) => {
                map.remove(id);
                None
            }
            None => None,
        }
    }

    pub fn close(&self, id: &str) -> bool {
        self.lock().remove(id).is_some()
    }
}

/// The session id from a `Cookie` header, if it names ours.
pub fn cookie_value(header: &str) -> Option<&str> {
    header.split(';').find_map(|part| {
        let (name, value) = part.trim().split_once('=')?;
        (name == COOKIE && !value.is_empty()).then_some(value)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_is_found_by_its_id_until_closed() {
        let s = Sessions::default();
        let id = s
            .open(SessionPrincipal {
                user: "alice".into(),
                token: None,
            })
            .unwrap();
        assert_eq!(s.get(&id).unwrap().user, "alice");
        assert!(s.close(&id));
        assert!(s.get(&id).is_none());
    }

    #[test]
    fn the_cookie_is_found_among_others() {
        assert_eq!(cookie_value("a=b; JSESSIONID=xyz; c=d"), Some("xyz"));
        assert_eq!(cookie_value("JSESSIONID="), None);
        assert_eq!(cookie_value("other=1"), None);
    }
}
