//! Audit events: what they hold (never a secret), their one-line log form, and how they are
//! queried and pruned.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::bounded;
use crate::clock::{Millis, to_rfc3339};
use crate::scope::Scope;
use crate::user::same_user;

pub const CATEGORY: &str = "API tokens";
pub const ANONYMOUS: &str = "Anonymous";
/// The `tracing` target every event's log line is written under.
pub const LOG_TARGET: &str = "tokenauth";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum AuditAction {
    TokenCreated,
    TokenDeleted,
    AllTokensDeleted,
    TokenChanged,
    AuthenticatedWithToken,
    AuthenticatedWithPassword,
    FailedAuthentication,
    IpNotAllowed,
    PermissionDenied,
    SettingsChanged,
    UserCreated,
    UserChanged,
    UserDeleted,
    FailedLoginCountReset,
    // Appended, never inserted: events are stored with the variant's index.
    TokenRotated,
    RotatedTokenPresented,
    ExpiryNoticeSent,
    ExpiryNoticeFailed,
    /// What one principal wrote past its budget (`audit_budget`), counted in one event.
    AuditEventsSuppressed,
}

impl AuditAction {
    pub const ALL: [AuditAction; 19] = [
        AuditAction::TokenCreated,
        AuditAction::TokenDeleted,
        AuditAction::AllTokensDeleted,
        AuditAction::TokenChanged,
        AuditAction::AuthenticatedWithToken,
        AuditAction::AuthenticatedWithPassword,
        AuditAction::FailedAuthentication,
        AuditAction::IpNotAllowed,
        AuditAction::PermissionDenied,
        AuditAction::SettingsChanged,
        AuditAction::UserCreated,
        AuditAction::UserChanged,
        AuditAction::UserDeleted,
        AuditAction::FailedLoginCountReset,
        AuditAction::TokenRotated,
        AuditAction::RotatedTokenPresented,
        AuditAction::ExpiryNoticeSent,
        AuditAction::ExpiryNoticeFailed,
        AuditAction::AuditEventsSuppressed,
    ];

    /// The action as the audit log shows it.
    pub fn label(self) -> &'static str {
        match self {
            AuditAction::TokenCreated => "API token created",
            AuditAction::TokenDeleted => "API token deleted",
            AuditAction::AllTokensDeleted => "All API tokens of a user deleted",
            AuditAction::TokenChanged => "API token changed",
            AuditAction::AuthenticatedWithToken => "Authenticated with API token",
            AuditAction::AuthenticatedWithPassword => "Authenticated with password",
            AuditAction::FailedAuthentication => "Failed authentication attempt",
            AuditAction::IpNotAllowed => "IP address not allowed",
            AuditAction::PermissionDenied => "Permission denied",
            AuditAction::SettingsChanged => "Settings changed",
            AuditAction::UserCreated => "User created",
            AuditAction::UserChanged => "User changed",
            AuditAction::UserDeleted => "User deleted",
            AuditAction::FailedLoginCountReset => "Failed-login count reset",
            AuditAction::TokenRotated => "API token rotated",
            AuditAction::RotatedTokenPresented => "Rotated-away API token used",
            AuditAction::ExpiryNoticeSent => "Expiry notice sent",
            AuditAction::ExpiryNoticeFailed => "Expiry notice failed",
            AuditAction::AuditEventsSuppressed => "Audit events suppressed",
        }
    }

    /// Accepts the label, case-insensitively (what a filter box or a URL carries).
    pub fn from_label(text: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|a| a.label().eq_ignore_ascii_case(text.trim()))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangedValue {
    pub key: String,
    pub from: String,
    pub to: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEvent {
    /// Assigned by the store when the event is appended; 0 before.
    pub id: u64,
    pub timestamp: Millis,
    pub action: AuditAction,
    /// The acting user; [`ANONYMOUS`] only when nobody is known.
    pub author: String,
    pub affected_user: Option<String>,
    pub token_id: Option<String>,
    pub token_description: Option<String>,
    pub scope: Option<Scope>,
    pub method: Option<String>,
    pub path: Option<String>,
    pub client_ip: Option<String>,
    pub proxy_ip: Option<String>,
    /// Why an attempt failed, in words that never include a secret.
    pub reason: Option<String>,
    pub changed_values: Vec<ChangedValue>,
}

impl AuditEvent {
    /// About how many bytes the event holds in memory: what a queue of events is bounded by.
    pub fn approx_size(&self) -> usize {
        let opt = |o: &Option<String>| o.as_ref().map_or(0, String::len);
        160 + self.author.len()
            + opt(&self.affected_user)
            + opt(&self.token_id)
            + opt(&self.token_description)
            + opt(&self.method)
            + opt(&self.path)
            + opt(&self.client_ip)
            + opt(&self.proxy_ip)
            + opt(&self.reason)
            + self
                .changed_values
                .iter()
                .map(|c| c.key.len() + c.from.len() + c.to.len() + 72)
                .sum::<usize>()
    }

    pub fn new(timestamp: Millis, action: AuditAction, author: impl Into<String>) -> Self {
        Self {
            id: 0,
            timestamp,
            action,
            author: author.into(),
            affected_user: None,
            token_id: None,
            token_description: None,
            scope: None,
            method: None,
            path: None,
            client_ip: None,
            proxy_ip: None,
            reason: None,
            changed_values: Vec::new(),
        }
    }

    /// Bounds every free-text field with [`bounded`]'s rules: what a request claimed (user,
    /// method, path) and what an operation carried (description, changed values, reason). The
    /// store calls this on every event it writes, so nothing longer or stranger reaches the log,
    /// an index key or an export, whoever built the event.
    pub fn bound(&mut self) {
        use bounded::{METHOD_CHARS, NAME_CHARS, PATH_CHARS, TEXT_CHARS, field};
        field(&mut self.author, NAME_CHARS);
        for (value, max) in [
            (&mut self.affected_user, NAME_CHARS),
            (&mut self.token_id, NAME_CHARS),
            (&mut self.token_description, NAME_CHARS),
            (&mut self.method, METHOD_CHARS),
            (&mut self.path, PATH_CHARS),
            (&mut self.client_ip, NAME_CHARS),
            (&mut self.proxy_ip, NAME_CHARS),
            (&mut self.reason, TEXT_CHARS),
        ] {
            if let Some(v) = value {
                field(v, max);
            }
        }
        for c in &mut self.changed_values {
            field(&mut c.key, NAME_CHARS);
            field(&mut c.from, TEXT_CHARS);
            field(&mut c.to, TEXT_CHARS);
        }
    }

    /// The one-line log form, `key=value` pairs (logfmt), values quoted where needed so that a
    /// description can never forge another field or line:
    ///
    /// `event="Authenticated with API token" token_description="ci deploy" scope=READ_ONLY user=alice path=/rest/api/2/myself method=GET client_ip=127.0.0.1 proxy_ip=- author=alice token_id=AbC123dEf456 reason=-`
    pub fn log_line(&self) -> String {
        if self.is_bounded() {
            return self.format_line();
        }
        let mut bounded = self.clone();
        bounded.bound();
        bounded.format_line()
    }

    /// Whether [`AuditEvent::bound`] would change nothing (one check per field, no allocation).
    pub fn is_bounded(&self) -> bool {
        use bounded::{METHOD_CHARS, NAME_CHARS, PATH_CHARS, TEXT_CHARS, is_bounded};
        let opt = |v: &Option<String>, max| v.as_deref().is_none_or(|v| is_bounded(v, max));
        is_bounded(&self.author, NAME_CHARS)
            && opt(&self.affected_user, NAME_CHARS)
            && opt(&self.token_id, NAME_CHARS)
            && opt(&self.token_description, NAME_CHARS)
            && opt(&self.method, METHOD_CHARS)
            && opt(&self.path, PATH_CHARS)
            && opt(&self.client_ip, NAME_CHARS)
            && opt(&self.proxy_ip, NAME_CHARS)
            && opt(&self.reason, TEXT_CHARS)
            && self.changed_values.iter().all(|c| {
                is_bounded(&c.key, NAME_CHARS)
                    && is_bounded(&c.from, TEXT_CHARS)
                    && is_bounded(&c.to, TEXT_CHARS)
            })
    }

    /// The log line of an event known to be bounded (the store bounded it as it wrote it).
    pub fn format_line(&self) -> String {
        let mut out = String::with_capacity(200);
        let user = self.affected_user.as_deref().unwrap_or(&self.author);
        let fields: [(&str, &str); 10] = [
            ("event", self.action.label()),
            (
                "token_description",
                self.token_description.as_deref().unwrap_or("-"),
            ),
            ("scope", self.scope.map_or("-", Scope::as_str)),
            ("user", user),
            ("path", self.path.as_deref().unwrap_or("-")),
            ("method", self.method.as_deref().unwrap_or("-")),
            ("client_ip", self.client_ip.as_deref().unwrap_or("-")),
            ("proxy_ip", self.proxy_ip.as_deref().unwrap_or("-")),
            ("author", &self.author),
            ("token_id", self.token_id.as_deref().unwrap_or("-")),
        ];
        for (i, (k, v)) in fields.iter().enumerate() {
            if i > 0 {
                out.push(' ');
            }
            out.push_str(k);
            out.push('=');
            push_logfmt_value(&mut out, v);
        }
        out.push_str(" reason=");
        push_logfmt_value(&mut out, self.reason.as_deref().unwrap_or("-"));
        out
    }

    /// Users the event concerns, for the user filter: the author and the affected user.
    pub fn users(&self) -> impl Iterator<Item = &str> {
        let affected = self
            .affected_user
            .as_deref()
            .filter(|a| !same_user(a, &self.author));
        std::iter::once(self.author.as_str()).chain(affected)
    }

    pub fn timestamp_rfc3339(&self) -> String {
        to_rfc3339(self.timestamp)
    }
}

fn push_logfmt_value(out: &mut String, v: &str) {
    let plain = !v.is_empty()
        && v.chars()
            .all(|c| c.is_ascii_graphic() && c != '"' && c != '=' && c != '\\');
    if plain {
        out.push_str(v);
        return;
    }
    out.push('"');
    for c in v.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            // Controls, and the separators and bidi characters that would reorder or split what
            // a reader of the log sees.
            c if bounded::is_hidden(c) => {
                let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

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

#[cfg(test)]
mod tests {
    use super::*;

    fn event() -> AuditEvent {
        let mut e = AuditEvent::new(1_000, AuditAction::AuthenticatedWithToken, "alice");
        e.affected_user = Some("alice".into());
        e.token_id = Some("AbC123dEf456".into());
        e.token_description = Some("ci deploy".into());
        e.scope = Some(Scope::ReadOnly);
        e.method = Some("GET".into());
        e.path = Some("/rest/api/2/myself".into());
        e.client_ip = Some("127.0.0.1".into());
        e
    }

    #[test]
    fn the_log_line_names_event_description_scope_user_and_path() {
        assert_eq!(
            event().log_line(),
            "event=\"Authenticated with API token\" token_description=\"ci deploy\" \
             scope=READ_ONLY user=alice path=/rest/api/2/myself method=GET client_ip=127.0.0.1 \
             proxy_ip=- author=alice token_id=AbC123dEf456 reason=-"
        );
    }

    #[test]
    fn a_description_cannot_forge_fields_or_lines() {
        let mut e = event();
        e.token_description = Some("x\" user=admin\nevent=fake \\".into());
        let line = e.log_line();
        assert!(!line.contains('\n'));
        // The newline is not even there to escape: the event was bounded on its way to the line.
        assert!(line.contains("token_description=\"x\\\" user=admin\u{FFFD}event=fake \\\\\""));
        // The only unquoted user field is the real one.
        assert_eq!(line.matches(" user=alice ").count(), 1);
        assert!(!line.contains(" user=admin "));
    }

    #[test]
    fn actions_have_the_specs_labels_and_parse_back() {
        assert_eq!(AuditAction::TokenCreated.label(), "API token created");
        assert_eq!(
            AuditAction::AllTokensDeleted.label(),
            "All API tokens of a user deleted"
        );
        for a in AuditAction::ALL {
            assert_eq!(AuditAction::from_label(a.label()), Some(a));
        }
        assert_eq!(
            AuditAction::from_label("permission DENIED"),
            Some(AuditAction::PermissionDenied)
        );
        assert_eq!(AuditAction::from_label("nope"), None);
    }

    #[test]
    fn filters_match_time_user_and_action() {
        let e = event();
        let q = |f: fn(&mut AuditQuery)| {
            let mut q = AuditQuery::default();
            f(&mut q);
            q.matches(&e)
        };
        assert!(q(|_| {}));
        assert!(q(|q| q.from = Some(1_000)));
        assert!(!q(|q| q.from = Some(1_001)));
        assert!(q(|q| q.to = Some(1_000)));
        assert!(!q(|q| q.to = Some(999)));
        assert!(q(|q| q.user = Some("ALICE".into())));
        assert!(!q(|q| q.user = Some("bob".into())));
        assert!(q(|q| q.action = Some(AuditAction::AuthenticatedWithToken)));
        assert!(!q(|q| q.action = Some(AuditAction::TokenCreated)));
    }

    #[test]
    fn search_text_ignores_case_in_ascii_and_beyond() {
        let s = SearchText::new("DePloY");
        assert!(s.found_in("nightly deploy"));
        assert!(s.found_in("DEPLOYMENT"));
        assert!(!s.found_in("depl oy"));
        assert!(SearchText::new("").found_in("anything"));
        // An ASCII needle in text with other characters around it.
        assert!(SearchText::new("uber").found_in("Ünter-ÜBER-uber"));
        let u = SearchText::new("ÜBER");
        assert!(u.found_in("gänzlich über"));
        assert!(!u.found_in("uber"));
    }

    #[test]
    fn encoded_bytes_rule_out_a_match_only_for_text_events_store_as_text() {
        let e = event();
        let bytes = postcard::to_allocvec(&e).unwrap();
        for text in ["alice", "CI DEPLOY", "/rest/api", "127.0.0.1", "AbC123"] {
            let t = SearchText::new(text);
            assert!(t.only_in_stored_text(), "{text}");
            assert!(e.contains_text(&t) && t.found_in_bytes(&bytes), "{text}");
        }
        assert!(!SearchText::new("bob").found_in_bytes(&bytes));
        assert!(!SearchText::new("alicf").found_in_bytes(b"alic"));
        // Held as numbers, not text: the bytes cannot tell.
        for text in ["authenticated", "API TOK", "read_only", "ü", ""] {
            assert!(!SearchText::new(text).only_in_stored_text(), "{text}");
        }
    }

    #[test]
    fn search_looks_at_every_text_field_of_an_event() {
        let mut e = event();
        e.proxy_ip = Some("10.1.2.3".into());
        e.reason = Some("expired".into());
        e.changed_values.push(ChangedValue {
            key: "maxTokenValidityDays".into(),
            from: "365".into(),
            to: "30".into(),
        });
        for text in [
            "api tokens",
            "authenticated with",
            "ALICE",
            "abc123",
            "ci dep",
            "read_only",
            "get",
            "/api/2/",
            "127.0.0",
            "10.1.2",
            "expired",
            "maxtoken",
            "365",
        ] {
            assert!(e.contains_text(&SearchText::new(text)), "{text}");
        }
        assert!(!e.contains_text(&SearchText::new("bob")));
    }

    #[test]
    fn an_unknown_category_matches_nothing_and_ours_everything() {
        let e = event();
        let q = |c: &[&str]| AuditQuery {
            categories: c.iter().map(|s| (*s).to_owned()).collect(),
            ..AuditQuery::default()
        };
        assert!(q(&[]).matches(&e));
        assert!(q(&["API TOKENS"]).matches(&e));
        assert!(q(&["Users", " api tokens "]).matches(&e));
        assert!(q(&["Users"]).matches_nothing());
        assert!(!q(&["Users"]).matches(&e));
    }

    #[test]
    fn the_user_filter_finds_the_affected_user_of_an_admins_action() {
        let mut e = AuditEvent::new(1, AuditAction::TokenDeleted, "admin");
        e.affected_user = Some("bob".into());
        let q = AuditQuery {
            user: Some("bob".into()),
            ..AuditQuery::default()
        };
        assert!(q.matches(&e));
        assert_eq!(e.users().collect::<Vec<_>>(), vec!["admin", "bob"]);
    }
}
