//! The audit log: `GET /rest/auditing/1.0/events` in the shape of Jira Data Center's audit REST
//! API, and the CSV/JSON export, streamed page by page with a keyset cursor.

use std::convert::Infallible;
use std::fmt::Write as _;
use std::sync::Arc;

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use tokenauth_core::audit::{
    AuditAction, AuditEvent, AuditPage, AuditQuery, Histogram, MAX_LIMIT, MAX_LIST_VALUES,
    MAX_PAGE, MAX_SEARCH_CHARS, SEARCH_SCAN_LIMIT,
};
use tokenauth_core::bounded::NAME_CHARS;
use tokenauth_core::clock::{Millis, parse_rfc3339};
use tokenauth_core::service::Actor;
use tokio_stream::wrappers::ReceiverStream;

use super::answers::{AuditEntity, AuditEventsPage, ErrorBody, PagingInfo};
use super::extract::{Admin, base_url};
use crate::error::{ApiError, QueryParams};
use crate::operations::audit_entity::{CSV_HEADER, csv_row, entity_json};
use crate::state::Shared;

pub const EVENTS_PATH: &str = "/rest/auditing/1.0/events";

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
    format: Option<String>,
    /// Keyset cursor `timestamp:id`, as `pagingInfo.nextBefore` gave it.
    before: Option<String>,
    buckets: Option<usize>,
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
    fn query(&self) -> Result<AuditQuery, ApiError> {
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
    /// answer's (up to [`MAX_LIMIT`]), which is read [`MAX_PAGE`] events at a time.
    fn events_query(&self) -> Result<AuditQuery, ApiError> {
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

    fn csv_output(&self) -> Result<bool, ApiError> {
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
    fn next_query_string(&self, cursor: &str) -> String {
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

/// One store page, on the blocking pool (sled reads and decoding).
async fn fetch(state: &Shared, actor: &Actor, q: &AuditQuery) -> Result<AuditPage, ApiError> {
    let (st, actor, q) = (Arc::clone(state), actor.clone(), q.clone());
    tokio::task::spawn_blocking(move || st.auth.query_events(&actor, &q))
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?
        .map_err(ApiError::from)
}

/// How an answer of up to [`MAX_LIMIT`] events is read: store pages of at most [`MAX_PAGE`],
/// each continuing at the cursor where the previous one stopped, sharing one scan budget, so
/// the whole answer never sits in memory and page 1,000 costs what page 1 does.
struct Walk {
    /// The next store page's query.
    q: AuditQuery,
    /// Events still wanted for the answer.
    wanted: usize,
    size: usize,
    scanned: u64,
    /// The answer's scan budget, if any.
    budget: Option<u64>,
    end: Option<WalkEnd>,
}

struct WalkEnd {
    last_page: bool,
    next: Option<(Millis, u64)>,
    scan_limited: bool,
}

impl Walk {
    fn new(q: &AuditQuery) -> Self {
        let mut first = q.clone();
        first.limit = q.limit.min(MAX_PAGE);
        Self {
            q: first,
            wanted: q.limit,
            size: 0,
            scanned: 0,
            budget: q.scan_limit,
            end: None,
        }
    }

    /// Counts one store page into the answer and sets up the next (or the end).
    fn take(&mut self, page: &AuditPage) {
        let n = page.events.len();
        self.size += n;
        self.wanted = self.wanted.saturating_sub(n);
        self.scanned += page.scanned;
        let left = self.budget.map(|b| b.saturating_sub(self.scanned));
        let end = |scan_limited| WalkEnd {
            last_page: false,
            next: page.next,
            scan_limited,
        };
        self.end = if page.is_last_page {
            Some(WalkEnd {
                last_page: true,
                next: None,
                scan_limited: false,
            })
        } else if page.scan_limited || left == Some(0) {
            // The budget is spent; the answer is short of its limit only if more were wanted.
            Some(end(self.wanted > 0))
        } else if self.wanted == 0 {
            Some(end(false))
        } else {
            self.q.before = page.next;
            self.q.offset = 0;
            self.q.limit = self.wanted.min(MAX_PAGE);
            self.q.scan_limit = left;
            None
        };
    }
}

/// `pagingInfo`: Jira's fields (`lastPage`, `size`, `limit`, `nextPageOffset`,
/// `nextPageCursor`, `nextPageLink`), ours before them (`start`, `isLastPage`, `nextStart`,
/// `nextBefore`), and how far a scan-limited search looked.
struct Paging {
    start: usize,
    limit: usize,
    size: usize,
    last_page: bool,
    next: Option<(Millis, u64)>,
    link: Option<String>,
    scan_limit: Option<u64>,
    scanned: u64,
    scan_limited: bool,
}

impl Paging {
    fn new(q: &AuditQuery, walk: &Walk, end: &WalkEnd, p: &EventParams, base: &str) -> Self {
        let next = end.next.filter(|_| !end.last_page);
        Self {
            start: q.offset,
            limit: q.limit,
            size: walk.size,
            last_page: end.last_page,
            next,
            link: next.map(|(ts, id)| {
                format!(
                    "{base}{EVENTS_PATH}?{}",
                    p.next_query_string(&format!("{ts},{id}"))
                )
            }),
            scan_limit: q.scan_limit,
            scanned: walk.scanned,
            scan_limited: end.scan_limited,
        }
    }

    fn cursor(&self) -> Option<String> {
        self.next.map(|(ts, id)| format!("{ts},{id}"))
    }

    fn info(&self) -> PagingInfo {
        let next_offset = (!self.last_page).then(|| self.start.saturating_add(self.size));
        PagingInfo {
            start: self.start,
            limit: self.limit,
            size: self.size,
            last_page: self.last_page,
            is_last_page: self.last_page,
            next_page_offset: next_offset,
            next_start: next_offset,
            next_page_cursor: self.cursor(),
            next_before: self.next.map(|(ts, id)| format!("{ts}:{id}")),
            next_page_link: self.link.clone(),
            scan_limit: self.scan_limit,
            scanned: self.scanned,
            scan_limit_reached: self.scan_limited,
        }
    }

    fn json(&self) -> String {
        serde_json::to_string(&self.info()).unwrap_or_default()
    }

    /// The same for a CSV answer, as headers.
    fn headers(&self, h: &mut HeaderMap) {
        let mut put = |name: &'static str, value: &str| {
            if let Ok(v) = HeaderValue::from_str(value) {
                h.insert(name, v);
            }
        };
        put(
            "X-Paging-Last-Page",
            if self.last_page { "true" } else { "false" },
        );
        put("X-Paging-Size", &self.size.to_string());
        put(
            "X-Paging-Scan-Limit-Reached",
            if self.scan_limited { "true" } else { "false" },
        );
        if let Some(c) = self.cursor() {
            put("X-Paging-Next-Page-Cursor", &c);
        }
        if let Some(l) = &self.link {
            put("Link", &format!("<{l}>; rel=\"next\""));
        }
    }
}

/// One store page's events as the answer's text: entities (after the first, each preceded by a
/// comma) or CSV rows.
fn render(events: &[AuditEvent], csv: bool, first: &mut bool) -> String {
    let mut out = String::with_capacity(events.len() * 400);
    for e in events {
        if csv {
            out.push_str(&csv_row(e));
        } else {
            if !*first {
                out.push(',');
            }
            *first = false;
            out.push_str(&entity_json(e));
        }
    }
    out
}

/// `GET /rest/auditing/1.0/events`: a page of up to `limit` (at most 100,000) events, newest
/// first, as Jira's JSON (`entities` and `pagingInfo`) or as CSV. A page within one store read
/// (up to 1,000 events) is answered whole; a larger one is streamed, store page by store page,
/// each read when the client has taken the previous one.
#[utoipa::path(
    get,
    path = "/rest/auditing/1.0/events",
    operation_id = "listAuditEvents",
    summary = "Audit events, newest first, in Jira Data Center's shape (admins)",
    description = "Every filter narrows; a list parameter matches any of its comma-separated values. A search examines at most 100,000 events per request (scanLimit may ask for fewer); when that stops it before the page is full, pagingInfo.scanLimitReached is true and nextPageCursor/nextPageLink continue from the last event examined. A CSV answer carries pagingInfo as X-Paging-* and Link headers when limit is at most 1,000.",
    params(
        ("offset" = Option<u64>, Query, minimum = 0),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 100000, description = "Events per page (default 200)"),
        ("from" = Option<String>, Query, description = "RFC 3339 or epoch milliseconds", max_length = 64),
        ("to" = Option<String>, Query, description = "RFC 3339 or epoch milliseconds", max_length = 64),
        ("user" = Option<String>, Query, description = "Author or affected user, ignoring case", max_length = 255),
        ("action" = Option<String>, Query, description = "One action label, as the events show it", max_length = 64),
        ("before" = Option<String>, Query, description = "Keyset cursor from pagingInfo.nextBefore", pattern = "^-?[0-9]{1,19}:[0-9]{1,20}$"),
        ("userIds" = Option<String>, Query, description = "Jira: comma-separated users (names, ignoring case), author or affected user, any of them; at most 100", max_length = 1024),
        ("actions" = Option<String>, Query, description = "Jira: comma-separated action labels, any of them; an unknown label is refused", max_length = 1024),
        ("categories" = Option<String>, Query, description = "Jira: comma-separated categories, any of them (every event is in \"API tokens\"; another matches nothing)", max_length = 1024),
        ("search" = Option<String>, Query, description = "Jira: free text, found ignoring case in any text field of an event", max_length = 100),
        ("pageCursor" = Option<String>, Query, description = "Jira: cursor timestamp,id from pagingInfo.nextPageCursor (the time in epoch milliseconds or RFC 3339)", max_length = 64),
        ("outputFormat" = Option<String>, Query, description = "json (the default) or csv", pattern = "^(json|csv)$"),
        ("scanLimit" = Option<u32>, Query, minimum = 1, maximum = 100000, description = "Jira: the most events to examine; at most 100,000 are (the default for a search)")
    ),
    responses(
        (status = 200, description = "A page of events", content((AuditEventsPage = "application/json"), (String = "text/csv"))),
        (status = 400, description = "Bad parameter, named in errors", body = ErrorBody)
    ),
    tag = "audit"
)]
pub async fn events(
    State(state): State<Shared>,
    Admin(a): Admin,
    headers: HeaderMap,
    QueryParams(p): QueryParams<EventParams>,
) -> Result<Response, ApiError> {
    let q = p.events_query()?;
    let csv = p.csv_output()?;
    let actor = a.actor();
    let base = base_url(&state, &headers);
    let mut walk = Walk::new(&q);
    // The first store page is read before answering, so that a failure is still a status code.
    let page = fetch(&state, &actor, &walk.q).await?;
    walk.take(&page);
    let mut first = true;
    let head = if csv { CSV_HEADER } else { "{\"entities\":[" };
    let mut body = String::from(head);
    body.push_str(&render(&page.events, csv, &mut first));
    drop(page);
    let ctype = if csv {
        "text/csv; charset=utf-8"
    } else {
        "application/json"
    };
    let mut resp = if let Some(end) = &walk.end {
        let paging = Paging::new(&q, &walk, end, &p, &base);
        let mut resp = if csv {
            body.into_response()
        } else {
            body.push_str("],\"pagingInfo\":");
            body.push_str(&paging.json());
            body.push('}');
            body.into_response()
        };
        if csv {
            paging.headers(resp.headers_mut());
        }
        resp
    } else {
        let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(2);
        tokio::spawn(async move {
            if tx.send(Ok(Bytes::from(body))).await.is_err() {
                return;
            }
            let end = loop {
                if let Some(end) = walk.end.take() {
                    break end;
                }
                let page = match fetch(&state, &actor, &walk.q).await {
                    Ok(page) => page,
                    Err(e) => {
                        // The status is sent; breaking the body is what tells the client.
                        tracing::error!(error = %e, "audit events answer broken off");
                        let _ = tx.send(Err(std::io::Error::other(e.to_string()))).await;
                        return;
                    }
                };
                walk.take(&page);
                let chunk = render(&page.events, csv, &mut first);
                if tx.send(Ok(Bytes::from(chunk))).await.is_err() {
                    return;
                }
            };
            if !csv {
                let paging = Paging::new(&q, &walk, &end, &p, &base);
                let tail = format!("],\"pagingInfo\":{}}}", paging.json());
                let _ = tx.send(Ok(Bytes::from(tail))).await;
            }
        });
        Body::from_stream(ReceiverStream::new(rx)).into_response()
    };
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(ctype));
    Ok(resp)
}

/// Events over time for a chart: the filtered time range cut into `buckets` slices.
#[utoipa::path(
    get,
    path = "/rest/tokenauth/1/admin/audit/histogram",
    operation_id = "getAuditHistogram",
    summary = "Events over time, for a chart (admins)",
    params(("from" = Option<String>, Query, description = "RFC 3339 or epoch milliseconds", max_length = 64), ("to" = Option<String>, Query, description = "RFC 3339 or epoch milliseconds", max_length = 64), ("user" = Option<String>, Query, description = "Author or affected user, ignoring case", max_length = 255), ("action" = Option<String>, Query, description = "One action label, as the events show it", max_length = 64), ("buckets" = Option<u32>, Query, description = "How many slices of time", minimum = 1, maximum = 1000)),
    responses((status = 200, description = "Counts per slice of time", body = Histogram), (status = 400, description = "Bad parameter", body = ErrorBody)),
    tag = "audit"
)]
pub async fn histogram(
    State(state): State<Shared>,
    Admin(a): Admin,
    QueryParams(p): QueryParams<EventParams>,
) -> Result<Json<Histogram>, ApiError> {
    let q = p.query()?;
    let buckets = p.buckets.unwrap_or(100);
    let st = Arc::clone(&state);
    let h = tokio::task::spawn_blocking(move || st.auth.event_histogram(&a.actor(), &q, buckets))
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))??;
    Ok(Json(h))
}

#[utoipa::path(
    get,
    path = "/rest/tokenauth/1/admin/audit/export",
    operation_id = "exportAuditEvents",
    summary = "Export audit events (admins)",
    params(("format" = Option<String>, Query, description = "csv (the default) or json", pattern = "^(csv|json)$"), ("from" = Option<String>, Query, description = "RFC 3339 or epoch milliseconds", max_length = 64), ("to" = Option<String>, Query, description = "RFC 3339 or epoch milliseconds", max_length = 64), ("user" = Option<String>, Query, description = "Author or affected user, ignoring case", max_length = 255), ("action" = Option<String>, Query, description = "One action label, as the events show it", max_length = 64)),
    responses((status = 200, description = "CSV, or a JSON array of events", content((String = "text/csv"), (Vec<AuditEntity> = "application/json"))), (status = 400, description = "Bad parameter", body = ErrorBody)),
    tag = "audit"
)]
pub async fn export(
    State(state): State<Shared>,
    Admin(a): Admin,
    QueryParams(p): QueryParams<EventParams>,
) -> Result<Response, ApiError> {
    let csv = match p.format.as_deref().unwrap_or("json") {
        "csv" => true,
        "json" => false,
        other => {
            return Err(ApiError::BadRequest {
                message: format!("format: must be csv or json, not '{other}'"),
                field: Some("format".into()),
            });
        }
    };
    let mut q = p.query()?;
    q.limit = MAX_PAGE;
    q.offset = 0;
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, Infallible>>(4);
    let st = Arc::clone(&state);
    tokio::task::spawn_blocking(move || {
        let actor = a.actor();
        let head = if csv { CSV_HEADER } else { "[" };
        if tx
            .blocking_send(Ok(Bytes::from_static(head.as_bytes())))
            .is_err()
        {
            return;
        }
        let mut first = true;
        loop {
            let page = match st.auth.query_events(&actor, &q) {
                Ok(p) => p,
                Err(e) => {
                    tracing::error!(error = %e, "audit export stopped");
                    break;
                }
            };
            let mut chunk = String::new();
            for e in &page.events {
                if csv {
                    chunk.push_str(&csv_row(e));
                } else {
                    if !first {
                        chunk.push(',');
                    }
                    first = false;
                    chunk.push_str(&entity_json(e));
                    chunk.push('\n');
                }
            }
            if tx.blocking_send(Ok(Bytes::from(chunk))).is_err() {
                return;
            }
            match page.next {
                Some(next) if !page.is_last_page => q.before = Some(next),
                _ => break,
            }
        }
        if !csv {
            let _ = tx.blocking_send(Ok(Bytes::from_static(b"]")));
        }
    });
    let (ctype, name) = if csv {
        ("text/csv; charset=utf-8", "tokenauth-audit.csv")
    } else {
        ("application/json", "tokenauth-audit.json")
    };
    let mut resp = Body::from_stream(ReceiverStream::new(rx)).into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(ctype));
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn store_page(n: usize, scanned: u64, last: bool, scan_limited: bool) -> AuditPage {
        let events = (0..n)
            .map(|i| AuditEvent::new(i as Millis, AuditAction::TokenCreated, "ci"))
            .collect();
        AuditPage {
            events,
            is_last_page: last,
            next: (!last).then_some((7, 7)),
            scanned,
            scan_limited,
        }
    }

    #[test]
    fn a_large_answer_reads_store_pages_sharing_one_scan_budget() {
        let q = AuditQuery {
            limit: 3_000,
            offset: 5,
            scan_limit: Some(2_500),
            ..AuditQuery::default()
        };
        let mut w = Walk::new(&q);
        assert_eq!((w.q.limit, w.q.offset), (1_000, 5));
        w.take(&store_page(1_000, 1_200, false, false));
        assert!(w.end.is_none());
        assert_eq!(w.q.before, Some((7, 7)));
        assert_eq!(
            (w.q.limit, w.q.offset, w.q.scan_limit),
            (1_000, 0, Some(1_300))
        );
        // The rest of the budget ends the answer short of its limit: said so.
        w.take(&store_page(10, 1_300, false, true));
        let end = w.end.as_ref().unwrap();
        assert!(!end.last_page && end.scan_limited);
        assert_eq!((w.size, w.scanned, end.next), (1_010, 2_500, Some((7, 7))));
    }

    #[test]
    fn a_budget_spent_exactly_by_a_full_store_page_ends_the_answer() {
        let q = AuditQuery {
            limit: 2_000,
            scan_limit: Some(1_000),
            ..AuditQuery::default()
        };
        let mut w = Walk::new(&q);
        w.take(&store_page(1_000, 1_000, false, false));
        let end = w.end.as_ref().unwrap();
        assert!(
            !end.last_page && end.scan_limited,
            "1,000 short of the limit"
        );
        // Filled to its limit, an answer is not marked even with the budget spent.
        let mut w = Walk::new(&AuditQuery { limit: 1_000, ..q });
        w.take(&store_page(1_000, 1_000, false, false));
        let end = w.end.as_ref().unwrap();
        assert!(!end.last_page && !end.scan_limited);
    }

    #[test]
    fn the_next_page_link_keeps_the_filters_and_replaces_offset_and_cursors() {
        let p: EventParams = serde_json::from_value(json!({
            "userIds": "alice,bob", "actions": "API token created", "search": "a&b=c ü",
            "limit": "3", "offset": "9", "before": "1:2", "pageCursor": "1,2",
        }))
        .unwrap();
        assert_eq!(
            p.next_query_string("5,6"),
            "userIds=alice%2Cbob&actions=API%20token%20created&search=a%26b%3Dc%20%C3%BC\
             &limit=3&pageCursor=5%2C6"
        );
    }
}
