//! Errors in Jira's shape: `{"errorMessages": [...], "errors": {field: message}}` — the body
//! (`ErrorBody`, one of the answers the OpenAPI document describes), `ApiError` and how each
//! becomes a response, a denial's response, and the body extractors that answer in that shape.
//!
//! Above the parts (it turns their errors, e.g. `hashing::HashError`, into answers), below
//! state and the routes.

use std::collections::BTreeMap;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokenauth_core::CoreError;
use tokenauth_core::auth::Denial;
use tokenauth_core::validation::ValidationError;
use utoipa::ToSchema;

use crate::authentication::hashing::HashError;

/// Every refusal and error, in Jira's shape: the messages, and the field each is about.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = Error, example = json!({"errorMessages": ["description: must not be empty"], "errors": {"description": "description: must not be empty"}}))]
pub struct ErrorBody {
    pub error_messages: Vec<String>,
    pub errors: BTreeMap<String, String>,
}

impl ErrorBody {
    pub fn new(message: &str, field: Option<&str>) -> Self {
        Self {
            error_messages: vec![message.to_owned()],
            errors: field
                .map(|f| BTreeMap::from([(f.to_owned(), message.to_owned())]))
                .unwrap_or_default(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{message}")]
    BadRequest {
        message: String,
        field: Option<String>,
    },
    #[error("{0}")]
    Forbidden(String),
    /// A Read Only token asked to mint Read & Write: 403 with `X-Authentication-Denied-Reason:
    /// READ_ONLY_TOKEN`, as its own write would get.
    #[error("{0}")]
    ReadOnlyToken(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("the request body is larger than 1 MiB")]
    PayloadTooLarge,
    #[error("rate limit exceeded")]
    TooManyRequests { retry_after: u64 },
    #[error("{0}")]
    Unavailable(String),
    #[error("internal error")]
    Internal(String),
}

impl ApiError {
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::BadRequest {
            message: message.into(),
            field: None,
        }
    }
}

impl From<ValidationError> for ApiError {
    fn from(v: ValidationError) -> Self {
        Self::BadRequest {
            field: (!v.field.is_empty()).then(|| v.field.clone()),
            message: v.to_string(),
        }
    }
}

impl From<CoreError> for ApiError {
    fn from(e: CoreError) -> Self {
        match e {
            CoreError::Invalid(v) => v.into(),
            CoreError::Forbidden(m) => Self::Forbidden(m),
            CoreError::ReadOnlyToken(m) => Self::ReadOnlyToken(m),
            CoreError::NotFound(m) => Self::NotFound(format!("Not found: {m}")),
            CoreError::Conflict(m) => Self::Conflict(m),
            CoreError::TooManyTokenChanges { retry_after } => Self::TooManyRequests { retry_after },
            CoreError::Store(s) => Self::Unavailable(format!("storage error: {s}")),
            other => Self::Internal(other.to_string()),
        }
    }
}

/// No hashing slot in time, or none any more: 503; a job that vanished: 500.
impl From<HashError> for ApiError {
    fn from(e: HashError) -> Self {
        match e {
            HashError::Busy | HashError::ShuttingDown => Self::Unavailable(e.to_string()),
            HashError::NoAnswer => Self::Internal(e.to_string()),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, field) = match &self {
            ApiError::BadRequest { field, .. } => (StatusCode::BAD_REQUEST, field.clone()),
            ApiError::Forbidden(_) | ApiError::ReadOnlyToken(_) => (StatusCode::FORBIDDEN, None),
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, None),
            ApiError::Conflict(_) => (StatusCode::CONFLICT, None),
            ApiError::PayloadTooLarge => (StatusCode::PAYLOAD_TOO_LARGE, None),
            ApiError::TooManyRequests { .. } => (StatusCode::TOO_MANY_REQUESTS, None),
            ApiError::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, None),
            ApiError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, None),
        };
        if let ApiError::Internal(detail) | ApiError::Unavailable(detail) = &self {
            tracing::error!(%detail, "request failed");
        }
        let mut resp = (
            status,
            Json(ErrorBody::new(&self.to_string(), field.as_deref())),
        )
            .into_response();
        match self {
            ApiError::TooManyRequests { retry_after } => {
                resp.headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
            }
            ApiError::PayloadTooLarge => {
                // The unread body is still on the wire: this connection cannot carry another request.
                resp.headers_mut()
                    .insert(header::CONNECTION, HeaderValue::from_static("close"));
            }
            ApiError::Unavailable(_) => {
                resp.headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            }
            ApiError::ReadOnlyToken(_) => {
                resp.headers_mut().insert(
                    "X-Authentication-Denied-Reason",
                    HeaderValue::from_static("READ_ONLY_TOKEN"),
                );
            }
            _ => {}
        }
        resp
    }
}

/// The Jira body of a denial, serialised once per message: refusals (a flood of wrong secrets)
/// must cost less than the requests they compete with.
fn denial_body(message: &'static str) -> Bytes {
    static BODIES: std::sync::OnceLock<std::sync::Mutex<Vec<(&'static str, Bytes)>>> =
        std::sync::OnceLock::new();
    let bodies = BODIES.get_or_init(Default::default);
    let mut bodies = bodies
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some((_, b)) = bodies.iter().find(|(m, _)| std::ptr::eq(*m, message)) {
        return b.clone();
    }
    let body =
        Bytes::from(serde_json::to_string(&ErrorBody::new(message, None)).unwrap_or_default());
    bodies.push((message, body.clone()));
    body
}

/// A refused authentication, with the headers Jira sends.
pub fn denial_response(d: &Denial) -> Response {
    let status = StatusCode::from_u16(d.status).unwrap_or(StatusCode::UNAUTHORIZED);
    let mut resp = (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        denial_body(d.message),
    )
        .into_response();
    let h = resp.headers_mut();
    h.insert(
        "X-Seraph-LoginReason",
        HeaderValue::from_static(d.login_reason()),
    );
    if let Some(reason) = d.denied_reason() {
        h.insert(
            "X-Authentication-Denied-Reason",
            HeaderValue::from_static(reason),
        );
    }
    if d.challenges() {
        h.insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"tokenauth\""),
        );
    }
    resp
}

/// A body read within the size limit (413 beyond it).
pub struct RawBody(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for RawBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        Bytes::from_request(req, state)
            .await
            .map(RawBody)
            .map_err(|r| {
                if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    ApiError::PayloadTooLarge
                } else {
                    ApiError::bad_request(format!("could not read the body: {r}"))
                }
            })
    }
}

/// A JSON body: read within the size limit (413 beyond it), then parsed whatever the
/// content type says (400 with serde's message when it is not the expected JSON). Writes a
/// browser could forge are refused before any handler runs (`core::csrf`).
pub struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let RawBody(bytes) = RawBody::from_request(req, state).await?;
        serde_json::from_slice(&bytes)
            .map(JsonBody)
            .map_err(|e| ApiError::bad_request(format!("invalid JSON body: {e}")))
    }
}

/// Query parameters, with a malformed query answered in Jira's JSON shape (400) like every
/// other bad input, instead of the framework's plain-text rejection.
pub struct QueryParams<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> axum::extract::FromRequestParts<S> for QueryParams<T> {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, Self::Rejection> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|q| QueryParams(q.0))
            .map_err(|r| {
                ApiError::bad_request(format!("invalid query parameters: {}", r.body_text()))
            })
    }
}
