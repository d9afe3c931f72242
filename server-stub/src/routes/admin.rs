//! Admin endpoints: every user's tokens, users, settings.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::Deserialize;
use serde_json::Value;
use tokenauth_core::scope::Scope;
use tokenauth_core::service::{NewUser, TokenFilter, UserPatch};
use tokenauth_core::settings::Settings;
use tokenauth_core::user::user_key;
use utoipa::{IntoParams, ToSchema};

use super::answers::{ErrorBody, RevokedTokens, TokenPage, UserView};
use super::extract::{Admin, forget_tokens};
use super::params::{CreateTokenBody, TokenIdParam, UserParam};
use crate::error::{ApiError, JsonBody, QueryParams};
use crate::state::Shared;
use tokenauth_core::token::TokenView;

/// The filters of the admins' token list.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TokenQuery {
    /// Only this owner's tokens.
    #[param(max_length = 255)]
    user: Option<String>,
    /// Text found in the description, the token id or the owner.
    #[param(max_length = 255)]
    q: Option<String>,
    /// Only expired (true) or only unexpired (false) tokens.
    expired: Option<bool>,
    /// READ_ONLY or READ_WRITE.
    #[param(pattern = "^(READ_ONLY|READ_WRITE)$")]
    scope: Option<String>,
    /// Only tokens still valid that expire within this many days.
    #[serde(rename = "expiringWithinDays")]
    #[param(rename = "expiringWithinDays")]
    expiring_within_days: Option<u32>,
    #[param(minimum = 0)]
    offset: Option<usize>,
    /// Tokens per page, 1 to 1,000 (default 50).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<usize>,
}

#[utoipa::path(
    get,
    path = "/rest/tokenauth/1/admin/tokens",
    operation_id = "listAllTokens",
    summary = "Every user's tokens, a page at a time (admins)",
    params(TokenQuery),
    responses((status = 200, description = "A page of tokens", body = TokenPage), (status = 400, description = "Bad parameter", body = ErrorBody)),
    tag = "admin"
)]
pub async fn list_tokens(
    State(state): State<Shared>,
    Admin(a): Admin,
    QueryParams(q): QueryParams<TokenQuery>,
) -> Result<Json<TokenPage>, ApiError> {
    let scope = q
        .scope
        .as_deref()
        .map(|s| {
            Scope::parse(s)
                .ok_or_else(|| ApiError::bad_request("scope: must be READ_ONLY or READ_WRITE"))
        })
        .transpose()?;
    let filter = TokenFilter {
        user: q.user,
        q: q.q,
        expired: q.expired,
        scope,
        expiring_within_days: q.expiring_within_days,
        offset: q.offset.unwrap_or(0),
        limit: q.limit.unwrap_or(50),
    };
    let page = state.auth.list_tokens(&a.actor(), &filter)?;
    Ok(Json(TokenPage {
        offset: filter.offset,
        limit: filter.limit.clamp(1, 1000),
        total: page.total,
        tokens: page.tokens,
    }))
}

#[utoipa::path(
    delete,
    path = "/rest/tokenauth/1/admin/tokens/{id}",
    operation_id = "adminRevokeToken",
    summary = "Revoke any token (admins)",
    params(TokenIdParam),
    responses((status = 204, description = "Revoked"), (status = 404, description = "No such token", body = ErrorBody)),
    tag = "admin"
)]
pub async fn revoke_token(
    State(state): State<Shared>,
    Admin(a): Admin,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let view = state.auth.revoke_token(&a.actor(), &id, true)?;
    forget_tokens(&state, [view.id.as_str()]);
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(
    post,
    path = "/rest/tokenauth/1/admin/users/{user}/tokens",
    operation_id = "createTokenForUser",
    summary = "Create a token on a user's behalf (admins)",
    params(UserParam),
    responses((status = 201, description = "The token, with its secret this once", body = TokenView), (status = 400, description = "Invalid, or over maxTokensPerUser", body = ErrorBody), (status = 404, description = "No such user", body = ErrorBody)),
    request_body = CreateTokenBody,
    tag = "admin"
)]
pub async fn create_for_user(
    State(state): State<Shared>,
    Admin(a): Admin,
    Path(user): Path<String>,
    JsonBody(body): JsonBody<CreateTokenBody>,
) -> Result<impl IntoResponse, ApiError> {
    let req = body.into_request()?;
    let view = state
        .hash_core(move |s| s.auth.create_token(&a.actor(), &user, req))
        .await?;
    Ok((StatusCode::CREATED, Json(view)))
}

#[utoipa::path(
    delete,
    path = "/rest/tokenauth/1/admin/users/{user}/tokens",
    operation_id = "revokeAllTokensOfUser",
    summary = "Revoke all of a user's tokens (admins)",
    params(UserParam),
    responses((status = 200, description = "What was revoked", body = RevokedTokens), (status = 404, description = "No such user", body = ErrorBody)),
    tag = "admin"
)]
pub async fn revoke_all(
    State(state): State<Shared>,
    Admin(a): Admin,
    Path(user): Path<String>,
) -> Result<Json<RevokedTokens>, ApiError> {
    let removed = state.auth.revoke_all(&a.actor(), &user)?;
    forget_tokens(&state, removed.iter().map(|t| t.id.as_str()));
    Ok(Json(RevokedTokens {
        deleted: removed.len(),
        tokens: removed,
    }))
}

#[utoipa::path(
    get,
    path = "/rest/tokenauth/1/admin/users",
    operation_id = "listUsers",
    summary = "Users (admins)",
    responses((status = 200, description = "Every user", body = Vec<UserView>)),
    tag = "admin"
)]
pub async fn list_users(
    State(state): State<Shared>,
    Admin(_): Admin,
) -> Result<Json<Vec<UserView<'static>>>, ApiError> {
    Ok(Json(
        state
            .auth
            .users()?
            .into_iter()
            .map(UserView::from)
            .collect(),
    ))
}

/// A group name as core's `validate_group` takes it: 1–255 characters, not only whitespace, no
/// control characters. Only the document reads it (the groups are read as text and checked by
/// core); utoipa's derive cannot bound a newtype's text, so the schema is built here.
pub struct GroupName;

/// `GroupName`'s pattern; `openapi`'s tests check it against core's `validate_group`.
pub const GROUP_NAME_PATTERN: &str = r"^[^\u0000-\u001f\u007f-\u009f]*[^\s\u0000-\u001f\u007f-\u009f][^\u0000-\u001f\u007f-\u009f]*$";

impl utoipa::PartialSchema for GroupName {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .min_length(Some(1))
            .max_length(Some(255))
            .pattern(Some(GROUP_NAME_PATTERN))
            .into()
    }
}

impl ToSchema for GroupName {}

// Its fields are spelled out here and in `UserChange`, not flattened from one struct: serde's
// `deny_unknown_fields`, which refuses a misspelt field, does not work with `flatten`.
/// A user to create.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schema(as = UserInput, example = json!({"name": "alice", "displayName": "Alice", "emailAddress": "alice@example.com", "groups": ["jira-users"], "password": "correct horse battery staple"}))]
pub struct UserBody {
    // core's `validate_name`. Read as optional so that its absence is refused naming the
    // field, as every other invalid field is.
    /// The login.
    #[schema(
        required = true,
        nullable = false,
        min_length = 1,
        max_length = 255,
        pattern = r"^[^\s:/\u0000-\u001f\u007f-\u009f]([^:/\u0000-\u001f\u007f-\u009f]*[^\s:/\u0000-\u001f\u007f-\u009f])?$"
    )]
    name: Option<String>,
    /// Accepted and ignored, as before (a client may send a user back as it read it); the key
    /// is always the lower-cased name.
    #[schema(ignore)]
    #[serde(default)]
    #[allow(dead_code)]
    key: Option<String>,
    #[schema(
        max_length = 255,
        pattern = r"^[^\u0000-\u001f\u007f-\u009f\u061c\u180e\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]*$"
    )]
    display_name: Option<String>,
    #[schema(
        max_length = 255,
        pattern = r"^[^\u0000-\u001f\u007f-\u009f\u061c\u180e\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]*$"
    )]
    email_address: Option<String>,
    /// At most 100 groups.
    #[schema(max_items = 100, value_type = Option<Vec<GroupName>>)]
    groups: Option<Vec<String>>,
    // core's `check_password`: 1 to 1,024 bytes; 256 characters are at most 1,024 bytes.
    /// The password, 1 to 256 characters.
    #[schema(format = Password, min_length = 1, max_length = 256)]
    password: Option<String>,
    active: Option<bool>,
}

/// The fields of a user to change; absent fields stay as they are. `name` and `key` are read only
/// to refuse them (a user's name and key cannot change), so the document does not offer them.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schema(as = UserPatch, example = json!({"displayName": "Carol", "emailAddress": "carol@example.com", "groups": ["jira-users"]}))]
pub struct UserChange {
    #[schema(ignore)]
    name: Option<String>,
    #[schema(ignore)]
    key: Option<String>,
    #[schema(
        max_length = 255,
        pattern = r"^[^\u0000-\u001f\u007f-\u009f\u061c\u180e\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]*$"
    )]
    display_name: Option<String>,
    #[schema(
        max_length = 255,
        pattern = r"^[^\u0000-\u001f\u007f-\u009f\u061c\u180e\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]*$"
    )]
    email_address: Option<String>,
    /// At most 100 groups.
    #[schema(max_items = 100, value_type = Option<Vec<GroupName>>)]
    groups: Option<Vec<String>>,
    // core's `check_password`: 1 to 1,024 bytes; 256 characters are at most 1,024 bytes.
    /// The password, 1 to 256 characters.
    #[schema(format = Password, min_length = 1, max_length = 256)]
    password: Option<String>,
    active: Option<bool>,
}

#[utoipa::path(
    post,
    path = "/rest/tokenauth/1/admin/users",
    operation_id = "createUser",
    summary = "Create a user (admins)",
    responses((status = 201, description = "The user", body = UserView), (status = 400, description = "Invalid", body = ErrorBody), (status = 409, description = "A user of that name exists", body = ErrorBody)),
    request_body = UserBody,
    tag = "admin"
)]
pub async fn create_user(
    State(state): State<Shared>,
    Admin(a): Admin,
    JsonBody(body): JsonBody<UserBody>,
) -> Result<impl IntoResponse, ApiError> {
    let name = body.name.ok_or_else(|| ApiError::BadRequest {
        message: "name: is required".into(),
        field: Some("name".into()),
    })?;
    let new = NewUser {
        name,
        display_name: body.display_name,
        email: body.email_address,
        groups: body.groups.unwrap_or_default(),
        password: body.password,
        active: body.active,
    };
    let user = state
        .hash_core(move |s| s.auth.create_user(&a.actor(), new))
        .await?;
    Ok((StatusCode::CREATED, Json(UserView::from(user))))
}

#[utoipa::path(
    put,
    path = "/rest/tokenauth/1/admin/users/{user}",
    operation_id = "updateUser",
    summary = "Change a user (admins); demoting or deactivating yourself needs force=true",
    params(UserParam, Force),
    responses((status = 200, description = "The user", body = UserView), (status = 400, description = "Invalid", body = ErrorBody), (status = 404, description = "No such user", body = ErrorBody), (status = 409, description = "Would remove your own admin rights (use force=true)", body = ErrorBody)),
    request_body = UserChange,
    tag = "admin"
)]
pub async fn update_user(
    State(state): State<Shared>,
    Admin(a): Admin,
    Path(name): Path<String>,
    QueryParams(f): QueryParams<Force>,
    JsonBody(body): JsonBody<UserChange>,
) -> Result<Json<UserView<'static>>, ApiError> {
    if body
        .name
        .as_deref()
        .is_some_and(|n| user_key(n) != user_key(&name))
        || body.key.is_some()
    {
        return Err(ApiError::bad_request(
            "a user's name and key cannot be changed",
        ));
    }
    let fields = body;
    // A new password or a deactivation ends the user's sessions: what opened them is gone.
    let ends_sessions = fields.password.is_some() || fields.active == Some(false);
    let patch = UserPatch {
        display_name: fields.display_name,
        email: fields.email_address,
        groups: fields.groups,
        password: fields.password,
        active: fields.active,
    };
    let target = name.clone();
    let user = state
        .hash_core(move |s| s.auth.update_user(&a.actor(), &target, patch, f.force))
        .await?;
    if ends_sessions {
        state.sessions.end_user(&user.name);
    }
    Ok(Json(UserView::from(user)))
}

#[utoipa::path(
    delete,
    path = "/rest/tokenauth/1/admin/users/{user}",
    operation_id = "deleteUser",
    summary = "Delete a user and their tokens (admins)",
    params(UserParam),
    responses((status = 204, description = "Deleted"), (status = 404, description = "No such user", body = ErrorBody), (status = 409, description = "You cannot delete yourself", body = ErrorBody)),
    tag = "admin"
)]
pub async fn delete_user(
    State(state): State<Shared>,
    Admin(a): Admin,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    state.auth.delete_user(&a.actor(), &name)?;
    // Its tokens went with it; the cache holds nothing that could match them again (a new token
    // has a new id), and sessions end now.
    state.sessions.end_user(&name);
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(
    post,
    path = "/rest/tokenauth/1/admin/users/{user}/reset-failed-logins",
    operation_id = "resetFailedLogins",
    summary = "Clear a user's failed-login counter (admins)",
    params(UserParam),
    responses((status = 200, description = "The user", body = UserView), (status = 404, description = "No such user", body = ErrorBody)),
    tag = "admin"
)]
pub async fn reset_failed_logins(
    State(state): State<Shared>,
    Admin(a): Admin,
    Path(name): Path<String>,
) -> Result<Json<UserView<'static>>, ApiError> {
    let user = state.auth.reset_failed_logins(&a.actor(), &name)?;
    Ok(Json(UserView::from(user)))
}

#[utoipa::path(
    get,
    path = "/rest/tokenauth/1/admin/settings",
    operation_id = "getSettings",
    summary = "The settings (admins)",
    responses((status = 200, description = "The settings", body = Settings)),
    tag = "admin"
)]
pub async fn get_settings(State(state): State<Shared>, Admin(_): Admin) -> Json<Settings> {
    Json(state.auth.settings())
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Force {
    /// Go ahead although the change locks you out (or removes your own admin rights).
    #[serde(default)]
    #[param(required = false)]
    force: bool,
}

#[utoipa::path(
    put,
    path = "/rest/tokenauth/1/admin/settings",
    operation_id = "updateSettings",
    request_body(content = Object, description = "A settings document (see Settings), or any part of it: only what it names changes", example = json!({"maxTokenValidityDays": 90, "audit": {"successfulAuthentication": true}})),
    summary = "Change the settings; a partial document changes only what it names (admins)",
    params(Force),
    responses((status = 200, description = "The settings as they are now", body = Settings), (status = 400, description = "Invalid, with the field named in errors", body = ErrorBody), (status = 409, description = "Would lock you out (use force=true)", body = ErrorBody)),
    tag = "admin"
)]
pub async fn put_settings(
    State(state): State<Shared>,
    Admin(a): Admin,
    QueryParams(f): QueryParams<Force>,
    JsonBody(patch): JsonBody<Value>,
) -> Result<Json<Settings>, ApiError> {
    let settings = state.auth.update_settings(&a.actor(), &patch, f.force)?;
    // The decision reads the settings on every request, so nothing cached needs dropping (which
    // would only make every token pay for a hash again); password sessions end with passwords.
    if !settings.password_auth_enabled {
        state.sessions.end_password_sessions();
    }
    // New retention limits apply now, not at the pruner's next round.
    state.prune_now.notify_one();
    Ok(Json(settings))
}
