//! The audit log: writing events within each principal's budget, the admins' queries and
//! histogram, and retention.

use super::{Actor, TokenAuth, log_event};
use crate::audit::{AuditEvent, AuditPage, AuditQuery, Histogram, MAX_BUCKETS};
use crate::clock::MILLIS_PER_DAY;
use crate::error::CoreError;

impl TokenAuth {
    /// Writes events to the store and the log (one line each, target `tokenauth`), each
    /// principal's always-audited ones within its budget (`audit_budget`); what does not fit is
    /// counted in one summary event. `events` is left holding what was written, with the ids
    /// the store gave.
    pub fn record_events(&self, events: &mut Vec<AuditEvent>) -> Result<(), CoreError> {
        let per_hour = self.audit_per_hour();
        *events = self
            .budget
            .admit(std::mem::take(events), self.now(), per_hour);
        self.append_and_log(events)
    }

    fn append_and_log(&self, events: &mut [AuditEvent]) -> Result<(), CoreError> {
        if events.is_empty() {
            return Ok(());
        }
        self.store.append_events(events)?;
        for e in events.iter() {
            log_event(e);
        }
        Ok(())
    }

    pub fn query_events(&self, actor: &Actor, q: &AuditQuery) -> Result<AuditPage, CoreError> {
        if !self.is_admin_actor(actor) {
            return Err(CoreError::Forbidden("administrators only".into()));
        }
        Ok(self.store.query_events(q)?)
    }

    /// Events over time for the chart: `q`'s time range (by default from the oldest event to
    /// now) cut into at most [`MAX_BUCKETS`] slices, counting what matches its user and action.
    pub fn event_histogram(
        &self,
        actor: &Actor,
        q: &AuditQuery,
        buckets: usize,
    ) -> Result<Histogram, CoreError> {
        if !self.is_admin_actor(actor) {
            return Err(CoreError::Forbidden("administrators only".into()));
        }
        let to = q.to.unwrap_or_else(|| self.now());
        let from = match q.from {
            Some(f) => f,
            None => self.store.oldest_event()?.unwrap_or(to).min(to),
        };
        let buckets = buckets.clamp(1, MAX_BUCKETS);
        let counts = self.store.event_histogram(q, from, to, buckets)?;
        // As the store slices it: the span of two i64 times needs 65 bits.
        let span = (i128::from(to) - i128::from(from)).max(0) + 1;
        let bucket_millis =
            i64::try_from((span + buckets as i128 - 1) / buckets as i128).unwrap_or(i64::MAX);
        Ok(Histogram {
            from,
            to,
            bucket_millis,
            counts,
        })
    }

    /// Applies the retention settings once; returns how many events went. Tokens rotated away
    /// are remembered for the maximum validity after their rotation (a script still sending
    /// one is reported with its successor that long), then forgotten.
    pub fn prune_audit(&self) -> Result<u64, CoreError> {
        let max_days = self.policy().settings.max_token_validity_days;
        self.store.prune_retired_tokens(
            self.now()
                .saturating_sub(i64::from(max_days) * MILLIS_PER_DAY),
        )?;
        let a = self.policy().settings.audit.clone();
        let cutoff = self
            .now()
            .saturating_sub(i64::from(a.retention_days) * MILLIS_PER_DAY);
        // Summaries of principals that went quiet after going over their budget.
        let mut due = self.budget.due(self.now());
        self.append_and_log(&mut due)?;
        Ok(self.store.prune_events(cutoff, a.max_events)?)
    }
}
