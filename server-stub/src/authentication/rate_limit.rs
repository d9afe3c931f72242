//! The optional per-user rate limit: requests per minute in fixed windows.

use std::collections::HashMap;
use std::sync::Mutex;

use tokenauth_core::clock::Millis;

const WINDOW_MS: Millis = 60_000;

#[derive(Default)]
pub struct RateLimiter {
    windows: Mutex<HashMap<String, (Millis, u32)>>,
}

impl RateLimiter {
    /// `Err(seconds)` to wait when `user` is over `limit` requests in the current minute.
    pub fn check(&self, user_key: &str, limit: u32, now: Millis) -> Result<(), u64> {
        let window = now - now.rem_euclid(WINDOW_MS);
        let mut map = self
            .windows
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if map.len() > 100_000 {
            map.retain(|_, (w, _)| *w == window);
        }
        let slot = map.entry(user_key.to_owned()).or_insert((window, 0));
        if slot.0 != window {
            *slot = (window, 0);
        }
        if slot.1 >= limit {
            let wait_ms = window + WINDOW_MS - now;
            return Err(u64::try_from((wait_ms + 999) / 1000).unwrap_or(1).max(1));
        }
        slot.1 += 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_over_the_limit_wait_for_the_next_minute() {
        let r = RateLimiter::default();
        assert!(r.check("alice", 2, 60_000).is_ok());
        assert!(r.check("alice", 2, 60_500).is_ok());
        assert_eq!(r.check("alice", 2, 61_000), Err(59));
        assert!(r.check("bob", 2, 61_000).is_ok());
        assert!(r.check("alice", 2, 120_000).is_ok());
    }
}
