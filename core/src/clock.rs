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
///
/// Written digit by digit: `serverTime`, every event of the audit log and every log line
/// carry one, and `time`'s formatter (which interprets its format description at each call)
/// cost a tenth of an anonymous request's CPU (issue 21). Years outside 0000–9999 take that
/// formatter, which knows how to write them.
pub fn to_rfc3339(ms: Millis) -> String {
    // Whole seconds and the milliseconds apart: i64 arithmetic, where the nanosecond
    // constructor divides an i128 (serverInfo writes one of these per request, issue 21).
    let Ok(t) = time::OffsetDateTime::from_unix_timestamp(ms.div_euclid(1000)) else {
        return ms.to_string();
    };
    let milli = u16::try_from(ms.rem_euclid(1000)).unwrap_or(0);
    let Ok(year) = u16::try_from(t.year()) else {
        return formatted(t, milli, ms);
    };
    if year > 9999 {
        return formatted(t, milli, ms);
    }
    let mut text = *b"0000-00-00T00:00:00.000Z";
    for (at, width, value) in [
        (0, 4, year),
        (5, 2, u16::from(u8::from(t.month()))),
        (8, 2, u16::from(t.day())),
        (11, 2, u16::from(t.hour())),
        (14, 2, u16::from(t.minute())),
        (17, 2, u16::from(t.second())),
        (20, 3, milli),
    ] {
        let mut v = value;
        for digit in text[at..at + width].iter_mut().rev() {
            *digit = b'0' + (v % 10) as u8;
            v /= 10;
        }
    }
    // Digits and ASCII punctuation only: never the fallback.
    std::str::from_utf8(&text).map_or_else(|_| formatted(t, milli, ms), str::to_owned)
}

/// `time`'s own formatting of [`to_rfc3339`]'s form, for the years it does not write itself.
fn formatted(t: time::OffsetDateTime, milli: u16, ms: Millis) -> String {
    let format = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    let t = t.replace_millisecond(milli).unwrap_or(t);
    t.format(&format).unwrap_or_else(|_| ms.to_string())
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
    fn rfc3339_written_by_hand_is_what_the_time_crate_writes() {
        // Every field's carry: a leap day, the last millisecond of a year, the epoch, a time
        // before it, the first and last years of four digits.
        let edges = [
            0,
            -1,
            951_782_400_000,
            1_767_225_599_999,
            -62_167_219_200_000,
            253_402_300_799_999,
        ];
        let steps = (0..20_000).map(|i: i64| i * 7_919_331_773 - 40_000_000_000_000);
        for ms in edges.into_iter().chain(steps) {
            let t = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
                .expect("in range");
            assert_eq!(to_rfc3339(ms), formatted(t, t.millisecond(), ms), "at {ms}");
        }
        assert_eq!(to_rfc3339(-62_167_219_200_001), "-0001-12-31T23:59:59.999Z");
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
