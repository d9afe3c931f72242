//! How many always-audited events one principal may write (security review 2, N5).
//!
//! Token changes are audited whatever the settings say, and so is every presentation of a
//! rotated-away secret. A user with one token could rotate it in a loop and present each old
//! secret, and the audit log — bounded by `audit.maxEvents` — would forget everyone else's
//! history. So the events a principal writes *about its own tokens* are budgeted:
//! - a token change (created, deleted, all deleted, changed, rotated) whose author is also its
//!   affected user — the principal is that user (an admin acting on another user's tokens is
//!   not budgeted: admins are trusted with the log, they set its retention);
//! - a rotated-away secret presented — the principal is the token's owner.
//!
//! Each principal has a bucket of [`per_hour`] events that refills continuously. What does not
//! fit is counted, and written as one `Audit events suppressed` event per principal naming the
//! count and the actions, when the principal is next admitted or at the latest a minute later
//! (on the next write or the next retention round).
//!
//! Why this holds the promise: [`per_hour`] is a quarter of the log's capacity spread over its
//! retention period (`maxEvents / (retentionDays × 24) / 4`; 115 an hour with the defaults), so
//! one principal writing at its full budget for the whole retention period fills at most a
//! quarter of the log, and its events older than `retentionDays` are pruned by age. Pushing
//! another user's history out by count takes at least four principals flooding at once. The
//! floor of [`MIN_PER_HOUR`] keeps a tiny log usable, at the cost of that guarantee.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::audit::{AuditAction, AuditEvent, ChangedValue};
use crate::clock::Millis;
use crate::user::user_key;

/// The budget never goes below this (a log of a few thousand events would otherwise allow one
/// token change an hour).
pub const MIN_PER_HOUR: u64 = 60;
/// Principals tracked at once; past it, fully refilled buckets are forgotten first.
pub const MAX_PRINCIPALS: usize = 10_000;
/// How long suppressed events wait, at most, for their summary.
pub const SUMMARY_AFTER: Millis = 60_000;
const HOUR: Millis = 3_600_000;

/// The hourly budget for a log of `max_events` kept `retention_days`.
pub fn per_hour(max_events: u64, retention_days: u32) -> u64 {
    let hours = u64::from(retention_days.max(1)) * 24;
    (max_events / hours / 4).max(MIN_PER_HOUR)
}

/// The principal an event is charged to, if it is budgeted.
fn principal(e: &AuditEvent) -> Option<String> {
    match e.action {
        AuditAction::TokenCreated
        | AuditAction::TokenDeleted
        | AuditAction::AllTokensDeleted
        | AuditAction::TokenChanged
        | AuditAction::TokenRotated => {
            let affected = e.affected_user.as_deref()?;
            (user_key(affected) == user_key(&e.author)).then(|| user_key(affected))
        }
        AuditAction::RotatedTokenPresented => e.affected_user.as_deref().map(user_key),
        _ => None,
    }
}

#[derive(Debug)]
struct Bucket {
    /// Events available, in thousandths (so a refill of a fraction of an event is kept).
    milli: u64,
    refilled_at: Millis,
    /// Events not written.
    suppressed: u64,
    /// Token changes refused (not made, so nothing of them is lost).
    refused: u64,
    suppressed_since: Millis,
    /// The actions suppressed or refused, by their index in `AuditAction::ALL`.
    actions: u64,
}

impl Bucket {
    fn full(now: Millis, per_hour: u64) -> Self {
        Bucket {
            milli: per_hour * 1000,
            refilled_at: now,
            suppressed: 0,
            refused: 0,
            suppressed_since: now,
            actions: 0,
        }
    }

    fn pending(&self) -> bool {
        self.suppressed > 0 || self.refused > 0
    }

    fn note(&mut self, action: AuditAction, at: Millis) {
        if !self.pending() {
            self.suppressed_since = at;
        }
        self.actions |= 1 << action_index(action);
    }
}

#[derive(Debug, Default)]
struct State {
    buckets: HashMap<String, Bucket>,
    /// When the buckets are next looked through for summaries that are due.
    next_scan: Millis,
}

/// The budgets of every principal, shared by every writer of the log.
#[derive(Debug, Default)]
pub struct AuditBudget {
    state: Mutex<State>,
}

impl AuditBudget {
    /// The events to write, in order: the unbudgeted ones, the budgeted ones that fit, and
    /// before a principal's first admitted event (or at the end, once due) the summary of what
    /// it had suppressed.
    pub fn admit(&self, events: Vec<AuditEvent>, now: Millis, per_hour: u64) -> Vec<AuditEvent> {
        let mut state = self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // A batch with no budgeted event (successes and failures: the audited requests) is
        // kept as it is, in its own buffer: the writer reuses it (issue 21).
        let mut out = if events.iter().all(|e| principal(e).is_none()) {
            events
        } else {
            admit_each(&mut state, events, now, per_hour)
        };
        if now >= state.next_scan {
            state.next_scan = now + SUMMARY_AFTER;
            out.extend(due_summaries(&mut state.buckets, now));
        }
        out
    }

    /// Takes one event of a token change's principal before the change is made (its event is
    /// written with it, atomically): `Err` with the seconds until the next fits when the
    /// budget is spent — the change is refused, and counted in the next summary.
    pub fn charge(&self, e: &AuditEvent, now: Millis, per_hour: u64) -> Result<(), u64> {
        let Some(key) = principal(e) else {
            return Ok(());
        };
        let mut state = self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if !state.buckets.contains_key(&key) && state.buckets.len() >= MAX_PRINCIPALS {
            forget_refilled(&mut state.buckets, now, per_hour);
            if state.buckets.len() >= MAX_PRINCIPALS {
                return Ok(());
            }
        }
        let bucket = state
            .buckets
            .entry(key)
            .or_insert_with(|| Bucket::full(now, per_hour));
        refill(bucket, now, per_hour);
        if bucket.milli >= 1000 {
            bucket.milli -= 1000;
            return Ok(());
        }
        bucket.note(e.action, now);
        bucket.refused += 1;
        let missing = 1000 - bucket.milli;
        let ms = (missing * HOUR as u64).div_ceil(per_hour.max(1) * 1000);
        Err(ms.div_ceil(1000).max(1))
    }

    /// The summaries due now (for the retention round, so a principal that stopped is still
    /// reported).
    pub fn due(&self, now: Millis) -> Vec<AuditEvent> {
        let mut state = self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        due_summaries(&mut state.buckets, now)
    }
}

/// [`AuditBudget::admit`] of a batch holding budgeted events: each one charged to its
/// principal's bucket, in order.
fn admit_each(
    state: &mut State,
    events: Vec<AuditEvent>,
    now: Millis,
    per_hour: u64,
) -> Vec<AuditEvent> {
    let mut out = Vec::with_capacity(events.len());
    for e in events {
        let Some(key) = principal(&e) else {
            out.push(e);
            continue;
        };
        if !state.buckets.contains_key(&key) && state.buckets.len() >= MAX_PRINCIPALS {
            forget_refilled(&mut state.buckets, now, per_hour);
        }
        if !state.buckets.contains_key(&key) && state.buckets.len() >= MAX_PRINCIPALS {
            // Every tracked principal is flooding: the newcomer is written unbudgeted
            // rather than silently lost (it takes 10,000 accounts to get here).
            out.push(e);
            continue;
        }
        let bucket = state
            .buckets
            .entry(key.clone())
            .or_insert_with(|| Bucket::full(now, per_hour));
        refill(bucket, now, per_hour);
        if bucket.milli >= 1000 {
            bucket.milli -= 1000;
            if bucket.pending() {
                out.push(summary(&key, bucket, now));
            }
            out.push(e);
        } else {
            bucket.note(e.action, e.timestamp);
            bucket.suppressed += 1;
        }
    }
    out
}

fn refill(b: &mut Bucket, now: Millis, per_hour: u64) {
    let elapsed = u64::try_from(now.saturating_sub(b.refilled_at)).unwrap_or(0);
    let cap = per_hour * 1000;
    // per_hour events an hour = per_hour × 1000 milli-events per 3,600,000 ms.
    let gained = elapsed.saturating_mul(per_hour) * 1000 / HOUR as u64;
    if gained > 0 {
        b.milli = b.milli.saturating_add(gained).min(cap);
        b.refilled_at = now;
    }
}

fn forget_refilled(buckets: &mut HashMap<String, Bucket>, now: Millis, per_hour: u64) {
    buckets.retain(|_, b| {
        refill(b, now, per_hour);
        b.pending() || b.milli < per_hour * 1000
    });
}

fn due_summaries(buckets: &mut HashMap<String, Bucket>, now: Millis) -> Vec<AuditEvent> {
    let mut out = Vec::new();
    let mut keys: Vec<&String> = buckets
        .iter()
        .filter(|(_, b)| b.pending() && now - b.suppressed_since >= SUMMARY_AFTER)
        .map(|(k, _)| k)
        .collect();
    keys.sort();
    let keys: Vec<String> = keys.into_iter().cloned().collect();
    for k in keys {
        if let Some(b) = buckets.get_mut(&k) {
            out.push(summary(&k, b, now));
        }
    }
    out
}

fn action_index(a: AuditAction) -> usize {
    AuditAction::ALL.iter().position(|x| *x == a).unwrap_or(0)
}

/// One event for what a principal had suppressed; resets its count.
fn summary(key: &str, b: &mut Bucket, now: Millis) -> AuditEvent {
    let actions: Vec<&str> = AuditAction::ALL
        .iter()
        .enumerate()
        .filter(|(i, _)| b.actions & (1 << i) != 0)
        .map(|(_, a)| a.label())
        .collect();
    let mut e = AuditEvent::new(now, AuditAction::AuditEventsSuppressed, "tokenauth");
    e.affected_user = Some(key.to_owned());
    e.reason = Some(format!(
        "over the budget of one user's own tokens since {}: {} event(s) not recorded and {} \
         token change(s) refused ({})",
        crate::clock::to_rfc3339(b.suppressed_since),
        b.suppressed,
        b.refused,
        actions.join(", "),
    ));
    for (key, n) in [("suppressed", b.suppressed), ("refused", b.refused)] {
        e.changed_values.push(ChangedValue {
            key: key.into(),
            from: String::new(),
            to: n.to_string(),
        });
    }
    b.suppressed = 0;
    b.refused = 0;
    b.actions = 0;
    e
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rotated_by(user: &str, at: Millis) -> AuditEvent {
        let mut e = AuditEvent::new(at, AuditAction::TokenRotated, user);
        e.affected_user = Some(user.into());
        e
    }

    fn old_secret_of(user: &str, at: Millis) -> AuditEvent {
        let mut e = AuditEvent::new(
            at,
            AuditAction::RotatedTokenPresented,
            crate::audit::ANONYMOUS,
        );
        e.affected_user = Some(user.into());
        e
    }

    #[test]
    fn own_token_changes_past_the_budget_are_refused_and_counted() {
        let b = AuditBudget::default();
        for i in 0..60 {
            assert_eq!(b.charge(&rotated_by("mallory", i), i, 60), Ok(()));
        }
        // One event a minute refills: the next fits within 60 s.
        let wait = b.charge(&rotated_by("mallory", 60), 60, 60).unwrap_err();
        assert!((1..=60).contains(&wait), "{wait}");
        let due = b.due(60 + SUMMARY_AFTER);
        assert_eq!(due.len(), 1);
        assert_eq!(due[0].changed_values[1].key, "refused");
        assert_eq!(due[0].changed_values[1].to, "1");
        // Alice's own changes are hers to spend.
        assert_eq!(b.charge(&rotated_by("alice", 61), 61, 60), Ok(()));
    }

    #[test]
    fn the_budget_is_a_quarter_of_the_log_over_its_retention_with_a_floor() {
        assert_eq!(per_hour(1_000_000, 90), 115);
        assert_eq!(per_hour(1_000, 90), MIN_PER_HOUR);
        // One principal at its budget for the whole retention fills at most a quarter.
        assert!(per_hour(1_000_000, 90) * 90 * 24 <= 1_000_000 / 4);
    }

    #[test]
    fn a_flood_of_old_secrets_is_cut_at_the_budget_and_summarised_once() {
        let b = AuditBudget::default();
        let flood: Vec<AuditEvent> = (0..1_000).map(|i| old_secret_of("mallory", i)).collect();
        let kept = b.admit(flood, 1_000, 60);
        assert_eq!(kept.len(), 60);
        // Nothing else for a minute...
        assert!(b.due(30_000).is_empty());
        // ...then one summary naming the count.
        let due = b.due(1_000 + SUMMARY_AFTER);
        assert_eq!(due.len(), 1);
        assert_eq!(due[0].action, AuditAction::AuditEventsSuppressed);
        assert_eq!(due[0].affected_user.as_deref(), Some("mallory"));
        assert_eq!(due[0].changed_values[0].to, "940");
        assert!(
            due[0]
                .reason
                .as_deref()
                .unwrap()
                .contains("Rotated-away API token used")
        );
        assert!(b.due(10 * SUMMARY_AFTER).is_empty());
    }

    #[test]
    fn others_and_admins_acting_on_others_are_not_charged() {
        let b = AuditBudget::default();
        let flood: Vec<AuditEvent> = (0..500).map(|i| old_secret_of("mallory", i)).collect();
        let _ = b.admit(flood, 0, 60);
        let mut by_admin = AuditEvent::new(1, AuditAction::TokenDeleted, "admin");
        by_admin.affected_user = Some("mallory".into());
        let kept = b.admit(
            vec![old_secret_of("alice", 1), by_admin.clone(), by_admin],
            1,
            60,
        );
        assert_eq!(kept.len(), 3);
    }

    #[test]
    fn the_budget_refills_and_the_next_admitted_event_carries_the_summary_first() {
        let b = AuditBudget::default();
        let _ = b.admit((0..70).map(|i| old_secret_of("m", i)).collect(), 0, 60);
        // A minute refills one event: the summary of the 10 suppressed, then the event.
        let kept = b.admit(vec![old_secret_of("m", 60_000)], 60_000, 60);
        assert_eq!(kept.len(), 2);
        assert_eq!(kept[0].action, AuditAction::AuditEventsSuppressed);
        assert_eq!(kept[0].changed_values[0].to, "10");
        assert_eq!(kept[1].action, AuditAction::RotatedTokenPresented);
    }

    #[test]
    fn a_batch_of_unbudgeted_events_is_kept_whole_and_a_due_summary_still_follows_it() {
        let b = AuditBudget::default();
        let _ = b.admit((0..70).map(|i| old_secret_of("m", i)).collect(), 0, 60);
        let successes: Vec<AuditEvent> = (0..5)
            .map(|i| AuditEvent::new(i, AuditAction::AuthenticatedWithToken, format!("u{i}")))
            .collect();
        let buffer = successes.as_ptr();
        let kept = b.admit(successes, 1, 60);
        assert_eq!(kept.len(), 5);
        assert!(
            kept.iter()
                .enumerate()
                .all(|(i, e)| e.author == format!("u{i}"))
        );
        // The writer's buffer comes back to it.
        assert_eq!(kept.as_ptr(), buffer);
        // Once the summaries are due, an unbudgeted batch still carries them after its events.
        let at = 2 * SUMMARY_AFTER;
        let later = vec![AuditEvent::new(at, AuditAction::FailedAuthentication, "x")];
        let kept = b.admit(later, at, 60);
        assert_eq!(kept.len(), 2);
        assert_eq!(kept[0].action, AuditAction::FailedAuthentication);
        assert_eq!(kept[1].action, AuditAction::AuditEventsSuppressed);
    }

    #[test]
    fn the_principals_tracked_are_bounded() {
        let b = AuditBudget::default();
        for i in 0..(MAX_PRINCIPALS + 500) {
            let _ = b.admit(vec![old_secret_of(&format!("u{i}"), 0)], 0, 60);
        }
        let n = b.state.lock().unwrap().buckets.len();
        assert!(n <= MAX_PRINCIPALS, "{n}");
    }
}
