//! The audit log: `GET /rest/auditing/1.0/events` in the shape of Jira Data Center's audit REST
//! API, and the CSV/JSON export, streamed page by page with a keyset cursor.

use std::convert::Infallible;
use std::sync::Arc;

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use tokenauth_core::audit::{AuditEvent, AuditPage, AuditQuery, Histogram, MAX_PAGE};
use tokenauth_core::clock::Millis;
use tokenauth_core::service::Actor;
use tokio_stream::wrappers::ReceiverStream;

use super::answers::{AuditEntity, AuditEventsPage, ErrorBody, PagingInfo};
use super::extract::{Admin, base_url};
use crate::error::{ApiError, QueryParams};
use crate::operations::audit_entity::{CSV_HEADER, csv_row, entity_json};
use crate::state::Shared;

mod query;

use self::query::EventParams;

pub const EVENTS_PATH: &str = "/rest/auditing/1.0/events";

/// One store page, on the blocking pool (sled reads and decoding).
async fn fetch(state: &Shared, actor: &Actor, q: &AuditQuery) -> Result<AuditPage, ApiError> {
    let (st, actor, q) = (Arc::clone(state), actor.clone(), q.clone());
    tokio::task::spawn_blocking(move || st.auth.query_events(&actor, &q))
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?
        .map_err(ApiError::from)
}

/// How an answer of up to `MAX_LIMIT` events is read: store pages of at most [`MAX_PAGE`],
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
mod tests;
