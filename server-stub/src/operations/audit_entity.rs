//! An audit event as the outside world reads it: the entity of Jira Data Center's audit REST
//! API (plus the fields of SPEC section 4) and the export's CSV row. The audit route, the
//! `--audit-file` lines and the `audit export` command all write these, so the three cannot
//! drift apart; the OpenAPI document describes the entity from the same types (`ToSchema`).

use serde::Serialize;
use tokenauth_core::audit::{AuditEvent, CATEGORY};
use tokenauth_core::scope::Scope;
use utoipa::ToSchema;

/// Who acted.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditAuthor<'a> {
    pub name: &'a str,
    /// `system` for an anonymous caller, else `user`.
    #[serde(rename = "type")]
    #[schema(pattern = "^(user|system)$")]
    pub kind: &'static str,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditType {
    pub category: &'static str,
    pub action: &'static str,
}

/// A user or token the event is about.
#[derive(Debug, Serialize, ToSchema)]
pub struct AffectedObject<'a> {
    pub name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<&'a str>,
    #[serde(rename = "type")]
    #[schema(pattern = "^(USER|API_TOKEN)$")]
    pub kind: &'static str,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ChangedValue<'a> {
    pub key: &'a str,
    pub from: &'a str,
    pub to: &'a str,
}

/// One event as Jira Data Center's audit API shows it, plus the fields of SPEC section 4.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuditEntity<'a> {
    pub id: u64,
    pub timestamp: String,
    pub author: AuditAuthor<'a>,
    #[serde(rename = "type")]
    pub kind: AuditType,
    pub affected_objects: Vec<AffectedObject<'a>>,
    pub changed_values: Vec<ChangedValue<'a>>,
    /// The client's address.
    pub source: Option<&'a str>,
    pub proxy_ip: Option<&'a str>,
    pub token_id: Option<&'a str>,
    pub token_description: Option<&'a str>,
    pub scope: Option<Scope>,
    pub method: Option<&'a str>,
    pub path: Option<&'a str>,
    pub reason: Option<&'a str>,
    pub affected_user: Option<&'a str>,
}

impl<'a> From<&'a AuditEvent> for AuditEntity<'a> {
    fn from(e: &'a AuditEvent) -> Self {
        let mut affected = Vec::new();
        if let Some(u) = &e.affected_user {
            affected.push(AffectedObject {
                name: u,
                id: None,
                kind: "USER",
            });
        }
        if let Some(id) = &e.token_id {
            affected.push(AffectedObject {
                name: e.token_description.as_deref().unwrap_or(id),
                id: Some(id),
                kind: "API_TOKEN",
            });
        }
        Self {
            id: e.id,
            timestamp: e.timestamp_rfc3339(),
            author: AuditAuthor {
                name: &e.author,
                kind: if e.author == "Anonymous" {
                    "system"
                } else {
                    "user"
                },
            },
            kind: AuditType {
                category: CATEGORY,
                action: e.action.label(),
            },
            affected_objects: affected,
            changed_values: e
                .changed_values
                .iter()
                .map(|c| ChangedValue {
                    key: &c.key,
                    from: &c.from,
                    to: &c.to,
                })
                .collect(),
            source: e.client_ip.as_deref(),
            proxy_ip: e.proxy_ip.as_deref(),
            token_id: e.token_id.as_deref(),
            token_description: e.token_description.as_deref(),
            scope: e.scope,
            method: e.method.as_deref(),
            path: e.path.as_deref(),
            reason: e.reason.as_deref(),
            affected_user: e.affected_user.as_deref(),
        }
    }
}

/// One event as Jira Data Center's audit API shows it, plus the fields of SPEC section 4.
pub fn entity(e: &AuditEvent) -> AuditEntity<'_> {
    AuditEntity::from(e)
}

/// `entity` as JSON text (the answers are written page by page, so each event is serialized
/// on its own).
pub fn entity_json(e: &AuditEvent) -> String {
    serde_json::to_string(&entity(e)).unwrap_or_default()
}

/// The first line of a CSV export.
pub const CSV_HEADER: &str = "id,timestamp,category,action,author,affectedUser,tokenId,tokenDescription,scope,method,path,clientIp,proxyIp,reason,changedValues\n";

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

#[cfg(test)]
mod tests {
    use super::*;
    use tokenauth_core::audit::AuditAction;

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
