//! What the requests carry, described once for the route files and the OpenAPI document: the
//! shared path parameters, core's validation rules as the document's patterns, and the body
//! of a new token.

use serde::Deserialize;
use tokenauth_core::clock::parse_rfc3339;
use tokenauth_core::scope::Scope;
use tokenauth_core::service::{NewTokenRequest, ScopeChoice};
use tokenauth_core::token::Expiry;
use utoipa::ToSchema;

use crate::error::ApiError;

/// The path parameters the operations share, described once: what each names and what the
/// server accepts there (anything else names nothing and gets 404).
#[derive(utoipa::IntoParams)]
#[into_params(names("id"), parameter_in = Path)]
pub struct TokenIdParam(
    // core's `TokenId`.
    /// The token's id: 12 letters and digits.
    #[param(pattern = "^[0-9A-Za-z]{12}$", example = "AbCdEf012345")]
    pub String,
);

/// A user named in the path (`{user}`, or the original product's `{userKey}`): core's
/// `validate_name` as `USER_NAME_PATTERN` spells it, in any case.
fn user_param(name: &str) -> utoipa::openapi::path::Parameter {
    use utoipa::openapi::path::{ParameterBuilder, ParameterIn};
    use utoipa::openapi::schema::{ObjectBuilder, Type};
    ParameterBuilder::new()
        .name(name)
        .parameter_in(ParameterIn::Path)
        .required(utoipa::openapi::Required::True)
        .description(Some("The user's name, in any case."))
        .example(Some(serde_json::Value::from("alice")))
        .schema(Some(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .min_length(Some(1))
                .max_length(Some(255))
                .pattern(Some(USER_NAME_PATTERN)),
        ))
        .build()
}

pub struct UserParam;

impl utoipa::IntoParams for UserParam {
    fn into_params(
        _: impl Fn() -> Option<utoipa::openapi::path::ParameterIn>,
    ) -> Vec<utoipa::openapi::path::Parameter> {
        vec![user_param("user")]
    }
}

pub struct UserKeyParam;

impl utoipa::IntoParams for UserKeyParam {
    fn into_params(
        _: impl Fn() -> Option<utoipa::openapi::path::ParameterIn>,
    ) -> Vec<utoipa::openapi::path::Parameter> {
        vec![user_param("userKey")]
    }
}

#[derive(utoipa::IntoParams)]
#[into_params(names("id"), parameter_in = Path)]
pub struct PatNumberParam(
    /// The token's number, as Jira's personal access token API names tokens.
    #[param(minimum = 0, example = 1)]
    pub u64,
);

#[derive(utoipa::IntoParams)]
#[into_params(names("id"), parameter_in = Path)]
pub struct MappingIdParam(
    /// The mapping's id (a UUID, as WireMock gives).
    #[param(
        pattern = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$",
        example = "0f8e2c1a-5d6b-4c3e-9a7f-1b2c3d4e5f60"
    )]
    pub String,
);

#[derive(utoipa::IntoParams)]
#[into_params(names("id"), parameter_in = Path)]
pub struct RequestIdParam(
    /// The journaled request's id (a UUID).
    #[param(
        pattern = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$",
        example = "0f8e2c1a-5d6b-4c3e-9a7f-1b2c3d4e5f60"
    )]
    pub String,
);

/// core's `validate_description` as a regular expression (ECMA-262, as OpenAPI's `pattern`):
/// once trimmed, at least one character and none that `bounded::is_hidden` refuses (controls,
/// zero-width, line separators, bidi marks). The attributes spell it out: utoipa takes only a
/// literal there; `openapi`'s tests check both against core.
pub const DESCRIPTION_PATTERN: &str = r"^\s*[^\s\u0000-\u001f\u007f-\u009f\u061c\u180e\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]([^\u0000-\u001f\u007f-\u009f\u061c\u180e\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]*[^\s\u0000-\u001f\u007f-\u009f\u061c\u180e\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff])?\s*$";

/// core's `user::validate_name` as a regular expression: no whitespace at either end, no ':'
/// (it separates user and secret in Basic auth), no '/', no control characters.
pub const USER_NAME_PATTERN: &str = r"^[^\s:/\u0000-\u001f\u007f-\u009f]([^:/\u0000-\u001f\u007f-\u009f]*[^\s:/\u0000-\u001f\u007f-\u009f])?$";

/// core's `user::validate_display_text`: no control, invisible or bidi characters.
pub const DISPLAY_TEXT_PATTERN: &str =
    r"^[^\u0000-\u001f\u007f-\u009f\u061c\u180e\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]*$";

/// The body of `POST /tokens` and `POST /admin/users/{user}/tokens`. At most one of
/// `validityDays`, `expiresAt` and `neverExpires`; none: the maximum validity.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schema(as = CreateToken, example = json!({"description": "CI deploy", "scope": "READ_ONLY", "validityDays": 30}))]
pub struct CreateTokenBody {
    /// core's `validate_description`: 1–255 characters once trimmed, none hidden.
    #[schema(
        min_length = 1,
        max_length = 255,
        pattern = r"^\s*[^\s\u0000-\u001f\u007f-\u009f\u061c\u180e\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]([^\u0000-\u001f\u007f-\u009f\u061c\u180e\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]*[^\s\u0000-\u001f\u007f-\u009f\u061c\u180e\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff])?\s*$"
    )]
    pub description: String,
    /// Absent: Read Only (least privilege).
    #[serde(default)]
    #[schema(value_type = Option<Scope>)]
    pub scope: Option<String>,
    /// Days from now, at most the settings' `maxTokenValidityDays`.
    #[serde(default)]
    #[schema(minimum = 1, maximum = 36500)]
    pub validity_days: Option<u32>,
    /// An RFC 3339 date-time in the future, within the maximum validity.
    #[serde(default)]
    #[schema(format = DateTime)]
    pub expires_at: Option<String>,
    #[serde(default)]
    pub never_expires: bool,
}

impl CreateTokenBody {
    pub fn into_request(self) -> Result<NewTokenRequest, ApiError> {
        let scope = match self.scope.as_deref() {
            None => ScopeChoice::LeastPrivilege,
            Some(s) => {
                ScopeChoice::Exactly(Scope::parse(s).ok_or_else(|| ApiError::BadRequest {
                    message: format!(
                        "scope: must be READ_ONLY or READ_WRITE, not '{}'",
                        tokenauth_core::bounded::name(s)
                    ),
                    field: Some("scope".into()),
                })?)
            }
        };
        let expiry = expiry_of(self.validity_days, self.expires_at, self.never_expires)?;
        Ok(NewTokenRequest {
            description: self.description,
            scope,
            expiry,
        })
    }
}

/// The expiry asked for with at most one of `validityDays`, `expiresAt` and `neverExpires`.
pub fn expiry_of(
    validity_days: Option<u32>,
    expires_at: Option<String>,
    never_expires: bool,
) -> Result<Expiry, ApiError> {
    let given = [validity_days.is_some(), expires_at.is_some(), never_expires];
    if given.iter().filter(|g| **g).count() > 1 {
        return Err(ApiError::bad_request(
            "give at most one of validityDays, expiresAt and neverExpires",
        ));
    }
    Ok(match (validity_days, expires_at) {
        (Some(d), _) => Expiry::Days(d),
        (_, Some(at)) => Expiry::At(parse_rfc3339(&at).ok_or_else(|| ApiError::BadRequest {
            message: format!(
                "expiresAt: '{}' is not an RFC 3339 date-time",
                tokenauth_core::bounded::name(&at)
            ),
            field: Some("expiresAt".into()),
        })?),
        _ if never_expires => Expiry::Never,
        _ => Expiry::Default,
    })
}
