//! Time as the rules see it: milliseconds since the Unix epoch, from an injectable clock so that
//! expiry and retention can be tested without sleeping.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Milliseconds since 1970-01-01T00:00:00Z (UTC).
pub type Millis = i64;

pub const MILLIS_PER_DAY: Millis = 86_400_000;

pub trait Clock: Send + Sync {
    fn now(&self) -> Millis;
}

#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Millis {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
            .unwrap_or(0)
    }
}

/// A clock that only moves when told to; shared clones see the same time.
#[derive(Debug, Clone)]
pub struct ManualClock(Arc<AtomicI64>);

impl ManualClock {
    pub fn new(start: Millis) -> Self {
        Self(Arc::new(AtomicI64::new(start)))
    }
    pub fn set(&self, now: Millis) {
        self.0.store(now, Ordering::SeqCst);
    }
    pub fn advance(&self, by: Millis) {
        self.0.fetch_add(by, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Millis {
        self.0.load(Ordering::SeqCst)
    }
}

/// RFC 3339 with millisecond precision in UTC, the form every JSON time of the API takes.
pub fn to_rfc3339(ms: Millis) -> String {
    let nanos = i128::from(ms) * 1_000_000;
    match time::OffsetDateTime::from_unix_timestamp_nanos(nanos) {
        Ok(t) => {
            let format = time::macros::format_description!(
                "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
            );
            t.format(&format).unwrap_or_else(|_| ms.to_string())
        }
        Err(_) => ms.to_string(),
    }
}

/// Parses an RFC 3339 / ISO 8601 date-time (with offset) into milliseconds.
pub fn parse_rfc3339(text: &str) -> Option<Millis> {
    let t =
        time::OffsetDateTime::parse(text.trim(), &time::format_description::well_known::Rfc3339)
            .ok()?;
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_round_trips_with_milliseconds() {
        let ms = 1_764_000_000_123;
        let text = to_rfc3339(ms);
        assert_eq!(text, "2025-11-24T16:00:00.123Z");
        assert_eq!(parse_rfc3339(&text), Some(ms));
    }

    #[test]
    fn rfc3339_accepts_offsets_and_rejects_garbage() {
        assert_eq!(
            parse_rfc3339("2025-11-24T17:00:00+01:00"),
            Some(1_764_000_000_000)
        );
        assert_eq!(parse_rfc3339("yesterday"), None);
    }

    #[test]
    fn manual_clock_moves_only_when_told() {
        let c = ManualClock::new(10);
        let shared = c.clone();
        c.advance(5);
        assert_eq!(shared.now(), 15);
        c.set(1);
        assert_eq!(shared.now(), 1);
    }
}
