//! The HTTP surface of SPEC section 5: the router (every route with its description, behind
//! the middleware) and the OpenAPI document of the same routes, one file per group of routes.
//!
//! The top of the request path: it may import every layer below (config, error, state and the
//! parts). The route files import their siblings — `extract` (who is calling), `params` (what
//! requests carry), `answers`, `middleware` — never this file, which names them all.

pub mod admin;
pub mod answers;
pub mod audit;
pub mod compat;
pub mod extract;
pub mod front;
pub mod hot;
pub mod jira;
pub mod middleware;
pub mod notifications;
pub mod openapi;
pub mod ops;
pub mod params;
pub mod pat;
pub mod proxied;
pub mod recordings;
pub mod session;
pub mod tokens;
pub mod wiremock_admin;

use std::sync::OnceLock;

use axum::Json;
use serde_json::Value;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::ApiError;
use crate::state::Shared;

/// The server's service: the routes behind the timeout, the body limit, the journal and the
/// token rules (`front`).
pub fn router(state: Shared) -> front::Front {
    let (routes, _) = api_routes().split_for_parts();
    let routes = routes
        .fallback(jira::echo_or_not_found)
        .with_state(state.clone());
    front::Front::new(state, routes)
}

/// Every route with its description: `routes!` registers a handler together with the operation
/// its `#[utoipa::path]` describes (method, path, operationId, tag), so a route cannot be added
/// without a description. [`document_value`] reads the same routes' document.
pub fn api_routes() -> OpenApiRouter<Shared> {
    use wiremock_admin as w;
    OpenApiRouter::with_openapi(<openapi::Components as utoipa::OpenApi>::openapi())
        .routes(routes!(ops::status))
        .routes(routes!(ops::metrics))
        .routes(routes!(jira::server_info))
        .routes(routes!(jira::server_info_latest))
        .routes(routes!(jira::myself))
        .routes(routes!(jira::myself_latest))
        .routes(routes!(jira::current_user))
        .routes(routes!(session::login, session::current, session::logout))
        .routes(routes!(document))
        .routes(routes!(tokens::list_own, tokens::create_own))
        .routes(routes!(tokens::policy))
        .routes(routes!(tokens::rename_own, tokens::revoke_own))
        .routes(routes!(tokens::rotate))
        .routes(routes!(pat::list_own, pat::create))
        .routes(routes!(pat::get_one, pat::revoke))
        .routes(routes!(pat::admin_revoke))
        .routes(routes!(admin::list_tokens))
        .routes(routes!(admin::revoke_token))
        .routes(routes!(admin::list_users, admin::create_user))
        .routes(routes!(admin::update_user, admin::delete_user))
        .routes(routes!(admin::create_for_user, admin::revoke_all))
        .routes(routes!(admin::reset_failed_logins))
        .routes(routes!(admin::get_settings, admin::put_settings))
        .routes(routes!(notifications::get))
        .routes(routes!(notifications::put_secret))
        .routes(routes!(notifications::test))
        .routes(routes!(audit::export))
        .routes(routes!(audit::histogram))
        .routes(routes!(audit::events))
        .routes(routes!(compat::list, compat::create))
        .routes(routes!(compat::delete_all_for))
        .routes(routes!(compat::rename, compat::revoke))
        .routes(routes!(
            w::list_mappings,
            w::create_mapping,
            w::delete_mappings
        ))
        .routes(routes!(w::reset_mappings))
        .routes(routes!(w::import_mappings))
        .routes(routes!(w::get_mapping, w::put_mapping, w::delete_mapping))
        .routes(routes!(w::list_requests, w::clear_requests))
        .routes(routes!(w::reset_requests))
        .routes(routes!(w::count_requests))
        .routes(routes!(w::find_requests))
        .routes(routes!(w::unmatched_requests))
        .routes(routes!(w::unmatched_near_misses))
        .routes(routes!(w::get_request))
        .routes(routes!(w::list_scenarios))
        .routes(routes!(w::reset_scenarios))
        .routes(routes!(w::reset_all))
        .routes(routes!(recordings::start))
        .routes(routes!(recordings::stop))
        .routes(routes!(recordings::status))
        .routes(routes!(recordings::snapshot))
}

/// The document: the routes' own descriptions ([`api_routes`]: every routed method and path
/// with its `#[utoipa::path]`) completed by `openapi::complete`. Only routed operations (and
/// the fallback's example) are published, so the document cannot describe a route that does
/// not exist.
pub fn document_value() -> Result<Value, serde_json::Error> {
    openapi::complete(api_routes().into_openapi())
}

/// Built once: the routes and the detail are fixed at compile time.
static DOCUMENT: OnceLock<Result<Value, String>> = OnceLock::new();

/// The OpenAPI 3 document of this server's HTTP surface. Beside the routes it describes, as it
/// is one of them.
#[utoipa::path(
    get,
    path = "/rest/tokenauth/1/openapi.json",
    operation_id = "getOpenApiDocument",
    summary = "This document (anonymous)",
    responses((status = 200, description = "The OpenAPI 3.0.3 document", body = Object)),
    security(()),
    tag = "meta"
)]
pub async fn document() -> Result<Json<Value>, ApiError> {
    DOCUMENT
        .get_or_init(|| document_value().map_err(|e| e.to_string()))
        .clone()
        .map(Json)
        .map_err(ApiError::Internal)
}
