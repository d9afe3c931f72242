//! The audit log: `GET /rest/auditing/1.0/events` in the shape of Jira Data Center's audit REST
//! API, and the CSV/JSON export, streamed page by page with a keyset cursor.

use std::convert::Infallible;
use std::sync::Arc;

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use tokenauth_core::audit::{AuditAction, AuditEvent, AuditQuery, CATEGORY, Histogram, MAX_PAGE};
use tokenauth_core::clock::{Millis, parse_rfc3339};
use tokio_stream::wrappers::ReceiverStream;

use super::Admin;
use crate::error::{ApiError, QueryParams};
use crate::state::Shared;

#[derive(Deserialize)]
pub struct EventParams {
    offset: Option<usize>,
    limit: Option<usize>,
    from: Option<String>,
    to: Option<String>,
    user: Option<String>,
    action: Option<String>,
    format: Option<String>,
    /// Keyset cursor `timestamp:id`, as `pagingInfo.nextBefore` gave it.
    before: Option<String>,
    buckets: Option<usize>,
}

/// Parses a `timestamp:id` cursor.
fn cursor_param(v: Option<&str>) -> Result<Option<(Millis, u64)>, ApiError> {
    v.filter(|s| !s.is_empty())
        .map(|s| {
            s.split_once(':')
                .and_then(|(ts, id)| Some((ts.parse().ok()?, id.parse().ok()?)))
                .ok_or_else(|| ApiError::BadRequest {
                    message: format!("before: '{s}' is not a cursor from pagingInfo.nextBefore"),
                    field: Some("before".into()),
                })
        })
        .transpose()
}

/// A time as RFC 3339 or as epoch milliseconds.
fn time_param(name: &str, v: Option<&str>) -> Result<Option<Millis>, ApiError> {
    v.filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<Millis>()
                .ok()
                .or_else(|| parse_rfc3339(s))
                .ok_or_else(|| ApiError::BadRequest {
                    message: format!("{name}: '{s}' is not an RFC 3339 time or epoch milliseconds"),
                    field: Some(name.into()),
                })
        })
        .transpose()
}

impl EventParams {
    fn query(&self) -> Result<AuditQuery, ApiError> {
        let action = self
            .action
            .as_deref()
            .filter(|s| !s.is_empty())
            .map(|a| {
                AuditAction::from_label(a).ok_or_else(|| ApiError::BadRequest {
                    message: format!("action: unknown action '{a}'"),
                    field: Some("action".into()),
                })
            })
            .transpose()?;
        Ok(AuditQuery {
            from: time_param("from", self.from.as_deref())?,
            to: time_param("to", self.to.as_deref())?,
            user: self.user.clone().filter(|u| !u.is_empty()),
            action,
            before: cursor_param(self.before.as_deref())?,
            offset: self.offset.unwrap_or(0),
            limit: self.limit.unwrap_or(200).clamp(1, MAX_PAGE),
        })
    }
}

/// One event as Jira Data Center's audit API shows it, plus the fields of SPEC section 4.
pub fn entity(e: &AuditEvent) -> Value {
    let mut affected = Vec::new();
    if let Some(u) = &e.affected_user {
        affected.push(json!({"name": u, "type": "USER"}));
    }
    if let Some(id) = &e.token_id {
        affected.push(json!({"name": e.token_description.clone().unwrap_or_else(|| id.clone()), "id": id, "type": "API_TOKEN"}));
    }
    json!({
        "id": e.id,
        "timestamp": e.timestamp_rfc3339(),
        "author": {"name": e.author, "type": if e.author == "Anonymous" { "system" } else { "user" }},
        "type": {"category": CATEGORY, "action": e.action.label()},
        "affectedObjects": affected,
        "changedValues": e.changed_values.iter().map(|c| json!({"key": c.key, "from": c.from, "to": c.to})).collect::<Vec<_>>(),
        "source": e.client_ip,
        "proxyIp": e.proxy_ip,
        "tokenId": e.token_id,
        "tokenDescription": e.token_description,
        "scope": e.scope.map(|s| s.as_str()),
        "method": e.method,
        "path": e.path,
        "reason": e.reason,
        "affectedUser": e.affected_user,
    })
}

pub async fn events(
    State(state): State<Shared>,
    Admin(a): Admin,
    QueryParams(p): QueryParams<EventParams>,
) -> Result<Json<Value>, ApiError> {
    let q = p.query()?;
    let st = Arc::clone(&state);
    let page = tokio::task::spawn_blocking(move || {
        st.auth.query_events(&a.actor(), &q).map(|page| (page, q))
    })
    .await
    .map_err(|e| ApiError::Internal(e.to_string()))??;
    let (page, q) = page;
    Ok(Json(json!({
        "entities": page.events.iter().map(entity).collect::<Vec<_>>(),
        "pagingInfo": {
            "start": q.offset,
            "limit": q.limit,
            "size": page.events.len(),
            "isLastPage": page.is_last_page,
            "nextStart": if page.is_last_page { None } else { Some(q.offset + page.events.len()) },
            "nextBefore": match page.events.last() {
                Some(e) if !page.is_last_page => Some(format!("{}:{}", e.timestamp, e.id)),
                _ => None,
            },
        },
    })))
}

/// Events over time for a chart: the filtered time range cut into `buckets` slices.
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

const CSV_HEADER: &str = "id,timestamp,category,action,author,affectedUser,tokenId,tokenDescription,scope,method,path,clientIp,proxyIp,reason,changedValues\n";

fn csv_field(out: &mut String, v: &str) {
    // Cells starting with a formula character are prefixed so a spreadsheet shows, not runs, them.
    let risky = v.starts_with(['=', '+', '-', '@', '\t', '\r']);
    if risky || v.contains([',', '"', '\n', '\r']) {
        out.push('"');
        if risky {
            out.push('\'');
        }
        out.push_str(&v.replace('"', "\"\""));
        out.push('"');
    } else {
        out.push_str(v);
    }
}

pub fn csv_row(e: &AuditEvent) -> String {
    let changed = e
        .changed_values
        .iter()
        .map(|c| format!("{}: {} -> {}", c.key, c.from, c.to))
        .collect::<Vec<_>>()
        .join("; ");
    let cells = [
        e.id.to_string(),
        e.timestamp_rfc3339(),
        CATEGORY.to_owned(),
        e.action.label().to_owned(),
        e.author.clone(),
        e.affected_user.clone().unwrap_or_default(),
        e.token_id.clone().unwrap_or_default(),
        e.token_description.clone().unwrap_or_default(),
        e.scope.map(|s| s.as_str().to_owned()).unwrap_or_default(),
        e.method.clone().unwrap_or_default(),
        e.path.clone().unwrap_or_default(),
        e.client_ip.clone().unwrap_or_default(),
        e.proxy_ip.clone().unwrap_or_default(),
        e.reason.clone().unwrap_or_default(),
        changed,
    ];
    let mut out = String::with_capacity(200);
    for (i, c) in cells.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        csv_field(&mut out, c);
    }
    out.push('\n');
    out
}

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
                    chunk.push_str(&entity(e).to_string());
                    chunk.push('\n');
                }
            }
            if tx.blocking_send(Ok(Bytes::from(chunk))).is_err() {
                return;
            }
            match page.events.last() {
                Some(last) if !page.is_last_page => q.before = Some((last.timestamp, last.id)),
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

    #[test]
    fn csv_quotes_separators_and_defuses_formulas() {
        let mut e = AuditEvent::new(0, AuditAction::TokenCreated, "admin");
        e.token_description = Some("=HYPERLINK(\"x\"), evil".into());
        let row = csv_row(&e);
        assert!(row.contains("\"'=HYPERLINK(\"\"x\"\"), evil\""), "{row}");
        assert_eq!(
            row.matches(',').count(),
            15,
            "one more comma inside the quoted cell"
        );
    }
}
