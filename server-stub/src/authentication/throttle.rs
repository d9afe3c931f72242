//! Reports of a rotated-away secret, at most one per token per minute. Core audits every
//! presentation of a rotated-away secret whatever the settings (the admin must learn which
//! script still uses it); whoever holds that secret could otherwise send it in a loop and push
//! the real history out of a log bounded by `maxEvents`. The first presentation in a window is
//! written at once; the rest are counted and named in the next report.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tokenauth_core::audit::{AuditAction, AuditEvent};

pub const WINDOW: Duration = Duration::from_secs(60);
/// Retired tokens tracked at once; beyond it, reports of tokens not tracked are dropped (and
/// counted in the next report of a tracked one only if it is tracked again).
const MAX_TRACKED: usize = 10_000;

#[derive(Default)]
pub struct RotatedReports {
    seen: Mutex<HashMap<String, (Instant, u64)>>,
}

impl RotatedReports {
    /// Keeps the events worth writing: every other event, and a rotated-away presentation
    /// when none of the same token was reported within the window.
    pub fn filter(&self, events: &mut Vec<AuditEvent>) {
        if !events
            .iter()
            .any(|e| e.action == AuditAction::RotatedTokenPresented)
        {
            return;
        }
        let now = Instant::now();
        let mut seen = self
            .seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        events.retain_mut(|e| {
            if e.action != AuditAction::RotatedTokenPresented {
                return true;
            }
            let key = e.token_id.clone().unwrap_or_default();
            match seen.get_mut(&key) {
                Some((at, skipped)) if now.duration_since(*at) < WINDOW => {
                    *skipped = skipped.saturating_add(1);
                    false
                }
                Some((at, skipped)) => {
                    if *skipped > 0 {
                        let more = format!(
                            "; presented {skipped} more time(s) in the minute before, not each \
                             reported"
                        );
                        e.reason = Some(e.reason.take().unwrap_or_default() + &more);
                    }
                    *at = now;
                    *skipped = 0;
                    true
                }
                None => {
                    if seen.len() >= MAX_TRACKED {
                        seen.retain(|_, (at, _)| now.duration_since(*at) < WINDOW);
                    }
                    if seen.len() >= MAX_TRACKED {
                        return false;
                    }
                    seen.insert(key, (now, 0));
                    true
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn presented(id: &str) -> AuditEvent {
        let mut e = AuditEvent::new(0, AuditAction::RotatedTokenPresented, "Anonymous");
        e.token_id = Some(id.into());
        e.reason = Some("rotated".into());
        e
    }

    #[test]
    fn one_report_per_token_per_window_and_other_events_untouched() {
        let r = RotatedReports::default();
        let mut batch = vec![
            presented("A"),
            presented("A"),
            AuditEvent::new(0, AuditAction::TokenCreated, "alice"),
            presented("B"),
            presented("A"),
        ];
        r.filter(&mut batch);
        let kept: Vec<(AuditAction, Option<String>)> = batch
            .iter()
            .map(|e| (e.action, e.token_id.clone()))
            .collect();
        assert_eq!(
            kept,
            vec![
                (AuditAction::RotatedTokenPresented, Some("A".into())),
                (AuditAction::TokenCreated, None),
                (AuditAction::RotatedTokenPresented, Some("B".into())),
            ]
        );
        let mut later = vec![presented("A")];
        r.filter(&mut later);
        assert!(later.is_empty(), "still within the window");
    }
}
