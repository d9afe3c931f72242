//! Sessions opened by `POST /rest/auth/1/session`, held in memory (a restart logs everyone out).
//!
//! A session dies with what opened it: core's decision refuses it once its password changed,
//! passwords were disabled, its token was revoked or its user deactivated; the server also ends
//! it here at once on those changes ([`Sessions::end_user`], [`Sessions::end_token`],
//! [`Sessions::end_password_sessions`]), so a user re-activated later does not find old
//! sessions alive.
//!
//! Bounds: each user holds at most [`PER_USER`] sessions (their oldest goes first), so logging
//! in again and again evicts only one's own sessions, never someone else's; and the whole map
//! holds at most [`MAX_SESSIONS`] (or `--max-sessions`): when it is full of live sessions a new login is refused
//! rather than logging anyone out. Expired sessions leave in creation order, each at O(1).

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::Engine as _;
use tokenauth_core::credentials::{SessionOrigin, SessionPrincipal};
use tokenauth_core::secret_hash::random_bytes;
use tokenauth_core::token_format::TokenId;
use tokenauth_core::user::user_key;

pub const COOKIE: &str = "JSESSIONID";
const LIFETIME: Duration = Duration::from_secs(8 * 3600);
pub const MAX_SESSIONS: usize = 100_000;
/// More than any person or script needs at once; a loop of logins evicts only its own.
pub const PER_USER: usize = 50;

struct Session {
    principal: SessionPrincipal,
    user_key: String,
    opened: Instant,
}

#[derive(Default)]
struct Inner {
    by_id: HashMap<String, Session>,
    /// Each user's session ids, oldest first.
    by_user: HashMap<String, VecDeque<String>>,
    /// Every id in creation order, for expiry; ids closed early stay until they reach the
    /// front (or a compaction), and are skipped there.
    order: VecDeque<(Instant, String)>,
}

impl Inner {
    fn remove(&mut self, id: &str) -> Option<Session> {
        let s = self.by_id.remove(id)?;
        if let Some(ids) = self.by_user.get_mut(&s.user_key) {
            ids.retain(|x| x != id);
            if ids.is_empty() {
                self.by_user.remove(&s.user_key);
            }
        }
        Some(s)
    }

    fn expire(&mut self) {
        while let Some((opened, _)) = self.order.front() {
            if opened.elapsed() < LIFETIME {
                break;
            }
            if let Some((_, id)) = self.order.pop_front() {
                self.remove(&id);
            }
        }
        // Closed sessions leave stale ids behind; keep the queue proportional to the map.
        if self.order.len() > 2 * self.by_id.len() + 1024 {
            let live = &self.by_id;
            self.order.retain(|(_, id)| live.contains_key(id));
        }
    }

    fn remove_where(&mut self, mut dead: impl FnMut(&Session) -> bool) -> usize {
        let ids: Vec<String> = self
            .by_id
            .iter()
            .filter(|(_, s)| dead(s))
            .map(|(id, _)| id.clone())
            .collect();
        for id in &ids {
            self.remove(id);
        }
        ids.len()
    }
}

pub struct Sessions {
    inner: Mutex<Inner>,
    max: usize,
}

impl Default for Sessions {
    fn default() -> Self {
        Self::new(MAX_SESSIONS)
    }
}

#[derive(Debug, PartialEq, Eq)]
pub enum OpenError {
    /// The operating system's random generator failed.
    Random,
    /// The most live sessions allowed: nobody is logged out to make room.
    Full,
}

impl Sessions {
    /// At most `max` live sessions in all.
    pub fn new(max: usize) -> Self {
        Self {
            inner: Mutex::new(Inner::default()),
            max: max.max(1),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub fn open(&self, principal: SessionPrincipal) -> Result<String, OpenError> {
        let id = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(random_bytes::<32>().map_err(|_| OpenError::Random)?);
        let key = user_key(&principal.user);
        let mut inner = self.lock();
        inner.expire();
        // The user's own oldest session makes room, never someone else's.
        let oldest_own = inner
            .by_user
            .get(&key)
            .filter(|ids| ids.len() >= PER_USER)
            .and_then(|ids| ids.front().cloned());
        if let Some(old) = oldest_own {
            inner.remove(&old);
        }
        if inner.by_id.len() >= self.max {
            return Err(OpenError::Full);
        }
        let now = Instant::now();
        inner.order.push_back((now, id.clone()));
        inner
            .by_user
            .entry(key.clone())
            .or_default()
            .push_back(id.clone());
        inner.by_id.insert(
            id.clone(),
            Session {
                principal,
                user_key: key,
                opened: now,
            },
        );
        Ok(id)
    }

    pub fn get(&self, id: &str) -> Option<SessionPrincipal> {
        let mut inner = self.lock();
        match inner.by_id.get(id) {
            Some(s) if s.opened.elapsed() < LIFETIME => Some(s.principal.clone()),
            Some(_) => {
                inner.remove(id);
                None
            }
            None => None,
        }
    }

    pub fn close(&self, id: &str) -> bool {
        self.lock().remove(id).is_some()
    }

    /// Ends every session of a user (password changed, deactivated, deleted).
    pub fn end_user(&self, name: &str) -> usize {
        let key = user_key(name);
        let mut inner = self.lock();
        let ids: Vec<String> = inner
            .by_user
            .get(&key)
            .map(|ids| ids.iter().cloned().collect())
            .unwrap_or_default();
        for id in &ids {
            inner.remove(id);
        }
        ids.len()
    }

    /// Ends every session opened with one of these tokens (revoked).
    pub fn end_token<'a>(&self, ids: impl IntoIterator<Item = &'a str>) -> usize {
        let ids: Vec<&str> = ids.into_iter().collect();
        if ids.is_empty() {
            return 0;
        }
        self.lock().remove_where(|s| match &s.principal.origin {
            SessionOrigin::Token(t) => ids.contains(&t.as_str()),
            SessionOrigin::Password { .. } => false,
        })
    }

    /// Ends every session opened with a password (passwords disabled).
    pub fn end_password_sessions(&self) -> usize {
        self.lock()
            .remove_where(|s| matches!(s.principal.origin, SessionOrigin::Password { .. }))
    }

    pub fn len(&self) -> usize {
        self.lock().by_id.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The token a session was opened with, if any.
pub fn session_token(p: &SessionPrincipal) -> Option<&TokenId> {
    match &p.origin {
        SessionOrigin::Token(id) => Some(id),
        SessionOrigin::Password { .. } => None,
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

    fn password(user: &str) -> SessionPrincipal {
        SessionPrincipal {
            user: user.into(),
            origin: SessionOrigin::Password { stamp: [7; 16] },
        }
    }

    fn token(user: &str, id: &str) -> SessionPrincipal {
        SessionPrincipal {
            user: user.into(),
            origin: SessionOrigin::Token(TokenId::parse(id).unwrap()),
        }
    }

    #[test]
    fn a_session_is_found_by_its_id_until_closed() {
        let s = Sessions::default();
        let id = s.open(password("alice")).unwrap();
        assert_eq!(s.get(&id).unwrap().user, "alice");
        assert!(s.close(&id));
        assert!(s.get(&id).is_none());
    }

    #[test]
    fn l4_logging_in_again_and_again_evicts_only_ones_own_sessions() {
        let s = Sessions::default();
        let bob = s.open(password("bob")).unwrap();
        for _ in 0..(3 * PER_USER) {
            s.open(password("alice")).unwrap();
        }
        assert!(s.get(&bob).is_some(), "bob is still signed in");
        assert_eq!(s.len(), PER_USER + 1);
    }

    #[test]
    fn a_full_map_refuses_new_logins_instead_of_logging_anyone_out() {
        let s = Sessions::new(3);
        let ids: Vec<String> = ["a", "b", "c"]
            .iter()
            .map(|u| s.open(password(u)).unwrap())
            .collect();
        assert_eq!(s.open(password("d")), Err(OpenError::Full));
        assert!(ids.iter().all(|id| s.get(id).is_some()));
    }

    #[test]
    fn m1_sessions_end_with_their_user_their_token_or_passwords() {
        let s = Sessions::default();
        let a1 = s.open(password("Alice")).unwrap();
        let a2 = s.open(token("alice", "AAAAAAAAAAAA")).unwrap();
        let b1 = s.open(password("bob")).unwrap();
        let b2 = s.open(token("bob", "BBBBBBBBBBBB")).unwrap();
        assert_eq!(s.end_token(["AAAAAAAAAAAA"]), 1);
        assert!(s.get(&a2).is_none() && s.get(&a1).is_some());
        assert_eq!(s.end_user("ALICE"), 1);
        assert!(s.get(&a1).is_none());
        assert_eq!(s.end_password_sessions(), 1);
        assert!(s.get(&b1).is_none() && s.get(&b2).is_some());
        assert_eq!(s.len(), 1);
    }

    #[test]
    fn the_cookie_is_found_among_others() {
        assert_eq!(cookie_value("a=b; JSESSIONID=xyz; c=d"), Some("xyz"));
        assert_eq!(cookie_value("JSESSIONID="), None);
        assert_eq!(cookie_value("other=1"), None);
    }
}
