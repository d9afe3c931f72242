//! The audit endpoints' query: Jira Data Center's parameters and ours, read and checked (each
//! bad one refused naming its parameter), and the next page's link built from them.

use std::fmt::Write as _;

use serde::Deserialize;
use tokenauth_core::audit::{
    AuditAction, AuditQuery, MAX_LIMIT, MAX_LIST_VALUES, MAX_SEARCH_CHARS, SEARCH_SCAN_LIMIT,
};
use tokenauth_core::bounded::NAME_CHARS;
use tokenauth_core::clock::{Millis, parse_rfc3339};

use crate::error::ApiError;

/// The query of the events endpoint, the histogram and the export. Ours (`user`, `action`,
/// `before`, `format`, `buckets`) and Jira Data Center's (`userIds`, `actions`, `categories`,
/// `search`, `pageCursor`, `outputFormat`, `scanLimit`); `offset`, `limit`, `from` and `to`
/// are both. Numbers arrive as text so that a bad one is refused naming its parameter.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EventParams {
    offset: Option<String>,
    limit: Option<String>,
    from: Option<String>,
    to: Option<String>,
    user: Option<String>,
    action: Option<String>,
    pub(super) format: Option<String>,
    /// Keyset cursor `timestamp:id`, as `pagingInfo.nextBefore` gave it.
    before: Option<String>,
    pub(super) buckets: Option<usize>,
    user_ids: Option<String>,
    actions: Option<String>,
    categories: Option<String>,
    search: Option<String>,
    /// Jira's cursor `timestamp,id`, as `pagingInfo.nextPageCursor` gave it.
    page_cursor: Option<String>,
    output_format: Option<String>,
    scan_limit: Option<String>,
}

fn bad(field: &str, message: String) -> ApiError {
    ApiError::BadRequest {
        message: format!("{field}: {message}"),
        field: Some(field.into()),
    }
}

/// What the network sent, shortened for an error message.
fn shown(s: &str) -> String {
    const MAX: usize = 64;
    match s.char_indices().nth(MAX) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_owned(),
    }
}

fn non_empty(v: &Option<String>) -> Option<&str> {
    v.as_deref().filter(|s| !s.is_empty())
}

/// A keyset cursor: `timestamp:id` (ours, `nextBefore`) or `timestamp,id` (Jira's,
/// `nextPageCursor`), the time in epoch milliseconds or RFC 3339 (as a CSV row shows it).
fn cursor_param(name: &str, v: Option<&str>) -> Result<Option<(Millis, u64)>, ApiError> {
    let Some(s) = v.filter(|s| !s.is_empty()) else {
        return Ok(None);
    };
    let parsed = (s.len() <= 64)
        .then(|| {
            let (ts, id) = s.rsplit_once(',').or_else(|| s.rsplit_once(':'))?;
            let ts = ts.parse().ok().or_else(|| parse_rfc3339(ts))?;
            Some((ts, id.parse().ok()?))
        })
        .flatten();
    let from = if name == "before" {
        "pagingInfo.nextBefore"
    } else {
        "pagingInfo.nextPageCursor"
    };
    parsed
        .map(Some)
        .ok_or_else(|| bad(name, format!("'{}' is not a cursor from {from}", shown(s))))
}

/// A time as RFC 3339 or as epoch milliseconds.
fn time_param(name: &str, v: Option<&str>) -> Result<Option<Millis>, ApiError> {
    v.filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<Millis>()
                .ok()
                .or_else(|| parse_rfc3339(s))
                .ok_or_else(|| {
                    bad(
                        name,
                        format!(
                            "'{}' is not an RFC 3339 time or epoch milliseconds",
                            shown(s)
                        ),
                    )
                })
        })
        .transpose()
}

/// A whole number in `min..=max`.
fn number_param(name: &str, v: Option<&str>, min: u64, max: u64) -> Result<Option<u64>, ApiError> {
    v.filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<u64>()
                .ok()
                .filter(|n| (min..=max).contains(n))
                .ok_or_else(|| {
                    let range = if max == u64::MAX {
                        format!("of at least {min}")
                    } else {
                        format!("from {min} to {max}")
                    };
                    bad(
                        name,
                        format!("must be a whole number {range}, not '{}'", shown(s)),
                    )
                })
        })
        .transpose()
}

/// A comma-separated list: values trimmed, empty ones dropped, each at most `max_chars`.
fn list_param(name: &str, v: Option<&str>, max_chars: usize) -> Result<Vec<String>, ApiError> {
    let mut out = Vec::new();
    for item in v
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        if out.len() == MAX_LIST_VALUES {
            return Err(bad(name, format!("at most {MAX_LIST_VALUES} values")));
        }
        if item.chars().count() > max_chars {
            return Err(bad(
                name,
                format!("'{}' is longer than {max_chars} characters", shown(item)),
            ));
        }
        out.push(item.to_owned());
    }
    Ok(out)
}

fn action_param(name: &str, label: &str) -> Result<AuditAction, ApiError> {
    AuditAction::from_label(label)
        .ok_or_else(|| bad(name, format!("unknown action '{}'", shown(label))))
}

impl EventParams {
    /// Our own filters, which the histogram and the export take too.
    pub(super) fn query(&self) -> Result<AuditQuery, ApiError> {
        let action = non_empty(&self.action)
            .map(|a| action_param("action", a))
            .transpose()?;
        let user = non_empty(&self.user).map(str::to_owned);
        if let Some(u) = &user
            && u.chars().count() > NAME_CHARS
        {
            return Err(bad("user", format!("longer than {NAME_CHARS} characters")));
        }
        Ok(AuditQuery {
            from: time_param("from", self.from.as_deref())?,
            to: time_param("to", self.to.as_deref())?,
            user,
            action,
            before: cursor_param("before", self.before.as_deref())?,
            ..AuditQuery::default()
        })
    }

    /// The events endpoint's whole query: ours plus Jira's parameters. Its `limit` is the whole
    /// answer's (up to [`MAX_LIMIT`]), which is read `MAX_PAGE` events at a time.
    pub(super) fn events_query(&self) -> Result<AuditQuery, ApiError> {
        let mut q = self.query()?;
        q.limit = number_param("limit", self.limit.as_deref(), 1, MAX_LIMIT as u64)?
            .map_or(200, |n| n as usize);
        q.offset = number_param("offset", self.offset.as_deref(), 0, u64::MAX)?
            .map_or(0, |n| usize::try_from(n).unwrap_or(usize::MAX));
        q.users = list_param("userIds", self.user_ids.as_deref(), NAME_CHARS)?;
        q.actions = list_param("actions", self.actions.as_deref(), NAME_CHARS)?
            .iter()
            .map(|a| action_param("actions", a))
            .collect::<Result<_, _>>()?;
        q.categories = list_param("categories", self.categories.as_deref(), NAME_CHARS)?;
        if let Some(text) = non_empty(&self.search) {
            if text.chars().count() > MAX_SEARCH_CHARS {
                return Err(bad(
                    "search",
                    format!("at most {MAX_SEARCH_CHARS} characters"),
                ));
            }
            q.search = Some(text.to_owned());
        }
        // Both cursors bound the page; the older one wins.
        let cursor = cursor_param("pageCursor", self.page_cursor.as_deref())?;
        q.before = match (q.before, cursor) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        // Jira's own default is no limit; ours bounds every search, and any asked-for limit.
        let asked = number_param("scanLimit", self.scan_limit.as_deref(), 1, u64::MAX)?;
        q.scan_limit = match (asked, &q.search) {
            (Some(n), _) => Some(n.min(SEARCH_SCAN_LIMIT)),
            (None, Some(_)) => Some(SEARCH_SCAN_LIMIT),
            (None, None) => None,
        };
        Ok(q)
    }

    pub(super) fn csv_output(&self) -> Result<bool, ApiError> {
        match non_empty(&self.output_format) {
            None => Ok(false),
            Some(f) if f.eq_ignore_ascii_case("json") => Ok(false),
            Some(f) if f.eq_ignore_ascii_case("csv") => Ok(true),
            Some(f) => Err(bad(
                "outputFormat",
                format!("must be json or csv, not '{}'", shown(f)),
            )),
        }
    }

    /// The query string of the next page: this one's filters, without `offset` and `before`
    /// (the cursor has passed both), with `pageCursor` at `cursor`.
    pub(super) fn next_query_string(&self, cursor: &str) -> String {
        let mut out = String::new();
        let params = [
            ("from", &self.from),
            ("to", &self.to),
            ("user", &self.user),
            ("action", &self.action),
            ("userIds", &self.user_ids),
            ("actions", &self.actions),
            ("categories", &self.categories),
            ("search", &self.search),
            ("limit", &self.limit),
            ("outputFormat", &self.output_format),
            ("scanLimit", &self.scan_limit),
        ];
        for (name, value) in params {
            if let Some(v) = value.as_deref().filter(|v| !v.is_empty()) {
                push_param(&mut out, name, v);
            }
        }
        push_param(&mut out, "pageCursor", cursor);
        out
    }
}

fn push_param(out: &mut String, name: &str, value: &str) {
    if !out.is_empty() {
        out.push('&');
    }
    out.push_str(name);
    out.push('=');
    // Percent-encoding of everything but RFC 3986's unreserved characters.
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
}
