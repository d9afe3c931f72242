//! Querying the audit log: the filters and paging of a query, its limits, free-text search,
//! and what a page and a histogram answer.

use serde::{Deserialize, Serialize};

use super::event::{AuditAction, AuditEvent, CATEGORY};
use crate::clock::Millis;
use crate::scope::Scope;
use crate::user::same_user;

/// Filters and paging of an audit query. Results come newest first.
///
/// Every filter narrows: `user` and `users` must both hold when both are given, as must
/// `action` and `actions`. `user`/`action` are this server's own parameters; `users`, `actions`,
/// `categories`, `search` and `scan_limit` are Jira Data Center's (`userIds`, `actions`,
/// `categories`, `search`, `scanLimit`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditQuery {
    pub from: Option<Millis>,
    pub to: Option<Millis>,
    /// Matches the author or the affected user, ignoring case.
    pub user: Option<String>,
    pub action: Option<AuditAction>,
    /// Any of these users, as author or affected user, ignoring case; empty: no filter.
    pub users: Vec<String>,
    /// Any of these actions; empty: no filter.
    pub actions: Vec<AuditAction>,
    /// Any of these category names, ignoring case; empty: no filter. Every event is in
    /// [`CATEGORY`], so a list without it matches nothing (as a filter does in Jira, which takes
    /// whatever categories its apps add and refuses none).
    pub categories: Vec<String>,
    /// Free text: the event matches when this occurs, ignoring case, in any of its text fields
    /// (see [`AuditEvent::contains_text`]).
    pub search: Option<String>,
    /// At most this many events (those in the time range and past the cursor) are examined;
    /// [`AuditPage::scan_limited`] tells when that stopped the query, and [`AuditPage::next`]
    /// where to continue. `None`: no limit.
    pub scan_limit: Option<u64>,
    /// Keyset cursor: only events strictly older than this `(timestamp, id)`. Paging through a
    /// large log with it costs one range scan per page, where a growing offset would rescan.
    pub before: Option<(Millis, u64)>,
    pub offset: usize,
    pub limit: usize,
}

/// The most events one store query returns; larger answers are streamed page by page.
pub const MAX_PAGE: usize = 1000;

/// The most events one request to the events endpoint may ask for (Jira exports at most the
/// latest 100,000 too).
pub const MAX_LIMIT: usize = 100_000;

/// The longest `search` text, in characters (Jira's audit search takes 100).
pub const MAX_SEARCH_CHARS: usize = 100;

/// The most values a list parameter (`userIds`, `actions`, `categories`) may carry.
pub const MAX_LIST_VALUES: usize = 100;

/// How many events a `search` examines per request unless the request asks for fewer with
/// `scanLimit`; also the most it may ask for. A query that reaches it answers with what it
/// found and a cursor to continue from, so no single request can hold the server for long.
pub const SEARCH_SCAN_LIMIT: u64 = 100_000;

/// The most slices a histogram of the audit log is cut into.
pub const MAX_BUCKETS: usize = 1000;

/// Events over time: `counts[i]` events in `from + i * bucket_millis ..` the next slice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Histogram {
    pub from: Millis,
    pub to: Millis,
    pub bucket_millis: i64,
    pub counts: Vec<u64>,
}

impl Default for AuditQuery {
    fn default() -> Self {
        Self {
            from: None,
            to: None,
            user: None,
            action: None,
            users: Vec::new(),
            actions: Vec::new(),
            categories: Vec::new(),
            search: None,
            scan_limit: None,
            before: None,
            offset: 0,
            limit: 200,
        }
    }
}

impl AuditQuery {
    /// Whether the event is in the time range and past the cursor: the events a query walks.
    pub fn in_range(&self, e: &AuditEvent) -> bool {
        self.from.is_none_or(|f| e.timestamp >= f)
            && self.to.is_none_or(|t| e.timestamp <= t)
            && self.before.is_none_or(|b| (e.timestamp, e.id) < b)
    }

    /// The filters, prepared once for a walk over many events.
    pub fn filter(&self) -> EventFilter<'_> {
        EventFilter {
            q: self,
            search: self
                .search
                .as_deref()
                .filter(|s| !s.is_empty())
                .map(SearchText::new),
        }
    }

    /// Whether the event is in range and passes every filter.
    pub fn matches(&self, e: &AuditEvent) -> bool {
        self.in_range(e) && self.filter().selects(e)
    }

    /// Whether no event can match, whatever the log holds (a category we never write).
    pub fn matches_nothing(&self) -> bool {
        !self.categories.is_empty()
            && !self
                .categories
                .iter()
                .any(|c| c.trim().eq_ignore_ascii_case(CATEGORY))
    }
}

/// An [`AuditQuery`]'s filters with the search text prepared.
pub struct EventFilter<'q> {
    q: &'q AuditQuery,
    search: Option<SearchText>,
}

impl EventFilter<'_> {
    /// Whether the event passes the user, action, category and search filters (not the time
    /// range or cursor: see [`AuditQuery::in_range`]).
    pub fn selects(&self, e: &AuditEvent) -> bool {
        let q = self.q;
        q.action.is_none_or(|a| e.action == a)
            && (q.actions.is_empty() || q.actions.contains(&e.action))
            && q.user
                .as_deref()
                .is_none_or(|u| e.users().any(|x| same_user(x, u)))
            && (q.users.is_empty() || e.users().any(|x| q.users.iter().any(|u| same_user(x, u))))
            && !q.matches_nothing()
            && self.search.as_ref().is_none_or(|s| e.contains_text(s))
    }
}

/// Free text to look for, ignoring case: ASCII letters compared without allocating, any other
/// text by its lowercase.
#[derive(Debug, Clone)]
pub struct SearchText {
    lower: String,
    ascii: bool,
}

impl SearchText {
    pub fn new(text: &str) -> Self {
        Self {
            lower: text.to_lowercase(),
            ascii: text.is_ascii(),
        }
    }

    /// Whether the text can only be found in what an event stores as text of its own (author,
    /// path, description…): ASCII, and part of no action label, category or scope name, which
    /// events hold as numbers. Then an encoded event (or block of them) whose bytes do not
    /// contain it, ignoring ASCII case, cannot match ([`SearchText::found_in_bytes`]).
    pub fn only_in_stored_text(&self) -> bool {
        self.ascii
            && !self.lower.is_empty()
            && !self.found_in(CATEGORY)
            && !AuditAction::ALL.iter().any(|a| self.found_in(a.label()))
            && !all_scopes().any(|s| self.found_in(s.as_str()))
    }

    /// Whether the (ASCII) text occurs in `hay`, ignoring ASCII case: a test on encoded bytes
    /// that may say yes where no field matches, never no where one does.
    pub fn found_in_bytes(&self, hay: &[u8]) -> bool {
        let needle = self.lower.as_bytes();
        let Some((&first, rest)) = needle.split_first() else {
            return true;
        };
        let upper = first.to_ascii_uppercase();
        let mut from = 0;
        while let Some(at) = hay
            .get(from..)
            .and_then(|h| h.iter().position(|&b| b == first || b == upper))
        {
            let start = from + at + 1;
            if hay
                .get(start..start + rest.len())
                .is_some_and(|w| w.eq_ignore_ascii_case(rest))
            {
                return true;
            }
            from = start;
        }
        false
    }

    /// Whether the text occurs in `hay`, ignoring case.
    pub fn found_in(&self, hay: &str) -> bool {
        if self.ascii {
            // An ASCII needle can only match ASCII bytes, and UTF-8 never hides an ASCII byte
            // inside a longer character, so a byte-wise search is exact.
            let needle = self.lower.as_bytes();
            needle.is_empty()
                || hay
                    .as_bytes()
                    .windows(needle.len())
                    .any(|w| w.eq_ignore_ascii_case(needle))
        } else {
            hay.to_lowercase().contains(&self.lower)
        }
    }
}

/// Every scope. The match cannot compile once a scope is added, until it is listed here too.
fn all_scopes() -> impl Iterator<Item = Scope> {
    [Scope::ReadOnly, Scope::ReadWrite]
        .into_iter()
        .inspect(|s| match s {
            Scope::ReadOnly | Scope::ReadWrite => {}
        })
}

impl AuditEvent {
    /// Whether `text` occurs, ignoring case, in any field a reader sees as text: category,
    /// action, author, affected user, token id and description, scope, method, path, client
    /// and proxy address, reason, and each changed value's key, old and new value. (Not the id
    /// or the time: `from`/`to` and the cursor select those.)
    pub fn contains_text(&self, text: &SearchText) -> bool {
        let opt = |v: &Option<String>| v.as_deref().is_some_and(|v| text.found_in(v));
        text.found_in(CATEGORY)
            || text.found_in(self.action.label())
            || text.found_in(&self.author)
            || opt(&self.affected_user)
            || opt(&self.token_id)
            || opt(&self.token_description)
            || self.scope.is_some_and(|s| text.found_in(s.as_str()))
            || opt(&self.method)
            || opt(&self.path)
            || opt(&self.client_ip)
            || opt(&self.proxy_ip)
            || opt(&self.reason)
            || self
                .changed_values
                .iter()
                .any(|c| text.found_in(&c.key) || text.found_in(&c.from) || text.found_in(&c.to))
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditPage {
    pub events: Vec<AuditEvent>,
    /// Whether no more matching events follow this page.
    pub is_last_page: bool,
    /// Where the next page starts (the `before` cursor for it): the last event of a full page,
    /// or the last event examined when the scan limit stopped the query. `None` on the last
    /// page.
    pub next: Option<(Millis, u64)>,
    /// How many events (in range, past the cursor) were examined up to `next`, or all of them
    /// on the last page: what the scan limit counts.
    pub scanned: u64,
    /// The scan limit stopped the query before the page was full: events beyond `next` were
    /// not examined, so more may match although this page is short or empty.
    pub scan_limited: bool,
}

impl AuditPage {
    /// A last page holding these events.
    pub fn last(events: Vec<AuditEvent>, scanned: u64) -> Self {
        Self {
            events,
            is_last_page: true,
            next: None,
            scanned,
            scan_limited: false,
        }
    }
}
