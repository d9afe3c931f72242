//! The admin's expiry-notice settings beyond the settings document: the signing secret (set,
//! never shown) and "send a test message".

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};
use tokenauth_core::notify;

use super::Admin;
use crate::error::{ApiError, JsonBody, RawBody};
use crate::notifier;
use crate::state::Shared;

/// `GET /rest/tokenauth/1/admin/notifications`: the webhook, the thresholds, and whether a
/// signing secret is set.
#[utoipa::path(
    get,
    path = "/rest/tokenauth/1/admin/notifications",
    operation_id = "getNotifications",
    tag = "notifications"
)]
pub async fn get(State(state): State<Shared>, Admin(_): Admin) -> Result<Json<Value>, ApiError> {
    let n = state.auth.settings().notifications;
    Ok(Json(json!({
        "webhookUrl": n.webhook_url,
        "daysBefore": n.days_before,
        "secretSet": state.auth.notice_secret_set()?,
    })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretBody {
    secret: String,
}

/// `PUT /rest/tokenauth/1/admin/notifications/secret`: 204. Audited as changed, never its value.
#[utoipa::path(
    put,
    path = "/rest/tokenauth/1/admin/notifications/secret",
    operation_id = "setNotificationSecret",
    tag = "notifications"
)]
pub async fn put_secret(
    State(state): State<Shared>,
    Admin(a): Admin,
    JsonBody(body): JsonBody<SecretBody>,
) -> Result<StatusCode, ApiError> {
    state.auth.set_notice_secret(&a.actor(), &body.secret)?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TestBody {
    /// A URL to try before saving it; default: the one in the settings.
    #[serde(default)]
    webhook_url: Option<String>,
}

/// `POST /rest/tokenauth/1/admin/notifications/test`: one signed test message, one attempt.
/// 200 with `{"delivered", "status"}` or `{"delivered": false, "error"}`; 400 when there is no
/// URL or no secret.
#[utoipa::path(
    post,
    path = "/rest/tokenauth/1/admin/notifications/test",
    operation_id = "testNotification",
    tag = "notifications"
)]
pub async fn test(
    State(state): State<Shared>,
    Admin(_): Admin,
    RawBody(bytes): RawBody,
) -> Result<Json<Value>, ApiError> {
    let body: TestBody = if bytes.iter().all(u8::is_ascii_whitespace) {
        TestBody::default()
    } else {
        serde_json::from_slice(&bytes)
            .map_err(|e| ApiError::bad_request(format!("invalid JSON body: {e}")))?
    };
    let candidate = notify::NotificationSettings {
        webhook_url: body
            .webhook_url
            .or_else(|| state.auth.settings().notifications.webhook_url),
        days_before: vec![1],
    };
    candidate.validate()?;
    let Some(url) = candidate.webhook_url else {
        return Err(ApiError::BadRequest {
            message: "no webhook URL: set notifications.webhookUrl, or give webhookUrl".into(),
            field: Some("notifications.webhookUrl".into()),
        });
    };
    let Some(secret) = state.auth.notice_secret()? else {
        return Err(ApiError::BadRequest {
            message:
                "no signing secret: set one with PUT /rest/tokenauth/1/admin/notifications/secret"
                    .into(),
            field: Some("secret".into()),
        });
    };
    let client = notifier::shared_client().map_err(ApiError::Internal)?;
    let delivery = notifier::delivery_id();
    let message = notify::test_message(state.auth.now(), &delivery);
    Ok(Json(
        match notifier::post(&client, &url, &secret, message).await {
            Ok(status) => json!({"delivered": true, "status": status, "delivery": delivery}),
            Err(error) => json!({"delivered": false, "error": error, "delivery": delivery}),
        },
    ))
}
