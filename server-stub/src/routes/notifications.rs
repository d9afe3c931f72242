//! The admin's expiry-notice settings beyond the settings document: the signing secret (set,
//! never shown) and "send a test message".

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use tokenauth_core::notify;

use utoipa::ToSchema;

use super::answers::{ErrorBody, Notices, TestDelivery};
use super::extract::Admin;
use crate::error::{ApiError, JsonBody, RawBody};
use crate::operations::notifier;
use crate::operations::webhook::Undelivered;
use crate::state::Shared;

/// `GET /rest/tokenauth/1/admin/notifications`: the webhook, the thresholds, and whether a
/// signing secret is set.
#[utoipa::path(
    get,
    path = "/rest/tokenauth/1/admin/notifications",
    operation_id = "getNotifications",
    summary = "Expiry notices: the webhook, the thresholds and whether a signing secret is set (admins)",
    responses((status = 200, description = "The notice settings", body = Notices)),
    tag = "notifications"
)]
pub async fn get(State(state): State<Shared>, Admin(_): Admin) -> Result<Json<Notices>, ApiError> {
    let n = state.auth.settings().notifications;
    Ok(Json(Notices {
        webhook_url: n.webhook_url,
        days_before: n.days_before,
        secret_set: state.auth.notice_secret_set()?,
    }))
}

/// The secret expiry notices are signed with.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = NotificationSecret, example = json!({"secret": "a long random secret, 16 to 256 characters"}))]
pub struct SecretBody {
    #[schema(min_length = 16, max_length = 256, format = Password)]
    secret: String,
}

/// `PUT /rest/tokenauth/1/admin/notifications/secret`: 204. Audited as changed, never its value.
#[utoipa::path(
    put,
    path = "/rest/tokenauth/1/admin/notifications/secret",
    operation_id = "setNotificationSecret",
    request_body = SecretBody,
    summary = "Set the secret expiry notices are signed with (HMAC-SHA256 in X-Tokenauth-Signature-256); never shown again, audited as changed (admins)",
    responses((status = 204, description = "Set"), (status = 400, description = "Too short, too long or not text", body = ErrorBody)),
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

#[derive(Deserialize, Default, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schema(as = NotificationTest)]
pub struct TestBody {
    /// A URL to try before saving it; default: the one in the settings. Checked as the
    /// settings' `notifications.webhookUrl` is.
    #[serde(default)]
    #[schema(max_length = 2048, pattern = "^https?://[^/\\s]")]
    webhook_url: Option<String>,
}

/// `POST /rest/tokenauth/1/admin/notifications/test`: one signed test message, one attempt.
/// 200 with `{"delivered", "status"}` or `{"delivered": false, "error"}`; 400 when there is no
/// URL or no secret.
#[utoipa::path(
    post,
    path = "/rest/tokenauth/1/admin/notifications/test",
    operation_id = "testNotification",
    request_body = Option<TestBody>,
    summary = "Send one signed test message to the webhook (or to webhookUrl, to try it before saving) (admins)",
    responses((status = 200, description = "What the receiver answered", body = TestDelivery), (status = 400, description = "No webhook URL, an invalid one, or no signing secret", body = ErrorBody)),
    tag = "notifications"
)]
pub async fn test(
    State(state): State<Shared>,
    Admin(_): Admin,
    RawBody(bytes): RawBody,
) -> Result<Json<TestDelivery>, ApiError> {
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
    let delivery = notifier::delivery_id();
    let message = notify::test_message(state.auth.now(), &delivery);
    Ok(Json(
        match state.config.webhooks.post(&url, &secret, message).await {
            Ok(status) => TestDelivery {
                delivered: true,
                status: Some(status),
                reason: None,
                error: None,
                delivery,
            },
            Err(why) => TestDelivery {
                delivered: false,
                // A receiver's own refusal is worth showing; how a connection failed is not.
                status: match why {
                    Undelivered::HttpError(s) => Some(s),
                    _ => None,
                },
                reason: Some(why.class().to_owned()),
                error: Some(why.to_string()),
                delivery,
            },
        },
    ))
}
