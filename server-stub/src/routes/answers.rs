//! The answers of the REST API as types. Each handler serializes one of these, and the OpenAPI
//! document's response schemas are derived from the same types (`ToSchema`), so what the
//! document promises and what the server writes cannot drift apart. Core's own wire types
//! (`Token`, `Settings`, `TokenPolicy`, `Histogram`) describe themselves with its `openapi`
//! feature.

use std::borrow::Cow;

use serde::Serialize;
use tokenauth_core::clock::{Millis, parse_rfc3339};
use tokenauth_core::scope::Scope;
use tokenauth_core::token::TokenView;
use tokenauth_core::user::User;
use utoipa::ToSchema;

/// The audit entity is also what the audit file and the export write, and the error body what
/// every layer's refusal carries: defined with them, answers here too.
pub use crate::error::ErrorBody;
pub use crate::operations::audit_entity::AuditEntity;

/// A user as Jira's `myself` and the admin API show it (never a password hash).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = User, example = json!({"name": "alice", "key": "alice", "displayName": "Alice", "emailAddress": "alice@example.com", "active": true, "groups": ["jira-users"], "failedLoginCount": 0}))]
pub struct UserView<'a> {
    pub name: Cow<'a, str>,
    /// The stable key: the lower-cased name.
    pub key: String,
    pub display_name: Cow<'a, str>,
    pub email_address: Cow<'a, str>,
    pub active: bool,
    pub groups: Cow<'a, [String]>,
    /// Failed password attempts since the last success or reset.
    pub failed_login_count: u32,
}

/// Borrowed (issue 21): `myself` answers every authenticated script's first call, and copying
/// the user's strings only to write them out cost four allocations a request.
impl<'a> From<&'a User> for UserView<'a> {
    fn from(u: &'a User) -> Self {
        Self {
            name: Cow::Borrowed(&u.name),
            key: u.key(),
            display_name: Cow::Borrowed(&u.display_name),
            email_address: Cow::Borrowed(&u.email),
            active: u.active,
            groups: Cow::Borrowed(&u.groups),
            failed_login_count: u.failed_logins,
        }
    }
}

/// Owned, for the admin API's answers about a user it has just changed or listed.
impl From<User> for UserView<'static> {
    fn from(u: User) -> Self {
        Self {
            key: u.key(),
            name: Cow::Owned(u.name),
            display_name: Cow::Owned(u.display_name),
            email_address: Cow::Owned(u.email),
            active: u.active,
            groups: Cow::Owned(u.groups),
            failed_login_count: u.failed_logins,
        }
    }
}

/// Confluence's current user, with Jira's fields too so either kind of client finds what it
/// reads.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CurrentUser<'a> {
    #[serde(flatten)]
    pub user: UserView<'a>,
    /// Always `known`: an anonymous caller gets 401.
    #[serde(rename = "type")]
    #[schema(pattern = "^known$")]
    pub kind: &'static str,
    pub username: String,
    pub user_key: String,
}

/// Jira's `serverInfo`; the PyPI `jira` client reads `versionNumbers`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ServerInfo {
    pub base_url: String,
    pub version: &'static str,
    #[schema(min_items = 3, max_items = 3)]
    pub version_numbers: [u32; 3],
    pub deployment_type: &'static str,
    pub build_number: u64,
    pub build_date: &'static str,
    pub server_time: String,
    pub scm_info: &'static str,
    pub server_title: &'static str,
}

pub const VERSION: &str = "9.12.0";

impl ServerInfo {
    /// This server's answer at `server_time`, to a client that reached it at `base_url`.
    pub fn of(base_url: String, server_time: String) -> Self {
        Self {
            base_url,
            version: VERSION,
            version_numbers: [9, 12, 0],
            deployment_type: "Server",
            build_number: 912_000,
            build_date: "2026-01-01T00:00:00.000+0000",
            server_time,
            scm_info: "tokenauth-stub",
            server_title: "tokenauth stub",
        }
    }

    /// The JSON of [`ServerInfo::of`], byte for byte: what serde writes of the seven fields
    /// that never change is written once per process, and only the two that do (escaped by
    /// serde_json) are written per call. Every Jira client asks `serverInfo` first, and
    /// serializing the whole struct was a fifth of an anonymous request's instructions
    /// (issue 21); a test holds the two equal.
    pub fn json(base_url: &str, server_time: &str) -> Vec<u8> {
        static FRAGMENTS: std::sync::OnceLock<[Vec<u8>; 3]> = std::sync::OnceLock::new();
        let [head, middle, tail] = FRAGMENTS.get_or_init(Self::fragments);
        let mut out = Vec::with_capacity(
            head.len() + middle.len() + tail.len() + base_url.len() + server_time.len() + 8,
        );
        out.extend_from_slice(head);
        push_json_str(&mut out, base_url);
        out.extend_from_slice(middle);
        push_json_str(&mut out, server_time);
        out.extend_from_slice(tail);
        out
    }

    /// The serialization of an answer whose two changing fields are markers, cut at them.
    fn fragments() -> [Vec<u8>; 3] {
        const BASE: &str = "\\u0000base";
        const TIME: &str = "\\u0000time";
        let whole =
            serde_json::to_string(&Self::of("\0base".into(), "\0time".into())).unwrap_or_default();
        let quoted = |m: &str| format!("\"{m}\"");
        let cut = |text: &str, m: &str| {
            text.split_once(&quoted(m))
                .map(|(a, b)| (a.to_owned(), b.to_owned()))
        };
        match cut(&whole, BASE).and_then(|(head, rest)| {
            let (middle, tail) = cut(&rest, TIME)?;
            Some([head.into_bytes(), middle.into_bytes(), tail.into_bytes()])
        }) {
            Some(fragments) => fragments,
            // Unreachable while the struct has both fields; an empty object otherwise.
            None => [b"{".to_vec(), Vec::new(), b"}".to_vec()],
        }
    }
}

/// `text` as a JSON string, quotes included.
fn push_json_str(out: &mut Vec<u8>, text: &str) {
    if serde_json::to_writer(&mut *out, text).is_err() {
        out.extend_from_slice(b"\"\"");
    }
}

/// Who a request to an unmapped `/rest/` path authenticated as.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Echo {
    pub user: String,
    pub method: String,
    pub path: String,
    #[schema(pattern = "^(token|password|session)$")]
    pub auth_type: &'static str,
    /// With a token: its id and scope.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<Scope>,
}

/// The cookie a login opened (also sent as `Set-Cookie`).
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionCookie {
    #[schema(pattern = "^JSESSIONID$")]
    pub name: &'static str,
    pub value: String,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LoginInfo {
    pub failed_login_count: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub login_count: Option<u32>,
}

/// The answer to `POST /rest/auth/1/session`, as Jira gives it.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NewSession {
    pub session: SessionCookie,
    pub login_info: LoginInfo,
}

/// The session's user, as Jira's `GET /rest/auth/1/session` shows it.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CurrentSession {
    #[serde(rename = "self")]
    pub self_link: String,
    pub name: String,
    #[schema(pattern = "^(token|password|session)$")]
    pub auth_type: &'static str,
    pub login_info: LoginInfo,
}

/// A page of every user's tokens.
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenPage {
    pub offset: usize,
    #[schema(minimum = 1, maximum = 1000)]
    pub limit: usize,
    /// How many tokens match, over all pages.
    pub total: usize,
    #[schema(value_type = Vec<TokenView>)]
    pub tokens: Vec<TokenView>,
}

/// The tokens a "revoke all" removed.
#[derive(Debug, Serialize, ToSchema)]
pub struct RevokedTokens {
    pub deleted: usize,
    #[schema(value_type = Vec<TokenView>)]
    pub tokens: Vec<TokenView>,
}

/// How many tokens the original product's "delete all for" removed.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = CompatDeleted)]
pub struct DeletedCount {
    pub deleted: usize,
}

/// The new token of a rotation, with its secret this once, and the id it replaces.
#[derive(Debug, Serialize, ToSchema)]
pub struct RotatedToken {
    #[serde(flatten)]
    #[schema(value_type = TokenView)]
    pub token: TokenView,
    /// The rotated-away token's id: refused from now on.
    pub replaces: String,
}

fn millis(rfc3339: Option<&str>) -> Option<Millis> {
    rfc3339.and_then(parse_rfc3339)
}

/// A token as the original product's API (`de.resolution.apitokenauth`) shows it: times in epoch
/// milliseconds; `plainTextToken` only in the answer to its creation.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CompatToken {
    pub id: String,
    pub description: String,
    #[schema(value_type = Option<i64>)]
    pub created: Option<Millis>,
    #[schema(value_type = Option<i64>)]
    pub last_accessed: Option<Millis>,
    #[schema(value_type = Option<i64>)]
    pub expires: Option<Millis>,
    pub scope: Scope,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plain_text_token: Option<String>,
}

impl From<&TokenView> for CompatToken {
    fn from(v: &TokenView) -> Self {
        Self {
            id: v.id.clone(),
            description: v.description.clone(),
            created: millis(Some(&v.created_at)),
            last_accessed: millis(v.last_used_at.as_deref()),
            expires: millis(v.expires_at.as_deref()),
            scope: v.scope,
            plain_text_token: v.token.clone(),
        }
    }
}

/// A token as Jira Data Center's personal access token API shows it; `rawToken` only in the
/// answer to its creation.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Pat {
    /// Jira's ids are numbers.
    pub id: u64,
    /// The token's description.
    pub name: String,
    pub created_at: String,
    pub expiring_at: Option<String>,
    pub last_accessed_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub raw_token: Option<String>,
}

impl Pat {
    pub fn new(number: u64, v: &TokenView) -> Self {
        Self {
            id: number,
            name: v.description.clone(),
            created_at: v.created_at.clone(),
            expiring_at: v.expires_at.clone(),
            last_accessed_at: v.last_used_at.clone(),
            raw_token: v.token.clone(),
        }
    }
}

/// Expiry notices: the webhook, the thresholds, and whether a signing secret is set (the secret
/// itself is never shown).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Notices {
    pub webhook_url: Option<String>,
    pub days_before: Vec<u32>,
    pub secret_set: bool,
}

/// What the webhook answered to one signed test message.
#[derive(Debug, Serialize, ToSchema)]
pub struct TestDelivery {
    pub delivered: bool,
    /// The receiver's HTTP status, when it answered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// Why it was not delivered, as a class: `refused_by_policy` (the address is link-local,
    /// a metadata service, or loopback/private while the server is exposed), `unreachable`,
    /// `timeout`, `http_error` (then `status` says which) or `failed`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "unreachable")]
    pub reason: Option<String>,
    /// Why it was not delivered, in words.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The delivery id the message carried.
    pub delivery: String,
}

/// `GET /status`: `RUNNING` with 200; `STARTING` or `STOPPING` with 503.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"state": "RUNNING"}))]
pub struct ServerState {
    #[schema(pattern = "^(RUNNING|STARTING|STOPPING)$")]
    pub state: &'static str,
}

/// Where a page of audit events stands, in Jira's `pagingInfo` plus the cursors.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PagingInfo {
    pub start: usize,
    pub limit: usize,
    pub size: usize,
    pub last_page: bool,
    pub is_last_page: bool,
    pub next_page_offset: Option<usize>,
    pub next_start: Option<usize>,
    /// `timestamp,id`: pass as `pageCursor`.
    pub next_page_cursor: Option<String>,
    /// `timestamp:id`: pass as `before`.
    pub next_before: Option<String>,
    /// This query's next page, an absolute link.
    pub next_page_link: Option<String>,
    pub scan_limit: Option<u64>,
    pub scanned: u64,
    /// The scan limit stopped the query before the page was full.
    pub scan_limit_reached: bool,
}

// The server streams a page (a large one is written store page by store page), so no handler
// holds this whole value: it is the shape of what it writes.
/// A page of audit events, newest first.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = AuditPage)]
pub struct AuditEventsPage<'a> {
    pub entities: Vec<AuditEntity<'a>>,
    pub paging_info: PagingInfo,
}

/// A JSON answer, as `axum::Json` writes one, for the routes every script calls first
/// (`myself` and Confluence's `user/current`; `serverInfo` writes its own bytes): serialized
/// into a `Vec` of 512 bytes from the start instead of a `BytesMut` of 128 that grows twice on
/// the way to a typical answer, and through `Vec`'s `io::Write` instead of `BytesMut`'s writer
/// (issue 21, BENCHMARKS.md).
#[derive(Debug)]
pub struct Json<T>(pub T);

impl<T: Serialize> axum::response::IntoResponse for Json<T> {
    fn into_response(self) -> axum::response::Response {
        let mut body = Vec::with_capacity(512);
        match serde_json::to_writer(&mut body, &self.0) {
            Ok(()) => json_response(body),
            Err(e) => {
                (axum::http::StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response()
            }
        }
    }
}

/// `body`, already JSON, as an answer with its content type. Built directly: `IntoResponse`
/// for a `Vec` inserts `application/octet-stream` first, and then the JSON type over it.
pub fn json_response(body: Vec<u8>) -> axum::response::Response {
    use axum::http::{HeaderValue, header};
    let mut res = axum::response::Response::new(axum::body::Body::from(body));
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    res
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::ServerInfo;

    #[test]
    fn server_info_written_in_fragments_is_what_serde_writes_of_the_struct() {
        for base in [
            "http://127.0.0.1:2990",
            "https://jira.example.com",
            r#"http://a"b\c"#,
            "",
        ] {
            for time in ["2026-12-07T12:01:28.143Z", "-62167219200001"] {
                let whole = serde_json::to_vec(&ServerInfo::of(base.into(), time.into())).unwrap();
                assert_eq!(
                    String::from_utf8(ServerInfo::json(base, time)).unwrap(),
                    String::from_utf8(whole).unwrap()
                );
            }
        }
    }
}
